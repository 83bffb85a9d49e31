"""Backtests: the session's engine, fed by recorded market data, trading on the simulated venue.

Nothing here differs from a live run but the source and the sink: ``Runner.handle`` is the same,
the engine is built by ``build_engine`` as in live trading, the market events come from recorded
logs through ``SimSource`` (one stream per log and market: the venue applies them in exchange
time, the engine receives them in receive time), and commands go to ``SimVenue.submit`` (for
several markets ``SimVenues``: each market on its own clock). The backtest writes its own event
log, so it can itself be replayed exactly.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import msgspec

from adapters.sim import MarketStreams, SimConfig, SimSource, make_venue
from mmcore.config import AppConfig, config_to_dict
from mmcore.errors import LogCorruptError, MMError
from mmcore.events import BookDelta, BookSnapshot, Event, FundingRate, MarkPrice, Trade
from mmcore.instrument import Instrument, spec_differences
from mmcore.log import FORMAT_VERSION, LogHeader, LogReader, LogWriter, open_log, read_header
from mmcore.log_format import (
    MAGIC_LEN,
    LogExistsError,
    LogWriteError,
    encode_header,
    read_magic,
)
from mmcore.own_orders import simulated
from mmcore.runner import Runner, RunStats
from mmcore.version import code_version
from replay.publish import (
    Check,
    check_existing,
    discard,
    not_written,
    output_path,
    publish,
    temp_beside,
)
from replay.session import build_engine, resolve_instruments, resolved_config

__all__ = [
    "BacktestInputError",
    "BacktestResult",
    "check_data_markets",
    "check_distinct_data",
    "check_not_a_data_log",
    "check_replaceable",
    "code_version",
    "market_streams",
    "run_backtest",
    "run_session",
]

MARKET_TYPES = (BookSnapshot, BookDelta, Trade, MarkPrice, FundingRate)


class BacktestInputError(MMError, ValueError):
    """A backtest's data logs or output path cannot give a meaningful run; the message says why."""


class BacktestResult(msgspec.Struct, frozen=True):
    """Where the log went and what the run did."""

    log_path: str
    run: RunStats
    sim: Any


def market_streams(
    logs: Iterable[str | Path | LogReader], markets: Iterable[str]
) -> MarketStreams:
    """The recorded market data of ``markets`` in several logs (paths, or logs already opened),
    as ``SimSource`` reads it: one stream per log and market of ``markets`` its header lists, in
    the order of the logs and, within a log, of its header; each stream is that market's events
    in the log's (receive-time) order. A log that lists one market is that stream as it is
    (``SimSource`` skips what is not market data); a log of several markets is read once per
    market wanted (each pass streams the file: memory stays flat), so that no market's events
    wait behind another's in the venue's exchange-time view (``adapters.sim.source``)."""
    wanted = set(markets)
    streams: list[Iterable[Event]] = []
    for log in logs:
        opened = _opened(log)
        listed = list(dict.fromkeys(inst.symbol for inst in opened.header.instruments))
        if len(listed) == 1 and listed[0] in wanted:
            streams.append(opened)  # type: ignore[arg-type]  # its records, events or not
            continue
        streams += [_market_only(opened, symbol) for symbol in listed if symbol in wanted]
    return MarketStreams(streams)


def _market_only(records: Iterable[object], symbol: str) -> Iterator[Event]:
    for record in records:
        if isinstance(record, MARKET_TYPES) and record.inst == symbol:
            yield record


def data_instruments(
    logs: Iterable[str | Path | LogReader], what: str = "backtest --data"
) -> dict[str, Instrument]:
    """Instrument specs recorded in the data logs' headers (a path is opened and checked whole).

    Two logs may hold one market only with the same spec: prices and sizes are recorded in the
    market's ticks and lots, so with one spec kept the events of the other log would be read on
    the wrong grid (at a price 10x off for a tick 10x finer) and charged the wrong fees."""
    found: dict[str, tuple[Instrument, str]] = {}
    for log in logs:
        opened = _opened(log)
        name = str(log) if isinstance(log, (str, Path)) else str(opened.path)
        for inst in opened.header.instruments:
            if inst.symbol not in found:
                found[inst.symbol] = (inst, name)
                continue
            first, first_name = found[inst.symbol]
            differ = _log_spec_differences(first, inst)
            if differ:
                raise BacktestInputError(
                    f"{what}: {first_name} and {name} record different specs for "
                    f"{inst.symbol} ({'; '.join(differ)}): a backtest reads all of a market's "
                    "logs with one spec (prices in its ticks): give logs that agree"
                )
    return {symbol: inst for symbol, (inst, _) in found.items()}


_LOG_SPEC_FIELDS = tuple(f for f in Instrument.__struct_fields__ if f != "own_orders_in_book")
"""What two data logs' specs of one market must agree on: all but ``own_orders_in_book``, which a
backtest turns off (``simulated``), so a live recording and an import of one market agree."""


