"""Entry point of the ``tempo-sglang`` command.

Each subcommand lives in its own module of this package exposing ``add_parser(subparsers)`` (which
registers the subcommand and sets ``func`` to a callable taking the parsed args and returning an exit
code). Modules are imported lazily so ``tempo-sglang sim`` never imports SGLang or torch.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

SUBCOMMAND_MODULES = ("serve", "demo", "sim", "predictor", "bench", "report", "model")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(prog="tempo-sglang", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        module_name = f"tempo_sglang.cli.{name}_cmd"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the process exit code."""
    args, extra = build_parser().parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        print(f"tempo-sglang {args.command}: unrecognized arguments: {' '.join(extra)}", file=sys.stderr)
        return 2
    args.extra = extra
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
