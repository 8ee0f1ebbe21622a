"""Frontend overhead: the same sglang.lang program through stock `RuntimeEndpoint` and `TempoEndpoint`.

Both backends run the same programs (temperature 0, so the same tokens) against the same server,
back to back in rotating order after a warm-up, together with a second stock endpoint as an A/A
control (its ratio to stock shows the noise floor); the median of the per-repeat ratios tempo/stock
is the cost of the metadata (client bookkeeping, larger requests, the server's intake check). The server
runs the ``fcfs`` policy so both see the same schedule (stock requests are best effort, Tempo's are
program calls: under the tempo policy they would be scheduled differently, which is not overhead).

    .venv/bin/python benchmark/bench_frontend_overhead.py [--url URL] [--repeats 40]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from programs import load  # noqa: E402
from sglang.lang.backend.runtime_endpoint import RuntimeEndpoint  # noqa: E402

from tempo_sglang.frontend import Deadline, TempoEndpoint, run_program  # noqa: E402

ALL_PROGRAMS = {"map_reduce": {"max_tokens": 16}, "tree_of_thought": {"max_tokens": 8},
            "chat": {"max_tokens": 16}, "self_refine": {"max_tokens": 16}, "debate": {"max_tokens": 16},
            "react": {"max_tokens": 8}}


def run_once(backend, names) -> float:
    """Wall time of one pass over the programs on ``backend``."""
    started = time.perf_counter()
    for name in names:
        module = load(name)
        args = {**module.default_args(), **ALL_PROGRAMS[name]}
        if isinstance(backend, TempoEndpoint):
            state = run_program(module.program, tempo=Deadline(300), backend=backend, temperature=0, **args)
        else:
            state = module.program.run(backend=backend, temperature=0, **args)
            state.sync()
        if state.error() is not None:
            raise RuntimeError(state.error())
    return time.perf_counter() - started


ORDERS = (("stock", "control", "tempo"), ("tempo", "control", "stock"), ("control", "tempo", "stock"),
          ("stock", "tempo", "control"), ("tempo", "stock", "control"), ("control", "stock", "tempo"))


def measure(url: str, repeats: int, names) -> dict:
    """Passes of stock, a second stock endpoint (the A/A control) and Tempo, in rotating order.

    Each repeat runs the three back to back, in one of the six orders in turn, so drift of the
    machine and position effects cancel; the control's ratio to stock is the noise floor of the
    measurement (it should be 1.0).
    """
    backends = {"stock": RuntimeEndpoint(url, chat_template_name="chatml"),
                "control": RuntimeEndpoint(url, chat_template_name="chatml"),
                "tempo": TempoEndpoint(url, chat_template_name="chatml")}
    for backend in backends.values():  # warm-up: prefix cache, connections, imports
        run_once(backend, names)
    times: dict[str, list[float]] = {label: [] for label in backends}
    for i in range(repeats):
        for label in ORDERS[i % len(ORDERS)]:
            times[label].append(run_once(backends[label], names))
    med = {k: statistics.median(v) for k, v in times.items()}
    paired = {k: [t / s for t, s in zip(times[k], times["stock"], strict=True)] for k in ("tempo", "control")}
    return {"repeats": repeats, "median_stock_s": med["stock"], "median_tempo_s": med["tempo"],
            "median_control_s": med["control"], "ratio": med["tempo"] / med["stock"],
            "paired_ratio": statistics.median(paired["tempo"]), "paired_ci95": bootstrap_median_ci(paired["tempo"]),
            "control_ratio": statistics.median(paired["control"]),
            "control_ci95": bootstrap_median_ci(paired["control"]),
            "stamped_calls_per_pass": backends["tempo"].stamped_calls // (repeats + 1), "times": times}


def bootstrap_median_ci(values: list[float], draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the median of ``values`` (how much the ratio can be trusted)."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return medians[int(0.025 * draws)], medians[int(0.975 * draws) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="frontend metadata overhead vs stock RuntimeEndpoint")
    parser.add_argument("--url", help="a running server (default: start a tiny-model fcfs server)")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--programs", default="map_reduce,tree_of_thought,chat")
    parser.add_argument("--limit", type=float, default=1.02, help="fail above this ratio")
    args = parser.parse_args(argv)
    names = [n for n in args.programs.split(",") if n]
    server = None
    url = args.url
    if url is None:
        from tempo_sglang.launcher import ServerProcess
        from tempo_sglang.models import resolve_model

        log = Path(tempfile.mkdtemp()) / "server.log"
        server = ServerProcess(model_path=resolve_model("tiny"), policy="fcfs", log_path=log).start()
        url = server.url
    try:
        result = measure(url, args.repeats, names)
    finally:
        if server is not None:
            server.stop()
    print(f"programs: {', '.join(names)}; {result['stamped_calls_per_pass']} stamped calls per pass; "
          f"{result['repeats']} interleaved repeats")
    print(f"median wall time: stock RuntimeEndpoint {result['median_stock_s']:.4f} s, "
          f"second stock (control) {result['median_control_s']:.4f} s, TempoEndpoint {result['median_tempo_s']:.4f} s")
    low, high = result["paired_ci95"]
    c_low, c_high = result["control_ci95"]
    print(f"ratio of medians tempo/stock: {result['ratio']:.4f}")
    print(f"A/A control, stock/stock paired: {result['control_ratio']:.4f} (95% CI {c_low:.4f}-{c_high:.4f})")
    print(f"tempo/stock paired (median of back-to-back ratios): {result['paired_ratio']:.4f} "
          f"(95% CI {low:.4f}-{high:.4f}; limit {args.limit})")
    return 0 if result["paired_ratio"] <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
