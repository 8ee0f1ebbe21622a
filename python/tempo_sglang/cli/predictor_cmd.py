"""``tempo-sglang predictor``: report the analyzer's accuracy on held-out data, or seed a length model.

    tempo-sglang predictor report [--data azure-conv,azure-code,humaneval,programs,synthetic] [--json out.json]
                                  [--kind survival|checkpoint] [--splits 5] [--split random|time]
    tempo-sglang predictor seed --jsonl samples.jsonl --out length_model.npz [--quantile 0.9]

``report`` trains on one part of each source and measures on the rest: coverage (share of requests at or
under the bound) and tightness (mean bound/actual total output; also remaining bound/remaining actual) at
0, 50, 100 and 200 generated tokens, over the requests still running there (see `analyzer.evaluate`),
then program-match accuracy of partial programs against a library of finished ones. For data with the
answers' first token ids (a seed JSONL's ``output_head``) it reports the bounds twice: with the
generated prefix (the prefix models, as in serving) and from the prompt alone. ``--splits N``
averages N seeded random splits (and reports the lowest coverage); ``--split time`` trains on the first
part of each source in file order (the Azure traces are in arrival order) and tests on the rest. ``seed`` turns a JSONL of
``{prompt, prompt_len, output_len, ...}`` samples (see `tempo_sglang.analyzer.samples`) into a model file
the server loads with its analyzer's ``model_path``.
"""

from __future__ import annotations

import argparse
import json
import sys

from tempo_sglang.analyzer.length_model import SCHEDULING_QUANTILE

DEFAULT_SOURCES = "azure-conv,azure-code,humaneval,programs,synthetic"
KINDS = ("survival", "checkpoint")
REPORT_POINTS = (0, 50, 100, 200)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predictor", help="length-predictor report and seeding",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="predictor_command", required=True)
    rep = sub.add_parser("report", help="coverage, tightness and program-match accuracy on held-out data")
    rep.add_argument("--data", default=DEFAULT_SOURCES,
                     help="comma-separated sources: azure-conv, azure-code, humaneval, programs, synthetic, "
                          "or .jsonl paths")
    rep.add_argument("--kind", choices=KINDS, default="survival", help="length model (default survival)")
    rep.add_argument("--splits", type=int, default=1, help="seeded random splits to average (seed, seed+1, ...)")
    rep.add_argument("--max-new-tokens", type=int, default=None,
                     help="the cap the test requests ran with (a seed JSONL's); bounds are clipped to it as in serving")
    rep.add_argument("--split", choices=("random", "time"), default="random",
                     help="random: seeded shuffle; time: first part of the file trains, the rest tests")
    rep.add_argument("--test-fraction", type=float, default=0.3)
    rep.add_argument("--quantile", type=float, default=0.95,
                     help="the bound's level whose coverage is measured (default 0.95)")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--limit", type=int, default=None, help="at most this many samples per source")
    rep.add_argument("--programs", type=int, default=900,
                     help="program graphs to generate (2/3 library, 1/3 queries); 0 skips matching")
    rep.add_argument("--json", default=None, help="also write the figures to this JSON file")
    rep.set_defaults(func=run_report)
    seed = sub.add_parser("seed", help="train a length model file from a seed JSONL")
    seed.add_argument("--jsonl", required=True, help="samples: one {prompt?, prompt_len?, output_len, ...} a line")
    seed.add_argument("--out", required=True, help="model file to write (.npz)")
    seed.add_argument("--quantile", type=float, default=SCHEDULING_QUANTILE,
                      help=f"the bound's level (default {SCHEDULING_QUANTILE}, what the scheduler runs on)")
    seed.add_argument("--model-name", default=None, help="served model name recorded in the model file")
    seed.add_argument("--kind", choices=KINDS, default="survival", help="length model (default survival)")
    seed.set_defaults(func=run_seed)


