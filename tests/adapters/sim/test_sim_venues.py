"""Several markets on the simulated venue, each on its own clock, fed from several streams."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sim import MarketStreams, SimConfig, SimSource, SimVenue, SimVenues, make_venue
from mmcore.book import Book
from mmcore.commands import IOC, CancelAll, Command, Place
from mmcore.events import (
    BUY,
    SELL,
    BookDelta,
    BookSnapshot,
    Event,
    Fill,
    FundingPayment,
    FundingRate,
    MarkPrice,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    Trade,
)
from mmcore.instrument import Instrument

A = "A-PERP"
B = "B-PERP"
MS = 1_000_000
T0 = 50_700 * MS  # the data runs past a funding boundary of 1 s (51 s)

React = Callable[[Event], list[Command]]
Venue = SimVenue | SimVenues


# ---------------------------------------------------------------- factories


def make_config(**config: object) -> SimConfig:
    settings_: dict[str, object] = {"funding_interval_s": 0}
    settings_.update(config)
    return SimConfig(**settings_)  # type: ignore[arg-type]


def make_instruments(*names: str) -> dict[str, Instrument]:
    return {n: Instrument(venue="sim", symbol=n, tick_size="0.1", lot_size="0.001") for n in names}


def make_market(inst: str, seed: int, n: int, feed: int, jitter: int) -> Iterator[Event]:
    """A random walk of ``inst``: a snapshot and a funding rate, then deltas and trades at the
    top and now and then a mark price, received ``feed`` (negative: the recorder's clock behind
    the exchange's) plus up to ``jitter`` after they happened; ``ts`` goes back now and then, as
    two streams of one venue's feed do."""
    rng = random.Random(seed)
    bid, ask = 1000, 1002
    ts = T0 + rng.randrange(10 * MS)
    recv = ts + feed
    yield BookSnapshot(inst, ts, recv, 1, (bid, 5, bid - 1, 5), (ask, 5, ask + 1, 5))
    yield FundingRate(inst, ts, recv, rng.randrange(-50_000, 50_000))
    seq = 1
    for _ in range(n):
        ts += rng.randrange(0, 3 * MS)
        shown = ts - rng.randrange(2 * MS) if rng.random() < 0.1 else ts
        recv = max(recv, ts + feed + (rng.randrange(jitter) if jitter else 0))
        if rng.random() < 0.02:
            yield MarkPrice(inst, shown, recv, bid + 1)
            continue
        if rng.random() < 0.3:
            side = rng.choice((BUY, SELL))
            price = ask + rng.randrange(0, 2) if side == BUY else bid - rng.randrange(0, 2)
            yield Trade(inst, shown, recv, price, rng.randrange(1, 8), side)
            continue
        move = rng.choice((-1, 0, 0, 1))
        old_bid, old_ask = bid, ask
        bid += move
        ask = max(ask + move, bid + 1)
        seq += 1
        bids = (bid, rng.randrange(1, 9)) + ((old_bid, 0) if old_bid > bid else ())
        asks = (ask, rng.randrange(1, 9)) + ((old_ask, 0) if old_ask < ask else ())
        yield BookDelta(inst, shown, recv, seq, -1, bids, asks)


def make_quoter(inst: str, seed: int) -> React:
    """Quotes ``inst`` at the top of its own (receive-time) book every few of its events,
    sometimes crossing; ids ``<inst>-<n>``, counted per market."""
    rng = random.Random(seed)
    book = Book(inst)
    counter = [0]

    def react(ev: Event) -> list[Command]:
        kind = type(ev)
        if getattr(ev, "inst", None) != inst:
            return []
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
        cmds: list[Command] = [CancelAll(inst, ev.ts_recv)]
        size = rng.randrange(1, 6)
        if rng.random() < 0.1:
            side = rng.choice((BUY, SELL))
            cmds.append(Place(inst, 0, f"{inst}-x{n}", side, book.best_ask, size, False, False,
                              IOC))
        else:
            cmds.append(Place(inst, 0, f"{inst}-b{n}", BUY, book.best_bid - rng.randrange(2),
                              size))
            cmds.append(Place(inst, 0, f"{inst}-a{n}", SELL, book.best_ask + rng.randrange(2),
                              size))
        return cmds

    return react


def drive(source: SimSource, venue: Venue, *reacts: React) -> list[Any]:
    """The backtest loop: every event goes to each of ``reacts``; their commands to the venue."""
    out: list[Any] = []
    for ev in source:
        out.append(ev)
        for react in reacts:
            for cmd in react(ev):
                venue.submit(cmd, ev.ts_recv)
    return out


def of(inst: str, events: list[Any]) -> list[Any]:
    """The events of ``inst``; fills without their trade ids (numbered across markets)."""
    return [
        msgspec.structs.replace(e, trade_id="") if type(e) is Fill else e
        for e in events
        if getattr(e, "inst", None) == inst
    ]


# ---------------------------------------------------------------- one stream, either merge


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    data_seed=st.integers(0, 2**32),
    feed=st.sampled_from([5 * MS, 0, -3 * MS, -1270 * MS]),
    queue=st.sampled_from(["risk_averse", "probabilistic"]),
    entry=st.sampled_from([0.0, 2.0, 20.0]),
)
def test_one_market_runs_the_same_through_the_fast_merge_and_the_general_one(
    seed: int, data_seed: int, feed: int, queue: str, entry: float
) -> None:
    print("seed", seed, "data_seed", data_seed)
    config = make_config(latency_model="lognormal", latency_sigma=0.8, queue_model=queue,
                         entry_latency_ms=entry, funding_interval_s=1)
    runs = []
    for kind, several in ((SimVenue, False), (SimVenue, True), (SimVenues, False)):
        market = make_market(A, data_seed, 400, feed, 4 * MS)
        venue = kind(make_instruments(A), config, random.Random(seed))
        source = SimSource(MarketStreams([market]) if several else market, venue, 50)
        runs.append((drive(source, venue, make_quoter(A, data_seed)), venue.statistics()))
    assert runs[0] == runs[1] == runs[2]
    assert runs[0][1].accepted > 0


