"""``tempo-sglang report DIR``: Markdown table and PNG plots of a bench directory."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``report`` on the top-level parser."""
    p = subparsers.add_parser("report", help="tables and plots of a bench directory",
                              description=__doc__.splitlines()[0])
    p.add_argument("directory", help="a directory with results.jsonl (from `tempo-sglang bench` or `sim`)")
    p.add_argument("--sim", action="store_true",
                   help="also replay each live run in the simulator and compare request goodput")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render the report and print it."""
    from tempo_sglang.bench.report import write_report

    path = write_report(args.directory, sim=args.sim)
    print(path.read_text())
    print(f"written: {path}, {path.parent / 'goodput.png'}, {path.parent / 'classes.png'}")
    return 0
