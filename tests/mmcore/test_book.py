"""Tests of mmcore.book: the book against a naive reference model, gaps, grid, crossing, depth."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.book import (
    APPLIED,
    CROSSED,
    GAP,
    MID_HISTORY,
    STALE_IGNORED,
    Book,
    BookDataError,
    BookStats,
    SideError,
)
from mmcore.errors import ConfigError, MMError
from mmcore.events import BUY, SELL, BookDelta, BookSnapshot, Event
from mmcore.instrument import Instrument
from mmcore.log import open_log
from replay.importers import ImportReport, import_to_log, read_binance

INST = "BTC-PERP"
PROPERTY = settings(max_examples=100, deadline=None, print_blob=True)
DEEP_PROPERTY = settings(max_examples=30, deadline=None, print_blob=True)
CAPTURE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "binance-usdm-btcusdt-raw"
    / "btcusdt_20240808.gz"
)
REAL_DELTAS = 1_500

Levels = Sequence[tuple[int, int]]


# ---------------------------------------------------------------- factories


def flat(levels: Iterable[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(x for level in levels for x in level)


def make_snapshot(bids: Levels = (), asks: Levels = (), seq: int = 0) -> BookSnapshot:
    return BookSnapshot(INST, ts=seq, ts_recv=seq, seq=seq, bids=flat(bids), asks=flat(asks))


def make_delta(
    seq: int, bids: Levels = (), asks: Levels = (), prev_seq: int = -1
) -> BookDelta:
    return BookDelta(
        INST, ts=seq, ts_recv=seq, seq=seq, prev_seq=prev_seq, bids=flat(bids), asks=flat(asks)
    )


def make_book(
    bids: Levels = ((100, 5), (99, 3)),
    asks: Levels = ((101, 4), (102, 6)),
    seq: int = 10,
    max_levels: int = 0,
) -> Book:
    book = Book(INST, max_levels=max_levels)
    book.apply_snapshot(make_snapshot(bids, asks, seq))
    return book


def make_chain(
    changes: Sequence[tuple[Levels, Levels]], start_seq: int, steps: Sequence[int] | None
) -> list[BookDelta]:
    """Correctly sequenced deltas after a snapshot at ``start_seq``.

    ``steps is None``: consecutive numbering (prev_seq -1). Otherwise each delta's seq advances by
    the next step and carries the previous seq as prev_seq (Binance ``pu`` style).
    """
    deltas = []
    seq = start_seq
    for i, (bids, asks) in enumerate(changes):
        if steps is None:
            seq += 1
            deltas.append(make_delta(seq, bids, asks))
        else:
            prev, seq = seq, seq + steps[i]
            deltas.append(make_delta(seq, bids, asks, prev_seq=prev))
    return deltas


class ReferenceBook:
    """The obvious book: a dict per side, sorted on demand, trimmed to ``max_levels``."""

    def __init__(self, max_levels: int = 0) -> None:
        self.max_levels = max_levels
        self.sides: dict[int, dict[int, int]] = {BUY: {}, SELL: {}}

    def snapshot(self, ev: BookSnapshot) -> None:
        self.sides = {BUY: {}, SELL: {}}
        self._change(BUY, ev.bids)
        self._change(SELL, ev.asks)

    def delta(self, ev: BookDelta) -> None:
        self._change(BUY, ev.bids)
        self._change(SELL, ev.asks)

    def _change(self, side: int, levels: tuple[int, ...]) -> None:
        book = self.sides[side]
        for price, size in zip(levels[::2], levels[1::2]):
            if size:
                book[price] = size
            else:
                book.pop(price, None)
        if self.max_levels:
            for price, _ in self.levels(side)[self.max_levels :]:
                del book[price]

    def levels(self, side: int, n: int = 10**9) -> list[tuple[int, int]]:
        book = self.sides[side]
        return sorted(book.items(), reverse=side == BUY)[:n] if n > 0 else []

    def best(self, side: int) -> int:
        top = self.levels(side, 1)
        return top[0][0] if top else 0

    def crossed(self) -> bool:
        bid, ask = self.best(BUY), self.best(SELL)
        return bool(bid and ask and bid >= ask)

    def size_within(self, side: int, distance: int) -> int:
        best = self.best(side)
        return sum(s for p, s in self.sides[side].items() if abs(p - best) <= distance)

    def imbalance(self, n: int) -> float:
        bid = sum(s for _, s in self.levels(BUY, n))
        ask = sum(s for _, s in self.levels(SELL, n))
        return (bid - ask) / (bid + ask) if bid + ask else 0.0


def assert_agrees(book: Book, ref: ReferenceBook) -> None:
    assert book.best_bid == ref.best(BUY)
    assert book.best_ask == ref.best(SELL)
    assert book.crossed == ref.crossed()
    for side in (BUY, SELL):
        assert book.depth(side) == len(ref.sides[side])
        for n in (0, 1, 3, 1000):
            assert book.levels(side, n) == ref.levels(side, n)
        for distance in (-1, 0, 2, 17, 1000):
            assert book.size_within(side, max(distance, 0)) == ref.size_within(
                side, max(distance, 0)
            )
        for price in range(0, 105, 7):
            assert book.size_at(side, price) == ref.sides[side].get(price, 0)
    for n in (0, 1, 3, 1000):
        imbalance = book.imbalance(n)
        assert imbalance == ref.imbalance(n)
        assert -1.0 <= imbalance <= 1.0
    bid, ask = ref.best(BUY), ref.best(SELL)
    assert book.mid_x2() == (bid + ask if bid and ask else 0)
    assert book.spread() == (ask - bid if bid and ask else 0)


# ---------------------------------------------------------------- hypothesis strategies

SIZES = st.sampled_from([0, 0, 1, 2, 3, 7, 1_000_000])
BID_LEVELS = st.lists(st.tuples(st.integers(1, 60), SIZES), max_size=4)
ASK_LEVELS = st.lists(st.tuples(st.integers(41, 100), SIZES), max_size=4)
CHANGES = st.tuples(BID_LEVELS, ASK_LEVELS)
SNAPSHOT_BIDS = st.lists(st.tuples(st.integers(1, 60), st.integers(1, 9)), max_size=40)
SNAPSHOT_ASKS = st.lists(st.tuples(st.integers(41, 100), st.integers(1, 9)), max_size=40)


@st.composite
def deep_snapshot(draw: st.DrawFn) -> tuple[Levels, Levels]:
    """More levels than the book's search window, every tick or every other tick, uncrossed."""
    top = draw(st.integers(25, 55))
    gap = draw(st.integers(1, 2))
    bids = [(price, 1 + price % 4) for price in range(top, 0, -gap)]
    asks = [(price, 1 + price % 3) for price in range(top + 1, 101, gap)]
    return bids, asks


