"""The venue's outbound stream: account events stamped with when they reach us.

Every event the venue emits carries ``ts`` = venue (exchange) time and ``ts_recv`` =
``ts + response latency``. The stream is one connection, so it stays first-in first-out: a
``ts_recv`` earlier than the previous event's is raised to it. The queue is therefore always in
``ts_recv`` order and ties keep emission order. Each ``SimVenue`` has its own outbox (in a
session of several markets, one per market: ``SimVenues`` merges them); fills are numbered
(``trade_id`` ``sim-<n>``) by the venue-wide fill count, so no two fills share an id.
"""

from __future__ import annotations

from collections import deque

from adapters.sim.latency import LatencyModel
from adapters.sim.stats import SimCounters
from mmcore.events import (
    Event,
    Fill,
    FundingPayment,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
)

__all__ = ["Outbox"]


class Outbox:
    """Builds, stamps, counts and queues the venue's account events."""

    __slots__ = ("counters", "last_recv", "latency", "queue")

    def __init__(self, latency: LatencyModel, counters: SimCounters) -> None:
        self.latency = latency
        self.counters = counters
        self.queue: deque[Event] = deque()
        self.last_recv = 0

    def _recv(self, ts: int) -> int:
        recv = ts + self.latency.response(ts)
        if recv < self.last_recv:
            recv = self.last_recv
        self.last_recv = recv
        return recv

    def accepted(self, inst: str, ts: int, client_id: str, venue_order_id: str) -> None:
        self.counters.accepted += 1
        self.queue.append(OrderAccepted(inst, ts, self._recv(ts), client_id, venue_order_id))

    def rejected(self, inst: str, ts: int, client_id: str, code: str, reason: str) -> None:
        c = self.counters
        c.rejected += 1
        c.reject_codes[code] = c.reject_codes.get(code, 0) + 1
        self.queue.append(OrderRejected(inst, ts, self._recv(ts), client_id, code, reason))

    def canceled(self, inst: str, ts: int, client_id: str, reason: str) -> None:
        self.counters.canceled += 1
        self.queue.append(OrderCanceled(inst, ts, self._recv(ts), client_id, reason))

    def fill(
        self,
        inst: str,
        ts: int,
        client_id: str,
        side: int,
        price: int,
        size: int,
        fee: int,
        maker: bool,
        notional: int,
    ) -> None:
        c = self.counters
        c.fills += 1
        if maker:
            c.maker_fills += 1
        else:
            c.taker_fills += 1
        c.volume += size
        c.notional += notional
        c.fees += fee
        trade_id = f"sim-{c.fills}"
        self.queue.append(
            Fill(inst, ts, self._recv(ts), client_id, side, price, size, fee, maker, trade_id)
        )

    def funding(self, inst: str, ts: int, amount: int) -> None:
        c = self.counters
        c.funding_payments += 1
        c.funding += amount
        self.queue.append(FundingPayment(inst, ts, self._recv(ts), amount))