def _log_spec_differences(a: Instrument, b: Instrument) -> list[str]:
    """The fields in which two logs' specs of one market differ, as ``name 'a' vs 'b'``."""
    return [
        f"{name} {getattr(a, name)!r} vs {getattr(b, name)!r}"
        for name in spec_differences(a, b, _LOG_SPEC_FIELDS)
    ]


def _opened(log: str | Path | LogReader) -> LogReader:
    return log if isinstance(log, LogReader) else open_log(log, repair=False)


def check_data_markets(
    config: AppConfig, logs: Sequence[LogReader], names: Sequence[str | Path]
) -> None:
    """Every configured market must have data in ``logs`` (their headers list what they hold):
    a market without any would run as an empty session or without quotes, silently."""
    held = {inst.symbol for log in logs for inst in log.header.instruments}
    missing = [m for m in config.session.markets if m not in held]
    if missing:
        shown = ", ".join(str(n) for n in names)
        raise BacktestInputError(
            f"session.markets: no market data for {missing} in {shown} "
            f"(the data holds {sorted(held) or 'no market'})"
        )


def check_not_a_data_log(out: str | Path, data: Iterable[str | Path], what: str) -> None:
    """Refuse an output path that is one of the data logs: it would be replaced while read."""
    for path in data:
        if _same_file(out, path):
            raise BacktestInputError(
                f"{what}: {out} is also a data log ({path}); writing it would destroy the "
                "data: choose another path"
            )


def check_distinct_data(data: Sequence[str | Path], what: str) -> None:
    """Refuse a data log given twice (by another name too): its events would be merged in twice
    (every delta a sequence gap, every trade counted twice), or a sweep would run it twice."""
    for i, a in enumerate(data):
        for b in data[:i]:
            if _same_file(a, b):
                raise BacktestInputError(
                    f"{what}: {a} is given twice ({b} is the same file): give each log once"
                )


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return Path(a).resolve() == Path(b).resolve()


def run_session(
    config: AppConfig,
    instruments: Mapping[str, Instrument],
    market: Iterable[Event] | MarketStreams,
    out: str | Path,
    *,
    meta: dict[str, str] | None = None,
    progress: TextIO | None = None,
    total: int = 0,
    replace: bool = False,
) -> BacktestResult:
    """Run ``config``'s strategy over ``market`` (one stream in receive-time order, or several:
    ``market_streams``) on the simulated venue (``make_venue``: for several markets, each on its own
    clock), recording to ``out`` (its folder is made if missing). The log is written to a temporary
    file beside ``out`` and takes the name ``out`` only once the run is complete: a run that fails,
    or a config the venue, the engine or the log header refuses, writes nothing at ``out``. A file
    there is never replaced but an empty one or, with ``replace``, a backtest's log
    (``check_replaceable``). The session runs on, and its header records,
    ``resolved_config(config)``: the config with the defaults it left out written in."""
    config = resolved_config(config)
    instruments = simulated(instruments)  # recorded books never hold the simulated orders
    sim_config = msgspec.convert(config.sim, SimConfig)
    venue = make_venue(instruments, sim_config, random.Random(config.session.seed))
    engine = build_engine(config, instruments)
    header = LogHeader(
        format_version=FORMAT_VERSION,
        code_version=code_version(),
        instruments=list(instruments.values()),
        config=config_to_dict(config),
        created_ns=0,  # no wall clock: the same backtest gives the same bytes, header included
        meta=meta or {},
    )
    try:  # here, not in LogWriter, which would leave the file it had begun
        encode_header(header)
    except (OverflowError, msgspec.EncodeError) as exc:
        raise BacktestInputError(f"{out}: cannot record this session's header: {exc}") from None
    out = output_path(out)
    check = _out_check(replace)
    check_existing(out, check)
    out.parent.mkdir(parents=True, exist_ok=True)
    source: Iterable[Event] = SimSource(market, venue, config.session.timer_interval_ms)
    if progress is not None:
        source = _progress(source, progress, total)
    log = config.log
    compress = bool(log.compress) or out.suffix == ".zst"  # by the final name, not the temp's
    temp: Path | None = None
    try:
        temp = temp_beside(out)
        with LogWriter(
            temp, header, flush_every=log.flush_every, fsync=log.fsync, compress=compress
        ) as writer:
            stats = Runner(engine, venue, writer).run_sync(source)
        publish(temp, out, check)
    except LogWriteError as exc:
        raise not_written(exc, out) from exc
    finally:  # a failed run (damaged data found halfway, a full disk, an interrupt) leaves no
        discard(temp)  # log that looks whole, and the one it was to replace as it was
    return BacktestResult(str(out), stats, venue.statistics())