SNAPSHOT = st.one_of(st.tuples(SNAPSHOT_BIDS, SNAPSHOT_ASKS), deep_snapshot())
STEPS = st.one_of(st.none(), st.lists(st.integers(1, 5), min_size=40, max_size=40))
MAX_LEVELS = st.sampled_from([0, 0, 1, 3, 20])


# ---------------------------------------------------------------- agreement with the model


@PROPERTY
@given(
    first=SNAPSHOT,
    script=st.lists(
        st.tuples(st.sampled_from(["delta", "delta", "delta", "snapshot"]), CHANGES), max_size=30
    ),
    max_levels=MAX_LEVELS,
    steps=STEPS,
)
def test_random_snapshots_and_deltas_agree_with_the_reference_model_after_every_step(
    first: tuple[Levels, Levels],
    script: list[tuple[str, tuple[Levels, Levels]]],
    max_levels: int,
    steps: list[int] | None,
) -> None:
    book = Book(INST, max_levels=max_levels)
    ref = ReferenceBook(max_levels)
    seq = 1000
    snapshot = make_snapshot(*first, seq=seq)
    ref.snapshot(snapshot)
    assert book.apply_snapshot(snapshot) == (CROSSED if ref.crossed() else APPLIED)
    assert_agrees(book, ref)
    for i, (kind, (bids, asks)) in enumerate(script):
        if kind == "snapshot":
            seq += 100
            snapshot = make_snapshot(bids, asks, seq=seq)
            ref.snapshot(snapshot)
            status = book.apply_snapshot(snapshot)
        else:
            prev, seq = seq, seq + (1 if steps is None else steps[i])
            delta = make_delta(seq, bids, asks, prev_seq=-1 if steps is None else prev)
            ref.delta(delta)
            status = book.apply_delta(delta)
        assert status == (CROSSED if ref.crossed() else APPLIED)
        assert book.seq == seq
        assert not book.stale
        assert_agrees(book, ref)


def test_levels_inserted_and_deleted_at_every_depth_of_a_deep_book_agree_with_the_model() -> None:
    bids = [(price, 1) for price in range(1000, 900, -2)]
    asks = [(price, 1) for price in range(1001, 1101, 2)]
    book = make_book(bids, asks, seq=0)
    ref = ReferenceBook()
    ref.snapshot(make_snapshot(bids, asks, seq=0))
    seq = 0
    for depth in range(50):
        for size in (3, 0):
            seq += 1
            bid, ask = 1000 - 2 * depth - 1, 1001 + 2 * depth + 1
            delta = make_delta(seq, bids=[(bid, size)], asks=[(ask, size)])
            ref.delta(delta)
            assert book.apply_delta(delta) == APPLIED
            assert_agrees(book, ref)
        seq += 1
        delta = make_delta(seq, bids=[(1000 - 2 * depth, 0)], asks=[(1001 + 2 * depth, 0)])
        ref.delta(delta)
        assert book.apply_delta(delta) == APPLIED
        assert_agrees(book, ref)
        seq += 1
        delta = make_delta(seq, bids=[(1000 - 2 * depth, 2)], asks=[(1001 + 2 * depth, 2)])
        ref.delta(delta)
        book.apply_delta(delta)
        assert_agrees(book, ref)


