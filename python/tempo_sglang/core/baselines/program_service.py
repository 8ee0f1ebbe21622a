"""Program-level attained-service baselines from Autellix: PLAS and ATLAS.

Attained service is counted in tokens of engine work: prompt tokens computed plus output tokens
generated, remembered per request as the most it has reached (a preempted request that must recompute
its prompt does not look "fresh" again, which would make LAS thrash). Prompt tokens served from the
prefix cache are not work: a program call that reuses its parent's KV is not charged for the parent's
tokens a second time (the parent's service already counts them). A request that is not a program
call is its own one-call program. Both are least-attained-
service schedulers, discretised into geometric levels (as Autellix's multi-level queues do) so that
requests of one level are served FCFS and preemption happens only across levels; they are
preemptive by default, as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tempo_sglang.core.baselines.base import OrderedPolicy
from tempo_sglang.core.views import RequestView


def program_of(view: RequestView) -> str:
    """Program id of a view (a lone request is its own program)."""
    return view.slo.program_id if view.slo.program_id is not None else f"__rid__{view.rid}"


def service_of(view: RequestView) -> int:
    """Tokens of engine work a request has attained so far: prompt tokens computed (not the cache
    hit) plus tokens generated."""
    return max(0, view.prefilled - view.cached_len) + view.generated


class AutellixPolicy(OrderedPolicy):
    """PLAS: program-level least attained service first (finished calls' service included)."""

    name = "autellix"
    preemptive = True

    def __init__(self, quantum: int = 256, **kwargs: Any):
        super().__init__(**kwargs)
        self.quantum = max(1, int(quantum))
        self.finished_service: dict[str, int] = {}  # program -> service of its finished calls
        self.live_service: dict[str, int] = {}  # program -> service of its live calls (this step)
        self.req_service: dict[str, int] = {}  # rid -> most service the request has reached

    def level(self, service: float) -> int:
        """Geometric queue level: 0 below one quantum, then one level per doubling."""
        return 0 if service < self.quantum else 1 + int(math.log2(service / self.quantum))

    def served(self, view: RequestView) -> int:
        """Monotone service of one request (updated from the view)."""
        s = service_of(view)
        old = self.req_service.get(view.rid, 0)
        if s > old:
            self.req_service[view.rid] = s
            return s
        return old

    def observe(self, waiting: Sequence[RequestView], running: Sequence[RequestView], now: float) -> None:
        live: dict[str, int] = {}
        for group in (waiting, running):
            for v in group:
                pid = program_of(v)
                live[pid] = live.get(pid, 0) + self.served(v)
        self.live_service = live
        self._cache_keys(waiting, running)

    def _cache_keys(self, waiting: Sequence[RequestView], running: Sequence[RequestView]) -> None:
        """Keys of this pass, computed once per request (a pass sorts thousands of them)."""
        self._keys = {}
        levels: dict[str, int] = {}
        for group in (waiting, running):
            for v in group:
                pid = program_of(v)
                lvl = levels.get(pid)
                if lvl is None:
                    lvl = levels[pid] = self.level(self.attained(v))
                self._keys[v.rid] = (lvl, v.arrival, v.rid)

    def attained(self, view: RequestView) -> int:
        pid = program_of(view)
        return self.finished_service.get(pid, 0) + self.live_service.get(pid, self.served(view))

    def key(self, view: RequestView, now: float) -> Any:
        cached = getattr(self, "_keys", {}).get(view.rid)
        return cached if cached is not None else (self.level(self.attained(view)), view.arrival, view.rid)

    def on_finish(self, view: RequestView, now: float) -> None:
        served = max(self.req_service.pop(view.rid, 0), service_of(view))
        if view.slo.program_id is None:
            return
        pid = program_of(view)
        self.finished_service[pid] = self.finished_service.get(pid, 0) + served


class AtlasPolicy(AutellixPolicy):
    """ATLAS: least attained service along the critical path of the program's DAG.

    A call's priority is the largest critical-path service of its parents plus its own service so
    far; a finished call's critical-path service is that value at finish.
    """

    name = "atlas"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.node_cp: dict[tuple[str, str], int] = {}  # (program, node) -> critical-path service

    def observe(self, waiting: Sequence[RequestView], running: Sequence[RequestView], now: float) -> None:
        """ATLAS needs no program sums: the key reads the parents' recorded values."""
        self._keys = {}
        for group in (waiting, running):
            for v in group:
                self.served(v)
                self._keys[v.rid] = (self.level(self.attained(v)), v.arrival, v.rid)

    def _parents_cp(self, view: RequestView) -> int:
        pid = program_of(view)
        return max((self.node_cp.get((pid, p), 0) for p in view.slo.parents), default=0)

    def attained(self, view: RequestView) -> int:
        return self._parents_cp(view) + self.req_service.get(view.rid, service_of(view))

    def on_finish(self, view: RequestView, now: float) -> None:
        served = max(self.req_service.pop(view.rid, 0), service_of(view))
        if view.slo.program_id is None or view.slo.node_id is None:
            return
        self.node_cp[(program_of(view), view.slo.node_id)] = self._parents_cp(view) + served
