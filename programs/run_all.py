"""Run the six programs against a Tempo server, each with a deadline, and print what happened.

    .venv/bin/python -m programs.run_all --url http://127.0.0.1:30000 --deadline 300

For each program: its wall time against its deadline, its last generated text, and the DAG the
server recorded (``GET /tempo/programs/{id}``): calls, stages, forks and joins.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import requests

from programs import NAMES, load
from tempo_sglang.frontend import Deadline, TempoEndpoint, run_program


def server_dag(url: str, program_id: str) -> dict | None:
    """The DAG the server recorded for ``program_id`` (None if it has none)."""
    response = requests.get(f"{url}/tempo/programs/{program_id}", timeout=30)
    return response.json() if response.status_code == 200 else None


def run_one(name: str, backend: TempoEndpoint, deadline_s: float, **overrides) -> dict:
    """Run program ``name`` once with its default inputs; return a summary."""
    module = load(name)
    args = {**module.default_args(), **overrides}
    started = time.perf_counter()
    state = run_program(module.program, tempo=Deadline(deadline_s), backend=backend, kind=module.KIND,
                        temperature=0, **args)
    elapsed = time.perf_counter() - started
    if state.error() is not None:
        raise RuntimeError(f"program {name} failed: {state.error()}")
    last_var = list(state.stream_executor.variables)[-1]
    dag = server_dag(backend.base_url, state.tempo_program.program_id)
    return {"program": name, "program_id": state.tempo_program.program_id, "elapsed_s": round(elapsed, 2),
            "deadline_s": deadline_s, "met": elapsed <= deadline_s, "last_output": state[last_var],
            "calls": dag and dag["num_calls"], "stages": dag and dag["num_stages"],
            "forks": dag and dag["forks"], "joins": dag and dag["joins"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:30000")
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds per program")
    parser.add_argument("--only", default=",".join(NAMES), help="comma-separated program names")
    parser.add_argument("--chat-template", default="chatml")
    parser.add_argument("--json", help="write the summaries to this file")
    args = parser.parse_args(argv)
    backend = TempoEndpoint(args.url, chat_template_name=args.chat_template)
    results = []
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        result = run_one(name, backend, args.deadline)
        results.append(result)
        print(f"== {name}: {result['elapsed_s']} s (deadline {args.deadline} s, "
              f"{'met' if result['met'] else 'MISSED'}); {result['calls']} calls, {result['stages']} stages, "
              f"forks {result['forks']}, joins {result['joins']}")
        print("   " + str(result["last_output"]).strip().replace("\n", "\n   ")[:600])
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