# ---------------------------------------------------------------- a market beside others


@settings(max_examples=30, deadline=None)
@given(
    data_seed=st.integers(0, 2**32),
    feed_a=st.sampled_from([20 * MS, 1 * MS, 0, -2 * MS, -1270 * MS]),
    feed_b=st.sampled_from([7 * MS, 1 * MS, 0, -5 * MS, -1270 * MS]),
    jitter=st.sampled_from([0, 4 * MS]),
    entry=st.sampled_from([0.0, 2.0, 20.0]),
)
def test_a_market_runs_the_same_beside_another_whatever_their_feeds(
    data_seed: int, feed_a: int, feed_b: int, jitter: int, entry: float
) -> None:
    """B's account events (and so its quoter's commands) on ``SimVenues`` beside A are B's alone,
    for any feed latencies, clocks that disagree, and ``ts`` that goes back within a stream; A's
    data ends before B's, so the session ends with B's data."""
    print("data_seed", data_seed, "feeds", feed_a, feed_b, "jitter", jitter, "entry", entry)
    config = make_config(entry_latency_ms=entry, response_latency_ms=3.0, funding_interval_s=1)
    b_events = list(make_market(B, data_seed, 500, feed_b, jitter))
    a_events = [e for e in make_market(A, data_seed + 1, 400, feed_a, jitter)
                if e.ts_recv < b_events[-1].ts_recv]
    alone_venue = make_venue(make_instruments(B), config, random.Random(1))
    alone = drive(SimSource(b_events, alone_venue, 50), alone_venue, make_quoter(B, data_seed))
    venue = make_venue(make_instruments(A, B), config, random.Random(1))
    assert isinstance(venue, SimVenues)
    both = drive(SimSource(MarketStreams([a_events, b_events]), venue, 50), venue,
                 make_quoter(A, data_seed), make_quoter(B, data_seed))
    assert of(B, both) == of(B, alone)
    assert any(type(e) is OrderAccepted for e in of(B, alone))
    recv = [e.ts_recv for e in both]
    assert recv == sorted(recv)
    # and A, whose data ends first, runs as it does alone too (its venue ends with its data)
    alone_a_venue = make_venue(make_instruments(A), config, random.Random(1))
    alone_a = drive(SimSource(a_events, alone_a_venue, 50), alone_a_venue,
                    make_quoter(A, data_seed))
    assert of(A, both) == of(A, alone_a)


def test_a_market_whose_data_ends_first_pays_no_funding_after_it_beside_another() -> None:
    """A holds a position and its data ends before the next funding boundary; B's goes on past
    it. Alone, A's funding stops with its data; beside B it used to be charged at the boundary."""
    config = make_config(funding_interval_s=1, entry_latency_ms=1.0, response_latency_ms=1.0)
    a_events: list[Event] = [
        BookSnapshot(A, T0, T0 + MS, 1, (100, 5), (102, 5)),
        FundingRate(A, T0, T0 + MS, 100_000),
        MarkPrice(A, T0 + MS, T0 + 2 * MS, 101),
        Trade(A, T0 + 100 * MS, T0 + 101 * MS, 100, 1, BUY),
    ]
    b_events: list[Event] = [
        BookSnapshot(B, T0 + i * 100 * MS, T0 + i * 100 * MS + MS, i + 1, (100, 5), (102, 5))
        for i in range(30)
    ]

    def run(venue: SimVenue | SimVenues, source: SimSource) -> list[Event]:
        sent: list[Command] = [Place(A, 0, "a-1", BUY, 102, 1, False, False, IOC)]

        def react(ev: Event) -> list[Command]:
            return [sent.pop()] if sent and getattr(ev, "inst", None) == A else []

        return of(A, drive(source, venue, react))

    alone_venue = make_venue(make_instruments(A), config, random.Random(1))
    alone = run(alone_venue, SimSource(a_events, alone_venue, 0))
    venue = make_venue(make_instruments(A, B), config, random.Random(1))
    both = run(venue, SimSource(MarketStreams([a_events, b_events]), venue, 0))
    assert any(type(e) is Fill for e in alone)
    assert not [e for e in both if type(e) is FundingPayment]
    assert both == alone


