"""The program-graph library: finished programs, matched against a running program's partial DAG.

Every stored graph is kept both as its networkx DAG and as rows of preallocated numpy arrays (stage
calls, in-edges, node attributes, stage-end fractions), so a match is a handful of vectorised operations
over the whole library. A match is *prefix-consistent*: a candidate must have the same call count and
in-edge count as the query in every stage before the query's last one, at least as many calls in that
last (still open) stage, and at least as many stages; among those, the similarity is a normalised
Gaussian kernel ``exp(-d / (2 n))`` over the ``n`` known stage attributes, ``d`` the squared differences
scaled by `ATTR_SCALES`. A known program kind restricts candidates to that kind when any exist.

The library stays bounded: each graph keeps a decaying match score; past ``capacity`` the graphs that
were never or rarely matched go first, then k-medoids (see `clustering`) keeps cluster medoids, each
weighted by the size of its cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from tempo_sglang.analyzer.clustering import compact_indices
from tempo_sglang.analyzer.features import stable_code
from tempo_sglang.analyzer.graphs import ATTR_SCALES, N_ATTRS, StageSummary, summarize


@dataclass
class MatchResult:
    """The best library match for a partial program and what it predicts about the rest."""

    slot: int
    similarity: float
    consistent: bool  # False when no prefix-consistent graph existed and a relaxed match was used
    kind: str | None
    n_stages: int
    fractions: np.ndarray  # t_<=s / t_total per stage of the matched graph
    remaining_calls: int
    remaining_tokens: float

    def stage_fraction(self, stage: int) -> float:
        """Share of the program deadline available until the end of ``stage`` (1 past the last)."""
        if stage >= self.n_stages:
            return 1.0
        return float(self.fractions[max(0, stage)])

    def stage_deadlines(self, deadline: float) -> np.ndarray:
        """Relative stage deadlines ``D_s = D * t_<=s / t_total`` (monotone, the last equals D)."""
        return deadline * self.fractions


class GraphLibrary:
    """A bounded library of finished program graphs with vectorised prefix-consistent matching."""

    def __init__(self, capacity: int = 500, max_stages: int = 32, decay: float = 0.995, seed: int = 0):
        self.capacity = int(capacity)
        self.max_stages = int(max_stages)
        self.decay = float(decay)
        self.seed = seed
        size = self.capacity + max(8, self.capacity // 4)  # room to grow before compaction
        s, a = self.max_stages, N_ATTRS
        self.calls = np.zeros((size, s), np.int64)
        self.in_edges = np.zeros((size, s), np.int64)
        self.attrs = np.zeros((size, s, a), np.float32)
        self.attr_known = np.zeros((size, s, a), bool)
        self.fractions = np.ones((size, s), np.float64)
        self.out_tokens = np.zeros((size, s), np.float64)
        self.n_stages = np.zeros(size, np.int64)
        self.kind = np.full(size, -1.0)
        self.weight = np.zeros(size)
        self.score = np.zeros(size)
        self.valid = np.zeros(size, bool)
        self.graphs: list[nx.DiGraph | None] = [None] * size
        self.kinds: list[str | None] = [None] * size
        self.matches = 0

    def __len__(self) -> int:
        return int(self.valid.sum())

    # ---- insertion -----------------------------------------------------------------------
    def add(self, graph: nx.DiGraph, weight: float = 1.0) -> int:
        """Store a finished program graph (raises `ProgramGraphError` on a cycle); returns its slot."""
        summary = summarize(graph)
        if summary.n_stages == 0:
            return -1
        free = np.flatnonzero(~self.valid)
        if not len(free):
            self.compact()
            free = np.flatnonzero(~self.valid)
        slot = int(free[0])
        self._write(slot, graph, summary, weight)
        if len(self) > self.capacity:
            self.compact()
        return slot

    def _write(self, slot: int, graph: nx.DiGraph, summary: StageSummary, weight: float) -> None:
        n = min(summary.n_stages, self.max_stages)
        for arr in (self.calls, self.in_edges, self.out_tokens):
            arr[slot] = 0
        self.attrs[slot] = 0
        self.attr_known[slot] = False
        self.calls[slot, :n] = summary.calls[:n]
        self.in_edges[slot, :n] = summary.in_edges[:n]
        self.attrs[slot, :n] = summary.attrs[:n]
        self.attr_known[slot, :n] = summary.mask[:n]
        frac = summary.fractions()
        self.fractions[slot] = 1.0
        self.fractions[slot, :n] = frac[:n]
        self.out_tokens[slot, :n] = summary.out_tokens[:n]
        self.n_stages[slot] = summary.n_stages
        self.kind[slot] = stable_code(summary.kind)
        self.kinds[slot] = summary.kind
        self.weight[slot] = weight
        self.score[slot] = 1.0  # a newcomer gets one free match of credit
        self.valid[slot] = True
        self.graphs[slot] = graph

    def compact(self, target: int | None = None) -> None:
        """Shrink to ``target`` graphs (default 80% of capacity): decay first, then k-medoids."""
        target = int(target if target is not None else max(1, int(self.capacity * 0.8)))
        slots = np.flatnonzero(self.valid)
        if len(slots) <= target:
            return
        embed = np.concatenate([self.attrs[slots].reshape(len(slots), -1),
                                np.log1p(self.n_stages[slots])[:, None] * 4.0,
                                np.log1p(self.calls[slots]) * 2.0], axis=1)
        keep, members = compact_indices(embed, self.score[slots], self.kind[slots], target, self.seed)
        new_weight = np.zeros(len(slots))
        new_score = np.zeros(len(slots))
        for medoid, group in zip(keep, members, strict=True):
            new_weight[medoid] = self.weight[slots[group]].sum()
            new_score[medoid] = self.score[slots[group]].sum()
        drop = np.setdiff1d(np.arange(len(slots)), keep)
        self.weight[slots] = new_weight
        self.score[slots] = new_score
        self.valid[slots[drop]] = False
        for i in slots[drop]:
            self.graphs[i] = None

    # ---- matching ------------------------------------------------------------------------
    def match(self, partial: nx.DiGraph | StageSummary, kind: str | None = None,
              record: bool = True) -> MatchResult | None:
        """Best match for a running program's partial DAG (or its summary); None if nothing fits."""
        q = partial if isinstance(partial, StageSummary) else summarize(partial)
        k = min(q.n_stages, self.max_stages)
        if k == 0 or not self.valid.any():
            return None
        kind = kind or q.kind
        cand = self.valid & (self.n_stages >= q.n_stages)
        consistent = cand.copy()
        if k > 1:
            consistent &= (self.calls[:, :k - 1] == q.calls[:k - 1]).all(1)
            consistent &= (self.in_edges[:, :k - 1] == q.in_edges[:k - 1]).all(1)
        consistent &= self.calls[:, k - 1] >= q.calls[k - 1]
        is_consistent = bool(consistent.any())
        pool = consistent if is_consistent else cand
        if not pool.any():
            pool = self.valid
        if kind is not None:
            same = pool & (self.kind == stable_code(kind))
            if same.any():
                pool = same
        idx = np.flatnonzero(pool)
        known = q.mask[:k]  # the open stage's call count counts too: siblings usually arrive together
        diff = (self.attrs[idx, :k] - q.attrs[:k]) / ATTR_SCALES
        known_lib = self.attr_known[idx, :k] & known
        d = np.where(known_lib, diff * diff, 0.0).sum(axis=(1, 2))
        n = np.maximum(1, known_lib.sum(axis=(1, 2)))
        sim = np.exp(-d / (2.0 * n))
        best_i = int(np.argmax(sim + 1e-9 * np.log1p(self.weight[idx])))
        slot = int(idx[best_i])
        if record:
            self.score[self.valid] *= self.decay
            self.score[slot] += 1.0
            self.matches += 1
        ns = int(self.n_stages[slot])
        last = k - 1
        per_call = self.out_tokens[slot, last] / max(1, self.calls[slot, last])
        open_left = max(0, int(self.calls[slot, last]) - int(q.calls[last]))
        rem_calls = open_left + int(self.calls[slot, k:].sum())
        rem_tokens = open_left * per_call + float(self.out_tokens[slot, k:].sum())
        return MatchResult(slot, float(sim[best_i]), is_consistent, self.kinds[slot], ns,
                           self.fractions[slot, :min(ns, self.max_stages)].copy(), rem_calls, rem_tokens)
