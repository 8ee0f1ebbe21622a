"""Sweeps: one simulated run per (policy, rate, seed), in parallel, summarised with core.metrics.

`run_one` is the unit of work (a picklable `RunSpec` -> one JSONL row); `run_sweep` spreads specs over
processes (``jobs``, default: every core) and yields rows as they finish; `plot_goodput` draws token
and request goodput against rate, one line per policy (matplotlib Agg); `tempo_ratios` computes the
acceptance figures (Tempo's token goodput against each policy at the knee rate).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tempo_sglang.core.metrics import flatten, summarize
from tempo_sglang.core.registry import make_policy
from tempo_sglang.sim.costmodel import load_profile
from tempo_sglang.sim.engine import simulate
from tempo_sglang.workloads import make_workload
from tempo_sglang.workloads.release import cutoff_time


@dataclass(frozen=True)
class RunSpec:
    """One run of the sweep."""

    policy: str
    rate: float
    seed: int
    workload: str = "paper-mix"
    profile: str = "llama-8b-h100"
    num_requests: int = 2000
    arrival: str = "poisson"
    cv: float | None = None
    data_dir: str | None = None
    slo_scale: float | None = None
    engine: dict = field(default_factory=dict)  # SimEngine options (frame_steps, mixed, ...)
    analyzer: str = "none"  # none | default (length predictor + program graphs) | oracle
    length_model: str | None = None  # predictor model file for analyzer "default"
    length_scale: float = 1.0  # lengths, deadlines and gaps scaled for a slow engine (workloads.scaling)
    drain_s: float | None = None  # cut the run this long after the last root arrival, as the live bench does
    policy_options: dict = field(default_factory=dict)  # keyword arguments of the policy (serve --policy-options)

    def __hash__(self) -> int:
        return hash((self.policy, self.rate, self.seed, self.workload, self.profile, self.num_requests))


def _make_analyzer(spec: RunSpec, options: dict):
    """The request analyzer a spec asks for (imported only when used)."""
    if spec.analyzer == "none":
        return None
    from tempo_sglang.analyzer.facade import AnalyzerConfig, RequestAnalyzer

    if spec.analyzer == "oracle":
        options["reveal_true_lengths"] = True
        return RequestAnalyzer(AnalyzerConfig(oracle=True))
    if spec.analyzer == "default":
        return RequestAnalyzer(AnalyzerConfig(model_path=spec.length_model))
    raise ValueError(f"unknown analyzer {spec.analyzer!r} (none, default, oracle)")


def run_one(spec: RunSpec) -> dict:
    """Simulate one spec and return its flat metrics row (JSON-clean)."""
    cost = load_profile(spec.profile)
    wl = make_workload(spec.workload, spec.rate, spec.seed, spec.num_requests, slo_scale=spec.slo_scale,
                       profile=cost, arrival=spec.arrival, cv=spec.cv, data_dir=spec.data_dir,
                       length_scale=spec.length_scale)
    options = dict(spec.engine)
    if spec.drain_s is not None:
        options["max_sim_time"] = cutoff_time(wl.items, spec.drain_s)
    analyzer = _make_analyzer(spec, options)
    t0 = time.perf_counter()
    try:
        result = simulate(wl, make_policy(spec.policy, **spec.policy_options), cost, analyzer=analyzer, **options)
    finally:
        if analyzer is not None:
            analyzer.close()
    wall = time.perf_counter() - t0
    row = {"policy": spec.policy, "rate": spec.rate, "seed": spec.seed, "workload": spec.workload,
           "profile": spec.profile, "num_jobs": spec.num_requests, "num_calls": len(wl.items),
           "slo_scale": wl.slo_scale, "analyzer": spec.analyzer, "notes": wl.notes, "wall_s": wall}
    row.update(flatten(summarize(result.records, result.duration)))
    row.update({f"engine.{k}": v for k, v in result.stats.items()})
    return row


def run_sweep(specs: Sequence[RunSpec], jobs: int | None = None) -> Iterator[dict]:
    """Yield a row per spec as runs complete (unordered), using ``jobs`` worker processes."""
    jobs = jobs or os.cpu_count() or 1
    ordered = sorted(specs, key=lambda s: -s.rate)  # heavy runs first: better packing
    if jobs <= 1 or len(ordered) <= 1:
        yield from map(run_one, ordered)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(min(jobs, len(ordered))) as pool:
        yield from pool.imap_unordered(run_one, ordered, chunksize=1)


def write_jsonl(rows: Sequence[dict], path: str | Path) -> None:
    with open(path, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, default=float) + "\n")


def mean_by(rows: Sequence[dict], key: str) -> dict[tuple[str, float], float]:
    """Mean of ``key`` over seeds, per (policy, rate)."""
    acc: dict[tuple[str, float], list[float]] = {}
    for row in rows:
        acc.setdefault((row["policy"], row["rate"]), []).append(float(row[key]))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def knee_rate(rows: Sequence[dict], baselines: Sequence[str]) -> float | None:
    """Lowest rate where the best baseline's SLO attainment (request goodput / offered) is below 50%."""
    att = mean_by(rows, "slo_attainment")
    for rate in sorted({r for _, r in att}):
        best = max((att[(p, rate)] for p in baselines if (p, rate) in att), default=None)
        if best is not None and best < 50.0:
            return rate
    return None


def tempo_ratios(rows: Sequence[dict], rate: float, tempo: str = "tempo") -> dict[str, float]:
    """Tempo's mean token goodput at ``rate`` divided by each other policy's."""
    tg = mean_by(rows, "token_goodput")
    mine = tg.get((tempo, rate))
    if mine is None:
        return {}
    return {p: (mine / v if v > 0 else float("inf")) for (p, r), v in tg.items() if r == rate and p != tempo}


def plot_goodput(rows: Sequence[dict], path: str | Path, title: str = "") -> None:
    """PNG of token goodput and request goodput (mean over seeds) against rate, a line per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    for ax, key, label in ((axes[0], "token_goodput", "token goodput (gain/s)"),
                           (axes[1], "request_goodput", "request goodput (SLO units met/s)")):
        means = mean_by(rows, key)
        for pol in policies:
            pts = sorted((r, v) for (p, r), v in means.items() if p == pol)
            ax.plot([r for r, _ in pts], [v for _, v in pts], marker="o", label=pol,
                    linewidth=2.4 if pol == "tempo" else 1.2)
        ax.set_xlabel("request rate (jobs/s)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def spec_dict(spec: RunSpec) -> dict:
    return asdict(spec)
