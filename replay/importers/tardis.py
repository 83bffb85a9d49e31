"""Tardis.dev CSV exports (``incremental_book_L2`` and ``trades``) to book and trade events.

``incremental_book_L2`` rows are ``exchange,symbol,timestamp,local_timestamp,is_snapshot,side,
price,amount`` with times in microseconds. Consecutive rows with ``is_snapshot=true`` (at the
start, and again after a reset) form one ``BookSnapshot``; consecutive non-snapshot rows with the
same ``local_timestamp`` form one ``BookDelta``. Both are numbered by a running counter from 1,
deltas with ``prev_seq = -1`` (consecutive numbering), so a book that misses one sees a gap.
``amount`` 0 deletes a level. Update rows before the first snapshot cannot be applied and are
skipped as ``"before_snapshot"``; rows of another symbol as ``"other_symbol"``; a row with an
off-grid price or amount as ``"off_grid"`` and one with a price <= 0 or a negative amount as
``"malformed"`` (only that row).

``trades`` rows are ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount`` with
``side`` the aggressor (``buy``/``sell``; ``unknown`` is skipped as ``"unknown_side"``); a trade
with a price or amount <= 0 is skipped as ``"malformed"``.
``read_tardis(book, inst, report, trades=...)`` merges both by receive time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from mmcore.events import BookDelta, BookSnapshot, Event, Trade
from mmcore.instrument import Instrument, OffGridError
from replay.importers.cell_values import parse_bool, parse_side
from replay.importers.grid import Grid
from replay.importers.merge import merge_by_time
from replay.importers.report import ImportReport
from replay.importers.source import Paths, as_paths
from replay.importers.tables import Cell, open_table

__all__ = ["BOOK_COLUMNS", "TRADE_COLUMNS", "read_tardis", "read_tardis_book", "read_tardis_trades"]

US = 1_000
BOOK_COLUMNS = ("symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount")
TRADE_COLUMNS = ("symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")

_NO_GROUP, _SNAPSHOT, _DELTA = 0, 1, 2


def read_tardis(
    path_or_paths: Paths, inst: Instrument, report: ImportReport, *, trades: Paths | None = None
) -> Iterator[Event]:
    """Book events from ``incremental_book_L2`` file(s), merged with ``trades`` file(s) if given."""
    if not report.importer:
        report.importer = "tardis"
    book = read_tardis_book(as_paths(path_or_paths), inst, report)
    if trades is None:
        return book
    return merge_by_time(book, read_tardis_trades(as_paths(trades), inst, report))


def read_tardis_book(
    path_or_paths: Paths, inst: Instrument, report: ImportReport
) -> Iterator[Event]:
    """``BookSnapshot``/``BookDelta`` events from Tardis ``incremental_book_L2`` CSV file(s)."""
    grouper = _Grouper(inst.symbol)
    grid = Grid(inst)
    for where, fields in _symbol_rows(path_or_paths, BOOK_COLUMNS, inst.symbol, report):
        _symbol, ts, local_ts, is_snapshot, side, price, amount = fields
        snapshot = parse_bool(is_snapshot)
        bid = side == "bid"
        if snapshot is None or not (bid or side == "ask"):
            report.skip("malformed", where, f"is_snapshot={is_snapshot!r} side={side!r}")
            continue
        point = _point(grid, ts, local_ts, price, amount, where, report)
        if point is None:
            continue
        ts_ns, recv_ns, ticks, lots = point
        if ticks <= 0 or lots < 0:  # no book takes it (amount 0 deletes a level: that is fine)
            why = f"expected price > 0 and amount >= 0, found {price!r} {amount!r}"
            report.skip("malformed", where, why)
            continue
        if not snapshot and not grouper.synced and grouper.kind != _SNAPSHOT:
            report.skip("before_snapshot")
            continue
        done = grouper.add(snapshot, recv_ns, ts_ns, bid, ticks, lots)
        if done is not None:
            yield done
    last = grouper.flush()
    if last is not None:
        yield last


def read_tardis_trades(
    path_or_paths: Paths, inst: Instrument, report: ImportReport
) -> Iterator[Event]:
    """``Trade`` events from Tardis ``trades`` CSV file(s)."""
    grid = Grid(inst)
    symbol = inst.symbol
    for where, fields in _symbol_rows(path_or_paths, TRADE_COLUMNS, symbol, report):
        _symbol, ts, local_ts, trade_id, side_text, price, amount = fields
        side = parse_side(side_text)
        if side is None:
            report.skip("unknown_side", where, f"side={side_text!r}")
            continue
        point = _point(grid, ts, local_ts, price, amount, where, report)
        if point is None:
            continue
        ts_ns, recv_ns, ticks, lots = point
        if ticks <= 0 or lots <= 0:
            report.skip(
                "malformed", where, f"expected price > 0 and amount > 0, found {price!r} {amount!r}"
            )
            continue
        yield Trade(symbol, ts_ns, recv_ns, ticks, lots, side, trade_id)


def _point(
    grid: Grid, ts: str, local_ts: str, price: str, amount: str, where: str, report: ImportReport
) -> tuple[int, int, int, int] | None:
    """``(ts_ns, recv_ns, ticks, lots)`` of a row, or None with the row skipped and counted
    (``"malformed"`` timestamps are reported before an ``"off_grid"`` price or amount)."""
    try:
        ts_ns = int(ts) * US
        recv_ns = int(local_ts) * US
    except ValueError:
        report.skip("malformed", where, f"timestamps {ts!r}, {local_ts!r}")
        return None
    try:
        return ts_ns, recv_ns, grid.ticks(price), grid.lots(amount)
    except OffGridError as exc:
        report.skip("off_grid", where, str(exc))
        return None


def _symbol_rows(
    path_or_paths: Paths, names: tuple[str, ...], symbol: str, report: ImportReport
) -> Iterator[tuple[str, list[str]]]:
    """``(where, fields)`` of every well-formed row of ``symbol``; the others skipped, counted."""
    want = symbol.upper()
    for path in as_paths(path_or_paths):
        with open_table(path, report) as table:
            columns = [table.column(name) for name in names]
            for lineno, row in table.rows:
                report.lines_read += 1
                where = f"{table.name}:{lineno}"
                fields = _fields(row, columns)
                if fields is None:
                    report.skip("malformed", where, f"expected {len(table.header)} text cells")
                elif fields[0].upper() != want:
                    report.skip("other_symbol", where, fields[0])
                else:
                    yield where, fields


def _fields(row: Sequence[Cell], columns: list[int]) -> list[str] | None:
    try:
        fields = [row[i] for i in columns]
    except IndexError:
        return None
    out: list[str] = []
    for cell in fields:
        if not isinstance(cell, str):
            return None
        out.append(cell)
    return out


class _Grouper:
    """Collects rows into the snapshot or delta they belong to; returns it once complete."""

    __slots__ = ("asks", "bids", "inst", "kind", "recv", "seq", "synced", "ts")

    def __init__(self, inst: str) -> None:
        self.inst = inst
        self.kind = _NO_GROUP
        self.synced = False
        self.seq = 0
        self.recv = 0
        self.ts = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def add(
        self, snapshot: bool, recv: int, ts: int, bid: bool, price: int, size: int
    ) -> BookSnapshot | BookDelta | None:
        done: BookSnapshot | BookDelta | None = None
        if snapshot:
            if self.kind != _SNAPSHOT:
                done = self.flush()
                self.kind = _SNAPSHOT
        elif self.kind != _DELTA or recv != self.recv:
            done = self.flush()
            self.kind = _DELTA
        self.recv = recv
        self.ts = ts
        (self.bids if bid else self.asks)[price] = size
        return done

    def flush(self) -> BookSnapshot | BookDelta | None:
        kind = self.kind
        if kind == _NO_GROUP:
            return None
        self.kind = _NO_GROUP
        self.seq += 1
        bids, asks = self.bids, self.asks
        self.bids, self.asks = {}, {}
        if kind == _SNAPSHOT:
            self.synced = True
            return BookSnapshot(
                self.inst,
                self.ts,
                self.recv,
                self.seq,
                _flat(sorted(bids.items(), reverse=True), False),
                _flat(sorted(asks.items()), False),
            )
        return BookDelta(
            self.inst,
            self.ts,
            self.recv,
            self.seq,
            -1,
            _flat(bids.items(), True),
            _flat(asks.items(), True),
        )


def _flat(levels: Iterable[tuple[int, int]], keep_zero: bool) -> tuple[int, ...]:
    """Flat ``(price, size, ...)``; a snapshot has no use for size-0 rows (``keep_zero=False``)."""
    out: list[int] = []
    for price, size in levels:
        if size or keep_zero:
            out.append(price)
            out.append(size)
    return tuple(out)
