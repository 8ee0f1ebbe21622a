"""``tempo-sglang serve``: launch SGLang with the Tempo plugin (CPU recipe when there is no GPU)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

POLICY_CHOICES = ("tempo", "oracle", "fcfs", "lpm", "priority", "edf", "ltr", "autellix", "atlas")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a model with SGLang and Tempo's scheduler",
        description="Launch SGLang with the Tempo plugin. Unknown flags are passed to SGLang's server.")
    parser.add_argument("--model", default="default",
                        help="'default' (SmolLM2-135M-Instruct), 'tiny' (random test model) or a checkpoint path")
    parser.add_argument("--policy", default="tempo", choices=POLICY_CHOICES,
                        help="scheduling policy (fcfs and lpm: stock SGLang schedules)")
    parser.add_argument("--port", type=int, default=30000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--length-model", default=None, metavar="NPZ",
                        help="length model the analyzer starts from (tempo-sglang predictor seed)")
    parser.add_argument("--learn-lengths", action="store_true",
                        help="retrain the length model from finished requests while serving")
    parser.add_argument("--policy-options", default=None, metavar="JSON",
                        help='keyword arguments of the policy, e.g. \'{"step_choice": "tight"}\' for tempo')
    parser.set_defaults(func=run, accepts_extra=True)


def run(args: argparse.Namespace) -> int:
    from tempo_sglang.launcher import server_command, server_env, stop_process_group
    from tempo_sglang.models import ModelError, resolve_model
    from tempo_sglang.sglang.config import (
        ANALYZER_ONLINE_ENV,
        LENGTH_MODEL_ENV,
        POLICY_OPTIONS_ENV,
        parse_policy_options,
    )

    try:
        model_path = resolve_model(args.model)
    except ModelError as exc:
        print(f"tempo-sglang serve: {exc}", file=sys.stderr)
        return 2
    extra = list(args.extra)
    if args.policy == "lpm" and not any(a.startswith("--schedule-policy") for a in extra):
        extra += ["--schedule-policy", "lpm"]
    cmd = server_command(model_path, args.port, extra, host=args.host, policy=args.policy)
    print(f"tempo-sglang: serving {model_path} with policy {args.policy} at http://{args.host}:{args.port}",
          flush=True)
    print("tempo-sglang: Ctrl-C stops the server and all its processes", flush=True)
    env = server_env(args.policy)
    if args.length_model:
        env[LENGTH_MODEL_ENV] = str(args.length_model)
    if args.learn_lengths:
        env[ANALYZER_ONLINE_ENV] = "1"
    if args.policy_options:
        env[POLICY_OPTIONS_ENV] = args.policy_options
        try:
            parse_policy_options(args.policy_options)
        except ValueError as exc:
            print(f"tempo-sglang serve: {exc}", file=sys.stderr)
            return 2
    process = subprocess.Popen(cmd, env=env, start_new_session=True)

    signal.signal(signal.SIGTERM, lambda *a: (stop_process_group(process), sys.exit(143)))
    try:
        return process.wait()
    except KeyboardInterrupt:
        stop_process_group(process)
        return 130
