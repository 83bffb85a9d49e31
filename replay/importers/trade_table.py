"""Generic trades tables (CSV, or Parquet with pyarrow) to ``Trade`` events.

Columns come from ``TradeColumns``: time, price, size and the aggressor side, given directly
(``side``) or as ``is_buyer_maker`` / ``is_buyer_taker``. Timestamps are in ``ts_unit`` (``auto``
judges each time column by the magnitude of its first value: ``timestamp`` and ``local_timestamp``
may differ). Rows with an unknown side are skipped as ``"unknown_side"``, off-grid rows as
``"off_grid"``, unreadable rows as ``"malformed"`` (also a price <= 0 or a size <= 0, which no
trade has, and a time beyond the int64 nanoseconds an event holds).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from mmcore.events import BUY, SELL, Event, Trade
from mmcore.instrument import Instrument, OffGridError
from replay.importers.cell_values import parse_bool, parse_side
from replay.importers.errors import ImportFormatError
from replay.importers.grid import Grid
from replay.importers.report import ImportReport
from replay.importers.source import Paths, as_paths
from replay.importers.table_columns import TradeColumns, with_overrides
from replay.importers.tables import Table, open_table, text_cell
from replay.importers.timestamps import TS_UNITS, ColumnClock

__all__ = ["read_trade_table"]

_SIDE, _BUYER_MAKER, _BUYER_TAKER = 0, 1, 2


def read_trade_table(
    path_or_paths: Paths,
    inst: Instrument,
    report: ImportReport,
    *,
    columns: TradeColumns | Mapping[str, str] | None = None,
    ts_unit: str = "auto",
) -> Iterator[Event]:
    """``Trade`` events from trades table file(s), in file order."""
    if ts_unit not in TS_UNITS:
        raise ImportFormatError(f"ts_unit: expected one of {TS_UNITS}, found {ts_unit!r}")
    cols = columns if isinstance(columns, TradeColumns) else with_overrides(TradeColumns(), columns)
    return _read(as_paths(path_or_paths), inst, report, cols, ts_unit)


def _read(
    paths: list[Path], inst: Instrument, report: ImportReport, cols: TradeColumns, ts_unit: str
) -> Iterator[Event]:
    grid = Grid(inst)
    symbol = inst.symbol
    ts_clock = ColumnClock(cols.timestamp, ts_unit, report, "trades_ts_unit")
    recv_clock = ColumnClock(cols.local_timestamp, ts_unit, report, "trades_local_ts_unit")
    for path in paths:
        with open_table(path, report) as table:
            ts_i = table.column(cols.timestamp)
            recv_i = table.column(cols.local_timestamp) if cols.local_timestamp else ts_i
            price_i = table.column(cols.price)
            size_i = table.column(cols.size)
            mode, side_i = _side_column(table, cols)
            id_i = table.header.index(cols.trade_id) if cols.trade_id in table.header else -1
            for lineno, row in table.rows:
                report.lines_read += 1
                where = f"{table.name}:{lineno}"
                try:
                    ts_text, recv_text, side_text, price, size = (
                        text_cell(row[i]) for i in (ts_i, recv_i, side_i, price_i, size_i)
                    )
                    ts = ts_clock.ns(ts_text)
                    recv = ts if recv_i == ts_i else recv_clock.ns(recv_text)
                    side = _side(mode, side_text)
                    if side is None:
                        report.skip("unknown_side", where, f"{side_text!r}")
                        continue
                    trade_id = text_cell(row[id_i]) if id_i >= 0 else ""
                    ticks = grid.ticks(price)
                    lots = grid.lots(size)
                    if ticks <= 0 or lots <= 0:
                        raise ImportFormatError(
                            f"expected a trade with price > 0 and size > 0, "
                            f"found {price!r} {size!r}"
                        )
                except OffGridError as exc:
                    report.skip("off_grid", where, str(exc))
                    continue
                except (ImportFormatError, IndexError) as exc:
                    report.skip("malformed", where, str(exc))
                    continue
                yield Trade(symbol, ts, recv, ticks, lots, side, trade_id)


def _side_column(table: Table, cols: TradeColumns) -> tuple[int, int]:
    for mode, name in (
        (_SIDE, cols.side),
        (_BUYER_MAKER, cols.is_buyer_maker),
        (_BUYER_TAKER, cols.is_buyer_taker),
    ):
        if name and name in table.header:
            return mode, table.header.index(name)
    raise ImportFormatError(
        f"{table.name}: expected a side column ({cols.side!r}, {cols.is_buyer_maker!r} or "
        f"{cols.is_buyer_taker!r}), found columns {table.header}"
    )


def _side(mode: int, text: str) -> int | None:
    if mode == _SIDE:
        return parse_side(text)
    flag = parse_bool(text)
    if flag is None:
        return None
    if mode == _BUYER_MAKER:
        return SELL if flag else BUY
    return BUY if flag else SELL
