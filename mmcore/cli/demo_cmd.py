"""``mm demo``: the main job on its embedded default, with no credentials and no internet.

The live demo composes the Extended emulator, the real adapter and SDK, the live runner and the
exact-replay verifier, which is why it lives here in the composition root; ``--offline`` runs the
simulated-venue variant from ``replay.demo``.
"""

from __future__ import annotations

import argparse

from mmcore.cli.arg_types import number, whole_number
from mmcore.cli.live_demo import run_live_demo
from replay.demo import run_demo

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the main job on its embedded default (no credentials, no internet)",
        description="Start the Extended emulator on 127.0.0.1 with a generated market, run the "
        "live runner against it through the real adapter and x10 SDK for --seconds, cancel "
        "everything, verify the recorded log by exact replay and print a summary. --offline "
        "runs the older variant instead: a generated market on the simulated venue, no sockets.",
    )
    p.add_argument("--out", default="out", help="directory for the session log (default: out)")
    p.add_argument(
        "--seconds",
        type=number(allow_zero=False),
        default=60.0,
        help="length of the live session (default 60)",
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the generated market")
    p.add_argument(
        "--offline", action="store_true", help="simulated venue only: no emulator, no sockets"
    )
    p.add_argument(
        "--events",
        type=whole_number(1),
        default=300_000,
        help="--offline: market events to generate",
    )
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    if args.offline:
        return run_demo(args.out, args.events, args.seed)
    return run_live_demo(args.out, args.seconds, args.seed)