def run_report(args: argparse.Namespace) -> int:
    from tempo_sglang.analyzer.data import load_source
    from tempo_sglang.analyzer.evaluate import (
        average_reports,
        evaluate_predictor,
        length_report,
        match_report,
    )
    from tempo_sglang.analyzer.length_model import ForestConfig
    from tempo_sglang.analyzer.samples import heads_of, iter_split
    from tempo_sglang.analyzer.synthetic import small_programs, workload_programs

    out: dict = {"lengths": {}, "programs": {}, "kind": args.kind, "split": args.split}
    splits = 1 if args.split == "time" else max(1, args.splits)
    print(f"== Length bounds (p{args.quantile * 100:g}, {args.kind} model), held-out {args.split} split "
          f"{args.test_fraction:.0%}" + (f", mean of {splits} splits" if splits > 1 else "") + " ==")
    for name in [s.strip() for s in args.data.split(",") if s.strip()]:
        try:
            samples, desc = load_source(name, seed=args.seed, limit=args.limit)
        except ValueError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 2
        if len(samples) < 20:
            print(f"{name}: too few samples ({len(samples)}), skipped")
            continue
        reports, prompt_only = [], []
        for seed in range(args.seed, args.seed + splits):
            if args.split == "time":
                cut = int(round(len(samples) * (1.0 - args.test_fraction)))
                train, test = samples[:cut], samples[cut:]
            else:
                train_idx, test_idx = iter_split(len(samples), args.test_fraction, seed)
                train, test = [samples[i] for i in train_idx], [samples[i] for i in test_idx]
            cfg = ForestConfig(quantile=args.quantile, seed=seed, kind=args.kind)
            report, predictor = length_report(train, test, desc, cfg, REPORT_POINTS, args.max_new_tokens)
            reports.append(report)
            if heads_of(test) is not None:
                prompt_only.append(evaluate_predictor(predictor, test, desc + " [prompt only]", len(train),
                                                      args.quantile, REPORT_POINTS, args.max_new_tokens, False))
        for key, runs in ((name, reports), (name + " [prompt only]", prompt_only)):
            if not runs:
                continue
            report = runs[0] if splits == 1 else average_reports(runs)
            print(f"[{key}] " + "\n".join(report.rows()))
            out["lengths"][key] = {"source": report.source, "n_train": report.n_train, "n_test": report.n_test,
                                   "points": {str(g): p for g, p in report.points.items()}}
    if args.programs > 0:
        print("== Program matching (partial DAG at every stage, no kind hint) ==")
        sets = {"workloads": workload_programs(args.programs, args.seed),
                "small-shapes": small_programs(args.programs, args.seed)}
        for name, graphs in sets.items():
            if not graphs:
                print(f"[{name}] unavailable")
                continue
            cut = len(graphs) * 2 // 3
            rep = match_report(graphs[:cut], graphs[cut:])
            print(f"[{name}] " + "\n".join(rep.rows()))
            out["programs"][name] = {k: v for k, v in vars(rep).items() if k != "by_stage"} | {
                "by_stage": {str(s): a for s, a in rep.by_stage.items()}}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


def run_seed(args: argparse.Namespace) -> int:
    from tempo_sglang.analyzer.length_model import ForestConfig, train_length_model
    from tempo_sglang.analyzer.samples import heads_of, read_jsonl, to_arrays

    try:
        samples = read_jsonl(args.jsonl)
    except OSError as exc:
        print(f"tempo-sglang predictor seed: {exc}", file=sys.stderr)
        return 2
    if len(samples) < 10:
        print(f"tempo-sglang predictor seed: {args.jsonl} has {len(samples)} usable samples; need >= 10",
              file=sys.stderr)
        return 2
    x, y = to_arrays(samples)
    model = train_length_model(x, y, ForestConfig(quantile=args.quantile, kind=args.kind),
                               model_name=args.model_name, heads=heads_of(samples))
    model.save(args.out)
    prefix = sorted(getattr(model, "prefix_models", {}))
    print(f"wrote {args.out}: {args.kind} model, {len(samples)} samples, p{args.quantile * 100:g} bound, "
          f"{model.feature.shape[0]} trees, depth {model.depth}"
          + (f", prefix models at {prefix} generated tokens" if prefix else ""))
    return 0
