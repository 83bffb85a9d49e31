"""``mm emulator extended``: run a local Extended emulator until interrupted.

It prints its base URL and the generated (throwaway) test account as ``export`` lines for the
adapter's environment variables, then serves REST and WebSocket on 127.0.0.1 until SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from adapters.extended.emulator import serve
from mmcore.cli.arg_types import number, whole_number
from mmcore.errors import ConfigError, MMError

__all__ = ["register", "run"]

_VENUES_ATTR = "_mm_emulator_venues"


def _emulator_venues(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The ``mm emulator`` group's venue subparsers, created by whichever venue registers first."""
    parser = subparsers.choices.get("emulator")
    if parser is None:
        parser = subparsers.add_parser(
            "emulator",
            help="run a local venue emulator",
            description="Serve a venue's REST and WebSocket protocol on 127.0.0.1, backed by the "
            "simulated matching engine and recorded or generated market data.",
        )
        venues = parser.add_subparsers(dest="venue", metavar="VENUE", required=True)
        setattr(parser, _VENUES_ATTR, venues)
    venues_action: argparse._SubParsersAction = getattr(parser, _VENUES_ATTR)
    return venues_action


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``emulator extended`` to the ``mm`` command line."""
    p = _emulator_venues(subparsers).add_parser(
        "extended",
        help="Extended (Starknet perps) emulator",
        description="Run a local Extended: REST under /api/v1 and WebSocket v1 streams under "
        "/stream.extended.exchange/v1, fault switches under /_emulator/. Runs until Ctrl-C.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--port", type=whole_number(0, 65535), default=0, help="port (default 0: any free port)"
    )
    p.add_argument("--data", metavar="LOG", default=None, help="replay this event log")
    p.add_argument("--seed", type=int, default=0, help="seed of generated data and accounts")
    p.add_argument(
        "--accounts", type=whole_number(1), default=1, help="test accounts to create (default 1)"
    )
    p.add_argument(
        "--speed", type=number(allow_zero=False), default=1.0,
        help="replay speed factor (default 1)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT; 0 on a clean stop."""
    return asyncio.run(_serve_until_interrupted(args))


async def _serve_until_interrupted(args: argparse.Namespace) -> int:
    try:
        handle = await serve(
            args.host, args.port, args.data, args.seed, accounts=args.accounts, speed=args.speed
        )
    except OSError as exc:
        # the --data log (our own error, or the OS's naming the file): main reports it as it is
        if isinstance(exc, MMError) or exc.filename is not None:
            raise
        raise ConfigError(
            f"emulator --host {args.host} --port {args.port}: expected an address to serve on, "
            f"found {exc.strerror or exc}"
        ) from None
    out = sys.stdout
    out.write(f"extended emulator on {handle.base_url}\n")
    out.write("throwaway test account(s); for the adapter's environment:\n")
    for creds in handle.credentials:
        for name, value in creds.env().items():
            out.write(f"export {name}={value}\n")
    out.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await handle.close()
    return 0

