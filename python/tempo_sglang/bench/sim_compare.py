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

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tempo_sglang.sim.costmodel import CostModel, forget_profile, load_profile
from tempo_sglang.sim.sweep import RunSpec, run_one

LIVE_KV_TOKENS = 32768  # the launcher's --max-total-tokens on a CPU engine
LIVE_MAX_RUNNING = 2048  # SGLang's max_running_requests for that KV size (the server log says so)


def measured_profile(rows: Sequence[dict], rate: float, base: str, out_dir: Path) -> Path | None:
    """A cost profile fitted to the engine *as the bench ran it*: the in-server step figures of the
    live rows at ``rate`` (each plugin-scheduled server measures its decode step's base, per-request
    and per-context-token cost and its prefill cost per token; stock fcfs/lpm servers report none, so
    a rate's figures are the median over the servers that do). The shipped profile was fitted on an
    engine running alone; during a bench the client, tokenizer and detokenizer share the CPU, and
    the measured steps are slower. The prefill cost per token is the servers' own when they report it
    net of the fixed cost of a pass (``prefill_ms_overhead``, whose excess over the decode base becomes
    the profile's ``prefill_pass``); older rows folded that cost in, so there the shipped figure is
    scaled by the measured decode slowdown. None when no row at ``rate`` has figures."""
    figs = [r["scheduler"] for r in rows if float(r["rate"]) == rate and isinstance(r.get("scheduler"), dict)
            and r["scheduler"].get("decode_ms_per_request") is not None]
    if not figs:
        return None
    med = {k: float(np.median([f[k] for f in figs if f.get(k) is not None] or [np.nan]))
           for k in ("decode_ms_base", "decode_ms_per_request", "decode_us_per_ctx_token", "prefill_ms_per_token")}
    if any(np.isnan(v) for v in med.values()):
        return None
    profile = load_profile(base)
    s0, s1, s2, _s3, s4 = profile.coeffs
    c0, per_request = med["decode_ms_base"] / 1e3, med["decode_ms_per_request"] / 1e3
    prefill_pass = 0.0
    overheads = [f["prefill_ms_overhead"] for f in figs if f.get("prefill_ms_overhead") is not None]
    if len(overheads) == len(figs):
        c1 = med["prefill_ms_per_token"] / 1e3  # net of each pass's fixed cost: c0 + prefill_pass
        prefill_pass = max(float(np.median(overheads)) / 1e3 - c0, 0.0)
    else:  # older servers folded each pass's fixed cost into the per-token figure: c0 would count it
        c1 = s1 * max(1.0, (c0 + per_request) / (s0 + s1 + s4))  # twice, so scale by the decode slowdown
    c4 = max(per_request - c1, 0.0)  # a decoding request: one token (c1) plus c4
    fitted = CostModel(name=f"{base}@bench-{rate:g}", coeffs=(c0, c1, s2, med["decode_us_per_ctx_token"] / 1e6, c4),
                       max_running=profile.max_running, kv_capacity_tokens=profile.kv_capacity_tokens,
                       chunk_size=profile.chunk_size, meta={"provenance": "median in-server step figures of the bench"},
                       prefill_pass=prefill_pass)
    path = out_dir / f"measured-profile-{rate:g}.json"
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
    ``measured`` each rate is replayed on the `measured_profile` of its rows."""
    model = Path(directory) / "length_model.npz"
    model = model if model.is_file() else None
    profiles: dict[float, Path | None] = {}
    if measured:
        for rate in sorted({float(r["rate"]) for r in rows}):
            profiles[rate] = measured_profile(rows, rate, rows[0]["profile"], Path(directory))
    acc: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for row in rows:
        sim = sim_row(row, model, profiles.get(float(row["rate"])))
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