# ---------------------------------------------------------------- deep books and deep deltas
#
# The book keeps only the levels near the top of each side in a sorted list; the rest live in a
# dict alone. These tests use books and deltas deep enough (and best prices that jump) for levels
# to cross between the two, for the near list to run empty and be refilled, and for queries to
# reach below it; queries are checked after some steps only, since a query may lower the floor.

DEEP_SIZES = st.sampled_from([0, 0, 0, 1, 2, 5, 9, 1_000])
Query = Callable[[Book, ReferenceBook], None]


def check_levels(book: Book, ref: ReferenceBook) -> None:
    for side in (BUY, SELL):
        for n in (2, 5, 8, 9, 16, 17, 33, 64, 200):
            assert book.levels(side, n) == ref.levels(side, n)


def check_size_within(book: Book, ref: ReferenceBook) -> None:
    for side in (BUY, SELL):
        prices = [price for price, _ in ref.levels(side)]
        # up to the deepest level exactly, one tick less, then beyond everything
        spans = [abs(prices[-1] - prices[0]), abs(prices[-1] - prices[0]) - 1] if prices else []
        for distance in (5, 31, 40, *spans, 150, 10**6):
            assert book.size_within(side, distance) == ref.size_within(side, distance)


def check_imbalance(book: Book, ref: ReferenceBook) -> None:
    for n in (5, 9, 40, 300):
        assert book.imbalance(n) == ref.imbalance(n)


def check_depth_and_sizes(book: Book, ref: ReferenceBook) -> None:
    for side in (BUY, SELL):
        assert book.depth(side) == len(ref.sides[side])
        for price in {p + d for p in ref.sides[side] for d in (-1, 0, 1)}:
            assert book.size_at(side, price) == ref.sides[side].get(price, 0)


QUERIES: tuple[Query, ...] = (
    check_levels,
    check_size_within,
    check_imbalance,
    check_depth_and_sizes,
)


def assert_agrees_deep(book: Book, ref: ReferenceBook, order: Sequence[Query] = QUERIES) -> None:
    """Every query at every depth, in ``order`` (the first one may have to reach below the near
    levels by itself), then ``assert_agrees``."""
    for query in order:
        query(book, ref)
    assert_agrees(book, ref)


@st.composite
def deep_book_side(draw: st.DrawFn, side: int) -> list[tuple[int, int]]:
    """A side of up to 150 levels every 1-3 ticks from its best, plus a few far, sparse ones."""
    best = draw(st.integers(150, 350))
    count = draw(st.integers(0, 150))
    gap = draw(st.integers(1, 3))
    levels = [(best - side * gap * i, 1 + i % 7) for i in range(count)]
    far = draw(st.lists(st.integers(1, 600), max_size=6))
    return [(price, size) for price, size in levels + [(p, 4) for p in far] if price > 0]


@st.composite
def deep_levels(draw: st.DrawFn, low: int, high: int) -> list[tuple[int, int]]:
    """Up to 80 level changes in [low, high], in ascending (Binance), descending or any order."""
    count = draw(st.integers(0, 80))
    change = st.tuples(st.integers(low, high), DEEP_SIZES)
    levels = draw(st.lists(change, min_size=count, max_size=count))
    order = draw(st.sampled_from(["ascending", "descending", "as drawn"]))
    if order != "as drawn":
        levels.sort(reverse=order == "descending")
    return levels


@st.composite
def deep_change(draw: st.DrawFn, ref: ReferenceBook) -> tuple[Levels, Levels]:
    """One delta for the book ``ref`` models: deep, a sweep of a side's top, a jump, or small."""
    kind = draw(st.sampled_from(["deep", "sweep", "sweep", "jump", "small"]))
    if kind == "deep":
        return draw(deep_levels(1, 400)), draw(deep_levels(100, 600))
    side = draw(st.sampled_from([BUY, SELL]))
    if kind == "sweep":  # the best falls through many levels at once
        top = ref.levels(side, draw(st.integers(1, 60)))
        levels = [(price, 0) for price, _ in top] + draw(deep_levels(1, 600))[:5]
    elif kind == "jump":  # new levels above the best, the best rises far
        best = ref.best(side) or 250
        start = best + side * draw(st.integers(1, 120))
        count = draw(st.integers(1, 50))
        levels = [(p, 3) for p in range(start, start + side * count, side) if p > 0]
    else:
        return draw(CHANGES)
    return (levels, []) if side == BUY else ([], levels)


