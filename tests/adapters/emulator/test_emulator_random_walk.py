"""The generated market is deterministic per seed and always a sane book."""

from __future__ import annotations

import random
from itertools import islice

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.emulator.levels import LevelBook
from adapters.emulator.random_walk import RandomWalkParams, random_walk
from mmcore.events import BookDelta, BookSnapshot, Event, Trade
from mmcore.instrument import Instrument

START = 1_700_000_000_000_000_000


def make_inst() -> Instrument:
    return Instrument(
        venue="extended", symbol="BTC-USD", tick_size="1", lot_size="0.00001", min_size="0.0001"
    )


def make_walk(seed: int, n: int, params: RandomWalkParams | None = None) -> list[Event]:
    return list(islice(random_walk(make_inst(), random.Random(seed), START, params), n))


def test_the_same_seed_gives_the_same_events_and_another_seed_does_not() -> None:
    assert make_walk(5, 300) == make_walk(5, 300)
    assert make_walk(5, 300) != make_walk(6, 300)


def test_it_starts_with_a_snapshot_and_deltas_number_consecutively() -> None:
    events = make_walk(1, 200)
    assert type(events[0]) is BookSnapshot
    seqs = [e.seq for e in events if isinstance(e, (BookSnapshot, BookDelta))]
    assert seqs == list(range(1, len(seqs) + 1))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), levels=st.integers(1, 12), spread=st.integers(1, 5))
def test_the_book_is_never_crossed_and_trades_happen_at_the_touch(
    seed: int, levels: int, spread: int
) -> None:
    print(f"seed={seed}")
    params = RandomWalkParams(levels=levels, spread_ticks=spread, trade_prob=0.5)
    book = LevelBook()
    min_lots = make_inst().min_lots
    for ev in make_walk(seed, 400, params):
        if type(ev) is BookSnapshot:
            book.apply_snapshot(ev)
        elif type(ev) is BookDelta:
            book.apply_delta(ev)
        elif type(ev) is Trade:
            assert ev.price in (book.best_bid(), book.best_ask())
            assert ev.size >= min_lots
        if book.bids and book.asks:
            assert book.best_bid() < book.best_ask()
            assert len(book.bids) == levels and len(book.asks) == levels
            assert min(book.bids.values()) >= min_lots


def test_timestamps_advance_by_the_step() -> None:
    events = make_walk(2, 100, RandomWalkParams(step_ms=250))
    deltas = [e for e in events if type(e) is BookDelta]
    assert [d.ts - START for d in deltas[:3]] == [250_000_000, 500_000_000, 750_000_000]
