"""``tempo-sglang bench``: compare scheduling policies on a live server (see `tempo_sglang.bench.runner`)."""

from __future__ import annotations

import argparse


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``bench`` on the top-level parser."""
    from tempo_sglang.workloads import WORKLOAD_NAMES

    p = subparsers.add_parser("bench", help="benchmark policies on a live server (one JSONL row per run)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--policies", default="tempo,fcfs,edf,ltr,autellix", help="comma-separated policy names")
    p.add_argument("--workload", default="paper-mix", choices=WORKLOAD_NAMES)
    p.add_argument("--rates", default="0.15,0.3,0.5", help="comma-separated job rates (jobs/s)")
    p.add_argument("--duration", type=float, default=120.0, help="arrival window of each run, seconds")
    p.add_argument("--seeds", type=int, default=1, help="seeds per rate (FIRST..FIRST+N-1)")
    p.add_argument("--first-seed", type=int, default=0,
                   help="first seed (default 0): run more seeds later into the same --out and --length-model")
    p.add_argument("--out", default="bench-out", help="output directory (results.jsonl is appended to)")
    p.add_argument("--model", default="default", help="default | tiny | PATH (when launching servers)")
    p.add_argument("--url", default=None, help="use the server running at URL (one policy name as label)")
    p.add_argument("--profile", default=None, help="cost profile for scaling and the simulator (default: by model)")
    p.add_argument("--arrival", default="poisson", choices=("poisson", "gamma"))
    p.add_argument("--cv", type=float, default=None, help="inter-arrival CV for --arrival gamma")
    p.add_argument("--drain", type=float, default=None,
                   help="seconds after the window before unfinished calls are cut (default max(60, duration))")
    p.add_argument("--slo-scale", type=float, default=None, help="override the profile's SLO scale")
    p.add_argument("--length-scale", type=float, default=None, help="override the profile's length scale")
    p.add_argument("--length-model", default="auto",
                   help="auto (train on held-out draws of the workload) | none | PATH.npz")
    p.add_argument("--detail", action="store_true", help="also write per-call records under OUT/requests/")
    p.add_argument("--data-dir", default=None, help="where the Azure CSVs are (default ../shared/data)")
    p.add_argument("--engine", default="live", choices=("live", "sim"),
                   help="live servers, or the simulator with the model's cost profile (same workload and rows)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--policy-options", default=None, metavar="JSON",
                   help="keyword arguments of the policies on every server and in the simulator, e.g. "
                        "'{\"step_choice\": \"tight\"}' (unknown keys are ignored by Tempo; see serve)")
    p.set_defaults(func=run, accepts_extra=True)


def run(args: argparse.Namespace) -> int:
    """Run the bench; extra arguments go to every launched SGLang server."""
    from tempo_sglang.bench.runner import BenchConfig, run_bench
    from tempo_sglang.sglang.config import parse_policy_options

    cfg = BenchConfig(policies=[x.strip() for x in args.policies.split(",") if x.strip()], workload=args.workload,
                      rates=_floats(args.rates), duration=args.duration, seeds=args.seeds, first_seed=args.first_seed, out=args.out,
                      model=args.model, url=args.url, profile=args.profile, arrival=args.arrival, cv=args.cv,
                      drain=args.drain, slo_scale=args.slo_scale, length_scale=args.length_scale,
                      length_model=args.length_model, detail=args.detail, data_dir=args.data_dir,
                      server_args=list(args.extra), progress=not args.no_progress, engine=args.engine,
                      policy_options=parse_policy_options(args.policy_options))

    def show(row: dict) -> None:
        print(f"{row['policy']:>9} rate {row['rate']:<5g} seed {row['seed']}: request goodput "
              f"{row['request_goodput']:.3f}/s, token goodput {row['token_goodput']:.1f}/s, SLO "
              f"{row['slo_attainment']:.0f}% (latency {row['latency_attainment']:.0f}%, deadline "
              f"{row['deadline_attainment']:.0f}%, program {row['program_attainment']:.0f}%)", flush=True)

    run_bench(cfg, on_row=show)
    print(f"results in {cfg.out}/results.jsonl; render with: tempo-sglang report {cfg.out}")
    return 0