@DEEP_PROPERTY
@given(
    bids=deep_book_side(BUY),
    asks=deep_book_side(SELL),
    max_levels=st.sampled_from([0, 0, 0, 0, 5, 40]),
    data=st.data(),
)
def test_deep_deltas_far_levels_and_moving_bests_agree_with_the_reference_model(
    bids: Levels, asks: Levels, max_levels: int, data: st.DataObject
) -> None:
    book = Book(INST, max_levels=max_levels)
    ref = ReferenceBook(max_levels)
    snapshot = make_snapshot(bids, asks, seq=0)
    ref.snapshot(snapshot)
    book.apply_snapshot(snapshot)
    for seq in range(1, data.draw(st.integers(1, 25), label="deltas") + 1):
        delta = make_delta(seq, *data.draw(deep_change(ref), label="change"))
        ref.delta(delta)
        assert book.apply_delta(delta) == (CROSSED if ref.crossed() else APPLIED)
        assert book.best_bid == ref.best(BUY) and book.best_ask == ref.best(SELL)
        if data.draw(st.integers(0, 3), label="query now") == 0:
            assert_agrees_deep(book, ref, data.draw(st.permutations(QUERIES), label="order"))
    assert_agrees_deep(book, ref, data.draw(st.permutations(QUERIES), label="order"))


def test_a_level_deleted_and_added_back_at_any_depth_of_a_deep_book_agrees_with_the_model() -> None:
    bids = [(price, 1 + price % 3) for price in range(1000, 900, -1)]
    asks = [(price, 1 + price % 5) for price in range(1001, 1101)]
    for depth in range(60):  # from a fresh book each time: no query moves the floors first
        book = make_book(bids, asks, seq=0)
        ref = ReferenceBook()
        ref.snapshot(make_snapshot(bids, asks, seq=0))
        for seq, size in ((1, 0), (2, 9)):
            delta = make_delta(seq, bids=[(bids[depth][0], size)], asks=[(asks[depth][0], size)])
            ref.delta(delta)
            assert book.apply_delta(delta) == APPLIED
        assert_agrees_deep(book, ref)


@pytest.mark.parametrize("queried", [False, True])
def test_a_malformed_deep_delta_keeps_the_levels_before_the_bad_one_and_stays_exact(
    queried: bool,
) -> None:
    bids = [(price, 1) for price in range(400, 100, -1)]
    asks = [(price, 2) for price in range(401, 700)]
    book = make_book(bids, asks, seq=0)
    ref = ReferenceBook()
    ref.snapshot(make_snapshot(bids, asks, seq=0))
    if queried:  # lowers the floors first
        assert_agrees_deep(book, ref)
    good_bids = [(price, 0) for price in range(200, 401)] + [(150, 7), (90, 4)]
    swept_asks = [(price, 0) for price in range(401, 600)]
    bad = make_delta(1, bids=good_bids, asks=[*swept_asks, (650, -1), (401, 5)])
    with pytest.raises(BookDataError, match="asks: expected a size >= 0"):
        book.apply_delta(bad)
    ref.delta(make_delta(1, bids=good_bids, asks=swept_asks))  # what came before the bad level
    assert book.stale
    assert (book.best_bid, book.best_ask) == (199, 600)
    assert_agrees_deep(book, ref)


# ---------------------------------------------------------------- gaps


@PROPERTY
@given(
    first=SNAPSHOT,
    changes=st.lists(CHANGES, min_size=2, max_size=12),
    after=st.lists(CHANGES, min_size=1, max_size=4),
    steps=STEPS,
    reorder=st.booleans(),
    data=st.data(),
)
def test_a_dropped_or_reordered_delta_is_a_gap_and_the_book_waits_for_a_snapshot(
    first: tuple[Levels, Levels],
    changes: list[tuple[Levels, Levels]],
    after: list[tuple[Levels, Levels]],
    steps: list[int] | None,
    reorder: bool,
    data: st.DataObject,
) -> None:
    deltas = make_chain(changes, 500, steps)
    j = data.draw(st.integers(0, len(deltas) - 2), label="broken index")
    if reorder:
        delivered = [*deltas[:j], deltas[j + 1], deltas[j], *deltas[j + 2 :]]
    else:
        delivered = deltas[:j] + deltas[j + 1 :]
    book = Book(INST)
    ref = ReferenceBook()
    ref.snapshot(make_snapshot(*first, seq=500))
    book.apply_snapshot(make_snapshot(*first, seq=500))
    for delta in delivered[:j]:
        ref.delta(delta)
        assert book.apply_delta(delta) in (APPLIED, CROSSED)

    assert book.apply_delta(delivered[j]) == GAP
    assert book.stale
    assert book.seq == (deltas[j - 1].seq if j else 500)
    assert_agrees(book, ref)  # the gap delta was not applied
    for delta in delivered[j + 1 :]:
        assert book.apply_delta(delta) == STALE_IGNORED
    assert_agrees(book, ref)
    assert book.statistics().gaps == 1
    assert book.statistics().stale_ignored == len(delivered) - j - 1

    resync = make_snapshot(*first, seq=9000)
    ref.snapshot(resync)
    assert book.apply_snapshot(resync) in (APPLIED, CROSSED)
    assert not book.stale
    for delta in make_chain(after, 9000, steps):
        ref.delta(delta)
        assert book.apply_delta(delta) == (CROSSED if ref.crossed() else APPLIED)
    assert_agrees(book, ref)


