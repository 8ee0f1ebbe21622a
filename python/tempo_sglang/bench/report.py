"""``tempo-sglang report DIR``: tables and plots of a bench (or sim) directory's ``results.jsonl``.

Writes ``DIR/report.md`` (per policy and rate, mean over seeds: request and token goodput, overall
and per-class SLO attainment, best-effort throughput, TTFT/TPOT medians, scheduler overhead),
``DIR/goodput.png`` (token and request goodput against load, a line per policy) and
``DIR/classes.png`` (per-class attainment against load). With ``sim=True`` each live row is replayed
in the simulator (same workload objects, seed, scales, window and drain, on the run's cost profile)
and ``DIR/sim_vs_live.md`` compares request goodput per policy and rate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tempo_sglang.sim.sweep import mean_by, plot_goodput

CLASS_KEYS = (("latency", "latency_attainment"), ("deadline", "deadline_attainment"),
              ("program", "program_attainment"))
TABLE = (("request goodput /s", "request_goodput", "{:.3f}"), ("token goodput /s", "token_goodput", "{:.1f}"),
         ("SLO att. %", "slo_attainment", "{:.0f}"), ("latency %", "latency_attainment", "{:.0f}"),
         ("deadline %", "deadline_attainment", "{:.0f}"), ("program %", "program_attainment", "{:.0f}"),
         ("BE tok/s", "best_effort_throughput", "{:.1f}"), ("TTFT p50 ms", "median_ttft_ms", "{:.0f}"),
         ("TPOT p50 ms", "median_tpot_ms", "{:.0f}"), ("errors", "num_error", "{:.0f}"))


def load_rows(directory: str | Path) -> list[dict]:
    """Rows of ``DIR/results.jsonl`` (one per policy, rate, seed)."""
    path = Path(directory) / "results.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no results.jsonl in {directory}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _cell(rows: Sequence[dict], policy: str, rate: float, key: str) -> float | None:
    vals = [float(r[key]) for r in rows if r["policy"] == policy and r["rate"] == rate and key in r]
    return float(np.mean(vals)) if vals else None


def markdown_table(rows: Sequence[dict]) -> str:
    """One line per (policy, rate): the figures of ``TABLE``, mean over seeds."""
    head = "| policy | rate | seeds | " + " | ".join(t for t, _, _ in TABLE) + " |"
    lines = [head, "|" + "---|" * (3 + len(TABLE))]
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    for rate in sorted({r["rate"] for r in rows}):
        for pol in policies:
            n = sum(1 for r in rows if r["policy"] == pol and r["rate"] == rate)
            if not n:
                continue
            cells = [fmt.format(v) if (v := _cell(rows, pol, rate, key)) is not None else "-"
                     for _, key, fmt in TABLE]
            lines.append(f"| {pol} | {rate:g} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_lines(rows: Sequence[dict], key: str = "request_goodput", ours: str = "tempo") -> list[str]:
    """Tempo's mean ``key`` over each other policy's, per rate."""
    means = mean_by(rows, key)
    out = []
    for rate in sorted({r for _, r in means}):
        mine = means.get((ours, rate))
        if mine is None:
            continue
        parts = [f"{p} {mine / v:.2f}x" if v > 0 else f"{p} inf" for (p, r), v in means.items()
                 if r == rate and p != ours]
        out.append(f"- rate {rate:g}: {ours} / " + ", ".join(parts))
    return out


def plot_classes(rows: Sequence[dict], path: str | Path, title: str = "") -> None:
    """PNG of per-class SLO attainment and best-effort throughput against rate, a line per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [*CLASS_KEYS, ("best effort (tokens/s)", "best_effort_throughput")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8))
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    for ax, (label, key) in zip(axes, panels, strict=True):
        means = mean_by([r for r in rows if key in r], key)
        for pol in policies:
            pts = sorted((r, v) for (p, r), v in means.items() if p == pol)
            ax.plot([r for r, _ in pts], [v for _, v in pts], marker="o", label=pol,
                    linewidth=2.4 if pol == "tempo" else 1.2)
        ax.set_title(label if key == "best_effort_throughput" else f"{label} attainment %")
        ax.set_xlabel("request rate (jobs/s)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(directory: str | Path, sim: bool = False) -> Path:
    """Render ``report.md``, ``goodput.png`` and ``classes.png`` (and the sim comparison) into DIR."""
    directory = Path(directory)
    rows = load_rows(directory)
    first = rows[0]
    title = f"{first.get('workload', '?')} on {first.get('model', first.get('profile', '?'))}"
    plot_goodput(rows, directory / "goodput.png", title)
    plot_classes(rows, directory / "classes.png", title)
    text = [f"# {title}", "", f"{len(rows)} runs from `{directory / 'results.jsonl'}`; means over seeds.", "",
            markdown_table(rows), "", "Request goodput ratios:", *ratio_lines(rows), "",
            "Token goodput ratios:", *ratio_lines(rows, "token_goodput"), "",
            "Plots: `goodput.png` (token and request goodput against load), `classes.png` (per class).", ""]
    if sim:
        from tempo_sglang.bench.sim_compare import compare_with_sim

        text += ["## Simulator against the live runs", "",
                 "On the shipped profile (fitted on the engine running alone):", "",
                 compare_with_sim(rows, directory), "",
                 "On the profile fitted to every iteration the bench's servers ran (`sim_compare.measured_profile`, "
                 "`measured-profile.json`):", "",
                 compare_with_sim(rows, directory, measured=True), ""]
    path = directory / "report.md"
    path.write_text("\n".join(text))
    return path
