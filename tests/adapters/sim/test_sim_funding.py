"""Funding on the simulated venue: paid at epoch-aligned boundaries of exchange time."""

from __future__ import annotations

import random

from adapters.sim import NEVER, SimConfig, SimSource, SimVenue
from mmcore.commands import IOC, Place
from mmcore.events import (
    BUY,
    SELL,
    BookDelta,
    BookSnapshot,
    Event,
    FundingPayment,
    FundingRate,
    MarkPrice,
    OrderAccepted,
    Trade,
)
from mmcore.instrument import Instrument

INST = "ETH-PERP"
S = 1_000_000_000  # one second in ns
MS = 1_000_000
HOUR = 3600 * S


def make_venue(interval_s: int = 3600, entry_latency_ms: float = 0.0) -> SimVenue:
    inst = Instrument(venue="sim", symbol=INST, tick_size="0.1", lot_size="0.001")
    config = SimConfig(
        entry_latency_ms=entry_latency_ms, response_latency_ms=0.0, funding_interval_s=interval_s
    )
    return SimVenue({INST: inst}, config, random.Random(1))


def make_book_snapshot(ts: int, bid: int = 1000, ask: int = 1001) -> BookSnapshot:
    return BookSnapshot(INST, ts, ts, 1, (bid, 50), (ask, 50))


def make_funding_rate(ts: int, rate_ppb: int) -> FundingRate:
    return FundingRate(INST, ts, ts, rate_ppb)


def make_tick(ts: int, seq: int) -> BookDelta:
    """A market event far from everything, just to move exchange time."""
    return BookDelta(INST, ts, ts, seq, -1, (1, 1), ())


def take_position(venue: SimVenue, lots: int, ts: int) -> None:
    side = BUY if lots > 0 else SELL
    price = 10_000 if lots > 0 else 1
    venue.submit(Place(INST, ts, "pos", side, price, abs(lots), False, False, IOC), ts)
    venue.advance_to(ts)
    assert venue.position(INST) == lots


def payments(events: list[Event]) -> list[tuple[int, int]]:
    return [(e.ts, e.amount) for e in events if type(e) is FundingPayment]


def test_a_long_position_pays_a_positive_rate_at_the_boundary_valued_at_the_mark() -> None:
    venue = make_venue()
    for ev in (make_book_snapshot(1000 * S), make_funding_rate(1000 * S, 100_000),
               MarkPrice(INST, 1000 * S, 1000 * S, 1000)):
        venue.on_market(ev)
    take_position(venue, 10, 1001 * S)
    venue.on_market(make_tick(3601 * S, 2))
    # -10 lots x 1000 ticks x 100_000 nanos x 1e-4
    assert payments(venue.pop_outbound(NEVER)) == [(HOUR, -100_000)]
    stats = venue.statistics()
    assert (stats.funding_payments, stats.funding) == (1, -100_000)


def test_a_short_position_receives_a_positive_rate_valued_at_the_mid_without_a_mark() -> None:
    venue = make_venue()
    venue.on_market(make_book_snapshot(1000 * S))
    venue.on_market(make_funding_rate(1000 * S, 100_000))
    take_position(venue, -10, 1001 * S)
    venue.advance_to(HOUR)
    # mid 1000.5 ticks: 10 x 1000.5 x 100_000 x 1e-4
    assert payments(venue.pop_outbound(NEVER)) == [(HOUR, 100_050)]


def test_every_boundary_crossed_is_paid_and_a_flat_position_pays_nothing() -> None:
    venue = make_venue()
    venue.on_market(make_book_snapshot(1000 * S))
    venue.on_market(make_funding_rate(1000 * S, -50_000))
    venue.on_market(make_tick(3700 * S, 2))
    assert payments(venue.pop_outbound(NEVER)) == []
    take_position(venue, 2, 3800 * S)
    venue.on_market(make_tick(3 * HOUR + S, 3))
    got = payments(venue.pop_outbound(NEVER))
    assert [ts for ts, _ in got] == [2 * HOUR, 3 * HOUR]
    assert all(amount > 0 for _, amount in got)  # a long receives a negative rate


def test_funding_rounds_down_in_the_venues_favour() -> None:
    venue = make_venue()
    venue.on_market(BookSnapshot(INST, 10 * S, 10 * S, 1, (1, 50), (2, 50)))
    venue.on_market(MarkPrice(INST, 10 * S, 10 * S, 1))
    venue.on_market(make_funding_rate(10 * S, 3))
    take_position(venue, 1, 11 * S)
    venue.advance_to(HOUR)
    assert payments(venue.pop_outbound(NEVER)) == [(HOUR, -1)]  # exactly -0.0003 nanos


def test_funding_is_off_with_a_zero_interval() -> None:
    venue = make_venue(interval_s=0)
    venue.on_market(make_book_snapshot(1000 * S))
    venue.on_market(make_funding_rate(1000 * S, 100_000))
    take_position(venue, 10, 1001 * S)
    venue.on_market(make_tick(100 * HOUR, 2))
    assert payments(venue.pop_outbound(NEVER)) == []
    assert venue.next_due == NEVER


def test_no_funding_is_settled_after_the_market_data_ended() -> None:
    venue = make_venue(interval_s=1, entry_latency_ms=20.0)
    t = 1_700_000_000 * S  # a boundary; the next one is at t + 1 s
    last = Trade(INST, t + 990 * MS, t + 990 * MS, 1001, 1, BUY)
    data = [make_book_snapshot(t + 100 * MS), make_funding_rate(t + 110 * MS, 1_000_000), last]
    out: list[Event] = []
    for ev in SimSource(data, venue, 0):
        out.append(ev)
        if type(ev) is FundingRate:  # go long 10 lots
            venue.submit(Place(INST, ev.ts_recv, "b1", BUY, 1001, 10, False), ev.ts_recv)
        if ev is last:  # a bid arriving at t + 1.010 s, after the boundary at t + 1 s
            venue.submit(Place(INST, ev.ts_recv, "b2", BUY, 990, 5), ev.ts_recv)
    assert venue.position(INST) == 10
    assert [e.client_id for e in out if type(e) is OrderAccepted] == ["b1", "b2"]
    assert payments(out) == []  # the data ended at t + 0.990 s: no boundary after it is paid
    assert venue.next_due == NEVER
