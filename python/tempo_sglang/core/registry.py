"""Policy registry: every scheduling policy by the name the CLI and the server use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tempo_sglang.core.baselines import (
    AtlasPolicy,
    AutellixPolicy,
    EDFPolicy,
    FCFSPolicy,
    LPMPolicy,
    LTRPolicy,
    PriorityPolicy,
)
from tempo_sglang.core.policy import Policy
from tempo_sglang.core.tempo import TempoPolicy

POLICY_NAMES: tuple[str, ...] = ("tempo", "oracle", "fcfs", "lpm", "priority", "edf", "ltr", "autellix",
                                 "atlas")

_FACTORIES: dict[str, Callable[..., Policy]] = {
    "tempo": lambda **kw: TempoPolicy(**kw),
    "oracle": lambda **kw: TempoPolicy(oracle=True, **kw),
    "fcfs": FCFSPolicy,
    "lpm": LPMPolicy,
    "priority": PriorityPolicy,
    "edf": EDFPolicy,
    "ltr": LTRPolicy,
    "sjf": LTRPolicy,
    "autellix": AutellixPolicy,
    "plas": AutellixPolicy,
    "atlas": AtlasPolicy,
}


def make_policy(name: str, **kwargs: Any) -> Policy:
    """A fresh policy object by name (``POLICY_NAMES``; ``sjf`` and ``plas`` are aliases).

    Keyword arguments go to the policy's constructor (for example ``class_priority`` for
    ``priority``, ``quantum`` for ``autellix``/``atlas``, ``frame_steps`` for ``tempo``).
    """
    key = name.strip().lower()
    if key not in _FACTORIES:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICY_NAMES)}")
    return _FACTORIES[key](**kwargs)
