"""Tempo's per-request state attached to SGLang's ``Req`` (parsed once, in the scheduler process)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from tempo_sglang.slo import SLOValidationError, TempoSLO, parse_tempo_params, tempo_params_from_custom

CLIENT_COMPLETE = "tempo:client-complete"  # AbortReq.abort_message of a stop sent by /tempo/complete
ARRIVAL_KEY = "_arrival"  # wall-clock arrival stamped by the tokenizer process after validation


@dataclass
class TempoReqState:
    """What the scheduler knows about one request beyond SGLang's own fields."""

    slo: TempoSLO
    arrival: float
    policy: str
    demoted: bool = False
    parked_time: float = 0.0
    length_bound: int | None = None
    length_low: int | None = None  # the analyzer's low quantile of the output length (hopelessness)
    length_prefix: int | None = None  # generated tokens the bound's prefix model read (None: prompt only)
    stage_deadline: float | None = None  # a program call's share of the program deadline (analyzer)
    client_complete: bool = False  # stopped through /tempo/complete: ended as completed, not failed
    error: str | None = None
    admitted_pass: int | None = None  # the scheduler pass that admitted it (first prefill)
    notes: list[str] = field(default_factory=list)

    def report(self, now: float | None = None) -> dict[str, Any]:
        """Tempo's view of the request, as reported in ``meta_info["tempo"]``."""
        now = time.time() if now is None else now
        out: dict[str, Any] = {
            "class": self.slo.slo_class.value,
            "served_as": "best_effort" if self.demoted else self.slo.slo_class.value,
            "policy": self.policy,
            "arrival": self.arrival,
            "demoted": self.demoted,
            "parked_s": round(self.parked_time, 4),
            "scheduler_pid": os.getpid(),
        }
        slo = self.slo
        if slo.ttft_ms is not None:
            out["first_token_due"] = self.arrival + slo.ttft_ms / 1000.0
            out["tbt_s"] = slo.tbt_ms / 1000.0 if slo.tbt_ms else None
        if slo.deadline_ms is not None:
            out["deadline"] = self.arrival + slo.deadline_ms / 1000.0
            out["slack_s"] = round(out["deadline"] - now, 4)
        if slo.program_id is not None:
            out["program_id"] = slo.program_id
            out["node_id"] = slo.node_id
        if self.length_bound is not None:
            out["length_bound"] = self.length_bound
        if self.length_low is not None:
            out["length_low"] = self.length_low
        if self.length_prefix is not None:
            out["length_prefix"] = self.length_prefix
        if self.stage_deadline is not None:
            out["stage_deadline"] = self.stage_deadline
        if self.admitted_pass is not None:
            out["admitted_pass"] = self.admitted_pass
        if self.error:
            out["error"] = self.error
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def stamp_and_validate(custom_params: dict | None) -> dict | None:
    """Validate the tempo entry of ``custom_params`` (tokenizer process); returns the params to use.

    Raises `SLOValidationError` (a ValueError: SGLang answers HTTP 400). On success the result is a
    *new* dict whose tempo entry is the canonical form plus the arrival time, so the scheduler never
    re-validates; the client's dict is not modified (a batch may share one dict across items).
    """
    raw = tempo_params_from_custom(custom_params)
    if raw is None:
        return custom_params
    if isinstance(raw, dict) and ARRIVAL_KEY in raw:
        raise SLOValidationError(ARRIVAL_KEY, "is reserved for the server")
    slo = parse_tempo_params(raw)
    canonical = slo.to_dict()
    canonical[ARRIVAL_KEY] = time.time()
    return {**custom_params, "tempo": canonical}


def state_from_custom_params(custom_params: dict | None, policy: str) -> TempoReqState:
    """Build the scheduler-side state of a request from its (already validated) custom params."""
    raw = tempo_params_from_custom(custom_params) if isinstance(custom_params, dict) else None
    arrival = time.time()
    if isinstance(raw, dict):
        raw = dict(raw)
        arrival = float(raw.pop(ARRIVAL_KEY, arrival))
    try:
        slo = parse_tempo_params(raw)
    except SLOValidationError as exc:  # only reachable when a client bypasses the tokenizer
        state = TempoReqState(slo=parse_tempo_params(None), arrival=arrival, policy=policy, demoted=True)
        state.error = str(exc)
        return state
    return TempoReqState(slo=slo, arrival=arrival, policy=policy)
