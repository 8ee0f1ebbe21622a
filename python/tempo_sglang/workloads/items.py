"""The unit of every workload: a `WorkItem` (one LLM call), and a `Workload` (an ordered list of them).

A workload is engine-neutral: the simulator and the live benchmark both consume the same items. An item
carries its arrival time, its prompt length, its *hidden* true output length (a driver forces it, a
scheduler must never read it except the oracle), its SLO and, for calls of an agent program, its place
in the program DAG (read from ``slo``: program id, node id, parents, stage, kind) plus the think/tool gap
that precedes it and the shared prefix it reuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tempo_sglang.slo import SLOClass, TempoSLO


@dataclass
class WorkItem:
    """One LLM call of a workload.

    ``arrival`` is the release time for a standalone call or a program root. For a program call with
    parents, the real arrival is ``max(parent finish times) + gap_s`` (known only when driven);
    ``arrival`` then holds the program's start time, the earliest the call could possibly arrive.
    """

    rid: str
    arrival: float
    prompt_len: int
    output_len: int  # hidden true output length (forced by drivers; only the oracle may read it)
    slo: TempoSLO
    max_new_tokens: int
    gap_s: float = 0.0  # think/tool time after the last parent finished, before this call is sent
    prefix_id: str | None = None  # id of a shared prefix (prefix-cache reuse), if any
    prefix_len: int = 0  # tokens of the prompt that are that shared prefix
    prompt_text: str | None = None  # real prompt text when the workload has it
    tier: int = 1  # SLO tier multiplier (1..4) the SLO was drawn with

    @property
    def slo_class(self) -> SLOClass:
        return self.slo.slo_class

    @property
    def program_id(self) -> str | None:
        return self.slo.program_id

    @property
    def node_id(self) -> str | None:
        return self.slo.node_id

    @property
    def parents(self) -> tuple[str, ...]:
        return self.slo.parents

    @property
    def stage(self) -> int | None:
        return self.slo.stage

    @property
    def program_kind(self) -> str | None:
        return self.slo.program_kind

    @property
    def is_program_child(self) -> bool:
        """True when this call waits for parent calls before it can arrive."""
        return bool(self.slo.parents)


@dataclass
class Workload:
    """A generated workload: items ordered by (earliest) arrival, plus how it was made.

    ``num_jobs`` counts top-level jobs (a program counts once, like request goodput does);
    ``len(items)`` counts LLM calls. ``notes`` records fallbacks and scalings a report should show.
    """

    name: str
    items: list[WorkItem]
    rate: float
    seed: int
    slo_scale: float
    num_jobs: int
    notes: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Span of root arrivals (seconds): the nominal length of the arrival process."""
        roots = [it.arrival for it in self.items if not it.is_program_child]
        return max(roots) - min(roots) if roots else 0.0

    def by_class(self) -> dict[str, int]:
        """Number of calls per SLO class."""
        out: dict[str, int] = {}
        for it in self.items:
            out[it.slo_class.value] = out.get(it.slo_class.value, 0) + 1
        return out