def test_a_new_book_is_stale_and_ignores_deltas_until_its_first_snapshot() -> None:
    book = Book(INST)
    assert book.stale and book.seq == -1 and book.best_bid == 0 and book.best_ask == 0
    assert book.apply_delta(make_delta(0, bids=[(100, 1)])) == STALE_IGNORED
    assert book.depth(BUY) == 0
    assert book.apply_snapshot(make_snapshot([(100, 1)], [(101, 1)], seq=7)) == APPLIED
    assert not book.stale and book.seq == 7
    assert book.apply_delta(make_delta(8, bids=[(100, 2)])) == APPLIED
    assert book.size_at(BUY, 100) == 2


def test_a_repeated_delta_breaks_the_sequence() -> None:
    book = make_book(seq=10)
    delta = make_delta(11, bids=[(100, 9)])
    assert book.apply_delta(delta) == APPLIED
    assert book.apply_delta(delta) == GAP
    assert book.stale


def test_a_delta_with_prev_seq_must_name_the_books_seq_whatever_its_own_seq() -> None:
    book = make_book(seq=10)
    assert book.apply_delta(make_delta(25, bids=[(100, 9)], prev_seq=10)) == APPLIED
    assert book.seq == 25
    assert book.apply_delta(make_delta(26, bids=[(100, 8)], prev_seq=24)) == GAP
    assert book.size_at(BUY, 100) == 9


def test_snapshots_are_never_checked_for_gaps() -> None:
    book = make_book(seq=10)
    assert book.apply_snapshot(make_snapshot([(90, 1)], [(95, 1)], seq=3)) == APPLIED
    assert book.seq == 3
    assert book.apply_snapshot(make_snapshot([(91, 1)], [(95, 1)], seq=1_700_000_000)) == APPLIED
    assert book.levels(BUY, 5) == [(91, 1)]


# ---------------------------------------------------------------- grid


@PROPERTY
@given(first=SNAPSHOT, changes=st.lists(CHANGES, max_size=25), max_levels=MAX_LEVELS)
def test_every_level_has_an_int_price_and_a_positive_size(
    first: tuple[Levels, Levels], changes: list[tuple[Levels, Levels]], max_levels: int
) -> None:
    book = Book(INST, max_levels=max_levels)
    book.apply_snapshot(make_snapshot(*first, seq=0))
    for delta in make_chain(changes, 0, None):
        book.apply_delta(delta)
        for side in (BUY, SELL):
            levels = book.levels(side, 1000)
            assert len(levels) == book.depth(side)
            for price, size in levels:
                assert type(price) is int and type(size) is int
                assert price > 0 and size > 0
                assert book.size_at(side, price) == size
            prices = [price for price, _ in levels]
            assert prices == sorted(set(prices), reverse=side == BUY)


def test_deleting_a_level_that_does_not_exist_is_harmless() -> None:
    book = make_book(seq=10)
    before = (book.levels(BUY, 10), book.levels(SELL, 10))
    status = book.apply_delta(make_delta(11, bids=[(98, 0), (500, 0)], asks=[(100, 0), (7, 0)]))
    assert status == APPLIED
    assert (book.levels(BUY, 10), book.levels(SELL, 10)) == before
    assert book.seq == 11


def test_a_snapshot_drops_zero_size_levels() -> None:
    book = make_book(bids=[(100, 5), (99, 0)], asks=[(101, 0), (102, 6)])
    assert book.levels(BUY, 5) == [(100, 5)]
    assert book.levels(SELL, 5) == [(102, 6)]


def test_deleting_the_best_level_exposes_the_next() -> None:
    book = make_book(seq=10)
    assert book.apply_delta(make_delta(11, bids=[(100, 0)], asks=[(101, 0)])) == APPLIED
    assert (book.best_bid, book.best_ask) == (99, 102)
    assert book.apply_delta(make_delta(12, bids=[(99, 0)], asks=[(102, 0)])) == APPLIED
    assert (book.best_bid, book.best_ask) == (0, 0)
    assert book.mid_x2() == 0 and book.spread() == 0 and book.imbalance(5) == 0.0


@pytest.mark.parametrize(
    ("bids", "asks", "problem"),
    [
        ((100, 1, 99), (), "even-length"),
        ((100, -1), (), "size >= 0"),
        ((), (0, 3), "price > 0"),
        ((), (-101, 3), "price > 0"),
    ],
)
def test_a_malformed_delta_raises_and_leaves_the_book_stale(
    bids: tuple[int, ...], asks: tuple[int, ...], problem: str
) -> None:
    book = make_book(seq=10)
    bad = BookDelta(INST, ts=0, ts_recv=0, seq=11, prev_seq=-1, bids=bids, asks=asks)
    with pytest.raises(BookDataError, match=problem) as caught:
        book.apply_delta(bad)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, MMError)
    assert INST in str(caught.value) and "seq 11" in str(caught.value)
    assert book.stale
    assert book.apply_delta(make_delta(12)) == STALE_IGNORED


