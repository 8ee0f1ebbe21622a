"""``tempo-sglang sim``: sweep policies x rates x seeds through the simulator.

Writes ``DIR/results.jsonl`` (one row per (policy, rate, seed) with the metrics of SPEC section 2),
``DIR/goodput.png`` (token and request goodput against rate, a line per policy) and
``DIR/summary.json`` (wall time, knee rate, Tempo's token-goodput ratios). Defaults are the
acceptance sweep: paper-mix on the 8B-GPU profile, every policy, 5 rates x 3 seeds x 2,000 jobs.
No SGLang or torch import.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tempo_sglang.analyzer.length_model import SCHEDULING_QUANTILE

DEFAULT_RATES = "4,6,8,9,10"


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``sim`` on the top-level parser."""
    from tempo_sglang.core.registry import POLICY_NAMES
    from tempo_sglang.workloads import WORKLOAD_NAMES

    p = subparsers.add_parser("sim", help="simulate scheduling policies on a cost-model engine",
                              description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="llama-8b-h100", help="cost profile name or JSON path")
    p.add_argument("--workload", default="paper-mix", choices=WORKLOAD_NAMES)
    p.add_argument("--policies", default=",".join(POLICY_NAMES), help="comma-separated policy names")
    p.add_argument("--rates", default=DEFAULT_RATES, help="comma-separated job rates (jobs/s)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    p.add_argument("--num-requests", type=int, default=2000, help="top-level jobs per run")
    p.add_argument("--arrival", default="poisson", choices=("poisson", "gamma"))
    p.add_argument("--cv", type=float, default=None, help="inter-arrival CV for --arrival gamma")
    p.add_argument("--slo-scale", type=float, default=None,
                   help="SLO multiplier (default: from the profile's iteration time, 1 on the 8B GPU)")
    p.add_argument("--data-dir", default=None, help="where the Azure CSVs are (default ../shared/data)")
    p.add_argument("--frame-steps", type=int, default=50, help="iterations per scheduling frame")
    p.add_argument("--no-mixed", action="store_true", help="prefill-only steps that stall decodes")
    p.add_argument("--analyzer", default="none", choices=("none", "default", "oracle"),
                   help="request analyzer: none (safe default bound), default (length predictor and "
                        "program graphs), oracle (true lengths)")
    p.add_argument("--length-model", default=None,
                   help="length-predictor model file for --analyzer default, or 'auto': train one on held-out "
                        "draws of the workload (other seeds) into OUT/length_model.npz")
    p.add_argument("--length-quantile", type=float, default=SCHEDULING_QUANTILE,
                   help=f"quantile of the length bound the --length-model auto model gives "
                        f"(default {SCHEDULING_QUANTILE}, the scheduling bound)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--out", default="sim-out", help="output directory")
    p.add_argument("--policy-options", default=None, metavar="JSON",
                   help="keyword arguments of every policy, e.g. '{\"step_choice\": \"tight\"}' (as serve's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the sweep described by ``args``; returns an exit code."""
    from tqdm import tqdm

    from tempo_sglang.sim.costmodel import load_profile
    from tempo_sglang.sim.sweep import (
        RunSpec,
        knee_rate,
        plot_goodput,
        run_sweep,
        tempo_ratios,
        write_jsonl,
    )

    policies = [x.strip() for x in args.policies.split(",") if x.strip()]
    rates = _floats(args.rates)
    load_profile(args.profile)  # fail early on a bad name
    engine = {"frame_steps": args.frame_steps, "mixed": not args.no_mixed}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    length_model = args.length_model
    if length_model == "auto":
        from tempo_sglang.analyzer.held_out import HELD_OUT_SEED, train_on_workloads
        from tempo_sglang.workloads import make_workload

        draws = [make_workload(args.workload, r, HELD_OUT_SEED + i, args.num_requests, slo_scale=args.slo_scale,
                               profile=load_profile(args.profile), arrival=args.arrival, cv=args.cv,
                               data_dir=args.data_dir) for i, r in enumerate(rates)]
        length_model = str(train_on_workloads(draws, out / "length_model.npz", quantile=args.length_quantile))
    from tempo_sglang.sglang.config import parse_policy_options

    options = parse_policy_options(args.policy_options)
    specs = [RunSpec(policy=p, rate=r, seed=s, workload=args.workload, profile=args.profile,
                     num_requests=args.num_requests, arrival=args.arrival, cv=args.cv, data_dir=args.data_dir,
                     slo_scale=args.slo_scale, engine=engine, analyzer=args.analyzer,
                     length_model=length_model, policy_options=options)
             for p in policies for r in rates for s in range(args.seeds)]
    start = time.perf_counter()
    rows = []
    for row in tqdm(run_sweep(specs, args.jobs), total=len(specs), desc="sim", unit="run"):
        rows.append(row)
    wall = time.perf_counter() - start
    rows.sort(key=lambda r: (policies.index(r["policy"]), r["rate"], r["seed"]))
    write_jsonl(rows, out / "results.jsonl")
    plot_goodput(rows, out / "goodput.png", f"{args.workload} on {args.profile}")
    baselines = [p for p in policies if p not in ("tempo", "oracle")]
    knee = knee_rate(rows, baselines)
    summary = {"wall_s": wall, "runs": len(rows), "knee_rate": knee,
               "tempo_ratios_at_knee": tempo_ratios(rows, knee) if knee is not None and "tempo" in policies
               else None, "argv": sys.argv[1:]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{len(rows)} runs in {wall:.1f} s -> {out}/results.jsonl, {out}/goodput.png")
    if knee is None:
        print("the best baseline stays at or above 50% SLO attainment at every rate")
    else:
        print(f"knee rate (best baseline below 50% attainment): {knee}")
        for pol, ratio in (summary["tempo_ratios_at_knee"] or {}).items():
            print(f"  tempo token goodput / {pol}: {ratio:.2f}x")
    return 0
