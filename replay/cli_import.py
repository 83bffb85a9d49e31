"""``mm import``: convert recorded market data into an event log.

    mm import binance FILE [FILE ...] --out LOG --tick 0.1 --lot 0.001 [--symbol BTCUSDT]
    mm import hyperliquid FILE --out LOG --tick 1 --lot 0.00001 [--symbol BTC]
    mm import tardis BOOKFILE [--trades FILE] --out LOG --symbol S --venue V --tick T --lot L
    mm import snapshots FILE [--trades FILE] [--columns key=name ...] [--ts-unit auto] ...

Each prints the import report: events written by type, lines skipped and why, sequence breaks.
Each aligns the recorder's receive clock (``replay.importers.clock_align``): when the smallest
``ts_recv - ts`` is below ``--min-feed-latency-ms`` (default 1), every ``ts_recv`` is moved by one
constant to make it that; ``--no-clock-align`` keeps the receive times as recorded, and
``--clock-shift-ms`` gives the shift itself (the same for several logs of one recorder).
It exits 0 when events were written, 1 (and leaves no log) when none were. Errors are
``MMError``s, which ``mm``'s main prints as ``mm: error: ...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from mmcore.cli.arg_types import decimal_range, non_empty
from mmcore.config import MAX_MAGNITUDE
from mmcore.errors import MMError
from mmcore.events import Event
from mmcore.instrument import Instrument
from replay.importers.binance import DEFAULT_MAX_BUFFER, read_binance
from replay.importers.clock_align import DEFAULT_MIN_FEED_LATENCY_NS
from replay.importers.errors import ImportFormatError
from replay.importers.hyperliquid import read_hyperliquid
from replay.importers.output import import_to_log
from replay.importers.report import ImportReport
from replay.importers.snapshots import read_snapshots
from replay.importers.table_columns import SnapshotColumns, TradeColumns, parse_column_overrides
from replay.importers.tardis import read_tardis
from replay.importers.timestamps import TS_UNITS

__all__ = ["register", "run_binance", "run_hyperliquid", "run_snapshots", "run_tardis"]

_SIZE = decimal_range("0", f"{MAX_MAGNITUDE:g}", low_open=True)  # --tick, --lot
_AMOUNT = decimal_range("0", f"{MAX_MAGNITUDE:g}")  # --min-size, --min-notional
_FEE_RATE = decimal_range("-1", "1", low_open=True, high_open=True)  # 2 is 200 %, not 2 bps
_LATENCY_MS = decimal_range("0", "3600000")  # --min-feed-latency-ms: up to an hour
_SHIFT_MS = decimal_range("-86400000", "86400000")  # --clock-shift-ms: up to a day either way


class ImportPathError(MMError, ValueError):
    """``--out`` cannot be written where it points (its directory is missing or a file)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``import`` and its per-format subcommands to the ``mm`` parser."""
    parser = subparsers.add_parser(
        "import",
        help="convert recorded market data into an event log",
        description="Convert recorded market data into a new event log (integer ticks/lots).",
    )
    formats = parser.add_subparsers(dest="import_format", metavar="FORMAT", required=True)

    p = formats.add_parser(
        "binance",
        help="Binance USD-M capture: '<local ns> <json>' lines (depth, trade, bookTicker, REST)",
        description="Import a Binance USD-M futures capture, syncing depth diffs to the REST "
        "snapshot the standard way (U <= lastUpdateId <= u, then pu == previous u).",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="capture file(s), .gz allowed")
    _instrument_args(p, symbol="BTCUSDT", venue="binance")
    p.add_argument(
        "--max-buffer",
        type=_at_least_one,
        default=DEFAULT_MAX_BUFFER,
        help="depth diffs kept for a snapshot: while waiting for the first, and the last ones "
        "written for a later one (default %(default)s)",
    )
    p.add_argument(
        "--book-ticker-snapshots",
        action="store_true",
        help="turn bookTicker lines into one-level snapshots (only for captures without depth)",
    )
    p.set_defaults(func=run_binance)

    p = formats.add_parser(
        "hyperliquid",
        help="Hyperliquid capture: '<local ns> <json>' lines (l2Book, trades)",
        description="Import a Hyperliquid capture: each l2Book is a snapshot, trades are trades.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="capture file(s), .gz allowed")
    _instrument_args(p, symbol="BTC", venue="hyperliquid")
    p.set_defaults(func=run_hyperliquid)

    p = formats.add_parser(
        "tardis",
        help="Tardis.dev incremental_book_L2 CSV (+ trades CSV)",
        description="Import Tardis.dev incremental_book_L2 CSV file(s), merged with trades.",
    )
    p.add_argument("files", nargs="+", metavar="BOOKFILE", help="incremental_book_L2 CSV(s)")
    p.add_argument("--trades", action="append", metavar="FILE", help="trades CSV (repeatable)")
    _instrument_args(p, symbol=None, venue=None)
    p.set_defaults(func=run_tardis)

    p = formats.add_parser(
        "snapshots",
        help="generic top-N book snapshot table, CSV or Parquet (+ trades table)",
        description="Import a table with one book snapshot per row: wide columns "
        "(bid_price_0, bid_size_0, ...) or list columns (bid_prices, bid_quantities, ...).",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="snapshot table(s)")
    p.add_argument("--trades", action="append", metavar="FILE", help="trades table (repeatable)")
    p.add_argument(
        "--columns",
        nargs="+",
        metavar="KEY=NAME",
        help="rename snapshot columns, e.g. timestamp=ts bid_price='bids[{i}].price'",
    )
    p.add_argument(
        "--trade-columns",
        nargs="+",
        metavar="KEY=NAME",
        help="rename trades columns, e.g. size=qty side=taker_side",
    )
    p.add_argument(
        "--ts-unit",
        choices=TS_UNITS,
        default="auto",
        help="timestamp unit (default: auto, judged by magnitude)",
    )
    _instrument_args(p, symbol=None, venue=None)
    p.set_defaults(func=run_snapshots)


def run_binance(args: argparse.Namespace) -> int:
    inst = _instrument(args)
    report = ImportReport("binance")
    events = read_binance(
        args.files,
        inst,
        report,
        max_buffer=args.max_buffer,
        book_ticker_snapshots=args.book_ticker_snapshots,
    )
    settings = {
        "max_buffer": args.max_buffer,
        "book_ticker_snapshots": args.book_ticker_snapshots,
    }
    return _write(args, inst, report, events, settings)


def run_hyperliquid(args: argparse.Namespace) -> int:
    inst = _instrument(args)
    report = ImportReport("hyperliquid")
    return _write(args, inst, report, read_hyperliquid(args.files, inst, report), {})


def run_tardis(args: argparse.Namespace) -> int:
    inst = _instrument(args)
    report = ImportReport("tardis")
    events = read_tardis(args.files, inst, report, trades=args.trades)
    return _write(args, inst, report, events, {"trades": args.trades or []})


def run_snapshots(args: argparse.Namespace) -> int:
    inst = _instrument(args)
    report = ImportReport("snapshots")
    columns = parse_column_overrides(args.columns, "--columns", SnapshotColumns)
    trade_columns = parse_column_overrides(args.trade_columns, "--trade-columns", TradeColumns)
    if trade_columns and not args.trades:
        raise ImportFormatError(
            "--trade-columns: expected --trades FILE to apply to, found no trades table"
        )
    events = read_snapshots(
        args.files,
        inst,
        report,
        columns=columns,
        ts_unit=args.ts_unit,
        trades=args.trades,
        trade_columns=trade_columns,
    )
    settings = {
        "trades": args.trades or [],
        "columns": columns,
        "trade_columns": trade_columns,
        "ts_unit": args.ts_unit,
    }
    return _write(args, inst, report, events, settings)


def _instrument_args(p: argparse.ArgumentParser, symbol: str | None, venue: str | None) -> None:
    p.add_argument("--out", required=True, metavar="LOG", help="new event log (.zst: compressed)")
    p.add_argument("--tick", required=True, type=_SIZE, help="tick size as a decimal, e.g. 0.1")
    p.add_argument("--lot", required=True, type=_SIZE, help="lot size as a decimal, e.g. 0.001")
    if symbol is None:
        p.add_argument("--symbol", required=True, type=non_empty,
                       help="instrument symbol (must match the data)")
    else:
        p.add_argument("--symbol", default=symbol, type=non_empty,
                       help="instrument symbol (default %(default)s)")
    if venue is None:
        p.add_argument("--venue", required=True, type=non_empty,
                       help="venue name recorded in the log header")
    else:
        p.add_argument("--venue", default=venue, type=non_empty,
                       help="venue name (default %(default)s)")
    p.add_argument("--min-size", default="0", type=_AMOUNT, help="minimum order size, base units")
    p.add_argument("--min-notional", default="0", type=_AMOUNT,
                   help="minimum order notional, quote units")
    p.add_argument("--maker-fee", default="0", type=_FEE_RATE,
                   help="maker fee rate, a fraction of notional (negative: rebate)")
    p.add_argument("--taker-fee", default="0", type=_FEE_RATE,
                   help="taker fee rate, a fraction of notional")
    p.add_argument("--quote", default="USD", type=non_empty,
                   help="quote currency (default %(default)s)")
    clock = p.add_mutually_exclusive_group()
    clock.add_argument(
        "--min-feed-latency-ms",
        type=_LATENCY_MS,
        default=str(Decimal(DEFAULT_MIN_FEED_LATENCY_NS) / 10**6),
        help="align the recorder's clock: when the smallest ts_recv - ts of the events is "
        "below this, add one constant to every ts_recv to make it this (a recorder behind the "
        "exchange gives negative latencies); 0 allowed (default %(default)s)",
    )
    clock.add_argument(
        "--no-clock-align",
        action="store_true",
        help="keep every ts_recv as recorded, even when it is before the exchange's ts",
    )
    clock.add_argument(
        "--clock-shift-ms",
        type=_SHIFT_MS,
        help="add exactly this to every ts_recv (e.g. the shift an import of another log of the "
        "same recorder printed, so that their events still merge in the order received)",
    )


def _at_least_one(text: str) -> int:
    """argparse type for --max-buffer: a whole number >= 1 (argparse names the option)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, found {text!r}")
    return value


