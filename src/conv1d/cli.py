"""The ``conv1d`` command line: ``conv1d demo``."""

from __future__ import annotations

import argparse
import sys

from . import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conv1d",
        description="PyTorch's Conv1d on NumPy: exact, trainable, explained.",
        epilog="example: conv1d demo",
    )
    parser.add_argument("--version", action="version", version=f"conv1d {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="replay the two classic Conv1d tutorial sessions")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run

        sys.stdout.write(run())
        return 0
    parser.print_help()
    return 2