def test_a_markets_fill_carries_its_own_time_beside_a_market_whose_clock_runs_ahead() -> None:
    config = make_config(entry_latency_ms=1.0, response_latency_ms=1.0)
    venue = make_venue(make_instruments(A, B), config, random.Random(1))
    ahead = 1270 * MS  # A's recorder: its events arrive "before" they happened
    a_events = [BookSnapshot(A, T0 + i * MS + ahead, T0 + i * MS, i + 1, (100, 5), (102, 5))
                for i in range(0, 40, 4)]
    b_events: list[Event] = [
        BookSnapshot(B, T0, T0 + 2 * MS, 1, (100, 5), (102, 5)),
        Trade(B, T0 + 20 * MS, T0 + 22 * MS, 99, 2, SELL),  # through our bid at 101
    ]
    bid = Place(B, 0, "b-1", BUY, 101, 3)
    sent: list[Command] = [bid]

    def react(ev: Event) -> list[Command]:
        return [sent.pop()] if sent and getattr(ev, "inst", None) == B else []

    out = drive(SimSource(MarketStreams([a_events, b_events]), venue, 0), venue, react)
    (ack,) = [e for e in out if type(e) is OrderAccepted]
    (fill,) = [e for e in out if type(e) is Fill]
    assert (ack.ts, ack.ts_recv) == (T0 + 3 * MS, T0 + 4 * MS)  # sent at B's first receive time
    assert (fill.ts, fill.ts_recv, fill.size) == (T0 + 20 * MS, T0 + 21 * MS, 2)
    assert out.index(fill) < out.index(b_events[1])  # the venue is ahead of the feed


# ---------------------------------------------------------------- what the markets share


def make_two() -> SimVenues:
    config = make_config(entry_latency_ms=0.0, response_latency_ms=0.0)
    venue = SimVenues(make_instruments(A, B), config, random.Random(1))
    for name in (A, B):
        venue.on_market(BookSnapshot(name, T0, T0, 1, (100, 50), (102, 50)))
    return venue


def test_a_cancel_all_of_every_market_cancels_each_and_counts_once() -> None:
    venue = make_two()
    venue.submit(Place(A, 0, "a-1", BUY, 99, 1), T0)
    venue.submit(Place(B, 0, "b-1", BUY, 99, 1), T0)
    venue.submit(CancelAll("", T0, "halt"), T0)
    venue.advance_to(T0)
    canceled = [e for e in venue.pop_outbound(T0) if type(e) is OrderCanceled]
    assert [(e.inst, e.client_id, e.reason) for e in canceled] == [
        (A, "a-1", "halt"), (B, "b-1", "halt")
    ]
    stats = venue.statistics()
    assert (stats.commands, stats.cancel_alls, stats.market_events) == (3, 1, 2)


def test_a_place_for_a_market_not_listed_is_refused_naming_every_market() -> None:
    venue = make_two()
    venue.submit(Place("C-PERP", 0, "c-1", BUY, 99, 1), T0)
    venue.advance_to(T0)
    (reject,) = venue.pop_outbound(T0)
    assert type(reject) is OrderRejected and reject.code == "unknown_instrument"
    assert f"expected one of {[A, B]}" in reject.reason


def test_market_data_of_a_market_not_listed_is_counted_and_ignored() -> None:
    venue = make_two()
    venue.on_market(Trade("C-PERP", T0, T0, 100, 1, BUY))
    stats = venue.statistics()
    assert (stats.market_events, stats.unknown_market) == (3, 1)


def test_fills_are_numbered_across_markets() -> None:
    venue = make_two()
    for n, name in enumerate((A, B, A)):
        venue.submit(Place(name, 0, f"take-{n}", BUY, 102, 1, False, False, IOC), T0)
    venue.advance_to(T0)
    fills = [e for e in venue.pop_outbound(T0) if type(e) is Fill]
    assert [(e.inst, e.trade_id) for e in fills] == [(A, "sim-1"), (A, "sim-2"), (B, "sim-3")]
