"""Frontend overhead: the same sglang.lang program through stock `RuntimeEndpoint` and `TempoEndpoint`.

Both backends run the same programs (temperature 0, so the same tokens) against the same server,
interleaved (stock, tempo, stock, tempo, ...) after a warm-up; the ratio of median wall times is the
cost of the metadata (client bookkeeping, larger requests, the server's intake check). The server
runs the ``fcfs`` policy so both see the same schedule (stock requests are best effort, Tempo's are
program calls: under the tempo policy they would be scheduled differently, which is not overhead).

    .venv/bin/python benchmark/bench_frontend_overhead.py [--url URL] [--repeats 15]
"""

from __future__ import annotations

import argparse
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


def measure(url: str, repeats: int, names) -> dict:
    stock = RuntimeEndpoint(url, chat_template_name="chatml")
    tempo = TempoEndpoint(url, chat_template_name="chatml")
    for backend in (stock, tempo):  # warm-up: prefix cache, connections, imports
        run_once(backend, names)
    times: dict[str, list[float]] = {"stock": [], "tempo": []}
    for i in range(repeats):
        order = [("stock", stock), ("tempo", tempo)] if i % 2 == 0 else [("tempo", tempo), ("stock", stock)]
        for label, backend in order:
            times[label].append(run_once(backend, names))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"repeats": repeats, "median_stock_s": med["stock"], "median_tempo_s": med["tempo"],
            "ratio": med["tempo"] / med["stock"], "stamped_calls_per_pass": tempo.stamped_calls // (repeats + 1),
            "times": times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="frontend metadata overhead vs stock RuntimeEndpoint")
    parser.add_argument("--url", help="a running server (default: start a tiny-model fcfs server)")
    parser.add_argument("--repeats", type=int, default=15)
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
          f"TempoEndpoint {result['median_tempo_s']:.4f} s")
    print(f"ratio tempo/stock: {result['ratio']:.4f} (limit {args.limit})")
    return 0 if result["ratio"] <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
