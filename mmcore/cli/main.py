"""``mm``: the command line, and the composition root of the project.

Each command group lives in its own module with a ``register(subparsers)`` function. Groups from
packages above ``mmcore`` (replay, adapters) are imported by name here, at the top, because the
command line is where the whole program is assembled; nothing else in ``mmcore`` imports them.

Errors the engine raises on purpose (``MMError``: bad config, corrupt log, ...) and a path the
system cannot read or write (``OSError``: a directory where a file was expected, no space left,
...) are printed as one line, ``mm: error: <message>``, with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from mmcore.errors import MMError

__all__ = ["build_parser", "main"]

COMMAND_MODULES = (
    "mmcore.cli.log_cmd",
    "replay.cli",
    "replay.cli_import",
    "replay.cli_report",
    "adapters.extended.cli",
    "mmcore.cli.run_cmd",
    "mmcore.cli.demo_cmd",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line in the house format too:
    ``mm: error: <command>: <message> (see mm <command> --help)``. Subparsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        command = self.prog[len("mm"):].strip() if self.prog.startswith("mm") else self.prog
        where = f"{command}: " if command else ""
        self.exit(2, f"mm: error: {where}{message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mm",
        description="Event-sourced market-making engine: run, record, replay and backtest.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug messages to stderr"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code: int = func(args)
    except MMError as exc:
        print(f"mm: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `mm log cat LOG | head`
        sys.stderr.close()
        return 0
    except OSError as exc:  # a path that cannot be read or written: name it, no traceback
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"mm: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mm: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
