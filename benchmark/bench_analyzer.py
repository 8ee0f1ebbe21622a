"""Request-analyzer costs: median length prediction per request and median match against 500 graphs.

    .venv/bin/python benchmark/bench_analyzer.py [--requests 2000] [--library 500] [--json out.json]

Both are compared, in the same run, with a trivial baseline: a dict lookup of a bound by prompt-length
bucket (prediction) and a plain nearest-node-count search over the library (matching). The refinement
from generated token ids (prefix models) is timed on the same trace with pseudo-random answer heads
(the trace has no text; the cost does not depend on what the ids are).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from tempo_sglang.analyzer import AnalyzerConfig, GraphLibrary, RequestAnalyzer
from tempo_sglang.analyzer.data import load_source
from tempo_sglang.analyzer.graphs import summarize
from tempo_sglang.analyzer.length_model import ForestConfig, train_length_model
from tempo_sglang.analyzer.predictor import LengthPredictor
from tempo_sglang.analyzer.samples import heads_of, to_arrays
from tempo_sglang.analyzer.synthetic import partial_view, small_programs, workload_programs
from tempo_sglang.core.views import RequestView
from tempo_sglang.slo import SLOClass, TempoSLO


def _median_us(fn, items) -> float:
    times = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


def bench_prediction(n: int, seed: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        samples, desc = load_source("azure-conv", seed=seed)
    samples = samples[: max(n * 4, 2000)]
    train, test = samples[n:], samples[:n]
    cfg = ForestConfig(seed=seed)
    t0 = time.perf_counter()
    x, y = to_arrays(train)
    predictor = LengthPredictor(train_length_model(x, y, cfg))
    train_s = time.perf_counter() - t0
    an = RequestAnalyzer(AnalyzerConfig(), predictor=predictor)
    text = "Summarise the following meeting notes in three bullet points. " * 20
    views = [RequestView(rid=str(i), slo=TempoSLO(slo_class=SLOClass.DEADLINE, deadline_ms=10000), arrival=0.0,
                         prompt_len=s.prompt_len, max_new_tokens=2048) for i, s in enumerate(test)]
    arrival = _median_us(lambda v: an.on_arrival(v), views)
    arrival_text = _median_us(lambda v: an.on_arrival(v, prompt_text=text), views)

    def progress(v):
        v.generated += 50
        an.on_progress(v)
    refine = _median_us(progress, views)
    rng = np.random.default_rng(seed)
    for s in train:
        s.output_head = [int(t) for t in rng.integers(0, 49152, min(256, s.output_len))]
    an_prefix = RequestAnalyzer(AnalyzerConfig(), predictor=LengthPredictor(
        train_length_model(x, y, cfg, heads=heads_of(train))))
    ids = [int(t) for t in rng.integers(0, 49152, 256)]
    for v in views:
        v.generated = 0
        an_prefix.on_arrival(v)

    def progress_ids(v):
        v.generated += 50
        an_prefix.on_progress(v, ids[: v.generated])
    refine_ids = _median_us(progress_ids, views)
    feats = [s.features() for s in test]
    bound_only = _median_us(lambda f: predictor.bound(f, 0), feats)
    table = {b: 512 for b in range(32)}
    lookup = _median_us(lambda v: table.get(min(31, v.prompt_len.bit_length()), 512), views)
    return {"data": desc, "train_samples": len(train), "train_s": train_s, "trees": cfg.n_estimators,
            "max_depth": cfg.max_depth, "on_arrival_us": arrival, "on_arrival_with_text_us": arrival_text,
            "on_progress_refine_us": refine, "on_progress_prefix_us": refine_ids, "model_bound_us": bound_only,
            "baseline_dict_lookup_us": lookup,
            "ratio_to_baseline": arrival / lookup}


def bench_matching(library_size: int, queries: int, seed: int) -> dict:
    graphs = workload_programs(library_size + queries, seed) or small_programs(library_size + queries, seed)
    lib = GraphLibrary(capacity=library_size)
    for g in graphs[:library_size]:
        lib.add(g)
    parts = []
    for g in graphs[library_size:]:
        n_stages = summarize(g).n_stages
        parts.append(partial_view(g, min(1, n_stages - 1)))
    summaries = [summarize(p) for p in parts]
    full = _median_us(lambda p: lib.match(p, record=False), parts)
    vector = _median_us(lambda s: lib.match(s, record=False), summaries)
    sizes = np.array([g.number_of_nodes() for g in graphs[:library_size]])
    nearest = _median_us(lambda p: int(np.argmin(np.abs(sizes - p.number_of_nodes()))), parts)
    return {"library": len(lib), "queries": len(parts), "match_with_summary_us": full,
            "match_presummarised_us": vector, "baseline_nearest_size_us": nearest,
            "ratio_to_baseline": full / nearest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--library", type=int, default=500)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    pred = bench_prediction(args.requests, args.seed)
    print(f"length prediction ({pred['trees']} trees, depth {pred['max_depth']}, trained on "
          f"{pred['train_samples']} samples of {pred['data']} in {pred['train_s']:.1f}s):")
    print(f"  median on_arrival {pred['on_arrival_us']:.0f} us, with 1.3 kB prompt text "
          f"{pred['on_arrival_with_text_us']:.0f} us, on_progress re-prediction {pred['on_progress_refine_us']:.0f} us, "
          f"model only {pred['model_bound_us']:.0f} us")
    print("  on_progress re-prediction from 50 generated ids (prefix model) "
          f"{pred['on_progress_prefix_us']:.0f} us")
    print(f"  baseline dict lookup {pred['baseline_dict_lookup_us']:.2f} us (ratio {pred['ratio_to_baseline']:.0f}x)")
    match = bench_matching(args.library, args.queries, args.seed)
    print(f"program matching against {match['library']} graphs ({match['queries']} partial programs):")
    print(f"  median match incl. partial-DAG summary {match['match_with_summary_us']:.0f} us, "
          f"pre-summarised {match['match_presummarised_us']:.0f} us")
    print(f"  baseline nearest node count {match['baseline_nearest_size_us']:.1f} us "
          f"(ratio {match['ratio_to_baseline']:.0f}x)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"prediction": pred, "matching": match}, fh, indent=2)


if __name__ == "__main__":
    main()
