"""Our own resting orders taken out of a book whose venue publishes them (mmcore.own_orders).

The venue in these tests publishes, at each price, the others' size plus the remaining size of
our acknowledged orders; the engine's book must show the others' size alone."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.book import Book
from mmcore.commands import Cancel, Place
from mmcore.engine import Engine
from mmcore.events import (
    BUY,
    SELL,
    BookDelta,
    BookSnapshot,
    Fill,
    OrderAccepted,
    OrderCanceled,
    Timer,
)
from mmcore.instrument import Instrument
from mmcore.orders import OrderManagerConfig, QuoteOrderManager
from mmcore.own_orders import HOLD_NS
from mmcore.risk import RiskConfig, RiskGate

SYM = "BTC-USD"
T0 = 1_700_000_000_000_000_000


def make_engine(own_in_book: bool = True) -> Engine:
    inst = Instrument(
        venue="x", symbol=SYM, tick_size="0.1", lot_size="0.001", own_orders_in_book=own_in_book
    )
    insts = {SYM: inst}
    return Engine(
        insts,
        {},
        QuoteOrderManager(OrderManagerConfig(), insts),
        RiskGate(RiskConfig(max_position_lots=1000), insts),
    )


class Venue:
    """Levels of the others and our orders; every change comes out as the venue's events."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seq = 1
        self.t = T0

    def now(self) -> int:
        self.t += 1
        return self.t

    def snapshot(self, bids: tuple[int, ...], asks: tuple[int, ...]) -> None:
        t = self.now()
        self.engine.on_event(BookSnapshot(SYM, t, t, self.seq, bids, asks))

    def level(self, side: int, price: int, size: int) -> None:
        self.seq += 1
        t = self.now()
        levels = (price, size)
        bids, asks = (levels, ()) if side == BUY else ((), levels)
        self.engine.on_event(BookDelta(SYM, t, t, self.seq, -1, bids, asks))
        self.check_skipped_sync()

    def check_skipped_sync(self) -> None:
        """The engine skips the sync after a delta that sets none of the levels we rest at or
        took from: a full sync run now must change nothing."""
        engine = self.engine
        b = engine.books[SYM]
        before = (b.levels(BUY, 1000), b.levels(SELL, 1000), b.best_bid, b.best_ask)
        own = engine._own[SYM]
        own.orders_changed()
        engine._sync_own(SYM)
        assert (b.levels(BUY, 1000), b.levels(SELL, 1000), b.best_bid, b.best_ask) == before

    def place(self, cid: str, side: int, price: int, size: int) -> None:
        """The engine sent a place (it is in the ledger, not yet at the venue)."""
        self.engine.ledger.on_command(Place(SYM, self.t, cid, side, price, size))

    def cancel(self, cid: str) -> None:
        """The engine sent a cancel (the order rests at the venue until it lands)."""
        self.engine.ledger.on_command(Cancel(SYM, self.t, cid))

    def ack(self, cid: str) -> None:
        t = self.now()
        self.engine.on_event(OrderAccepted(SYM, t, t, cid, "v-" + cid))

    def fill(self, cid: str, side: int, price: int, size: int) -> None:
        t = self.now()
        self.engine.on_event(Fill(SYM, t, t, cid, side, price, size, 0, True, f"f{t}"))

    def canceled(self, cid: str) -> None:
        t = self.now()
        self.engine.on_event(OrderCanceled(SYM, t, t, cid))


def book(engine: Engine) -> Book:
    return engine.books[SYM]


def quoting(own_in_book: bool = True) -> tuple[Engine, Venue]:
    engine = make_engine(own_in_book)
    venue = Venue(engine)
    venue.snapshot((1000, 10, 999, 20), (1001, 10, 1002, 20))
    return engine, venue


def test_an_acknowledged_order_is_taken_out_of_its_level() -> None:
    engine, venue = quoting()
    venue.place("a", BUY, 1000, 4)
    assert book(engine).size_at(BUY, 1000) == 10  # sent, not at the venue yet
    venue.ack("a")
    assert book(engine).size_at(BUY, 1000) == 6  # the venue's 10 includes our 4 now
    venue.level(BUY, 1000, 10)  # the venue publishes the level with our order in it
    assert book(engine).size_at(BUY, 1000) == 6 and book(engine).best_bid == 1000