@pytest.mark.parametrize(
    ("bids", "asks", "problem"),
    [((100, 1, 99), (), "bids: expected an even-length"), ((), (0, 3), "asks: expected a price")],
)
def test_a_malformed_snapshot_raises_and_leaves_the_book_stale(
    bids: tuple[int, ...], asks: tuple[int, ...], problem: str
) -> None:
    book = make_book(seq=10)
    bad = BookSnapshot(INST, ts=0, ts_recv=0, seq=11, bids=bids, asks=asks)
    with pytest.raises(BookDataError, match=problem):
        book.apply_snapshot(bad)
    assert book.stale


def test_a_side_that_is_neither_buy_nor_sell_is_refused() -> None:
    book = make_book()
    for query in (
        lambda: book.size_at(0, 100),
        lambda: book.levels(2, 1),
        lambda: book.size_within(0, 1),
        lambda: book.depth(-2),
    ):
        with pytest.raises(SideError, match="expected side BUY"):
            query()


# ---------------------------------------------------------------- crossed and locked


def test_a_locked_snapshot_is_flagged_crossed() -> None:
    book = Book(INST)
    assert book.apply_snapshot(make_snapshot([(100, 1)], [(100, 2)], seq=1)) == CROSSED
    assert book.crossed and book.spread() == 0
    assert not book.stale


def test_a_delta_that_crosses_the_book_is_applied_and_flagged_not_hidden() -> None:
    book = make_book(seq=10)
    assert book.apply_delta(make_delta(11, bids=[(103, 1)])) == CROSSED
    assert book.crossed
    assert (book.best_bid, book.best_ask) == (103, 101)
    assert book.spread() == -2
    assert book.levels(BUY, 1) == [(103, 1)]


def test_a_delta_that_uncrosses_the_book_clears_the_flag() -> None:
    book = make_book(seq=10)
    book.apply_delta(make_delta(11, asks=[(99, 1)]))
    assert book.crossed
    assert book.apply_delta(make_delta(12, asks=[(99, 0)])) == APPLIED
    assert not book.crossed


def test_a_one_sided_book_is_never_crossed() -> None:
    book = make_book(bids=[(100, 1)], asks=())
    assert not book.crossed
    assert book.apply_delta(make_delta(11, bids=[(5000, 1)])) == APPLIED
    assert book.mid_x2() == 0 and book.spread() == 0
    assert book.imbalance(3) == 1.0


# ---------------------------------------------------------------- depth cap


def test_max_levels_keeps_only_the_best_levels_of_a_snapshot() -> None:
    bids = [(100 - i, 1 + i) for i in range(10)]
    asks = [(101 + i, 1 + i) for i in range(10)]
    book = make_book(bids, asks, max_levels=3)
    assert book.levels(BUY, 10) == bids[:3]
    assert book.levels(SELL, 10) == asks[:3]


def test_max_levels_drops_the_worst_level_when_a_better_one_arrives() -> None:
    book = make_book([(100, 1), (99, 1)], [(101, 1), (102, 1)], seq=0, max_levels=2)
    assert book.apply_delta(make_delta(1, bids=[(100, 0), (98, 4)], asks=[(100, 5)])) == APPLIED
    assert book.levels(BUY, 5) == [(99, 1), (98, 4)]
    assert book.levels(SELL, 5) == [(100, 5), (101, 1)]


@PROPERTY
@given(first=SNAPSHOT, changes=st.lists(CHANGES, max_size=25), cap=st.integers(1, 6))
def test_max_levels_caps_depth_after_every_delta(
    first: tuple[Levels, Levels], changes: list[tuple[Levels, Levels]], cap: int
) -> None:
    book = Book(INST, max_levels=cap)
    ref = ReferenceBook(cap)
    ref.snapshot(make_snapshot(*first, seq=0))
    book.apply_snapshot(make_snapshot(*first, seq=0))
    for delta in make_chain(changes, 0, None):
        ref.delta(delta)
        book.apply_delta(delta)
        assert book.depth(BUY) <= cap and book.depth(SELL) <= cap
        assert book.levels(BUY, cap + 1) == ref.levels(BUY)
        assert book.levels(SELL, cap + 1) == ref.levels(SELL)


def test_a_negative_max_levels_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_levels >= 0"):
        Book(INST, max_levels=-1)


# ---------------------------------------------------------------- queries and statistics


def test_size_within_counts_levels_at_exactly_the_distance() -> None:
    book = make_book([(100, 1), (98, 2), (97, 4)], [(101, 1), (103, 2), (104, 4)])
    assert book.size_within(BUY, 0) == 1
    assert book.size_within(BUY, 2) == 3
    assert book.size_within(SELL, 2) == 3
    assert book.size_within(SELL, 3) == 7
    assert book.size_within(SELL, -1) == 0


