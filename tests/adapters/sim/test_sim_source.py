"""The backtest source: market, venue responses and timers merged in receive-time order."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sim import SimConfig, SimSource, SimVenue
from mmcore.book import Book
from mmcore.commands import IOC, CancelAll, Command, Place
from mmcore.events import (
    BUY,
    SELL,
    BookDelta,
    BookSnapshot,
    Event,
    Fill,
    OrderAccepted,
    Timer,
    Trade,
)
from mmcore.instrument import Instrument

INST = "BTC-PERP"
MS = 1_000_000
T0 = 50_000 * MS  # a multiple of every timer interval used here

React = Callable[[Event], list[Command]]


# ---------------------------------------------------------------- factories


def make_venue(seed: int = 1, **config: object) -> SimVenue:
    inst = Instrument(venue="sim", symbol=INST, tick_size="0.1", lot_size="0.001")
    settings_: dict[str, object] = {"funding_interval_s": 0}
    settings_.update(config)
    return SimVenue({INST: inst}, SimConfig(**settings_), random.Random(seed))  # type: ignore[arg-type]


def make_book_snapshot(recv: int, feed: int = 1 * MS) -> BookSnapshot:
    """Bid 100 x 5 / ask 102 x 5, published ``feed`` after it happened."""
    return BookSnapshot(INST, recv - feed, recv, 1, (100, 5), (102, 5))


def make_trade(recv: int, price: int, side: int, size: int = 1, feed: int = 1 * MS) -> Trade:
    return Trade(INST, recv - feed, recv, price, size, side)


def place(client_id: str, side: int, price: int, size: int = 1, tif: str = "GTC") -> Place:
    return Place(INST, 0, client_id, side, price, size, tif != IOC, False, tif)


def never(ev: Event) -> list[Command]:
    return []


def on_first(*commands: Command) -> React:
    """Send ``commands`` when the first event arrives."""
    sent: list[Event] = []

    def react(ev: Event) -> list[Command]:
        if sent:
            return []
        sent.append(ev)
        return list(commands)

    return react


def drive(source: SimSource, venue: SimVenue, react: React) -> list[Any]:
    """The backtest loop: every event goes to ``react``; its commands go to the venue."""
    out: list[Any] = []
    for ev in source:
        out.append(ev)
        for cmd in react(ev):
            venue.submit(cmd, ev.ts_recv)
    return out


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


# ---------------------------------------------------------------- ordering


def test_an_ack_that_is_due_comes_before_the_next_market_event() -> None:
    venue = make_venue(entry_latency_ms=5.0, response_latency_ms=5.0)
    market: list[Event] = [make_book_snapshot(T0), make_trade(T0 + 50 * MS, 102, BUY)]
    out = drive(SimSource(market, venue, 0), venue, on_first(place("b1", BUY, 99)))
    assert kinds(out) == ["BookSnapshot", "OrderAccepted", "Trade"]
    assert out[1].ts_recv == T0 + 10 * MS


def test_an_ack_due_later_comes_after_the_market_events_before_it() -> None:
    venue = make_venue(entry_latency_ms=5.0, response_latency_ms=60.0)
    market: list[Event] = [make_book_snapshot(T0), make_trade(T0 + 50 * MS, 102, BUY)]
    out = drive(SimSource(market, venue, 0), venue, on_first(place("b1", BUY, 99)))
    assert kinds(out) == ["BookSnapshot", "Trade", "OrderAccepted"]


def test_on_a_receive_time_tie_the_venue_goes_before_the_market() -> None:
    venue = make_venue(entry_latency_ms=5.0, response_latency_ms=5.0)
    market: list[Event] = [make_book_snapshot(T0), make_trade(T0 + 10 * MS, 102, BUY)]
    out = drive(SimSource(market, venue, 0), venue, on_first(place("b1", BUY, 99)))
    assert kinds(out) == ["BookSnapshot", "OrderAccepted", "Trade"]
    assert out[1].ts_recv == out[2].ts_recv


def test_timers_tick_at_their_cadence_after_market_events_at_the_same_time() -> None:
    venue = make_venue()
    market: list[Event] = [
        make_book_snapshot(T0 + 50 * MS),
        make_trade(T0 + 200 * MS, 102, BUY),
        make_trade(T0 + 350 * MS, 102, BUY),
    ]
    out = drive(SimSource(market, venue, 100), venue, never)
    assert kinds(out) == ["BookSnapshot", "Timer", "Trade", "Timer", "Timer", "Trade"]
    assert [e.ts_recv for e in out if type(e) is Timer] == [
        T0 + 100 * MS,
        T0 + 200 * MS,
        T0 + 300 * MS,
    ]
    assert all(e.ts == e.ts_recv for e in out if type(e) is Timer)


def test_no_timers_with_a_zero_interval() -> None:
    venue = make_venue()
    market: list[Event] = [make_book_snapshot(T0), make_trade(T0 + 5_000 * MS, 102, BUY)]
    assert kinds(drive(SimSource(market, venue, 0), venue, never)) == ["BookSnapshot", "Trade"]


def test_a_fill_reaches_us_before_the_slower_market_event_that_caused_it() -> None:
    venue = make_venue(entry_latency_ms=1.0, response_latency_ms=1.0)
    market: list[Event] = [
        make_book_snapshot(T0),
        make_trade(T0 + 110 * MS, 100, SELL, size=2, feed=10 * MS),  # happened at T0 + 100 ms
    ]
    out = drive(SimSource(market, venue, 0), venue, on_first(place("b1", BUY, 101, 3)))
    assert kinds(out) == ["BookSnapshot", "OrderAccepted", "Fill", "Trade"]
    fill = out[2]
    assert (fill.ts, fill.ts_recv, fill.price, fill.size) == (T0 + 100 * MS, T0 + 101 * MS, 101, 2)


def test_each_market_event_is_fed_to_the_venue_before_it_is_yielded() -> None:
    venue = make_venue()
    market: list[Event] = [make_book_snapshot(T0 + i * MS) for i in range(5)]
    for seen, ev in enumerate(SimSource(market, venue, 0), start=1):
        assert venue.statistics().market_events >= seen
        assert ev is market[seen - 1]


def test_non_market_events_in_the_data_are_skipped_and_counted() -> None:
    venue = make_venue()
    market: list[Event] = [
        make_book_snapshot(T0),
        Timer(T0 + MS, T0 + MS),
        Fill(INST, T0 + 2 * MS, T0 + 2 * MS, "old", BUY, 100, 1, 0, True),
        make_trade(T0 + 3 * MS, 102, BUY),
    ]
    source = SimSource(market, venue, 0)
    assert kinds(drive(source, venue, never)) == ["BookSnapshot", "Trade"]
    assert source.skipped == 2


def test_commands_sent_on_the_last_event_are_still_answered_then_iteration_stops() -> None:
    venue = make_venue(entry_latency_ms=5.0, response_latency_ms=5.0)
    source = SimSource([make_book_snapshot(T0)], venue, 1000)
    out = drive(source, venue, on_first(place("b1", BUY, 99), place("a1", SELL, 101, tif=IOC)))
    assert kinds(out) == ["BookSnapshot", "OrderAccepted", "OrderAccepted", "OrderCanceled"]
    assert next(source, None) is None


# ---------------------------------------------------------------- whole runs


def make_market(seed: int, n: int) -> Iterator[Event]:
    """A random walk: a snapshot, then deltas and trades at the top, with random feed latency."""
    rng = random.Random(seed)
    bid, ask = 1000, 1002
    ts = T0
    recv = T0
    yield BookSnapshot(INST, ts, ts, 1, (bid, 5, bid - 1, 5), (ask, 5, ask + 1, 5))
    seq = 1
    for _ in range(n):
        ts += rng.randrange(0, 3 * MS)
        recv = max(recv, ts + rng.randrange(MS, 10 * MS))
        if rng.random() < 0.3:
            side = rng.choice((BUY, SELL))
            price = ask + rng.randrange(0, 2) if side == BUY else bid - rng.randrange(0, 2)
            yield Trade(INST, ts, recv, price, rng.randrange(1, 8), side)
            continue
        move = rng.choice((-1, 0, 0, 1))
        old_bid, old_ask = bid, ask
        bid += move
        ask = max(ask + move, bid + 1)
        seq += 1
        bids = (bid, rng.randrange(1, 9)) + ((old_bid, 0) if old_bid > bid else ())
        asks = (ask, rng.randrange(1, 9)) + ((old_ask, 0) if old_ask < ask else ())
        yield BookDelta(INST, ts, recv, seq, -1, bids, asks)


def make_quoter(seed: int) -> React:
    """Quotes at the top of its own (receive-time) book every few events, sometimes crossing."""
    rng = random.Random(seed)
    book = Book(INST)
    counter = [0]

    def react(ev: Event) -> list[Command]:
        kind = type(ev)
        if kind is BookSnapshot:
            book.apply_snapshot(ev)  # type: ignore[arg-type]
        elif kind is BookDelta:
            book.apply_delta(ev)  # type: ignore[arg-type]
        if kind not in (BookSnapshot, BookDelta, Trade) or not book.best_bid or not book.best_ask:
            return []
        counter[0] += 1
        n = counter[0]
        if n % 5:
            return []
        cmds: list[Command] = [CancelAll(INST, ev.ts_recv)]
        size = rng.randrange(1, 6)
        if rng.random() < 0.1:
            cmds.append(place(f"x{n}", rng.choice((BUY, SELL)), book.best_ask, size, tif=IOC))
        else:
            cmds.append(place(f"b{n}", BUY, book.best_bid - rng.randrange(0, 2), size))
            cmds.append(place(f"a{n}", SELL, book.best_ask + rng.randrange(0, 2), size))
        return cmds

    return react


def run(
    seed: int, data_seed: int = 3, n: int = 600, **config: object
) -> tuple[list[Any], SimVenue]:
    settings_: dict[str, object] = {
        "latency_model": "lognormal",
        "queue_model": "probabilistic",
        "latency_sigma": 0.8,
    }
    settings_.update(config)
    venue = make_venue(seed, **settings_)
    source = SimSource(make_market(data_seed, n), venue, 50)
    return drive(source, venue, make_quoter(data_seed)), venue


def test_the_same_inputs_and_seed_give_identical_event_streams() -> None:
    first, venue = run(seed=21)
    second, _ = run(seed=21)
    assert first == second
    stats = venue.statistics()
    print("seed 21:", stats)
    assert stats.fills > 0 and stats.accepted > 0 and stats.canceled > 0


def test_another_seed_gives_other_timestamps_with_lognormal_latency() -> None:
    first, _ = run(seed=21)
    other, _ = run(seed=22)
    own = (OrderAccepted, Fill)
    assert [e.ts_recv for e in first if type(e) in own] != [
        e.ts_recv for e in other if type(e) in own
    ]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    data_seed=st.integers(0, 2**32),
    queue=st.sampled_from(["risk_averse", "probabilistic"]),
    entry=st.sampled_from([0.0, 2.0, 20.0]),
)
def test_any_run_is_in_receive_time_order_and_consistent_with_the_venues_books(
    seed: int, data_seed: int, queue: str, entry: float
) -> None:
    out, venue = run(seed, data_seed, n=300, queue_model=queue, entry_latency_ms=entry)
    recv = [e.ts_recv for e in out]
    assert recv == sorted(recv), seed
    market: list[Event] = [e for e in out if type(e) in (BookSnapshot, BookDelta, Trade)]
    assert market == list(make_market(data_seed, 300))
    filled: dict[str, int] = {}
    position = 0
    for e in out:
        if type(e) is Fill:
            filled[e.client_id] = filled.get(e.client_id, 0) + e.size
            position += e.side * e.size
    sizes = {e.client_id: e.size for e in _placed(data_seed)}
    assert all(filled[cid] <= sizes[cid] for cid in filled)
    assert venue.position(INST) == position
    stats = venue.statistics()
    assert stats.fills == sum(1 for e in out if type(e) is Fill)


def _placed(data_seed: int) -> list[Place]:
    """Every Place the quoter can send for this data (ids are unique per event count)."""
    react = make_quoter(data_seed)
    return [c for ev in make_market(data_seed, 300) for c in react(ev) if type(c) is Place]
