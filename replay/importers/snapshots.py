"""Generic top-N book snapshot tables (CSV, or Parquet with pyarrow) to ``BookSnapshot`` events.

Each row is one snapshot, numbered by a running counter from 1. Levels come either from wide
columns (``bid_price_0``, ``bid_size_0``, ... up to the last level present) or from list-valued
columns (``bid_prices``, ``bid_quantities``, ... holding ``[p0, p1, ...]``); names are set by
``SnapshotColumns``. Empty or ``nan`` cells and size-0 levels are absent levels. Levels are
sorted best first whatever the table's order. Skipped rows, by reason: ``"crossed"`` (best bid
above best ask), ``"locked"`` (equal), ``"empty"`` (no level on either side), ``"off_grid"``,
``"malformed"`` (also a level with a negative size or a price <= 0, which no book takes).
Timestamps are in ``ts_unit`` (``auto`` judges each time column by the magnitude of its first
value: ``timestamp`` and ``local_timestamp`` may differ); a time beyond the int64 nanoseconds an
event holds makes the row ``"malformed"``.

With ``trades=`` a trades table (see ``trade_table``) is merged in by receive time; on equal times
the snapshot comes first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from mmcore.events import BookSnapshot, Event
from mmcore.instrument import Instrument, OffGridError
from replay.importers.errors import ImportFormatError
from replay.importers.grid import Grid
from replay.importers.merge import merge_by_time
from replay.importers.report import ImportReport
from replay.importers.source import Paths, as_paths
from replay.importers.table_columns import SnapshotColumns, TradeColumns, with_overrides
from replay.importers.tables import Cell, Table, list_cell, open_table, text_cell
from replay.importers.timestamps import TS_UNITS, ColumnClock
from replay.importers.trade_table import read_trade_table

__all__ = ["read_snapshots"]

_MISSING = frozenset({"", "nan", "none", "null"})
Pairs = list[tuple[str, str]]


def read_snapshots(
    path_or_paths: Paths,
    inst: Instrument,
    report: ImportReport,
    *,
    columns: SnapshotColumns | Mapping[str, str] | None = None,
    ts_unit: str = "auto",
    trades: Paths | None = None,
    trade_columns: TradeColumns | Mapping[str, str] | None = None,
) -> Iterator[Event]:
    """``BookSnapshot`` events from snapshot table file(s), merged with a trades table if given."""
    if ts_unit not in TS_UNITS:
        raise ImportFormatError(f"ts_unit: expected one of {TS_UNITS}, found {ts_unit!r}")
    if not report.importer:
        report.importer = "snapshots"
    if isinstance(columns, SnapshotColumns):
        cols = columns
    else:
        cols = with_overrides(SnapshotColumns(), columns)
    book = _read(as_paths(path_or_paths), inst, report, cols, ts_unit)
    if trades is None:
        return book
    trade_events = read_trade_table(trades, inst, report, columns=trade_columns, ts_unit=ts_unit)
    return merge_by_time(book, trade_events)


def _read(
    paths: list[Path], inst: Instrument, report: ImportReport, cols: SnapshotColumns, ts_unit: str
) -> Iterator[Event]:
    grid = Grid(inst)
    symbol = inst.symbol
    ts_clock = ColumnClock(cols.timestamp, ts_unit, report, "ts_unit")
    recv_clock = ColumnClock(cols.local_timestamp, ts_unit, report, "local_ts_unit")
    seq = 0
    for path in paths:
        with open_table(path, report) as table:
            layout = _Layout(table, cols)
            ts_i = table.column(cols.timestamp)
            recv_i = table.column(cols.local_timestamp) if cols.local_timestamp else ts_i
            for lineno, row in table.rows:
                report.lines_read += 1
                where = f"{table.name}:{lineno}"
                try:
                    ts = ts_clock.ns(text_cell(row[ts_i]))
                    recv = ts if recv_i == ts_i else recv_clock.ns(text_cell(row[recv_i]))
                    bid_pairs, ask_pairs = layout.read(row)
                    bids = _levels(grid, bid_pairs, best_high=True)
                    asks = _levels(grid, ask_pairs, best_high=False)
                except OffGridError as exc:
                    report.skip("off_grid", where, str(exc))
                    continue
                except (ImportFormatError, IndexError) as exc:
                    report.skip("malformed", where, str(exc))
                    continue
                if bids and asks and bids[0] >= asks[0]:
                    reason = "crossed" if bids[0] > asks[0] else "locked"
                    report.skip(reason, where, f"best bid {bids[0]} vs best ask {asks[0]} ticks")
                    continue
                if not bids and not asks:
                    report.skip("empty", where, "no level on either side")
                    continue
                seq += 1
                yield BookSnapshot(symbol, ts, recv, seq, bids, asks)


class _Layout:
    """Which cells of a row hold the levels: wide columns or list-valued columns."""

    __slots__ = ("ask_cols", "bid_cols", "wide")

    def __init__(self, table: Table, cols: SnapshotColumns) -> None:
        header = table.header
        if cols.bid_prices in header and cols.ask_prices in header:
            self.wide = False
            self.bid_cols = [(table.column(cols.bid_prices), table.column(cols.bid_sizes))]
            self.ask_cols = [(table.column(cols.ask_prices), table.column(cols.ask_sizes))]
            return
        self.wide = True
        self.bid_cols = _wide(table, cols.bid_price, cols.bid_size)
        self.ask_cols = _wide(table, cols.ask_price, cols.ask_size)
        if not self.bid_cols or not self.ask_cols:
            raise ImportFormatError(
                f"{table.name}: expected wide columns like {cols.bid_price.format(i=0)!r} and "
                f"{cols.ask_price.format(i=0)!r}, or list columns {cols.bid_prices!r} and "
                f"{cols.ask_prices!r}, found columns {header}"
            )

    def read(self, row: Sequence[Cell]) -> tuple[Pairs, Pairs]:
        if self.wide:
            return (
                [(text_cell(row[p]), text_cell(row[q])) for p, q in self.bid_cols],
                [(text_cell(row[p]), text_cell(row[q])) for p, q in self.ask_cols],
            )
        return _listed(row, *self.bid_cols[0]), _listed(row, *self.ask_cols[0])


def _wide(table: Table, price: str, size: str) -> list[tuple[int, int]]:
    """Column indexes of levels ``{i}`` = 0 (or 1), 1, 2, ... while both columns exist."""
    if "{i}" not in price or "{i}" not in size:
        raise ImportFormatError(
            f"{table.name}: wide column names must contain '{{i}}', found {price!r}, {size!r}"
        )
    header = table.header
    start = 0 if price.format(i=0) in header else 1
    out = []
    i = start
    while price.format(i=i) in header:
        out.append((header.index(price.format(i=i)), table.column(size.format(i=i))))
        i += 1
    return out


def _listed(row: Sequence[Cell], prices_i: int, sizes_i: int) -> Pairs:
    prices = list_cell(row[prices_i])
    sizes = list_cell(row[sizes_i])
    if len(prices) != len(sizes):
        raise ImportFormatError(
            f"expected as many sizes as prices, found {len(sizes)} and {len(prices)}"
        )
    return list(zip(prices, sizes))


def _levels(grid: Grid, pairs: Pairs, best_high: bool) -> tuple[int, ...]:
    levels = []
    for price, size in pairs:
        if price.strip().lower() in _MISSING or size.strip().lower() in _MISSING:
            continue
        lots = grid.lots(size.strip())
        if lots:
            ticks = grid.ticks(price.strip())
            if lots < 0 or ticks <= 0:  # a book refuses such a level, and the whole snapshot
                raise ImportFormatError(
                    f"expected a level with price > 0 and size >= 0, found {price!r} {size!r}"
                )
            levels.append((ticks, lots))
    levels.sort(reverse=best_high)
    out: list[int] = []
    for ticks, lots in levels:
        out.append(ticks)
        out.append(lots)
    return tuple(out)
