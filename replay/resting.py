"""Our resting quotes, folded from a session log: which orders are open, and when both sides were.

An order is *open* from its ``OrderAccepted`` until a ``Fill`` completes it or an
``OrderCanceled`` / ``OrderRejected`` ends it. Its side, price and size come from our ``Place``
with the same client id (an output record earlier in the log). Events for client ids we never
placed are counted and otherwise ignored.

For each market, ``edges`` records the receive times at which the market became two-sided (at
least one open bid and one open ask) and stopped being so, alternating; that is the input of
``replay.metrics.two_sided_uptime``. It grows with quote flips, never with market data.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

import msgspec

from mmcore.commands import Place
from mmcore.events import BUY, Fill

__all__ = ["RestingOrder", "RestingQuotes", "RestingStats"]


class RestingStats(msgspec.Struct, frozen=True):
    """Counters of a ``RestingQuotes``."""

    placed: int
    accepted: int
    filled: int
    canceled: int
    rejected: int
    unknown: int
    open: int


class RestingOrder:
    """One of our orders: market, side, price in ticks, lots left, and whether it is open."""

    __slots__ = ("inst", "is_open", "left", "price", "side")

    def __init__(self, inst: str, side: int, price: int, left: int) -> None:
        self.inst = inst
        self.side = side
        self.price = price
        self.left = left
        self.is_open = False


class _Market:
    __slots__ = ("asks", "bids", "edges", "two_sided")

    def __init__(self) -> None:
        self.bids: dict[str, RestingOrder] = {}
        self.asks: dict[str, RestingOrder] = {}
        self.edges: array[int] = array("q")
        self.two_sided = False


class RestingQuotes:
    """Open orders per market and side, and the times each market's quotes became two-sided."""

    __slots__ = ("_accepted", "_canceled", "_filled", "_markets", "_orders", "_placed",
                 "_rejected", "_unknown")

    def __init__(self, markets: Iterable[str]) -> None:
        self._markets = {m: _Market() for m in markets}
        self._orders: dict[str, RestingOrder] = {}
        self._placed = 0
        self._accepted = 0
        self._filled = 0
        self._canceled = 0
        self._rejected = 0
        self._unknown = 0

    # ------------------------------------------------------------ folds

    def on_place(self, cmd: Place) -> None:
        if cmd.inst in self._markets:
            self._orders[cmd.client_id] = RestingOrder(cmd.inst, cmd.side, cmd.price, cmd.size)
            self._placed += 1

    def on_accepted(self, client_id: str, t: int) -> RestingOrder | None:
        """The order rests from ``t``. Each ``on_*`` returns the order when what rests changed,
        else None."""
        order = self._orders.get(client_id)
        if order is None:
            self._unknown += 1
            return None
        if order.is_open:  # a repeated acknowledgement changes nothing
            return None
        order.is_open = True
        self._accepted += 1
        m = self._markets[order.inst]
        (m.bids if order.side == BUY else m.asks)[client_id] = order
        self._flip(m, t)
        return order

    def on_fill(self, fill: Fill) -> RestingOrder | None:
        """Take the fill off its order; the order ends when nothing is left."""
        order = self._orders.get(fill.client_id)
        if order is None:
            self._unknown += 1
            return None
        order.left -= fill.size
        if order.left > 0:
            return None
        self._filled += 1
        return self._end(fill.client_id, order, fill.ts_recv)

    def on_canceled(self, client_id: str, t: int) -> RestingOrder | None:
        order = self._orders.get(client_id)
        if order is None:
            self._unknown += 1
            return None
        self._canceled += 1
        return self._end(client_id, order, t)

    def on_rejected(self, client_id: str, t: int) -> RestingOrder | None:
        order = self._orders.get(client_id)
        if order is None:
            self._unknown += 1
            return None
        self._rejected += 1
        return self._end(client_id, order, t)

    # ------------------------------------------------------------ reads

    def best(self, inst: str, side: int) -> int:
        """Our best open price on ``side`` of ``inst`` in ticks, 0 when nothing rests there."""
        m = self._markets[inst]
        orders = m.bids if side == BUY else m.asks
        if not orders:
            return 0
        if len(orders) == 1:
            return next(iter(orders.values())).price
        if side == BUY:
            return max(o.price for o in orders.values())
        return min(o.price for o in orders.values())

    def edges(self, inst: str) -> array[int]:
        """Alternating became-two-sided / stopped-being-two-sided receive times of ``inst``."""
        return self._markets[inst].edges

    def statistics(self) -> RestingStats:
        return RestingStats(
            placed=self._placed,
            accepted=self._accepted,
            filled=self._filled,
            canceled=self._canceled,
            rejected=self._rejected,
            unknown=self._unknown,
            open=sum(len(m.bids) + len(m.asks) for m in self._markets.values()),
        )

    # ------------------------------------------------------------ internals

    def _end(self, client_id: str, order: RestingOrder, t: int) -> RestingOrder | None:
        del self._orders[client_id]
        if not order.is_open:
            return None
        m = self._markets[order.inst]
        del (m.bids if order.side == BUY else m.asks)[client_id]
        self._flip(m, t)
        return order

    @staticmethod
    def _flip(m: _Market, t: int) -> None:
        now = bool(m.bids) and bool(m.asks)
        if now != m.two_sided:
            m.two_sided = now
            m.edges.append(t)
