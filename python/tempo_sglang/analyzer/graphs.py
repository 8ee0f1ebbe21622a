"""Program DAGs as networkx graphs, and their per-stage summaries used for matching.

A program graph is an ``nx.DiGraph`` whose nodes are LLM calls with attributes ``prompt_len``,
``output_len``, ``start`` and ``end`` (seconds from the program's start; ``None`` while unknown) and
whose edges are dependencies; ``graph.graph["kind"]`` is the program kind when known. Calls are grouped
into stages by depth (longest path from a root). A `StageSummary` holds, per stage: the number of calls,
the number of dependency edges into the stage (the structure), the node attributes averaged in log space
(prompt length, output length, gap between the parents' end and the call's start), the time the stage
is over (``t_<=s``), and its output tokens. Matching compares these arrays (see `library`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from tempo_sglang.analyzer.program_tracker import ProgramGraphError

N_ATTRS = 4  # log1p(calls), log1p(mean prompt), log1p(mean output), log1p(mean gap seconds)
ATTR_SCALES = np.array([0.35, 0.5, 0.6, 0.6], dtype=np.float32)  # kernel width per attribute (log units)


def validate_graph(graph: nx.DiGraph) -> None:
    """Raise `ProgramGraphError` naming a cycle if ``graph`` is not a DAG."""
    if not nx.is_directed_acyclic_graph(graph):
        cycle = nx.find_cycle(graph)
        names = " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[0][0]}"
        raise ProgramGraphError(str(graph.graph.get("program_id", "?")), f"has a cycle: {names}")


def depths(graph: nx.DiGraph) -> dict:
    """Depth of every node: longest path from a root."""
    out: dict = {}
    for node in nx.topological_sort(graph):
        out[node] = 1 + max((out[p] for p in graph.predecessors(node)), default=-1)
    return out


@dataclass
class StageSummary:
    """Per-stage arrays of one (possibly partial) program graph."""

    calls: np.ndarray  # [S] int
    in_edges: np.ndarray  # [S] int
    attrs: np.ndarray  # [S, N_ATTRS] float32
    mask: np.ndarray  # [S, N_ATTRS] bool: attribute known
    t_end: np.ndarray  # [S] float: time stage s and all before it are over (NaN if unknown)
    out_tokens: np.ndarray  # [S] float: output tokens of the stage's finished calls
    kind: str | None = None

    @property
    def n_stages(self) -> int:
        return len(self.calls)

    def fractions(self) -> np.ndarray:
        """``t_<=s / t_total`` per stage (monotone, last = 1); falls back to equal shares."""
        total = float(self.t_end[-1]) if len(self.t_end) else 0.0
        if not len(self.t_end) or not math.isfinite(total) or total <= 0 or not np.isfinite(self.t_end).all():
            return np.arange(1, self.n_stages + 1, dtype=np.float64) / max(1, self.n_stages)
        frac = np.maximum.accumulate(np.clip(self.t_end / total, 0.0, 1.0))
        frac[-1] = 1.0
        return frac


def _log_mean(values: list) -> tuple[float, bool]:
    known = [float(v) for v in values if v is not None]
    if not known:
        return 0.0, False
    return float(np.mean(np.log1p(np.maximum(0.0, known)))), True


def summarize(graph: nx.DiGraph) -> StageSummary:
    """Stage summary of a (partial or finished) program graph; raises on a cycle."""
    validate_graph(graph)
    depth = depths(graph)
    n_stages = 1 + max(depth.values(), default=-1)
    by_stage: list[list] = [[] for _ in range(n_stages)]
    for node, d in depth.items():
        by_stage[d].append(node)
    calls = np.array([len(b) for b in by_stage], dtype=np.int64)
    in_edges = np.array([sum(graph.in_degree(n) for n in b) for b in by_stage], dtype=np.int64)
    attrs = np.zeros((n_stages, N_ATTRS), np.float32)
    mask = np.zeros((n_stages, N_ATTRS), bool)
    t_end = np.full(n_stages, np.nan)
    out_tokens = np.zeros(n_stages)
    nodes = graph.nodes
    for s, members in enumerate(by_stage):
        attrs[s, 0], mask[s, 0] = math.log1p(len(members)), True
        attrs[s, 1], mask[s, 1] = _log_mean([nodes[n].get("prompt_len") for n in members])
        attrs[s, 2], mask[s, 2] = _log_mean([nodes[n].get("output_len") for n in members])
        gaps = []
        for n in members:
            start = nodes[n].get("start")
            ends = [nodes[p].get("end") for p in graph.predecessors(n)]
            if start is not None and all(e is not None for e in ends):
                gaps.append(start - max(ends, default=0.0))
        attrs[s, 3], mask[s, 3] = _log_mean(gaps)
        ends = [nodes[n].get("end") for n in members]
        if all(e is not None for e in ends):
            t_end[s] = max(ends)
        out_tokens[s] = sum(nodes[n].get("output_len") or 0 for n in members)
    t_end = np.fmax.accumulate(t_end) if n_stages else t_end
    return StageSummary(calls, in_edges, attrs, mask, t_end, out_tokens, graph.graph.get("kind"))


def graph_from_calls(calls: list[dict], kind: str | None = None, program_id: str = "p") -> nx.DiGraph:
    """Build a program graph from dicts with ``node_id``, ``parents`` and optional node attributes."""
    g = nx.DiGraph(program_id=program_id, kind=kind)
    for call in calls:
        attrs = {k: call.get(k) for k in ("prompt_len", "output_len", "start", "end")}
        g.add_node(call["node_id"], **attrs)
        for p in call.get("parents", ()):
            if p not in g:
                raise ProgramGraphError(program_id, f"node {call['node_id']!r} has unknown parent {p!r}")
            g.add_edge(p, call["node_id"])
    validate_graph(g)
    return g
