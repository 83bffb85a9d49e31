"""``mm run``: trade a session config live on its venue, or paper-trade it with ``--dry-run``.

The venue's adapter comes from ``ADAPTERS``, a small registry of factories that import their
venue package only when called (``mmcore`` itself never imports an adapter). Credentials are read
from the environment variables *named* in the config's ``[venue]`` table; their values are never
printed or logged, and a missing one stops start-up with a one-line error naming the variable.
A live session (not a dry run) then takes its account's session lock (``mmcore.account_lock``)
before it contacts the venue, and holds it until it has stopped: a second session on the same
account stops there, naming the lock file and the holder's pid.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from mmcore.account_lock import AccountLock, AccountLockError, account_lock_path, default_lock_dir
from mmcore.cli.arg_types import number
from mmcore.config import AppConfig, field_message
from mmcore.day_pnl import (
    DayPnlFile,
    default_day_pnl_path,
    earlier_day_pnl_path,
    shared_day_pnl_path,
)
from mmcore.errors import ConfigError
from mmcore.instrument import Instrument
from mmcore.live import LiveResult, LiveRunner
from mmcore.paper import PaperVenue
from mmcore.steady_clock import steady_wall_clock
from mmcore.venue import Clock, VenueAdapter

__all__ = ["ADAPTERS", "AdapterFactory", "build_adapter", "register", "run_live", "venue_table"]

log = logging.getLogger("mmcore.cli.run")

AdapterFactory = Callable[[AppConfig, Clock, Mapping[str, str], bool], VenueAdapter]
"""``(config, clock, environ, public_only) -> adapter``; ``public_only`` needs no credentials."""


def venue_table(config: AppConfig, where: str, schema: type[Any]) -> Any:
    """The ``[venue]`` table as the adapter's config struct; ``network`` defaults to the
    session's, and may not differ from it (the session's network decides what is carried
    between sessions, such as the day's PnL). A bad value raises ``ConfigError`` naming
    ``venue.<field>``."""
    table = dict(config.venue)
    network = table.setdefault("network", config.session.network)
    if network != config.session.network:
        raise ConfigError(
            f"{where}: venue.network and session.network: expected the same network, found "
            f"{network!r} and {config.session.network!r} (set session.network, or pass --testnet)"
        )
    try:
        return msgspec.convert(table, schema)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {field_message(exc, 'venue')}") from None


def _extended(
    config: AppConfig, clock: Clock, environ: Mapping[str, str], public_only: bool
) -> VenueAdapter:
    from adapters.extended import ExtendedAdapter, ExtendedConfig

    venue_config = venue_table(config, "extended", ExtendedConfig)
    return ExtendedAdapter(venue_config, clock, environ, public_only=public_only)


ADAPTERS: dict[str, AdapterFactory] = {"extended": _extended}


def _extended_funding_interval_s() -> int:
    from adapters.extended.markets import FUNDING_INTERVAL_S

    return FUNDING_INTERVAL_S


FUNDING_INTERVALS: dict[str, Callable[[], int]] = {"extended": _extended_funding_interval_s}
"""How often each venue settles funding, in seconds: a dry run's simulated venue settles at the
venue's pace unless ``[sim] funding_interval_s`` says otherwise (the simulated venue's own
default, 8 hours, would charge an hourly venue's funding an eighth of what it pays)."""


def dry_run_config(config: AppConfig) -> AppConfig:
    """``config`` for a dry run: its ``[sim]`` table settles funding at the venue's interval
    when it names none."""
    interval = FUNDING_INTERVALS.get(config.session.venue)
    if interval is None or "funding_interval_s" in config.sim:
        return config
    sim = {**config.sim, "funding_interval_s": interval()}
    return msgspec.structs.replace(config, sim=sim)


