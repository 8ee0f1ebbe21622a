"""The SLO request schema: what a client puts under ``custom_params["tempo"]``.

A request carries its service class and SLO in one dict, for example::

    {"class": "latency", "ttft_ms": 500, "tbt_ms": 80}
    {"class": "deadline", "deadline_ms": 20000}
    {"class": "program", "program_id": "p1", "node_id": "n2", "parents": ["n1"],
     "deadline_ms": 60000, "stage": 1}
    {"class": "best_effort"}

`parse_tempo_params` validates such a dict and returns a frozen `TempoSLO`; any problem raises
`SLOValidationError` naming the offending field, which the server turns into an HTTP 400.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

TEMPO_KEY = "tempo"

# Absurdity limits: an SLO beyond these is almost surely a unit mistake (seconds vs ms).
MAX_DEADLINE_MS = 24 * 3600 * 1000.0
MAX_TTFT_MS = 3600 * 1000.0
MAX_TBT_MS = 600 * 1000.0
MAX_ID_LEN = 256
MAX_PARENTS = 1024


class SLOClass(str, Enum):
    """The four service classes of SPEC section 1."""

    LATENCY = "latency"
    DEADLINE = "deadline"
    PROGRAM = "program"
    BEST_EFFORT = "best_effort"


class SLOValidationError(ValueError):
    """A malformed, contradictory or absurd SLO field; ``field`` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"invalid tempo.{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class TempoSLO:
    """A validated SLO. Times are milliseconds relative to the request's (or program's) arrival."""

    slo_class: SLOClass = SLOClass.BEST_EFFORT
    ttft_ms: float | None = None
    tbt_ms: float | None = None
    deadline_ms: float | None = None
    program_id: str | None = None
    node_id: str | None = None
    parents: tuple[str, ...] = field(default_factory=tuple)
    stage: int | None = None
    program_kind: str | None = None
    max_wait_ms: float | None = None

    @property
    def is_best_effort(self) -> bool:
        return self.slo_class is SLOClass.BEST_EFFORT

    def to_dict(self) -> dict[str, Any]:
        """The wire form, omitting unset fields (round-trips through `parse_tempo_params`)."""
        out: dict[str, Any] = {"class": self.slo_class.value}
        for name in ("ttft_ms", "tbt_ms", "deadline_ms", "program_id", "node_id", "stage",
                     "program_kind", "max_wait_ms"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.parents:
            out["parents"] = list(self.parents)
        return out


BEST_EFFORT = TempoSLO()

_ALLOWED_FIELDS = {
    "class", "ttft_ms", "tbt_ms", "deadline_ms", "program_id", "node_id", "parents", "stage",
    "program_kind", "max_wait_ms",
}
_FIELDS_BY_CLASS = {
    SLOClass.LATENCY: {"ttft_ms", "tbt_ms"},
    SLOClass.DEADLINE: {"deadline_ms"},
    SLOClass.PROGRAM: {"deadline_ms", "program_id", "node_id", "parents", "stage", "program_kind"},
    SLOClass.BEST_EFFORT: set(),
}


def _positive_ms(params: dict, name: str, upper: float, required: bool) -> float | None:
    value = params.get(name)
    if value is None:
        if required:
            raise SLOValidationError(name, "is required for this class")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SLOValidationError(name, f"must be a number of milliseconds, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise SLOValidationError(name, f"must be a positive finite number, got {value}")
    if value > upper:
        raise SLOValidationError(name, f"{value} ms is absurd (limit {upper:.0f} ms); is it in seconds?")
    return value


def _identifier(params: dict, name: str, required: bool) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise SLOValidationError(name, "is required for this class")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise SLOValidationError(name, "must be a non-empty string")
    if len(value) > MAX_ID_LEN:
        raise SLOValidationError(name, f"is longer than {MAX_ID_LEN} characters")
    return value


def _parents(params: dict, node_id: str | None) -> tuple[str, ...]:
    value = params.get("parents")
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise SLOValidationError("parents", "must be a list of node ids")
    if len(value) > MAX_PARENTS:
        raise SLOValidationError("parents", f"has more than {MAX_PARENTS} entries")
    out = []
    for parent in value:
        if isinstance(parent, int) and not isinstance(parent, bool):
            parent = str(parent)
        if not isinstance(parent, str) or not parent:
            raise SLOValidationError("parents", "must contain non-empty string node ids")
        if parent == node_id:
            raise SLOValidationError("parents", f"node {node_id!r} lists itself as a parent (a cycle)")
        out.append(parent)
    if len(set(out)) != len(out):
        raise SLOValidationError("parents", "lists the same parent twice")
    return tuple(out)


def parse_tempo_params(params: Any) -> TempoSLO:
    """Validate the ``tempo`` dict of a request and return its `TempoSLO`.

    ``None`` (no tempo key at all) means best effort. Raises `SLOValidationError` on any
    unknown, malformed, contradictory or absurd field.
    """
    if params is None:
        return BEST_EFFORT
    if not isinstance(params, dict):
        raise SLOValidationError("", f"must be an object, got {type(params).__name__}")
    unknown = set(params) - _ALLOWED_FIELDS
    if unknown:
        raise SLOValidationError(sorted(unknown)[0], f"is not a known field (known: {sorted(_ALLOWED_FIELDS)})")
    raw_class = params.get("class", "best_effort")
    try:
        slo_class = SLOClass(raw_class)
    except ValueError:
        raise SLOValidationError("class", f"{raw_class!r} is not one of {[c.value for c in SLOClass]}") from None
    stray = {k for k in params if k not in ("class", "max_wait_ms")} - _FIELDS_BY_CLASS[slo_class]
    if stray:
        raise SLOValidationError(sorted(stray)[0], f"does not apply to class {slo_class.value!r}")

    ttft = _positive_ms(params, "ttft_ms", MAX_TTFT_MS, required=slo_class is SLOClass.LATENCY)
    tbt = _positive_ms(params, "tbt_ms", MAX_TBT_MS, required=slo_class is SLOClass.LATENCY)
    deadline = _positive_ms(params, "deadline_ms", MAX_DEADLINE_MS,
                            required=slo_class in (SLOClass.DEADLINE, SLOClass.PROGRAM))
    max_wait = _positive_ms(params, "max_wait_ms", MAX_DEADLINE_MS, required=False)
    is_program = slo_class is SLOClass.PROGRAM
    program_id = _identifier(params, "program_id", required=is_program)
    node_id = _identifier(params, "node_id", required=is_program)
    parents = _parents(params, node_id)
    program_kind = _identifier(params, "program_kind", required=False)
    stage = params.get("stage")
    if stage is not None and (isinstance(stage, bool) or not isinstance(stage, int) or stage < 0):
        raise SLOValidationError("stage", "must be a non-negative integer")
    if max_wait is not None and deadline is not None and max_wait > deadline:
        raise SLOValidationError("max_wait_ms", "exceeds deadline_ms: the request could never be on time")
    return TempoSLO(slo_class=slo_class, ttft_ms=ttft, tbt_ms=tbt, deadline_ms=deadline,
                    program_id=program_id, node_id=node_id, parents=parents, stage=stage,
                    program_kind=program_kind, max_wait_ms=max_wait)


def tempo_params_from_custom(custom_params: Any) -> Any:
    """Return the raw ``tempo`` entry of a request's ``custom_params`` (or None)."""
    if custom_params is None:
        return None
    if not isinstance(custom_params, dict):
        raise SLOValidationError("", "custom_params must be an object")
    return custom_params.get(TEMPO_KEY)
