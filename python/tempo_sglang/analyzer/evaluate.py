"""Held-out evaluation of the analyzer: bound coverage and tightness, and program-match accuracy.

At ``g`` generated tokens the requests measured are those still running at ``g`` (true output > g; all
requests at g = 0), each given the bound the analyzer would set at that point (``bound(features, g)``,
a bound on the *total* output). Coverage is the share whose true output is at or under the bound;
tightness is the mean of bound/actual total output (the SPEC's "bound / actual"); ``remaining_tightness``
is the mean of (bound - g)/(actual - g), what the scheduler's remaining-work estimate overshoots by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from tempo_sglang.analyzer.graphs import depths
from tempo_sglang.analyzer.length_model import ForestConfig, train_length_model
from tempo_sglang.analyzer.library import GraphLibrary
from tempo_sglang.analyzer.predictor import LengthPredictor
from tempo_sglang.analyzer.samples import LengthSample, heads_of, to_arrays
from tempo_sglang.analyzer.synthetic import partial_view

GENERATED_POINTS = (0, 50, 200)


@dataclass
class LengthReport:
    """Coverage and tightness per generated-token point."""

    source: str
    n_train: int
    n_test: int
    quantile: float
    points: dict[int, dict[str, float]] = field(default_factory=dict)  # g -> {n, coverage, tightness}

    def rows(self) -> list[str]:
        out = [f"data: {self.source}; train {self.n_train}, held-out test {self.n_test}, "
               f"quantile {self.quantile}"]
        for g, p in self.points.items():
            out.append(f"  at {g:>4} generated: n={p['n']:>6}  coverage {p['coverage']:.1%}  "
                       f"mean bound/actual {p['tightness']:.2f}  median {p['median_ratio']:.2f}  "
                       f"remaining {p['remaining_tightness']:.2f}"
                       + (f"  (mean of {p['splits']:.0f} splits, lowest coverage {p['min_coverage']:.1%})"
                          if "min_coverage" in p else ""))
        return out


def length_report(train: Sequence[LengthSample], test: Sequence[LengthSample], source: str,
                  config: ForestConfig | None = None, points: Sequence[int] = GENERATED_POINTS,
                  max_new_tokens: int | None = None) -> tuple[LengthReport, LengthPredictor]:
    """Train on ``train``, measure on ``test``; returns the report and the trained predictor.

    ``max_new_tokens``: the cap every test request ran with, applied to the bound as in serving."""
    cfg = config or ForestConfig()
    x, y = to_arrays(train)
    predictor = LengthPredictor(train_length_model(x, y, cfg, heads=heads_of(train)))
    return evaluate_predictor(predictor, test, source, len(train), cfg.quantile, points, max_new_tokens), predictor


def average_reports(reports: Sequence[LengthReport]) -> LengthReport:
    """One report of several seeded splits: means per point, plus the lowest coverage seen."""
    first = reports[0]
    out = LengthReport(first.source, first.n_train, first.n_test, first.quantile)
    for g in first.points:
        rows = [r.points[g] for r in reports if g in r.points]
        out.points[g] = {k: float(np.mean([p[k] for p in rows])) for k in rows[0]}
        out.points[g]["min_coverage"] = float(min(p["coverage"] for p in rows))
        out.points[g]["splits"] = len(rows)
    return out


def evaluate_predictor(predictor: LengthPredictor, test: Sequence[LengthSample], source: str, n_train: int,
                       quantile: float, points: Sequence[int] = GENERATED_POINTS,
                       max_new_tokens: int | None = None, use_prefix: bool = True) -> LengthReport:
    """Coverage and tightness of ``predictor`` on ``test`` (``use_prefix``: give it the generated ids)."""
    xt, yt = to_arrays(test)
    heads = [s.output_head for s in test]
    report = LengthReport(source, n_train, len(test), quantile)
    for g in points:
        keep = (yt > g) if g > 0 else np.ones(len(yt), bool)
        if not keep.any():
            continue
        bounds = np.array([predictor.bound(xt[i], g, max_new_tokens, heads[i] if use_prefix else None)
                           for i in np.flatnonzero(keep)], dtype=np.float64)
        actual = np.maximum(1, yt[keep]).astype(np.float64)
        ratio = bounds / actual
        remaining = (bounds - g) / np.maximum(1, actual - g)
        report.points[g] = {"n": int(keep.sum()), "coverage": float((actual <= bounds).mean()),
                            "tightness": float(ratio.mean()), "median_ratio": float(np.median(ratio)),
                            "remaining_tightness": float(remaining.mean())}
    return report


@dataclass
class MatchReport:
    """How well partial programs are matched to the library."""

    n_library: int
    n_queries: int
    kind_accuracy: float  # the matched graph is of the program's true kind
    stages_accuracy: float  # ... and has the program's true number of stages
    consistent_share: float  # share of queries with a prefix-consistent candidate
    calls_mae: float  # mean absolute error of the remaining-call estimate
    by_stage: dict[int, float] = field(default_factory=dict)  # kind accuracy by query stage

    def rows(self) -> list[str]:
        stages = ", ".join(f"stage {s}: {a:.0%}" for s, a in sorted(self.by_stage.items()))
        return [f"library {self.n_library} graphs, {self.n_queries} partial-program queries",
                f"  kind accuracy {self.kind_accuracy:.1%}  (by query stage: {stages})",
                f"  stage-count accuracy {self.stages_accuracy:.1%}  prefix-consistent {self.consistent_share:.1%}"
                f"  remaining-calls MAE {self.calls_mae:.2f}"]


def match_report(train: Sequence[nx.DiGraph], test: Sequence[nx.DiGraph],
                 capacity: int = 500) -> MatchReport:
    """Fill a library with ``train`` and match every stage prefix of every ``test`` graph (no kind hint)."""
    lib = GraphLibrary(capacity=capacity)
    for g in train:
        lib.add(g)
    hits, stage_hits, consistent, errs, n = 0, 0, 0, [], 0
    per_stage: dict[int, list[bool]] = {}
    for g in test:
        d = depths(g)
        n_stages = 1 + max(d.values())
        for s in range(n_stages):
            partial = partial_view(g, s)
            res = lib.match(partial, record=False)
            if res is None:
                continue
            n += 1
            ok = res.kind == g.graph.get("kind")
            hits += ok
            stage_hits += ok and res.n_stages == n_stages
            consistent += res.consistent
            seen = sum(1 for v in d.values() if v <= s)
            errs.append(abs(res.remaining_calls - (g.number_of_nodes() - seen)))
            per_stage.setdefault(s, []).append(ok)
    n = max(1, n)
    return MatchReport(len(lib), n, hits / n, stage_hits / n, consistent / n,
                       float(np.mean(errs)) if errs else float("nan"),
                       {s: float(np.mean(v)) for s, v in per_stage.items() if s < 6})
