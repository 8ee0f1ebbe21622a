"""Replay live bench rows in the simulator and compare request goodput (issue: sim agrees with live).

Each live row names its workload, rate, seed, job count, SLO and length scales, arrival window and
drain, and the cost profile of the served model. The simulator runs the same policy on the same
`Workload` objects with that profile, prefill as separate passes (SGLang's default on this engine),
the live server's KV capacity and request slots, SGLang's KV reservation for ignore_eos requests
(each running request holds back its remaining ``max_new_tokens``), the same cut (``drain_s`` after the last root
arrival, `workloads.release.cutoff_time`) and the same length model the live servers were given
(``DIR/length_model.npz`` when the bench trained one). Each row is replayed on its own profile and,
with ``measured``, on one profile fitted to every iteration the bench's plugin servers ran
(`measured_profile`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tempo_sglang.sim.cost_sums import CostSums
from tempo_sglang.sim.costmodel import CostModel, forget_profile, load_profile
from tempo_sglang.sim.sweep import RunSpec, run_one

LIVE_KV_TOKENS = 32768  # the launcher's --max-total-tokens on a CPU engine
LIVE_MAX_RUNNING = 2048  # SGLang's max_running_requests for that KV size (the server log says so)


def measured_profile(rows: Sequence[dict], base: str, out_dir: Path) -> Path | None:
    """A cost profile fitted to the engine *as the bench ran it*: every iteration the plugin-scheduled
    servers ran during the rows (their ``cost_sums``, `sim.cost_sums`: forward plus the host work up
    to the next forward, as a client sees it), pooled over policies and rates and fitted once, with no
    prior. The shipped profile was fitted on an engine running alone; during a bench the client,
    tokenizer and detokenizer share the CPU and the batches are larger and mixed. Engine limits come
    from ``base``. None when no row has sums (stock fcfs/lpm servers, or rows from older servers)."""
    sums = [CostSums.from_dict(r["scheduler"]["cost_sums"]) for r in rows
            if isinstance(r.get("scheduler"), dict) and isinstance(r["scheduler"].get("cost_sums"), dict)]
    total = sum(sums, CostSums())
    if total.n < 6 or total.decode_steps < 3 or total.n - total.decode_steps < 3:
        return None
    coeffs, prefill_pass, rms = total.fit()
    profile = load_profile(base)
    fitted = CostModel(name=f"{base}@bench", coeffs=coeffs, max_running=profile.max_running,
                       kv_capacity_tokens=profile.kv_capacity_tokens, chunk_size=profile.chunk_size,
                       prefill_pass=prefill_pass,
                       meta={"provenance": f"{total.n:.0f} iterations ({total.decode_steps:.0f} decode) of the "
                                           f"bench's plugin-scheduled servers, fitted by sim.cost_sums",
                             "error": {"fit_rms_rel": rms}})
    path = out_dir / "measured-profile.json"
    path.write_text(json.dumps(fitted.to_dict(), indent=1))
    forget_profile(path)
    return path


def sim_row(row: dict, length_model: Path | None, profile: str | Path | None = None) -> dict:
    """The simulator's row for one live row (on ``profile``, default the row's own)."""
    engine = {"mixed": False, "kv_capacity": LIVE_KV_TOKENS, "max_running": LIVE_MAX_RUNNING,
              "decode_reserve": "max_new"}  # the live driver sends ignore_eos: SGLang reserves max_new
    spec = RunSpec(policy=row["policy"], rate=float(row["rate"]), seed=int(row["seed"]), workload=row["workload"],
                   profile=str(profile or row["profile"]), num_requests=int(row["num_jobs"]), arrival=row.get("arrival", "poisson"),
                   cv=row.get("cv"), slo_scale=float(row["slo_scale"]), length_scale=float(row["length_scale"]),
                   engine=engine, drain_s=float(row["drain_s"]), analyzer="default" if length_model is not None else "none",
                   length_model=str(length_model) if length_model is not None else None,
                   policy_options=dict(row.get("policy_options") or {}))
    return run_one(spec)


def compare_with_sim(rows: Sequence[dict], directory: str | Path, measured: bool = False) -> str:
    """Markdown table: live vs simulated request goodput per (policy, rate), mean over seeds; with
    ``measured`` every row is replayed on the `measured_profile` of all of them."""
    model = Path(directory) / "length_model.npz"
    model = model if model.is_file() else None
    profile = measured_profile(rows, rows[0]["profile"], Path(directory)) if measured else None
    if measured and profile is None:
        return "No row carries the servers' step sums (stock servers only, or rows from before they were recorded)."
    acc: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for row in rows:
        sim = sim_row(row, model, profile)
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
