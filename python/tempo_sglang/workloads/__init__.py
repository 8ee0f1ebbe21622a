"""Workload definitions shared by the simulator and the live benchmark.

`make_workload(name, rate, seed, num_requests, ...)` returns a `Workload` of `WorkItem`s; see
`tempo_sglang.workloads.registry` for the named workloads and `tempo_sglang.workloads.slos` for the
SLO tiers and their scaling to an engine.
"""

from tempo_sglang.workloads.items import WorkItem, Workload
from tempo_sglang.workloads.registry import WORKLOAD_NAMES, make_workload
from tempo_sglang.workloads.release import ProgramReleaser

__all__ = ["WORKLOAD_NAMES", "ProgramReleaser", "WorkItem", "Workload", "make_workload"]
