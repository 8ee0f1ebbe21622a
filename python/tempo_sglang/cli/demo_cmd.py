"""``tempo-sglang demo``: serve the default model with Tempo and run a small mixed-SLO demo."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="serve the default model and run a small mixed-SLO demo")
    parser.add_argument("--model", default="default", help="'default', 'tiny' or a checkpoint path")
    parser.add_argument("--policy", default="tempo")
    parser.add_argument("--url", default=None, help="use a running server instead of starting one")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tempo_sglang.bench.demo import format_report, run_demo
    from tempo_sglang.launcher import ServerProcess
    from tempo_sglang.models import ModelError, resolve_model

    server = None
    if args.url is None:
        try:
            model_path = resolve_model(args.model)
        except ModelError as exc:
            print(f"tempo-sglang demo: {exc}", file=sys.stderr)
            return 2
        log = Path(tempfile.gettempdir()) / "tempo-sglang-demo-server.log"
        print(f"starting SGLang on {model_path} with policy {args.policy} (log: {log}) ...", flush=True)
        server = ServerProcess(model_path=model_path, policy=args.policy, log_path=log).start()
        url = server.url
    else:
        url = args.url.rstrip("/")
    try:
        print(f"server ready at {url}; sending 4 chats, 3 deadline jobs, 1 fork-join program, "
              "3 best-effort requests ...", flush=True)
        results, duration = asyncio.run(run_demo(url))
        chat = next(r for r in results if r.record.slo.slo_class.value == "latency")
        print(f"sample chat answer: {chat.text.strip()[:160]!r}")
        print(format_report(results, duration))
        failed = [r for r in results if r.error]
        for r in failed:
            print(f"request {r.record.rid} failed: {r.error}", file=sys.stderr)
        return 1 if failed else 0
    finally:
        if server is not None:
            server.stop()