def test_imbalance_weighs_the_top_n_levels_of_each_side() -> None:
    book = make_book([(100, 3), (99, 100)], [(101, 1), (102, 1)])
    assert book.imbalance(1) == (3 - 1) / (3 + 1)
    assert book.imbalance(2) == (103 - 2) / (103 + 2)
    assert book.imbalance(0) == 0.0


def test_statistics_count_snapshots_deltas_gaps_ignored_and_crossed_events() -> None:
    book = make_book(seq=10)
    book.apply_delta(make_delta(11, bids=[(101, 1)]))  # locked
    book.apply_delta(make_delta(12, bids=[(101, 0)]))
    book.apply_delta(make_delta(14))  # gap
    book.apply_delta(make_delta(15))  # ignored
    book.apply_snapshot(make_snapshot([(100, 1)], [(101, 1)], seq=20))
    assert book.statistics() == BookStats(
        snapshots=2, deltas=2, gaps=1, stale_ignored=1, crossed_events=1
    )


def test_statistics_is_a_frozen_copy() -> None:
    book = make_book()
    stats = book.statistics()
    book.apply_delta(make_delta(11))
    assert stats.deltas == 0 and book.statistics().deltas == 1
    with pytest.raises(AttributeError):
        stats.deltas = 5  # type: ignore[misc]


# ---------------------------------------------------------------- the mid before a venue time


def make_mid_book(bid: int = 100, ask: int = 102, ts: int = 10) -> Book:
    """A book keeping its mid history, one level a side, its snapshot stamped ``ts``."""
    book = Book(INST, mid_history=MID_HISTORY)
    book.apply_snapshot(BookSnapshot(INST, ts, ts, ts, (bid, 5), (ask, 5)))
    return book


def stamped(seq: int, ts: int, bids: Levels = (), asks: Levels = ()) -> BookDelta:
    return BookDelta(INST, ts, ts + 1_000, seq, -1, flat(bids), flat(asks))


def test_the_mid_before_a_time_is_the_last_one_stamped_strictly_earlier() -> None:
    book = make_mid_book(100, 102, ts=10)  # mid_x2 202 from ts 10
    book.apply_delta(stamped(11, 12, asks=[(101, 2)]))  # 201 from ts 12
    book.apply_delta(stamped(12, 15, bids=[(100, 0), (99, 1)]))  # 200 from ts 15
    assert book.mid_x2() == 200
    assert [book.mid_x2_before(t) for t in (11, 12, 13, 15, 16)] == [202, 202, 201, 201, 200]
    # a change stamped at the fill's own time (the trade's consequence) does not count


def test_without_a_time_or_an_older_mid_the_mid_before_is_the_current_one() -> None:
    book = make_mid_book(100, 102, ts=10)
    book.apply_delta(stamped(11, 12, asks=[(101, 2)]))
    assert book.mid_x2_before(0) == book.mid_x2_before(10) == book.mid_x2() == 201
    assert Book(INST, mid_history=MID_HISTORY).mid_x2_before(5) == 0  # no mid at all


def test_a_delta_that_leaves_the_mid_where_it_was_adds_no_history() -> None:
    book = make_mid_book(100, 102, ts=10)
    book.apply_delta(stamped(11, 12, bids=[(100, 9)]))  # a size: the fast path
    book.apply_delta(stamped(12, 13, bids=[(98, 9)], asks=[(105, 1)]))  # below the touch
    assert book.mid_x2_before(14) == 202
    assert len(book._mids or ()) == 1


def test_the_history_keeps_the_last_mid_history_changes_then_answers_with_the_current_mid(
) -> None:
    book = make_mid_book(100, 10_000, ts=10)
    for i in range(1, MID_HISTORY + 6):
        book.apply_delta(stamped(10 + i, 10 + 10 * i, asks=[(10_000 - i, 1)]))
    now = book.mid_x2()
    assert now == 100 + 10_000 - (MID_HISTORY + 5)
    assert book.mid_x2_before(10 + 10 * 6 + 1) == 100 + 10_000 - 6  # still kept
    assert book.mid_x2_before(10 + 10 * 5 + 1) == now  # older than any kept: not guessed


def test_a_book_without_mid_history_answers_with_the_current_mid() -> None:
    book = make_book()  # as the simulated venue's: no history kept
    book.apply_delta(make_delta(11, asks=[(101, 0)]))
    assert book.mid_x2_before(11) == book.mid_x2_before(5) == book.mid_x2() == 202


def test_a_correction_outside_the_sequence_is_kept_at_the_latest_mids_time() -> None:
    book = make_mid_book(100, 102, ts=10)
    book.apply_delta(stamped(11, 20, bids=[(101, 3)]))  # our bid shows at the venue: 203
    book.set_levels((101, 0), ())  # taken out again (mmcore.own_orders): 202, at ts 20
    assert book.mid_x2_before(21) == 202
    assert book.mid_x2_before(20) == 202 and book.mid_x2_before(11) == 202


