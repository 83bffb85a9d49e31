"""Hyperliquid captures (``<local ns> <json>`` lines) to book snapshots and trades.

``l2Book`` messages are full top-of-book snapshots without a sequence number; each becomes a
``BookSnapshot`` whose ``seq`` is a running counter from 1 (snapshots are not gap-checked).
``trades`` messages carry a list of trades; ``side`` ``"B"`` means the buyer was the aggressor
(``BUY``), ``"A"`` the seller (``SELL``); ``trade_id`` is ``tid``. ``ts`` is the message's
``time`` (ms → ns), ``ts_recv`` the local receive time. Messages for another coin are skipped as
``"other_symbol"``, other channels as ``"unknown_channel"``, and a snapshot or trade with an
off-grid price or size as ``"off_grid"``.

The first ``trades`` message of a subscription replays recent trades, some from long before the
capture began (about 50 s in the capture in shared/data), and carries no flag saying so
(``isSnapshot`` exists only on the user streams). Imported at their receive time they would look
like live trades a backtest could fill our quotes against. So a trade is only imported once a
book of the coin has been seen: one received before the first ``l2Book`` is skipped as
``"before_book"``, and one whose ``time`` is before that first ``l2Book``'s ``time`` (the same
venue clock) as ``"stale_trade"``.

A capture whose socket reconnected holds such a replay in the middle too, with no marker line.
There a trade already imported (its ``tid`` among the last ``RECENT_TIDS`` imported) is skipped
as ``"duplicate_trade"``, and one more than ``REPLAY_SLACK_MS`` older than the latest ``l2Book``
received before it as ``"stale_trade"``: a live trade is received within a few hundred ms, after
the book of its moment (+0.2 to +0.5 s in the capture in shared/data), while a replay reaches
back up to a minute. A trade missed during the outage is dropped with the replay: stamped with
the reconnect's receive time it would be a trade at the wrong moment.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path

import msgspec

from mmcore.events import BUY, SELL, BookSnapshot, Event, Trade
from mmcore.instrument import Instrument, OffGridError
from replay.importers.grid import Grid
from replay.importers.report import ImportReport
from replay.importers.source import Paths, as_paths, recorded_lines

__all__ = ["RECENT_TIDS", "REPLAY_SLACK_MS", "read_hyperliquid"]

MS = 1_000_000
REPLAY_SLACK_MS = 1_000
"""How much older than the latest book (venue clock) a trade may be and still count as live."""
RECENT_TIDS = 10_000
"""Trade ids remembered to spot a replayed trade that was imported already."""
_SIDES = {"B": BUY, "A": SELL}


class _Level(msgspec.Struct):
    px: str
    sz: str


class _Book(msgspec.Struct):
    coin: str
    levels: tuple[list[_Level], list[_Level]]
    time: int = 0


class _Trade(msgspec.Struct):
    coin: str
    side: str
    px: str
    sz: str
    time: int = 0
    tid: int = 0


class _Message(msgspec.Struct):
    channel: str
    data: msgspec.Raw


_message = msgspec.json.Decoder(_Message)
_book = msgspec.json.Decoder(_Book)
_trades = msgspec.json.Decoder(list[_Trade])


def read_hyperliquid(
    path_or_paths: Paths, inst: Instrument, report: ImportReport
) -> Iterator[Event]:
    """Events from Hyperliquid capture file(s), read in order as one stream.

    Missing files raise ``ImportFormatError`` here, before anything is read.
    """
    paths = as_paths(path_or_paths)
    if not report.importer:
        report.importer = "hyperliquid"
    return _read(paths, inst, report)


def _read(paths: list[Path], inst: Instrument, report: ImportReport) -> Iterator[Event]:
    grid = Grid(inst)
    symbol = inst.symbol
    seq = 0
    first_book_ms = -1  # venue time of the first l2Book of the coin; -1: none seen yet
    last_book_ms = -1  # venue time of the latest l2Book of the coin
    seen = _RecentIds(RECENT_TIDS)
    for local_ns, payload, name, lineno in recorded_lines(paths, report):
        where = f"{name}:{lineno}"
        try:
            msg = _message.decode(payload)
            if msg.channel == "l2Book":
                book = _book.decode(msg.data)
                if book.coin != symbol:
                    report.skip("other_symbol", where, book.coin)
                    continue
                if first_book_ms < 0:
                    first_book_ms = book.time
                last_book_ms = max(last_book_ms, book.time)
                bids = _flat(grid, book.levels[0])
                asks = _flat(grid, book.levels[1])
                seq += 1
                yield BookSnapshot(symbol, book.time * MS, local_ns, seq, bids, asks)
            elif msg.channel == "trades":
                for trade in _trades.decode(msg.data):
                    if _replayed(trade, symbol, where, report, first_book_ms, last_book_ms, seen):
                        continue
                    event = _trade(grid, trade, symbol, local_ns, where, report)
                    if event is not None:
                        if trade.tid:
                            seen.add(trade.tid)
                        yield event
            else:
                report.skip("unknown_channel", where, msg.channel)
        except msgspec.DecodeError as exc:
            report.skip("malformed", where, str(exc))
        except OffGridError as exc:
            report.skip("off_grid", where, str(exc))


class _RecentIds:
    """The last ``n`` trade ids added, for membership tests."""

    __slots__ = ("_ids", "_order")

    def __init__(self, n: int) -> None:
        self._ids: set[int] = set()
        self._order: deque[int] = deque(maxlen=n)

    def __contains__(self, tid: int) -> bool:
        return tid in self._ids

    def add(self, tid: int) -> None:
        order = self._order
        if len(order) == order.maxlen:
            self._ids.discard(order[0])
        order.append(tid)
        self._ids.add(tid)


def _replayed(
    trade: _Trade,
    symbol: str,
    where: str,
    report: ImportReport,
    first_book_ms: int,
    last_book_ms: int,
    seen: _RecentIds,
) -> bool:
    """True (and the skip counted) for a trade of ``symbol`` that is history replayed by a
    (re)subscription, not a live one; see the module doc."""
    if trade.coin != symbol:
        return False  # counted as another symbol's by _trade
    if first_book_ms < 0:
        report.skip("before_book", where, f"trade {trade.tid} received before any l2Book")
        return True
    if trade.time < first_book_ms:
        report.skip(
            "stale_trade",
            where,
            f"trade {trade.tid} at {trade.time} ms, before the first l2Book at {first_book_ms} ms",
        )
        return True
    if trade.tid and trade.tid in seen:  # (0: the message had no tid)
        report.skip("duplicate_trade", where, f"trade {trade.tid} imported already")
        return True
    if trade.time < last_book_ms - REPLAY_SLACK_MS:
        report.skip(
            "stale_trade",
            where,
            f"trade {trade.tid} at {trade.time} ms, more than {REPLAY_SLACK_MS} ms before the "
            f"latest l2Book at {last_book_ms} ms (replayed after a reconnect)",
        )
        return True
    return False


def _trade(
    grid: Grid, trade: _Trade, symbol: str, local_ns: int, where: str, report: ImportReport
) -> Trade | None:
    if trade.coin != symbol:
        report.skip("other_symbol", where, trade.coin)
        return None
    side = _SIDES.get(trade.side)
    if side is None:
        report.skip("unknown_side", where, f"expected side 'B' or 'A', found {trade.side!r}")
        return None
    try:
        price = grid.ticks(trade.px)
        size = grid.lots(trade.sz)
    except OffGridError as exc:
        report.skip("off_grid", where, str(exc))
        return None
    return Trade(symbol, trade.time * MS, local_ns, price, size, side, str(trade.tid))


def _flat(grid: Grid, levels: list[_Level]) -> tuple[int, ...]:
    return grid.levels([(level.px, level.sz) for level in levels])
