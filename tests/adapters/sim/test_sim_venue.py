"""The simulated venue's time model: entry and response latency, FIFO, exchange-time order."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from adapters.sim import NEVER, NotACommandError, NotMarketDataError, SimConfig, SimStats, SimVenue
from mmcore.commands import Cancel, Place, Resync
from mmcore.errors import MMError
from mmcore.events import (
    BUY,
    BookDelta,
    BookSnapshot,
    Fill,
    OrderAccepted,
    OrderRejected,
    Timer,
    Trade,
)
from mmcore.instrument import Instrument

INST = "SOL-PERP"
MS = 1_000_000
T0 = 50_000 * MS


def make_venue(seed: int = 1, **config: object) -> SimVenue:
    inst = Instrument(venue="sim", symbol=INST, tick_size="0.01", lot_size="0.1")
    settings: dict[str, object] = {"funding_interval_s": 0}
    settings.update(config)
    return SimVenue({INST: inst}, SimConfig(**settings), random.Random(seed))  # type: ignore[arg-type]


def make_book_snapshot(
    bids: Sequence[tuple[int, int]], asks: Sequence[tuple[int, int]], ts: int = T0
) -> BookSnapshot:
    return BookSnapshot(
        INST, ts, ts, 1, tuple(x for lv in bids for x in lv), tuple(x for lv in asks for x in lv)
    )


def make_delta(seq: int, ts: int, asks: Sequence[tuple[int, int]]) -> BookDelta:
    return BookDelta(INST, ts, ts, seq, -1, (), tuple(x for lv in asks for x in lv))


def popped(venue: SimVenue, until: int = NEVER) -> list[Any]:
    return venue.pop_outbound(until)


def place(client_id: str, price: int, size: int = 1) -> Place:
    return Place(INST, 0, client_id, BUY, price, size)


def test_a_command_arrives_after_the_entry_latency_and_its_ack_after_the_response_latency() -> (
    None
):
    venue = make_venue(entry_latency_ms=10.0, response_latency_ms=5.0)
    venue.on_market(make_book_snapshot([(100, 5)], [(102, 5)]))
    venue.submit(place("b1", 100), T0)
    assert venue.next_due == T0 + 10 * MS
    venue.advance_to(T0 + 10 * MS - 1)
    assert venue.next_outbound_ts() == NEVER
    venue.advance_to(T0 + 10 * MS)
    assert venue.next_outbound_ts() == T0 + 15 * MS
    assert popped(venue, T0 + 15 * MS - 1) == []
    (ack,) = popped(venue, T0 + 15 * MS)
    assert type(ack) is OrderAccepted
    assert (ack.ts, ack.ts_recv) == (T0 + 10 * MS, T0 + 15 * MS)


def _post_only_bid_while_the_ask_drops(latency_ms: float) -> list[Any]:
    """Bid 100 / ask 102; we send a post-only bid at 101; at +5 ms the ask drops to 101."""
    venue = make_venue(entry_latency_ms=latency_ms, response_latency_ms=0.0)
    venue.on_market(make_book_snapshot([(100, 5)], [(102, 5)]))
    venue.submit(place("b1", 101, 3), T0)
    venue.on_market(make_delta(2, T0 + 5 * MS, [(102, 0), (101, 2)]))
    venue.advance_to(T0 + 100 * MS)
    return popped(venue)


def test_latency_lets_the_book_move_before_our_order_arrives_so_it_is_rejected() -> None:
    slow = _post_only_bid_while_the_ask_drops(latency_ms=10.0)
    assert [type(e) for e in slow] == [OrderRejected]
    assert slow[0].code == "post_only_would_cross"
    assert slow[0].ts == T0 + 10 * MS


def test_without_latency_the_same_order_rests_and_is_filled_by_the_moving_book() -> None:
    fast = _post_only_bid_while_the_ask_drops(latency_ms=0.0)
    assert [type(e) for e in fast] == [OrderAccepted, Fill]
    fill = fast[1]
    assert (fill.price, fill.size, fill.maker, fill.ts) == (101, 2, True, T0 + 5 * MS)


def test_arrivals_due_before_a_market_event_are_processed_before_it() -> None:
    venue = make_venue(entry_latency_ms=1.0, response_latency_ms=0.0)
    venue.on_market(make_book_snapshot([(100, 5)], [(102, 5)]))
    venue.submit(place("b1", 101, 3), T0)
    venue.on_market(Trade(INST, T0 + 1 * MS, T0 + 1 * MS, 100, 1, -1))  # due at the same time
    assert [type(e) for e in popped(venue)] == [OrderAccepted, Fill]


def test_random_latency_never_reorders_commands_or_responses() -> None:
    venue = make_venue(
        seed=4, latency_model="lognormal", latency_sigma=1.0, latency_cap_ms=500.0
    )
    venue.on_market(make_book_snapshot([(100, 5)], [(102, 5)]))
    for i in range(200):
        venue.submit(place(f"o{i}", 90 + i % 10), T0 + i * 10 * MS)
    venue.advance_to(T0 + 10_000 * MS)
    out = popped(venue)
    assert [e.client_id for e in out] == [f"o{i}" for i in range(200)]
    assert [e.ts for e in out] == sorted(e.ts for e in out)
    assert [e.ts_recv for e in out] == sorted(e.ts_recv for e in out)
    assert len({e.ts_recv - e.ts for e in out}) > 50


def test_a_cancel_never_overtakes_its_place() -> None:
    venue = make_venue(seed=9, latency_model="lognormal", latency_sigma=2.0)
    venue.on_market(make_book_snapshot([(100, 5)], [(102, 5)]))
    for i in range(50):
        venue.submit(place(f"o{i}", 99), T0 + i * 10 * MS)
        venue.submit(Cancel(INST, 0, f"o{i}"), T0 + i * 10 * MS + 1)
    venue.advance_to(T0 + 100_000 * MS)
    stats = venue.statistics()
    assert (stats.accepted, stats.canceled, stats.cancel_misses) == (50, 50, 0)


def test_pop_outbound_returns_events_up_to_the_time_in_order() -> None:
    venue = make_venue(entry_latency_ms=1.0, response_latency_ms=2.0)
    venue.on_market(make_book_snapshot([(100, 5)], [(102, 5)]))
    venue.submit(place("a", 99), T0)
    venue.submit(place("b", 98), T0)
    venue.submit(place("c", 97), T0 + 1 * MS)
    venue.advance_to(T0 + 10 * MS)
    first = popped(venue, T0 + 3 * MS)
    assert [e.client_id for e in first] == ["a", "b"]
    assert venue.next_outbound_ts() == T0 + 4 * MS
    assert [e.client_id for e in popped(venue)] == ["c"]
    assert popped(venue) == []


def test_resync_is_counted_and_ignored() -> None:
    venue = make_venue()
    venue.submit(Resync(INST, T0, "gap"), T0)
    stats = venue.statistics()
    assert (stats.commands, stats.resyncs) == (1, 1)
    assert venue.next_due == NEVER


def test_submitting_an_event_raises_not_a_command_error() -> None:
    venue = make_venue()
    with pytest.raises(NotACommandError, match="found Timer") as info:
        venue.submit(Timer(T0, T0), T0)  # type: ignore[arg-type]
    assert isinstance(info.value, MMError) and isinstance(info.value, TypeError)


def test_feeding_a_non_market_event_raises_not_market_data_error() -> None:
    venue = make_venue()
    with pytest.raises(NotMarketDataError, match="found Timer"):
        venue.on_market(Timer(T0, T0))


def test_market_events_for_unlisted_instruments_are_counted_and_ignored() -> None:
    venue = make_venue()
    venue.on_market(BookSnapshot("DOGE-PERP", T0, T0, 1, (1, 1), (2, 1)))
    stats = venue.statistics()
    assert (stats.market_events, stats.unknown_market) == (1, 1)


def test_statistics_is_a_frozen_snapshot() -> None:
    venue = make_venue(entry_latency_ms=0.0, response_latency_ms=0.0)
    venue.on_market(make_book_snapshot([(100, 5)], [(102, 5)]))
    venue.submit(place("b1", 100), T0)
    venue.advance_to(T0)
    stats = venue.statistics()
    assert type(stats) is SimStats
    assert (stats.commands, stats.orders, stats.accepted, stats.market_events) == (1, 1, 1, 1)
    with pytest.raises(AttributeError):
        stats.orders = 5  # type: ignore[misc]
    venue.submit(place("b2", 99), T0)
    assert stats.orders == 1