def test_a_negative_mid_history_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="mid_history >= 0"):
        Book(INST, mid_history=-1)


@PROPERTY
@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 3),  # venue time step
            st.booleans(),  # snapshot (else delta)
            st.lists(st.tuples(st.integers(90, 100), st.integers(0, 3)), max_size=3),
            st.lists(st.tuples(st.integers(101, 111), st.integers(0, 3)), max_size=3),
        ),
        max_size=MID_HISTORY - 4,
    ),
    queries=st.lists(st.integers(0, 200), max_size=20),
)
def test_the_mid_before_any_time_is_the_mid_after_the_last_event_stamped_earlier(
    steps: list[tuple[int, bool, list[tuple[int, int]], list[tuple[int, int]]]],
    queries: list[int],
) -> None:
    book = Book(INST, mid_history=MID_HISTORY)
    after: list[tuple[int, int]] = []  # (ts, mid_x2) after every event with a two-sided book
    ts = seq = 1
    for step, snapshot, bids, asks in steps:
        ts += step
        seq += 1
        if snapshot:
            book.apply_snapshot(BookSnapshot(INST, ts, ts, seq, flat(bids), flat(asks)))
        else:
            book.apply_delta(stamped(seq, ts, bids, asks))
        if book.mid_x2():
            after.append((ts, book.mid_x2()))
    for t in queries:
        earlier = [mid for stamp, mid in after if stamp < t]
        expected = earlier[-1] if t and earlier else book.mid_x2()
        assert book.mid_x2_before(t) == expected


# ---------------------------------------------------------------- real data


def first_deltas(events: Iterable[Event], count: int) -> Iterator[Event]:
    """``events`` up to and including the ``count``-th ``BookDelta``."""
    for event in events:
        yield event
        if type(event) is BookDelta:
            count -= 1
            if not count:
                return


@pytest.fixture(scope="module")
def binance_book_events(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    """The book events of the first ``REAL_DELTAS`` deltas of the real Binance capture, imported
    into a log and read back: ~70 level changes a delta, books of thousands of levels."""
    inst = Instrument(
        venue="binance", symbol="BTCUSDT", tick_size="0.1", lot_size="0.001", min_size="0.001"
    )
    out = tmp_path_factory.mktemp("book") / "btcusdt.mmlog"
    report = ImportReport("binance")
    events = first_deltas(read_binance([CAPTURE], inst, report), REAL_DELTAS)
    import_to_log(events, out, inst, "binance", str(CAPTURE), report)
    return [ev for ev in open_log(out, repair=False) if type(ev) in (BookSnapshot, BookDelta)]


def assert_agrees_on_top(book: Book, ref: ReferenceBook) -> None:
    """The reads the engine makes of a deep book, against the model sorted once per side."""
    volumes = []
    for side in (BUY, SELL):
        levels = ref.sides[side]
        prices = sorted(levels, reverse=side == BUY)
        best = prices[0] if prices else 0
        assert (book.best_bid if side == BUY else book.best_ask) == best
        assert book.levels(side, 20) == [(p, levels[p]) for p in prices[:20]]
        near = itertools.takewhile(lambda p, best=best: abs(p - best) <= 50, prices)
        assert book.size_within(side, 50) == sum(levels[p] for p in near)
        assert book.depth(side) == len(prices)
        volumes.append(sum(levels[p] for p in prices[:5]))
    bid, ask = volumes
    assert book.imbalance(5) == ((bid - ask) / (bid + ask) if bid + ask else 0.0)


@pytest.mark.skipif(not CAPTURE.exists(), reason=f"no capture at {CAPTURE}")
def test_the_real_binance_deltas_agree_with_the_reference_model_after_every_delta(
    binance_book_events: list[Event],
) -> None:
    queried = Book("BTCUSDT")  # read after every delta, as the engine does
    quiet = Book("BTCUSDT")  # read now and then: its floors move by the applies alone
    ref = ReferenceBook()
    deltas = 0
    for event in binance_book_events:
        if isinstance(event, BookSnapshot):
            ref.snapshot(event)
            queried.apply_snapshot(event)
            quiet.apply_snapshot(event)
            continue
        assert isinstance(event, BookDelta)
        deltas += 1
        ref.delta(event)
        status = CROSSED if ref.crossed() else APPLIED
        assert queried.apply_delta(event) == status
        assert quiet.apply_delta(event) == status
        assert_agrees_on_top(queried, ref)
        if deltas % 97 == 0:
            assert_agrees_on_top(quiet, ref)
    assert deltas == REAL_DELTAS
    assert max(len(ref.sides[BUY]), len(ref.sides[SELL])) > 1_000
    assert_agrees_on_top(quiet, ref)
    assert_agrees(quiet, ref)
