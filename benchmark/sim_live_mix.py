"""The live latency + deadline mix of `bench_live_policies.py`, replayed in the simulator.

Same plans (the live bench's seeded Poisson draws, one per seed), the CPU cost profile of the
default model (`smollm2-135m-cpu`), prefill as separate passes, the live server's KV size and
request slots and SGLang's KV reservation for ``ignore_eos`` requests, and a length model trained on
a held-out draw as the live bench does. Noise-free and ~1 s per run, so a scheduling change can be
judged on many seeds before it is measured live (where single runs swing 2-3x with the machine):

    .venv/bin/python benchmark/sim_live_mix.py --policy tempo --options '{"step_choice": "tight"}' \\
        --rates 0.6,0.9 --seeds 16
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_live_policies as live  # noqa: E402
from tempo_sglang.analyzer.facade import AnalyzerConfig, RequestAnalyzer  # noqa: E402
from tempo_sglang.core.metrics import summarize  # noqa: E402
from tempo_sglang.core.registry import make_policy  # noqa: E402
from tempo_sglang.sim.costmodel import COEFF_NAMES, CostModel, load_profile  # noqa: E402
from tempo_sglang.sim.engine import simulate  # noqa: E402
from tempo_sglang.workloads.items import WorkItem  # noqa: E402

PROFILE = "smollm2-135m-cpu"
LIVE_ENGINE = {"mixed": False, "kv_capacity": 32768, "max_running": 2048, "decode_reserve": "max_new"}


def run(policy: str, options: dict, rate: float, seed: int, model: Path | None, duration: float = 50.0,
        profile: CostModel | str = PROFILE) -> dict:
    """One simulated run of the live plan for ``seed``; the summary metrics."""
    items = [WorkItem(rid=r.rid, arrival=t, prompt_len=len(r.input_ids), output_len=r.stop_after, slo=r.slo,
                      max_new_tokens=live.CAP) for t, r in live.make_requests(rate, duration, seed)]
    analyzer = RequestAnalyzer(AnalyzerConfig(model_path=str(model))) if model is not None else None
    try:
        out = simulate(items, make_policy(policy, **options), profile, analyzer=analyzer, **LIVE_ENGINE)
    finally:
        if analyzer is not None:
            analyzer.close()
    return summarize(out.records, out.duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="tempo")
    parser.add_argument("--options", default="{}", metavar="JSON", help="the policy's keyword arguments")
    parser.add_argument("--rates", default="0.6,0.9")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--coeffs", default=None, metavar="JSON",
                        help="override cost coefficients, e.g. a slow stretch's fit: "
                             "'{\"c0\": 0.063, \"c4\": 0.0028, \"c3\": 3.4e-5}'")
    parser.add_argument("--length-model", default="auto", help="'auto' (held-out draw, as live), 'none' or a path")
    args = parser.parse_args()
    model = None
    if args.length_model == "auto":
        model = live.train_length_model(0.6, 300.0, 1000, Path(tempfile.mkdtemp()))
    elif args.length_model != "none":
        model = Path(args.length_model)
    options = json.loads(args.options)
    profile = load_profile(PROFILE)
    if args.coeffs:
        override = json.loads(args.coeffs)
        coeffs = tuple(float(override.get(k, c)) for k, c in zip(COEFF_NAMES, profile.coeffs, strict=True))
        profile = dataclasses.replace(profile, coeffs=coeffs)  # a copy: load_profile's instance is shared
    for rate in (float(r) for r in args.rates.split(",")):
        rows = [run(args.policy, options, rate, seed, model, profile=profile) for seed in range(args.seeds)]
        mean = {k: sum(r[k] for r in rows) / len(rows)
                for k in ("request_goodput", "latency_attainment", "deadline_attainment")}
        print(f"{args.policy} {args.options} @ {rate:g}/s, {args.seeds} seeds: request goodput "
              f"{mean['request_goodput']:.3f}/s, latency {mean['latency_attainment']:.1f}%, "
              f"deadline {mean['deadline_attainment']:.1f}%", flush=True)


if __name__ == "__main__":
    main()
