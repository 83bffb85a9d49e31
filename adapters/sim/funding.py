"""Funding settlement of perpetuals on the simulated venue.

The clock remembers, per instrument, the last ``FundingRate`` (ppb per interval) and the last
``MarkPrice``. Boundaries are the multiples of ``funding_interval_s`` since the UTC epoch, in
exchange time; the first is the one after the first market event the venue sees, and none is
settled once the market data has ended (``stop``, called by ``SimVenue.end_of_data``). At each
boundary every instrument with a rate and a non-zero position gets a ``FundingPayment``:

    amount = floor(-position * mark * nanos_per_tick_lot * rate_ppb / 1e9)

in nanos of quote, positive meaning we received it (longs pay a positive rate). ``mark`` is the
last mark price, or the book's mid when no mark was seen (exact: computed from ``2 * mid``); no
payment is made without either. Rounding is down (towards minus infinity), the venue's favour.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.sim.matching import Market
from adapters.sim.outbox import Outbox
from adapters.sim.times import NEVER
from mmcore.events import FundingRate, MarkPrice
from mmcore.instrument import PPB

__all__ = ["FundingClock"]


class FundingClock:
    """Rates, marks and the next funding boundary."""

    __slots__ = ("interval", "marks", "next_ts", "rates")

    def __init__(self, interval_ns: int) -> None:
        self.interval = interval_ns
        self.next_ts = NEVER
        self.rates: dict[str, int] = {}
        self.marks: dict[str, int] = {}

    def start(self, ts: int) -> None:
        """Schedule the first boundary strictly after exchange time ``ts`` (no-op when off)."""
        interval = self.interval
        if interval:
            self.next_ts = (ts // interval + 1) * interval

    def stop(self) -> None:
        """Settle no further boundary, ever (the market data ended): the clock is off, so a
        later ``start`` schedules nothing either."""
        self.interval = 0
        self.next_ts = NEVER

    def on_rate(self, ev: FundingRate) -> None:
        self.rates[ev.inst] = ev.rate_ppb

    def on_mark(self, ev: MarkPrice) -> None:
        self.marks[ev.inst] = ev.price

    def settle(self, markets: Mapping[str, Market], outbox: Outbox) -> None:
        """Pay the boundary at ``next_ts`` for every position, then schedule the next one."""
        ts = self.next_ts
        for inst, rate in self.rates.items():
            market = markets.get(inst)
            if market is None or not rate or not market.position:
                continue
            mark = self.marks.get(inst, 0)
            mark_x2 = 2 * mark if mark else market.book.mid_x2()
            if not mark_x2:
                continue
            amount = (-market.position * mark_x2 * market.unit * rate) // (2 * PPB)
            outbox.funding(inst, ts, amount)
        self.next_ts = ts + self.interval