def build_adapter(
    config: AppConfig, clock: Clock, environ: Mapping[str, str], public_only: bool = False
) -> VenueAdapter:
    """The adapter of ``config.session.venue``; ``ConfigError`` for a venue without one."""
    venue = config.session.venue
    factory = ADAPTERS.get(venue)
    if factory is None:
        raise ConfigError(
            f"session.venue: expected one of {sorted(ADAPTERS)} for mm run, found {venue!r}"
        )
    return factory(config, clock, environ, public_only)


def _paper_factory(config: AppConfig) -> Callable[[Mapping[str, Instrument]], PaperVenue]:
    """The dry run's simulated venue. Its fee rates must be in ``[sim]``: the adapter starts
    public-only and reads no account, so the instruments carry none (a dry run at 0 fees would
    overstate every fill's PnL)."""
    from adapters.sim import SimConfig, SimVenue

    sim = msgspec.convert(config.sim, SimConfig)
    missing = [f"sim.{name}" for name in ("maker_fee", "taker_fee") if getattr(sim, name) is None]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)}: expected your account's fee rate(s) for --dry-run, found "
            "none: a dry run reads no account, so the simulated venue would charge no fees "
            '(e.g. maker_fee = "0.0002", taker_fee = "0.0005" in [sim])'
        )

    def make(instruments: Mapping[str, Instrument]) -> PaperVenue:
        return SimVenue(instruments, sim, random.Random(config.session.seed))

    return make


async def run_live(
    config: AppConfig,
    log_path: str | Path,
    *,
    dry_run: bool = False,
    duration_s: float | None = None,
    shutdown_timeout_s: float = 10.0,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    meta: Mapping[str, str] | None = None,
    handle_signals: bool = True,
    where: str = "",
) -> LiveResult:
    """Build the adapter and the live runner for ``config`` and run the session to its end.

    ``dry_run``: the adapter starts public-only (no credentials read) and the simulated venue
    of the config's ``[sim]`` table executes the commands. Otherwise the session holds its
    account's lock (``mmcore.account_lock``, in ``default_lock_dir()``) from before it
    contacts the venue until it has stopped; ``AccountLockError`` when another session holds
    it.

    The session runs on ``resolved_config(config)`` (its defaults written out), which is what the
    runner records in the log's header: ``mmcore`` cannot resolve the defaults of the packages
    above it, so the composition root does, before the runner sees the config.

    ``where`` (the config file) is put before the message of a bad ``[venue]`` or ``[sim]``
    value or an unknown venue, which name only the field. ``clock`` defaults to a wall clock
    that never steps (``mmcore.steady_clock``).
    """
    from mmcore.version import code_version
    from replay.session import build_engine, resolved_config

    config = resolved_config(dry_run_config(config) if dry_run else config)
    clock = steady_wall_clock() if clock is None else clock
    env = os.environ if environ is None else environ
    try:
        paper = _paper_factory(config) if dry_run else None  # checked before connecting
        adapter = build_adapter(config, clock, env, public_only=dry_run)
    except ConfigError as exc:
        if type(exc) is not ConfigError or not where:  # e.g. credentials: not the file's
            raise
        raise ConfigError(f"{where}: {exc}") from None
    session = config.session
    account = "" if dry_run else _account_id(adapter, session.venue)
    runner = LiveRunner(
        adapter,
        config,
        build_engine,
        log_path,
        clock=clock,
        shutdown_timeout_s=shutdown_timeout_s,
        duration_s=duration_s,
        paper=paper,
        code_version=code_version(),
        meta=meta,
        handle_signals=handle_signals,
        day_pnl=_day_pnl_file(config, account) if account else None,
    )
    if not account:  # a dry run trades no account: nothing to lock
        return await runner.run()
    lock_path = account_lock_path(default_lock_dir(), session.venue, session.network, account)
    with AccountLock(lock_path, session.venue, session.network, account):  # before connecting
        log.info("session lock %s taken (one session per account)", lock_path)
        return await runner.run()


