"""``mm replay`` and ``mm backtest``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmcore.log import open_log
from replay.backtest import run_backtest
from replay.session import load_session
from replay.summary import summarize
from replay.verify import verify_log, version_note

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "replay",
        help="replay a recorded session log",
        description="Replay a session log. With --verify, feed its inbound events to a fresh "
        "engine built from the log's header and check every output byte for byte.",
    )
    p.add_argument("log", help="event log written by mm run / mm backtest / mm demo")
    p.add_argument("--verify", action="store_true", help="check outputs against the recording")
    p.set_defaults(func=_replay)

    p = subparsers.add_parser(
        "backtest",
        help="run a strategy over recorded market data on the simulated venue",
        description="Run the configured strategy through the engine and the simulated venue "
        "over recorded market data logs, writing a session log that can itself be replayed.",
    )
    p.add_argument("--config", required=True, help="session config (TOML)")
    p.add_argument("--data", required=True, nargs="+", help="market data logs (mm import ...)")
    p.add_argument("--out", required=True,
                   help="session log to write: a new file, or a log of an earlier backtest to "
                   "replace (any other file is refused)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_backtest)


def _replay(args: argparse.Namespace) -> int:
    if not args.verify:
        print(summarize(open_log(args.log, repair=False)).text())
        return 0
    result = verify_log(args.log)
    note = version_note(result)
    if note:
        print(note)
    if result.ok:
        print(
            f"OK: {result.inbound:,} inbound events replayed; all {result.outputs_recorded:,} "
            "recorded outputs reproduced byte for byte"
        )
        return 0
    if result.divergence is not None:
        print(result.divergence.describe())
    print(
        f"FAILED: {result.outputs_recorded:,} outputs recorded, "
        f"{result.outputs_replayed:,} replayed up to the divergence"
    )
    return 1


def _backtest(args: argparse.Namespace) -> int:
    config = load_session(args.config)
    out = Path(args.out)
    progress = None if args.quiet else sys.stderr
    result = run_backtest(config, args.data, out, progress=progress, replace=True)
    run = result.run
    print(f"wrote {result.log_path}: {run.events:,} events, {run.commands:,} commands")
    print(summarize(open_log(out, repair=False)).text())
    return 0
