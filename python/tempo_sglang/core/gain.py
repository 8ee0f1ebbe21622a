"""Service gain of finished requests, exactly as SPEC section 2 defines it.

Weights: a prompt (prefill) token counts 1, an output (decode) token counts ``DECODE_WEIGHT`` (8).

- latency: the prompt tokens count if TTFT <= ttft_slo; output token ``j`` (0 = first token) counts if
  it was delivered by ``arrival + ttft_slo + j * tbt_slo``.
- deadline: ``input + w_d * output`` if finished by ``arrival + deadline``, else 0.
- program: every call's ``input + w_d * output`` if the program's last call finished by
  ``program_start + deadline`` (program_start = earliest arrival of its calls unless a record carries
  ``program_start``), else 0.
- best effort: 0.

A record whose status is not ``ok`` (error, aborted, dropped) earns 0, and so does a demoted record:
demotion gives up the original class. A program with any failed or demoted call earns 0.

Soft variant: each hard credit is multiplied by ``min(1, slo / actual) ** k`` (``SOFT_K`` = 100), where
*actual* is measured from the same origin as the SLO:

- latency prompt credit: slo = ttft_slo, actual = TTFT;
- latency output token ``j``: slo = ``ttft_slo + j * tbt_slo``, actual = its delivery time - arrival
  (so a token late by a few percent keeps most of its credit, one twice as late keeps none);
- deadline: slo = deadline, actual = finish - arrival;
- program: slo = deadline, actual = last call's finish - program_start.

Soft credit is 0 for failed or demoted records too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from tempo_sglang.core.views import DECODE_WEIGHT, RequestRecord
from tempo_sglang.slo import SLOClass

SOFT_K = 100.0
EPS = 1e-9  # tolerance on time comparisons (hand-computed due times are floats)


def soft_factor(slo: float, actual: float, k: float = SOFT_K) -> float:
    """``min(1, slo / actual) ** k`` with the conventions actual <= 0 -> 1 and slo <= 0 -> 0."""
    if actual <= slo + EPS:
        return 1.0
    if slo <= 0:
        return 0.0
    return float((slo / actual) ** k)


def full_gain(prompt_len: int, output_len: int) -> float:
    """``input + w_d * output``: the gain of a request that met its SLO in full."""
    return float(prompt_len + DECODE_WEIGHT * output_len)


def _eligible(rec: RequestRecord) -> bool:
    return rec.ok and not rec.demoted


def latency_token_hits(rec: RequestRecord) -> np.ndarray:
    """Boolean array: output token j delivered by its due time (length = delivered tokens)."""
    times = np.asarray(rec.token_times[: max(rec.output_len, 0)], dtype=float)
    if rec.slo.ttft_ms is None or rec.slo.tbt_ms is None or times.size == 0:
        return np.zeros(times.size, dtype=bool)
    due = rec.arrival + rec.slo.ttft_ms / 1000.0 + np.arange(times.size) * (rec.slo.tbt_ms / 1000.0)
    return times <= due + EPS


def latency_gain(rec: RequestRecord, soft_k: float | None = None) -> float:
    """Hard (``soft_k=None``) or soft gain of a latency-class record.

    A call that asks for no output (a prefix-priming call) earns its prompt if it finished within
    the TTFT SLO: its "first token" is the end of its prefill.
    """
    if not _eligible(rec) or rec.slo.ttft_ms is None or rec.slo.tbt_ms is None:
        return 0.0
    ttft_slo = rec.slo.ttft_ms / 1000.0
    tbt_slo = rec.slo.tbt_ms / 1000.0
    if rec.output_len == 0 and not rec.token_times and rec.finish_time is not None:
        ttft = rec.finish_time - rec.arrival
        if soft_k is None:
            return float(rec.prompt_len) if ttft <= ttft_slo + EPS else 0.0
        return rec.prompt_len * soft_factor(ttft_slo, ttft, soft_k)
    if not rec.token_times:
        return 0.0
    times = np.asarray(rec.token_times[: max(rec.output_len, 0)], dtype=float)
    if times.size == 0:
        return 0.0
    ttft = times[0] - rec.arrival
    if soft_k is None:
        prompt = rec.prompt_len if ttft <= ttft_slo + EPS else 0
        return float(prompt + DECODE_WEIGHT * int(latency_token_hits(rec).sum()))
    prompt = rec.prompt_len * soft_factor(ttft_slo, ttft, soft_k)
    due = ttft_slo + np.arange(times.size) * tbt_slo
    actual = times - rec.arrival
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(actual <= due + EPS, 1.0, due / np.maximum(actual, EPS))
    return float(prompt + DECODE_WEIGHT * float(np.sum(ratio ** soft_k)))


def deadline_met(rec: RequestRecord) -> bool:
    """True if a deadline record succeeded undemoted and finished by ``arrival + deadline``."""
    if not _eligible(rec) or rec.finish_time is None or rec.slo.deadline_ms is None:
        return False
    return rec.finish_time - rec.arrival <= rec.slo.deadline_ms / 1000.0 + EPS


def deadline_gain(rec: RequestRecord, soft_k: float | None = None) -> float:
    """Hard or soft gain of a deadline-class record (all or nothing when hard)."""
    if not _eligible(rec) or rec.finish_time is None or rec.slo.deadline_ms is None:
        return 0.0
    slo = rec.slo.deadline_ms / 1000.0
    actual = rec.finish_time - rec.arrival
    gain = full_gain(rec.prompt_len, rec.output_len)
    if soft_k is None:
        return gain if actual <= slo + EPS else 0.0
    return gain * soft_factor(slo, actual, soft_k)


def program_key(rec: RequestRecord) -> str:
    """The program a record belongs to (a program call without an id is its own program)."""
    return rec.slo.program_id if rec.slo.program_id is not None else f"__rid__{rec.rid}"


def program_start(calls: Sequence[RequestRecord]) -> float:
    """Program start: the earliest explicit ``program_start`` if any call has one, else earliest arrival."""
    explicit = [c.program_start for c in calls if c.program_start is not None]
    return min(explicit) if explicit else min(c.arrival for c in calls)


def program_met(calls: Sequence[RequestRecord]) -> bool:
    """True if every call succeeded undemoted and the last one finished by the program deadline."""
    if not calls or not all(_eligible(c) and c.finish_time is not None for c in calls):
        return False
    deadlines = [c.slo.deadline_ms for c in calls if c.slo.deadline_ms is not None]
    if not deadlines:
        return False
    end = max(c.finish_time for c in calls)  # type: ignore[type-var]
    return end - program_start(calls) <= min(deadlines) / 1000.0 + EPS


def program_gain(calls: Sequence[RequestRecord], soft_k: float | None = None) -> float:
    """Hard or soft gain of one program (all its calls' full gain, or 0)."""
    if not calls or not all(_eligible(c) and c.finish_time is not None for c in calls):
        return 0.0
    deadlines = [c.slo.deadline_ms for c in calls if c.slo.deadline_ms is not None]
    if not deadlines:
        return 0.0
    total = sum(full_gain(c.prompt_len, c.output_len) for c in calls)
    slo = min(deadlines) / 1000.0
    actual = max(c.finish_time for c in calls) - program_start(calls)  # type: ignore[type-var]
    if soft_k is None:
        return total if actual <= slo + EPS else 0.0
    return total * soft_factor(slo, actual, soft_k)


def request_gain(rec: RequestRecord, soft_k: float | None = None) -> float:
    """Gain of a single non-program record (program calls are scored per program)."""
    cls = rec.slo.slo_class
    if cls is SLOClass.LATENCY:
        return latency_gain(rec, soft_k)
    if cls is SLOClass.DEADLINE:
        return deadline_gain(rec, soft_k)
    if cls is SLOClass.PROGRAM:
        return program_gain([rec], soft_k)
    return 0.0


def group_programs(records: Iterable[RequestRecord]) -> dict[str, list[RequestRecord]]:
    """Program-class records grouped by program id, in first-seen order."""
    groups: dict[str, list[RequestRecord]] = {}
    for rec in records:
        if rec.slo.slo_class is SLOClass.PROGRAM:
            groups.setdefault(program_key(rec), []).append(rec)
    return groups


def total_gain(records: Sequence[RequestRecord], soft_k: float | None = None) -> float:
    """Sum of the gain over all records (programs scored once each)."""
    total = sum(request_gain(r, soft_k) for r in records if r.slo.slo_class is not SLOClass.PROGRAM)
    return total + sum(program_gain(calls, soft_k) for calls in group_programs(records).values())