def _account_id(adapter: VenueAdapter, venue: str) -> str:
    """The account the adapter trades (``VenueAdapter.account_id``); a live session on an
    adapter that names none is refused: it could not be kept off another session's account."""
    account = getattr(adapter, "account_id", "")
    if not isinstance(account, str) or not account:
        raise AccountLockError(
            f"session.venue {venue!r}: expected the adapter to name the account it trades "
            "(account_id) for the per-account session lock, found none"
        )
    return account


def _day_pnl_file(config: AppConfig, account: str) -> DayPnlFile | None:
    """The file that carries the loss limits across restarts: only for a real account (testnet
    or mainnet; an emulator starts afresh) with a daily or hourly loss limit. The default path
    is the account's own, in the state directory; when it is used, the earlier defaults in the
    working directory are looked at too (see ``mmcore.day_pnl``)."""
    session, risk = config.session, config.risk
    if session.network == "local" or not (risk.max_loss_day_usd > 0 or risk.max_loss_hour_usd > 0):
        return None
    venue, network = session.venue, session.network
    if session.day_pnl_file:
        return DayPnlFile(session.day_pnl_file, venue, network, account)
    return DayPnlFile(
        default_day_pnl_path(venue, network, account),
        venue,
        network,
        account,
        earlier=earlier_day_pnl_path(venue, network, account),
        shared=shared_day_pnl_path(venue, network),
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="trade a session live on its venue (or paper-trade it with --dry-run)",
        description="Run the session config live: market and account streams and a timer "
        "through the engine, commands to the venue, everything recorded to an event log that "
        "replays exactly. SIGINT/SIGTERM (or --duration) cancels every order and stops cleanly.",
    )
    p.add_argument("--config", required=True, help="session config (TOML)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="live market data, but orders go to the simulated venue (no credentials needed)",
    )
    p.add_argument(
        "--duration", type=number(allow_zero=False), default=None, metavar="S",
        help="stop after S s",
    )
    p.add_argument(
        "--out", default=None, metavar="LOG", help="session log (default: the config's log.path)"
    )
    p.add_argument("--testnet", action="store_true", help="use the venue's testnet endpoints")
    p.add_argument(
        "--shutdown-timeout",
        type=number(allow_zero=True),
        default=10.0,
        metavar="S",
        help="how long to wait for cancel confirmations at shutdown (default 10)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from mmcore.log import open_log
    from replay.session import load_session
    from replay.summary import summarize

    config = load_session(args.config)
    if args.testnet:
        config = _testnet(config)
    log_path = args.out or config.log.path
    _check_log_path(log_path, "--out" if args.out else f"{args.config}: log.path")
    session = run_live(
        config,
        log_path,
        dry_run=args.dry_run,
        duration_s=args.duration,
        shutdown_timeout_s=args.shutdown_timeout,
        meta={"config_file": str(args.config)},
        where=str(args.config),
    )
    result = asyncio.run(session)
    print(summarize(open_log(result.log_path, repair=False)).text())
    print(
        f"stopped ({result.stop_reason}): {result.events:,} events, {result.commands:,} "
        f"commands, {result.fills:,} fills; log {result.log_path}"
    )
    if result.open_orders:
        listed = ", ".join(result.open_orders)
        print(f"WARNING: {len(result.open_orders)} order(s) not confirmed canceled: {listed}")
        return 1
    return 0


def _check_log_path(path: str, what: str) -> None:
    """Refuse a session log path that could not be written, before connecting to the venue:
    an existing non-empty file (a log is never overwritten) or one below a file."""
    p = Path(path)
    if p.is_file() and p.stat().st_size > 0:
        raise ConfigError(
            f"mm run {what} {path}: expected a new file or a directory, found an existing "
            f"file of {p.stat().st_size} bytes"
        )
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(
                    f"mm run {what} {path}: expected a path in a directory, found a file at "
                    f"{parent}"
                )
            return


def _testnet(config: AppConfig) -> AppConfig:
    """``--testnet``: the session and the venue table both say testnet."""
    venue = dict(config.venue)
    venue["network"] = "testnet"
    session = msgspec.structs.replace(config.session, network="testnet")
    return msgspec.structs.replace(config, session=session, venue=venue)
