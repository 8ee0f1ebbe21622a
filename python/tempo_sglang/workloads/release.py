"""Release of program calls for any driver (simulator or live benchmark).

A standalone call or program root is released at its ``arrival``. A call with parents is released
``gap_s`` after the last of its parents finished (whatever their outcome, so nothing waits forever).
`ProgramReleaser` does this bookkeeping; a driver asks for `roots`, then reports every finished call to
`finished` and schedules the children it returns.
"""

from __future__ import annotations

from tempo_sglang.workloads.items import WorkItem


def cutoff_time(items: list[WorkItem], drain_s: float) -> float:
    """The bench's cut (workload clock): ``drain_s`` after the last standalone call or program root
    is released. Calls still running then count as missed; program calls not yet sent, as dropped."""
    return max((it.arrival for it in items if not it.is_program_child), default=0.0) + drain_s


class ProgramReleaser:
    """Tracks which program calls are ready; engine-neutral and clock-agnostic."""

    def __init__(self, items: list[WorkItem]):
        self._children: dict[tuple[str, str], list[WorkItem]] = {}
        self._left: dict[str, int] = {}
        self._ready_at: dict[str, float] = {}
        self.program_start: dict[str, float] = {}
        for it in items:
            if it.program_id is not None:
                self.program_start[it.program_id] = min(self.program_start.get(it.program_id, it.arrival),
                                                        it.arrival)
            if it.is_program_child:
                self._left[it.rid] = len(it.parents)
                for parent in it.parents:
                    self._children.setdefault((it.program_id, parent), []).append(it)
        self._roots = [it for it in items if not it.is_program_child]

    def roots(self) -> list[WorkItem]:
        """Items released at their own ``arrival`` (standalone calls and program roots)."""
        return list(self._roots)

    def finished(self, item: WorkItem, now: float) -> list[tuple[float, WorkItem]]:
        """Record that ``item`` ended at ``now``; return (release time, child) for newly ready calls."""
        if item.program_id is None:
            return []
        out = []
        for child in self._children.get((item.program_id, item.node_id), ()):
            self._ready_at[child.rid] = max(self._ready_at.get(child.rid, now), now)
            self._left[child.rid] -= 1
            if self._left[child.rid] == 0:
                out.append((self._ready_at[child.rid] + child.gap_s, child))
        return out
