"""Replay live bench rows in the simulator and compare request goodput (issue: sim agrees with live).

Each live row names its workload, rate, seed, job count, SLO and length scales, arrival window and
drain, and the cost profile of the served model. The simulator runs the same policy on the same
`Workload` objects with that profile, prefill as separate passes (SGLang's default on this engine),
the live server's KV capacity and request slots, SGLang's KV reservation for ignore_eos requests
(each running request holds back its remaining ``max_new_tokens``), the same cut (``drain_s`` after the last root
arrival, `workloads.release.cutoff_time`) and the same length model the live servers were given
(``DIR/length_model.npz`` when the bench trained one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tempo_sglang.sim.sweep import RunSpec, run_one

LIVE_KV_TOKENS = 32768  # the launcher's --max-total-tokens on a CPU engine
LIVE_MAX_RUNNING = 2048  # SGLang's max_running_requests for that KV size (the server log says so)


def sim_row(row: dict, length_model: Path | None) -> dict:
    """The simulator's row for one live row."""
    engine = {"mixed": False, "kv_capacity": LIVE_KV_TOKENS, "max_running": LIVE_MAX_RUNNING,
              "decode_reserve": "max_new"}  # the live driver sends ignore_eos: SGLang reserves max_new
    spec = RunSpec(policy=row["policy"], rate=float(row["rate"]), seed=int(row["seed"]), workload=row["workload"],
                   profile=row["profile"], num_requests=int(row["num_jobs"]), arrival=row.get("arrival", "poisson"),
                   cv=row.get("cv"), slo_scale=float(row["slo_scale"]), length_scale=float(row["length_scale"]),
                   engine=engine, drain_s=float(row["drain_s"]), analyzer="default" if length_model is not None else "none",
                   length_model=str(length_model) if length_model is not None else None,
                   policy_options=dict(row.get("policy_options") or {}))
    return run_one(spec)


def compare_with_sim(rows: Sequence[dict], directory: str | Path) -> str:
    """Markdown table: live vs simulated request goodput per (policy, rate), mean over seeds."""
    model = Path(directory) / "length_model.npz"
    model = model if model.is_file() else None
    acc: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for row in rows:
        sim = sim_row(row, model)
        acc.setdefault((row["policy"], float(row["rate"])), []).append(
            (float(row["request_goodput"]), float(sim["request_goodput"])))
    lines = ["| policy | rate | live req goodput /s | sim req goodput /s | sim / live | within 15%? |",
             "|---|---|---|---|---|---|"]
    within = 0
    for (policy, rate), pairs in sorted(acc.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        live, sim = (float(np.mean([p[i] for p in pairs])) for i in (0, 1))
        ratio = sim / live if live > 0 else float("inf")
        ok = abs(ratio - 1.0) <= 0.15
        within += ok
        lines.append(f"| {policy} | {rate:g} | {live:.3f} | {sim:.3f} | {ratio:.2f} | {'yes' if ok else 'no'} |")
    lines.append("")
    lines.append(f"{within} of {len(acc)} (policy, rate) points within 15%.")
    return "\n".join(lines)