def _min_feed_latency_ns(args: argparse.Namespace) -> int | None:
    """The floor of the receive clock's alignment in ns, ``None`` with ``--no-clock-align``."""
    if args.no_clock_align:
        return None
    return _ns(args.min_feed_latency_ms)


def _ns(ms: str) -> int:
    """Milliseconds given as decimal text, in whole nanoseconds."""
    return int((Decimal(ms) * 10**6).to_integral_value(ROUND_HALF_EVEN))


def _check_out(out: Path) -> None:
    """``--out`` must be a file whose folder exists or can be made (made, as by ``mm backtest``,
    just before the log is written): refused when a file stands where a folder of its path
    should be."""
    for folder in (out.parent, *out.parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise ImportPathError(
                    f"import --out {out}: expected a file in a directory, found a file at "
                    f"{folder}"
                )
            return


def _instrument(args: argparse.Namespace) -> Instrument:
    return Instrument(
        venue=args.venue,
        symbol=args.symbol,
        tick_size=args.tick,
        lot_size=args.lot,
        min_size=args.min_size,
        min_notional=args.min_notional,
        maker_fee=args.maker_fee,
        taker_fee=args.taker_fee,
        quote=args.quote,
    )


def _write(
    args: argparse.Namespace,
    inst: Instrument,
    report: ImportReport,
    events: Iterator[Event],
    settings: dict[str, Any],
) -> int:
    sources = list(args.files) + list(getattr(args, "trades", None) or [])
    _check_out(Path(args.out))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    shift = args.clock_shift_ms
    import_to_log(events, args.out, inst, report.importer, sources, report, settings=settings,
                  min_feed_latency_ns=_min_feed_latency_ns(args),
                  clock_shift_ns=None if shift is None else _ns(shift))
    summary = report.summary()
    print(summary.render())
    if not summary.total_written:
        Path(args.out).unlink(missing_ok=True)
        print(
            f"mm: error: {', '.join(sources)}: expected market data for {inst.symbol}, found no "
            f"events to write (see the report above); {args.out} not created",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {summary.total_written} events to {args.out}")
    return 0
