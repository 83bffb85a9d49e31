"""The reconcile reads each market's latest trades on its own: a busy market never pushes
another market's lost fill out of the venue's answer."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from adapters.extended.normalize import Normalizer
from adapters.extended.reconcile import Reconciler
from adapters.extended.tracker import OrderTracker
from mmcore.commands import Place
from mmcore.events import BUY, Event, Fill
from mmcore.instrument import Instrument

BUSY, QUIET = "BTC-USD", "ETH-USD"
T0 = 1_760_000_000_000  # venue ms


def trade(n: int, market: str, order_id: int, created: int) -> SimpleNamespace:
    return SimpleNamespace(
        id=n, market=market, order_id=order_id, side="BUY", price="100", qty="0.01", fee="0",
        is_taker=False, created_time=created, trade_type="TRADE",
    )


class Venue:
    """The REST reads a reconcile makes, answering as Extended does: the newest ``limit``
    trades of the markets asked for, newest first."""

    def __init__(self, trades: list[SimpleNamespace]) -> None:
        self._trades = trades

    async def open_orders(self, symbols: list[str]) -> list[Any]:
        return []

    async def trades(self, symbols: list[str], limit: int = 200) -> list[SimpleNamespace]:
        mine = [t for t in self._trades if t.market in symbols]
        return sorted(mine, key=lambda t: -t.created_time)[:limit]

    async def order_by_id(self, venue_id: int) -> Any:
        return SimpleNamespace(id=venue_id, external_id="ours", market=QUIET, side="BUY",
                               status="FILLED", qty="0.01", filled_qty="0.01", price="100",
                               updated_time=T0, type="LIMIT", reduce_only=False,
                               post_only=True, average_price="100", status_reason=None)

    async def positions(self, symbols: list[str]) -> list[Any]:
        return []

    async def balance(self) -> None:
        return None


def test_a_lost_fill_of_a_quiet_market_is_found_behind_a_busy_markets_trades() -> None:
    insts = {s: Instrument(venue="extended", symbol=s, tick_size="1", lot_size="0.01")
             for s in (BUSY, QUIET)}
    tracker = OrderTracker(insts)
    order = tracker.placing(Place(QUIET, T0 * 1_000_000, "ours", BUY, 100, 1))
    order.in_flight = False
    tracker.learn_venue_id(order, "9")
    tracker.accepted(order, T0 * 1_000_000, T0 * 1_000_000)
    # our fill on the quiet market, then 250 fills of another session's on the busy one
    trades = [trade(1, QUIET, 9, T0 + 1)]
    trades += [trade(100 + i, BUSY, 5, T0 + 10 + i) for i in range(250)]
    reconciler = Reconciler(Venue(trades), tracker, Normalizer(insts), insts,  # type: ignore[arg-type]
                            lambda: (T0 + 1000) * 1_000_000, True)
    out: list[Event] = []
    asyncio.run(reconciler.run(out.extend, None))
    assert [(f.inst, f.client_id, f.size) for f in out if type(f) is Fill] == [(QUIET, "ours", 1)]