def _out_check(replace: bool) -> Check:
    """What ``run_session`` may put its log over at ``out``: an empty file, or with ``replace``
    a backtest's log (``check_replaceable``); never a log another process is writing (that
    writer would go on writing into a file no name leads to). ``publish`` runs it again at the
    end, on whatever is at ``out`` by then."""

    def check(out: Path, busy: bool) -> None:
        if busy:
            raise BacktestInputError(
                f"backtest --out: {out} is being written by another process: choose another path"
            )
        if replace:
            check_replaceable(out)
            return
        size = out.stat().st_size
        if size:
            raise LogExistsError(
                f"{out}: expected a new or empty file for the event log, found {size} bytes"
            )

    return check


def check_replaceable(out: str | Path) -> None:
    """``mm backtest --out`` replaces a rerun's log, never another file: a file at ``out`` must
    be empty or a log whose header says a backtest wrote it (``meta["mode"]``, which
    ``run_backtest`` sets to ``"backtest"``), so that a live session's log, an imported data log
    or any other file is never lost to a mistyped ``--out``."""
    path = Path(out)
    if path.is_file() and path.stat().st_size == 0:
        return
    found = _not_a_backtest_log(path)
    if found:
        raise BacktestInputError(
            f"backtest --out {path}: expected a new file or a log written by mm backtest to "
            f"replace, found {found}: choose another path"
        )


def _not_a_backtest_log(path: Path) -> str:
    """What the file at ``path`` is when it is not a backtest's log (``""`` when it is), told
    by its magic and header alone (a log is not scanned)."""
    if not path.is_file():
        return "a directory" if path.is_dir() else "a file that is not a regular file"
    with path.open("rb") as f:
        magic = f.read(MAGIC_LEN)
    try:
        read_magic(path, magic)
    except LogCorruptError:
        return f"a file that is not an event log (starting {magic!r})"
    try:
        header = read_header(path)
    except LogCorruptError:
        return "an event log whose header cannot be read"
    if "import" in header.config:  # ``replay.importers.output`` writes that key alone
        return "a market-data log written by mm import"
    mode = header.meta.get("mode", "")
    if mode == "backtest":
        return ""
    if mode:
        return f"the log of a {mode} session (not of a backtest)"
    return "an event log whose header does not say a backtest wrote it"


def run_backtest(
    config: AppConfig,
    data: list[str | Path],
    out: str | Path,
    *,
    progress: TextIO | None = sys.stderr,
    replace: bool = False,
) -> BacktestResult:
    """``mm backtest``: the configured session over recorded logs ``data``, recorded to ``out``
    (its folder is made if missing); ``replace``: replace a backtest's log already at ``out``
    once the run is complete (any other file there is an error, found before the data is
    read: ``check_replaceable``)."""
    check_distinct_data(data, "backtest --data")
    check_not_a_data_log(out, data, "backtest --out")
    if Path(out).is_dir():
        raise BacktestInputError(f"backtest --out: expected a log file, found a directory: {out}")
    check_existing(Path(out), _out_check(replace))
    # each data log is opened (scanned and checked) once; the readers serve every pass below
    logs = [open_log(p, repair=False) for p in data]
    check_data_markets(config, logs, data)
    instruments = resolve_instruments(config, data_instruments(logs))
    total = sum(_records(log) for log in logs) if progress else 0  # the bar's 100%
    meta = {"mode": "backtest", "data": ",".join(str(p) for p in data)}
    market = _recorded_market(logs, instruments)
    return run_session(
        config, instruments, market, out, meta=meta, progress=progress, total=total,
        replace=replace,
    )


def _records(log: LogReader) -> int:
    """Records in ``log``: known from the opening scan of a plain log; a compressed one takes a
    fast pass that decodes only the type tags."""
    records = log.statistics().records
    return records if records >= 0 else sum(log.counts().values())


def _recorded_market(
    logs: list[LogReader], markets: Iterable[str]
) -> Iterable[Event] | MarketStreams:
    """What ``run_session`` reads: ``market_streams``, or, for one log of one market, the log
    itself (``SimSource`` drops and counts its non-market records), which takes the source's
    fast path for one stream."""
    streams = market_streams(logs, markets)
    if len(streams.streams) == 1:
        return streams.streams[0]
    return streams


def _progress(source: Iterable[Event], stream: TextIO, total: int) -> Iterator[Event]:
    """A text progress bar on ``stream``, redrawn every 1% of ``total`` (or 65,536 events)."""
    n = 0
    step = max(total // 100, 1) if total else 1 << 16
    draw_at = step
    for ev in source:
        n += 1
        if n >= draw_at:
            draw_at += step
            if total:
                done = min(n / total, 1.0)
                bar = "#" * int(done * 30)
                stream.write(f"\r[{bar:<30}] {done:6.1%} {n:,} events")
            else:
                stream.write(f"\r{n:,} events")
            stream.flush()
        yield ev
    stream.write(f"\r{n:,} events done{' ' * 30}\n")
    stream.flush()
