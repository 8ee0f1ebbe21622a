"""Single-request baselines: FCFS, LPM, static priority, EDF and LTR/SJF."""

from __future__ import annotations

from typing import Any

from tempo_sglang.core.baselines.base import OrderedPolicy
from tempo_sglang.core.views import RequestView
from tempo_sglang.slo import SLOClass

INF = float("inf")


class FCFSPolicy(OrderedPolicy):
    """SGLang's ``fcfs``: arrival order."""

    name = "fcfs"

    def key(self, view: RequestView, now: float) -> Any:
        return (view.arrival, view.rid)


class LPMPolicy(OrderedPolicy):
    """SGLang's ``lpm``: longest cached prefix first (``cached_len``), then arrival."""

    name = "lpm"

    def key(self, view: RequestView, now: float) -> Any:
        return (-view.cached_len, view.arrival, view.rid)


DEFAULT_CLASS_PRIORITY = {
    SLOClass.LATENCY: 0, SLOClass.PROGRAM: 1, SLOClass.DEADLINE: 2, SLOClass.BEST_EFFORT: 3,
}


class PriorityPolicy(OrderedPolicy):
    """SGLang-style static priority by class (smaller = higher), FCFS within a class.

    ``class_priority`` maps class (or its string value) to a rank; SGLang's priority scheduling
    preempts lower-priority running requests, so this baseline is preemptive by default.
    """

    name = "priority"
    preemptive = True

    def __init__(self, class_priority: dict | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        ranks = dict(DEFAULT_CLASS_PRIORITY)
        for cls, rank in (class_priority or {}).items():
            ranks[SLOClass(cls)] = int(rank)
        self.ranks = ranks

    def key(self, view: RequestView, now: float) -> Any:
        return (self.ranks[view.slo_class], view.arrival, view.rid)


class EDFPolicy(OrderedPolicy):
    """Earliest next due point first (token due / stage deadline / deadline); best effort last."""

    name = "edf"

    def key(self, view: RequestView, now: float) -> Any:
        due = view.next_due()
        return (INF if due is None else due, view.arrival, view.rid)


class LTRPolicy(OrderedPolicy):
    """LTR / SJF: shortest predicted remaining output (the analyzer's bound) first."""

    name = "ltr"

    def key(self, view: RequestView, now: float) -> Any:
        return (view.remaining_bound(), view.arrival, view.rid)