def test_a_level_that_is_all_ours_disappears_and_the_touch_is_the_others() -> None:
    engine, venue = quoting()
    venue.level(SELL, 1001, 14)  # somebody adds 4 at our future price
    venue.place("a", SELL, 1000 + 1, 14)  # quoting the whole level ourselves
    venue.ack("a")
    assert book(engine).best_ask == 1002 and book(engine).size_at(SELL, 1001) == 0
    assert book(engine).mid_x2() == 1000 + 1002


def test_a_fill_or_cancel_keeps_the_level_as_it_was_until_the_venue_republishes_it() -> None:
    engine, venue = quoting()
    venue.place("a", BUY, 1000, 4)
    venue.ack("a")
    venue.fill("a", BUY, 1000, 3)  # our remaining 1; the published 10 still holds all 4
    assert book(engine).size_at(BUY, 1000) == 6
    venue.level(BUY, 1000, 7)  # the venue: 6 of the others + our 1
    assert book(engine).size_at(BUY, 1000) == 6
    venue.canceled("a")  # the published 7 still holds our 1: not handed back as the others'
    assert book(engine).size_at(BUY, 1000) == 6
    venue.level(BUY, 1000, 6)
    assert book(engine).size_at(BUY, 1000) == 6


def test_a_level_the_venue_emptied_of_us_before_saying_so_is_given_back_after_the_hold() -> None:
    engine, venue = quoting()
    venue.place("a", BUY, 1000, 4)
    venue.ack("a")
    venue.level(BUY, 1000, 10)
    venue.level(BUY, 1000, 6)  # the book stream shows our order gone first...
    assert book(engine).size_at(BUY, 1000) == 2  # ...while the ledger still has it resting
    venue.canceled("a")
    assert book(engine).size_at(BUY, 1000) == 2  # held: the venue might not have republished
    t = venue.t + HOLD_NS
    engine.on_event(Timer(t, t))
    assert book(engine).size_at(BUY, 1000) == 6


def test_a_hold_ends_at_the_first_delta_past_it_even_one_for_another_level() -> None:
    engine, venue = quoting()
    venue.place("a", BUY, 1000, 4)
    venue.ack("a")
    venue.level(BUY, 1000, 10)
    venue.level(BUY, 1000, 6)
    venue.canceled("a")
    assert book(engine).size_at(BUY, 1000) == 2  # held
    venue.t += HOLD_NS
    venue.level(SELL, 1005, 3)  # a level we never touched
    assert book(engine).size_at(BUY, 1000) == 6


def test_an_order_filled_before_any_ack_stays_taken_out_while_its_cancel_is_on_its_way() -> None:
    """A trade that comes before the order's ack: the venue never acks it then (it is open), and
    the order manager replaces the partly filled order at once."""
    engine, venue = quoting()
    venue.place("a", BUY, 999, 5)
    venue.fill("a", BUY, 999, 2)
    venue.level(BUY, 999, 23)  # the others' 20 and our remaining 3
    assert book(engine).size_at(BUY, 999) == 20
    venue.cancel("a")
    venue.level(BUY, 999, 24)  # somebody joins while our cancel is on its way
    assert book(engine).size_at(BUY, 999) == 21
    venue.canceled("a")
    venue.level(BUY, 999, 21)
    assert book(engine).size_at(BUY, 999) == 21


def test_a_snapshot_that_includes_our_order_is_taken_out_too() -> None:
    engine, venue = quoting()
    venue.place("a", BUY, 999, 5)
    venue.ack("a")
    venue.snapshot((1000, 10, 999, 20), (1001, 10))
    assert book(engine).size_at(BUY, 999) == 15


def test_a_venue_that_does_not_publish_our_orders_keeps_its_book_as_published() -> None:
    engine, venue = quoting(own_in_book=False)
    venue.place("a", BUY, 1000, 4)
    venue.ack("a")
    assert book(engine).size_at(BUY, 1000) == 10


# ------------------------------------------------------------ any sequence, against a model venue

_PRICES = {BUY: range(995, 1001), SELL: range(1001, 1007)}
_side = st.sampled_from([BUY, SELL])
_step = st.one_of(
    st.tuples(st.just("others"), _side, st.integers(0, 5), st.integers(0, 6)),
    st.tuples(st.just("place"), _side, st.integers(0, 5), st.integers(1, 8)),
    st.tuples(st.just("ack"), st.integers(0, 30), st.booleans()),
    st.tuples(st.just("fill"), st.integers(0, 30), st.integers(1, 8)),
    st.tuples(st.just("cancel"), st.integers(0, 30), st.booleans()),
)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(_step, max_size=40))
def test_once_both_streams_have_told_each_change_the_book_is_the_market_without_us(
    steps: list[tuple[object, ...]],
) -> None:
    engine = make_engine()
    venue = Venue(engine)
    others = {(s, p): 3 for s in (BUY, SELL) for p in _PRICES[s]}
    ours: list[dict[str, int]] = []  # side, price, size, filled, acked, gone

    def ours_at(side: int, price: int) -> int:
        return sum(
            o["size"] - o["filled"]
            for o in ours
            if o["acked"] and not o["gone"] and (o["side"], o["price"]) == (side, price)
        )

    def publish(side: int, price: int) -> None:
        venue.level(side, price, others[(side, price)] + ours_at(side, price))

    flat = {s: tuple(x for p in _PRICES[s] for x in (p, others[(s, p)])) for s in (BUY, SELL)}
    venue.snapshot(flat[BUY], flat[SELL])
    for step in steps:
        kind = step[0]
        if kind == "others":
            _, side, i, size = step
            key = (side, _PRICES[side][i])  # type: ignore[index]
            others[key] = size  # type: ignore[index, assignment]
            publish(*key)  # type: ignore[arg-type]
        elif kind == "place":
            _, side, i, size = step
            price = _PRICES[side][i]  # type: ignore[index]
            cid = f"o{len(ours)}"
            order = {"side": side, "price": price, "size": size, "filled": 0, "acked": 0}
            ours.append(order | {"gone": 0})  # type: ignore[arg-type]
            venue.place(cid, side, price, size)  # type: ignore[arg-type]
        elif ours:
            n = step[1] % len(ours)  # type: ignore[operator]
            o = ours[n]
            cid = f"o{n}"
            if o["gone"]:
                continue
            key = (o["side"], o["price"])
            if kind == "ack" and not o["acked"]:
                o["acked"] = 1
                book_first = step[2]
                if book_first:
                    publish(*key)
                venue.ack(cid)
                if not book_first:
                    publish(*key)
            elif kind == "fill" and o["acked"]:
                lots = min(step[2], o["size"] - o["filled"])  # type: ignore[type-var]
                o["filled"] += lots
                if o["filled"] == o["size"]:
                    o["gone"] = 1
                venue.fill(cid, o["side"], o["price"], lots)
                # the published level still holds the filled lots: nothing handed back yet
                assert book(engine).size_at(*key) == others[key]
                publish(*key)
            elif kind == "cancel" and o["acked"]:
                o["gone"] = 1
                book_first = step[2]
                if book_first:
                    publish(*key)
                venue.canceled(cid)
                if not book_first:
                    assert book(engine).size_at(*key) == others[key]  # held, as for a fill
                    publish(*key)
        venue.t += HOLD_NS  # anything held for an order the venue already showed gone is back
        engine.on_event(Timer(venue.t, venue.t))
        b = book(engine)
        for side in (BUY, SELL):
            for price in _PRICES[side]:
                assert b.size_at(side, price) == others[(side, price)], (side, price, others, ours)
        bids = [p for p in _PRICES[BUY] if others[(BUY, p)]]
        asks = [p for p in _PRICES[SELL] if others[(SELL, p)]]
        assert b.best_bid == max(bids, default=0) and b.best_ask == min(asks, default=0)



def test_levels_a_crossed_delta_sets_hold_the_venues_size_and_ours_stay_taken_out() -> None:
    """A crossed (or locked) delta is applied to the book like any other: the levels it sets
    hold the venue's size, our order included, until the resync's snapshot comes."""
    engine, venue = quoting()
    venue.place("a", BUY, 999, 5)
    venue.ack("a")
    assert book(engine).size_at(BUY, 999) == 15  # the venue's 20 includes our 5
    venue.level(BUY, 1001, 3)  # a bid locks the book: a resync is on its way
    assert book(engine).crossed
    venue.level(BUY, 999, 19)  # the others' 15 became 14, our 5 still rest there
    assert book(engine).size_at(BUY, 999) == 14
    venue.level(BUY, 1001, 0)  # the lock is gone before the snapshot
    assert not book(engine).crossed
    assert book(engine).size_at(BUY, 999) == 14
    venue.canceled("a")
    venue.level(BUY, 999, 14)  # the venue shows our order gone
    assert book(engine).size_at(BUY, 999) == 14
