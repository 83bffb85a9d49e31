"""Fill rules of the simulated venue, in hand-built scenarios with zero latency.

Prices are ticks of 0.1, sizes lots of 0.001, so one tick times one lot is 100_000 nanos.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sim import NEVER, SimConfig, SimVenue
from mmcore.commands import GTC, IOC, Cancel, CancelAll, Command, Place
from mmcore.events import (
    BUY,
    SELL,
    BookDelta,
    BookSnapshot,
    Event,
    Fill,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    Trade,
)
from mmcore.instrument import Instrument

INST = "BTC-PERP"
T0 = 1_000_000_000_000


# ---------------------------------------------------------------- factories


def make_instrument(
    maker_fee: str = "0", taker_fee: str = "0", min_size: str = "0", min_notional: str = "0"
) -> Instrument:
    return Instrument(
        venue="sim",
        symbol=INST,
        tick_size="0.1",
        lot_size="0.001",
        min_size=min_size,
        min_notional=min_notional,
        maker_fee=maker_fee,
        taker_fee=taker_fee,
    )


def make_venue(
    instrument: Instrument | None = None, seed: int = 1, **config: object
) -> SimVenue:
    settings: dict[str, object] = {
        "entry_latency_ms": 0.0,
        "response_latency_ms": 0.0,
        "funding_interval_s": 0,
    }
    settings.update(config)
    return SimVenue(
        {INST: instrument or make_instrument()},
        SimConfig(**settings),  # type: ignore[arg-type]
        random.Random(seed),
    )


def make_book_snapshot(
    bids: Sequence[tuple[int, int]], asks: Sequence[tuple[int, int]], ts: int = T0, seq: int = 1
) -> BookSnapshot:
    return BookSnapshot(
        INST, ts, ts, seq, tuple(x for lv in bids for x in lv), tuple(x for lv in asks for x in lv)
    )


def make_delta(
    seq: int, ts: int, bids: Sequence[tuple[int, int]] = (), asks: Sequence[tuple[int, int]] = ()
) -> BookDelta:
    flat_bids = tuple(x for lv in bids for x in lv)
    return BookDelta(INST, ts, ts, seq, -1, flat_bids, tuple(x for lv in asks for x in lv))


def make_trade(price: int, size: int, side: int, ts: int) -> Trade:
    return Trade(INST, ts, ts, price, size, side)


def place(
    client_id: str,
    side: int,
    price: int,
    size: int,
    *,
    post_only: bool = True,
    tif: str = GTC,
    reduce_only: bool = False,
) -> Place:
    return Place(INST, 0, client_id, side, price, size, post_only, reduce_only, tif)


def send(venue: SimVenue, cmd: Command, now: int) -> list[Any]:
    """Submit at ``now``, let it arrive, and return everything the venue emitted since."""
    venue.submit(cmd, now)
    venue.advance_to(now)
    return venue.pop_outbound(NEVER)


def feed(venue: SimVenue, *events: Event) -> list[Any]:
    for ev in events:
        venue.on_market(ev)
    return venue.pop_outbound(NEVER)


def fills(events: list[Event]) -> list[tuple[str, int, int, bool]]:
    return [(e.client_id, e.price, e.size, e.maker) for e in events if type(e) is Fill]


def quiet_book(venue: SimVenue) -> None:
    """Bid 100 x 5 / ask 102 x 5."""
    feed(venue, make_book_snapshot([(100, 5)], [(102, 5)]))


# ---------------------------------------------------------------- placing


def test_a_post_only_order_that_rests_is_accepted_behind_the_visible_level() -> None:
    venue = make_venue()
    feed(venue, make_book_snapshot([(100, 7)], [(102, 5)]))
    out = send(venue, place("b1", BUY, 100, 3), T0 + 1)
    assert [type(e) for e in out] == [OrderAccepted]
    assert venue.resting(INST) == {"b1": (BUY, 100, 3, 7)}


def test_a_post_only_order_at_a_new_price_is_first_in_its_queue() -> None:
    venue = make_venue()
    quiet_book(venue)
    send(venue, place("b1", BUY, 101, 3), T0 + 1)
    assert venue.resting(INST)["b1"] == (BUY, 101, 3, 0)


def test_a_post_only_buy_at_the_best_ask_is_rejected_as_crossing() -> None:
    venue = make_venue()
    quiet_book(venue)
    out = send(venue, place("b1", BUY, 102, 1), T0 + 1)
    assert len(out) == 1 and type(out[0]) is OrderRejected
    assert out[0].code == "post_only_would_cross"
    assert "102" in out[0].reason
    assert venue.resting(INST) == {}
    assert venue.statistics().reject_codes == {"post_only_would_cross": 1}


def test_a_post_only_sell_at_the_best_bid_is_rejected_as_crossing() -> None:
    venue = make_venue()
    quiet_book(venue)
    out = send(venue, place("a1", SELL, 100, 1), T0 + 1)
    assert [e.code for e in out if type(e) is OrderRejected] == ["post_only_would_cross"]


def test_a_post_only_bid_crossing_our_own_resting_ask_is_rejected_as_crossing() -> None:
    venue = make_venue(make_instrument(maker_fee="-0.0001"))
    feed(venue, make_book_snapshot([(100, 20)], [(105, 20)]))
    send(venue, place("a1", SELL, 102, 5), T0 + 1)
    for n, price in enumerate((103, 102)):  # through our ask, and at it
        out = send(venue, place(f"b{n}", BUY, price, 5), T0 + 2 + n)
        assert [e.code for e in out if type(e) is OrderRejected] == ["post_only_would_cross"]
        assert "our own resting sell at 102" in out[0].reason
    assert venue.resting(INST) == {"a1": (SELL, 102, 5, 0)}
    # no wash trade: trades on both sides of the spread fill our ask alone, one rebate
    out = feed(venue, make_trade(101, 5, SELL, T0 + 4), make_trade(104, 5, BUY, T0 + 5))
    assert fills(out) == [("a1", 102, 5, True)]
    assert venue.position(INST) == -5


def test_an_order_that_would_trade_with_our_own_resting_order_is_refused_as_self_trade() -> None:
    venue = make_venue()
    feed(venue, make_book_snapshot([(100, 20)], [(105, 20)]))
    send(venue, place("b1", BUY, 101, 5), T0 + 1)
    at_our_bid = place("s1", SELL, 101, 5, post_only=False)
    through_it = place("s2", SELL, 99, 30, post_only=False, tif=IOC)  # the book's bid first
    out = send(venue, at_our_bid, T0 + 2) + send(venue, through_it, T0 + 3)
    assert [e.code for e in out if type(e) is OrderRejected] == ["self_trade", "self_trade"]
    assert "our own resting buy at 101" in out[0].reason
    assert fills(out) == [] and venue.position(INST) == 0
    assert venue.resting(INST) == {"b1": (BUY, 101, 5, 0)}
    # once our bid is gone the same sell trades with the book
    send(venue, Cancel(INST, 0, "b1"), T0 + 4)
    out = send(venue, place("s3", SELL, 99, 30, post_only=False, tif=IOC), T0 + 5)
    assert fills(out) == [("s3", 100, 20, False)]


def test_invalid_prices_sizes_and_duplicates_are_rejected_with_their_codes() -> None:
    venue = make_venue(make_instrument(min_size="0.002"))
    quiet_book(venue)
    send(venue, place("ok", BUY, 99, 2), T0)
    codes = []
    for cmd in (
        place("p0", BUY, 0, 2),
        place("s1", BUY, 99, 1),
        place("ok", BUY, 98, 2),
        place("t1", BUY, 98, 2, tif="FOK"),
        place("d1", 0, 98, 2),
    ):
        out = send(venue, cmd, T0 + 1)
        codes += [e.code for e in out if type(e) is OrderRejected]
    assert codes == [
        "invalid_price",
        "invalid_size",
        "duplicate_client_id",
        "invalid_tif",
        "invalid_side",
    ]


def test_an_order_below_the_instruments_min_notional_is_rejected_unless_reduce_only() -> None:
    # min notional 0.1 quote: 100 ticks (10.0) x 10 lots (0.010) is exactly enough
    venue = make_venue(make_instrument(min_notional="0.1"))
    feed(venue, make_book_snapshot([(100, 50)], [(102, 50)]))
    small = send(venue, place("s1", BUY, 100, 9), T0 + 1)
    assert [e.code for e in small if type(e) is OrderRejected] == ["invalid_notional"]
    assert venue.resting(INST) == {}
    enough = send(venue, place("b1", BUY, 100, 10), T0 + 2)
    assert [type(e) for e in enough] == [OrderAccepted]
    send(venue, place("t1", BUY, 102, 10, post_only=False, tif=IOC), T0 + 3)
    assert venue.position(INST) == 10
    send(venue, Cancel(INST, 0, "b1"), T0 + 4)  # else the close would trade with our own bid
    close = place("r1", SELL, 100, 3, post_only=False, tif=IOC, reduce_only=True)
    assert fills(send(venue, close, T0 + 5)) == [("r1", 100, 3, False)]


def test_an_order_for_an_unknown_instrument_is_rejected() -> None:
    venue = make_venue()
    cmd = Place("ETH-PERP", 0, "x1", BUY, 100, 1)
    out = send(venue, cmd, T0)
    assert [e.code for e in out if type(e) is OrderRejected] == ["unknown_instrument"]


def test_a_reduce_only_order_that_would_increase_the_position_is_rejected() -> None:
    venue = make_venue()
    quiet_book(venue)
    out = send(venue, place("r1", SELL, 103, 1, reduce_only=True), T0 + 1)
    assert [e.code for e in out if type(e) is OrderRejected] == ["reduce_only"]


def test_a_reduce_only_ioc_fills_no_more_than_the_position() -> None:
    venue = make_venue()
    feed(venue, make_book_snapshot([(100, 10)], [(102, 10)]))
    send(venue, place("buy", BUY, 102, 3, post_only=False, tif=IOC), T0 + 1)
    assert venue.position(INST) == 3
    flatten = place("flat", SELL, 100, 5, post_only=False, tif=IOC, reduce_only=True)
    out = send(venue, flatten, T0 + 2)
    assert fills(out) == [("flat", 100, 3, False)]
    assert venue.position(INST) == 0
    assert [e.reason for e in out if type(e) is OrderCanceled] == ["ioc_remainder"]


def test_a_reduce_only_order_a_used_up_trade_does_not_reach_is_not_canceled() -> None:
    venue = make_venue()
    quiet_book(venue)
    send(venue, place("s", SELL, 100, 3, post_only=False, tif=IOC), T0 + 1)  # short 3
    send(venue, place("b", BUY, 101, 3), T0 + 2)
    send(venue, place("r", BUY, 100, 3, reduce_only=True), T0 + 3)
    # a sell through both bids: all of it fills "b" (better price), the position is flat
    out = feed(venue, make_trade(99, 3, SELL, T0 + 4))
    assert fills(out) == [("b", 101, 3, True)]
    assert [e for e in out if type(e) is OrderCanceled] == []  # nothing reached "r"
    assert venue.resting(INST) == {"r": (BUY, 100, 3, 0)}
    # the next trade through it would fill it: it cannot reduce, so it is canceled
    out = feed(venue, make_trade(99, 1, SELL, T0 + 5))
    assert fills(out) == []
    assert [(e.client_id, e.reason) for e in out if type(e) is OrderCanceled] == [
        ("r", "reduce_only")
    ]


def test_a_reduce_only_order_is_canceled_by_the_book_only_when_liquidity_is_left_for_it() -> None:
    venue = make_venue()
    quiet_book(venue)
    send(venue, place("s", SELL, 100, 3, post_only=False, tif=IOC), T0 + 1)  # short 3
    send(venue, place("b", BUY, 101, 3), T0 + 2)
    send(venue, place("r", BUY, 101, 3, reduce_only=True), T0 + 3)
    # 3 lots offered at 101: "b", first at the price, takes them all and flattens us
    out = feed(venue, make_delta(2, T0 + 4, asks=[(102, 0), (101, 3)]))
    assert fills(out) == [("b", 101, 3, True)]
    assert [e for e in out if type(e) is OrderCanceled] == []  # nothing left for "r"
    assert venue.resting(INST) == {"r": (BUY, 101, 3, 0)}
    # fresh liquidity through its price would fill it: it cannot reduce, so it is canceled
    out = feed(venue, make_delta(3, T0 + 5, asks=[(100, 2)]))
    assert fills(out) == []
    assert [(e.client_id, e.reason) for e in out if type(e) is OrderCanceled] == [
        ("r", "reduce_only")
    ]


# ---------------------------------------------------------------- taking liquidity


def test_an_ioc_sweeps_two_levels_pays_taker_fees_and_cancels_the_remainder() -> None:
    venue = make_venue(make_instrument(taker_fee="0.0005"))
    feed(venue, make_book_snapshot([(100, 5)], [(102, 2), (103, 3), (105, 10)]))
    out = send(venue, place("t1", BUY, 104, 8, post_only=False, tif=IOC), T0 + 1)
    assert [type(e) for e in out] == [OrderAccepted, Fill, Fill, OrderCanceled]
    assert fills(out) == [("t1", 102, 2, False), ("t1", 103, 3, False)]
    # fee = ceil(price * size * 100_000 nanos * 500_000 ppb / 1e9)
    assert [e.fee for e in out if type(e) is Fill] == [10_200, 15_450]
    assert out[-1].reason == "ioc_remainder"
    assert venue.position(INST) == 5
    stats = venue.statistics()
    assert (stats.taker_fills, stats.maker_fills, stats.volume) == (2, 0, 5)
    assert stats.ioc_remainders == 1
    assert stats.fees == 25_650


def test_liquidity_we_took_is_not_taken_again_until_the_feed_updates_the_level() -> None:
    venue = make_venue()
    feed(venue, make_book_snapshot([(100, 5)], [(102, 2), (103, 3)]))
    send(venue, place("t1", BUY, 102, 2, post_only=False, tif=IOC), T0 + 1)
    again = send(venue, place("t2", BUY, 102, 2, post_only=False, tif=IOC), T0 + 2)
    assert fills(again) == []
    feed(venue, make_delta(2, T0 + 3, asks=[(102, 3)]))  # someone adds one lot behind the gone two
    third = send(venue, place("t3", BUY, 102, 2, post_only=False, tif=IOC), T0 + 4)
    assert fills(third) == [("t3", 102, 1, False)]


def test_a_crossing_gtc_that_is_not_post_only_takes_then_rests_its_remainder() -> None:
    venue = make_venue()
    quiet_book(venue)
    out = send(venue, place("g1", BUY, 102, 8, post_only=False), T0 + 1)
    assert fills(out) == [("g1", 102, 5, False)]
    assert venue.resting(INST) == {"g1": (BUY, 102, 3, 0)}
    # the recorded ask at 102 is still there, but it was ours already: no second fill
    assert fills(feed(venue, make_delta(2, T0 + 2, bids=[(99, 1)]))) == []
    assert venue.resting(INST)["g1"][2] == 3


# ---------------------------------------------------------------- resting fills


def test_a_sell_trade_below_our_bid_fills_us_at_our_price_capped_by_its_size() -> None:
    venue = make_venue()
    quiet_book(venue)
    send(venue, place("b1", BUY, 101, 3), T0 + 1)
    out = feed(venue, make_trade(100, 2, SELL, T0 + 2))
    assert fills(out) == [("b1", 101, 2, True)]
    assert venue.resting(INST) == {"b1": (BUY, 101, 1, 0)}
    assert venue.position(INST) == 2


def test_a_buy_trade_above_our_ask_fills_us_at_our_price() -> None:
    venue = make_venue()
    quiet_book(venue)
    send(venue, place("a1", SELL, 101, 3), T0 + 1)
    out = feed(venue, make_trade(102, 10, BUY, T0 + 2))
    assert fills(out) == [("a1", 101, 3, True)]
    assert venue.resting(INST) == {}
    assert venue.position(INST) == -3


def test_a_trade_through_fills_our_best_order_first() -> None:
    venue = make_venue()
    feed(venue, make_book_snapshot([(99, 5)], [(103, 5)]))
    send(venue, place("low", BUY, 100, 3), T0 + 1)
    send(venue, place("high", BUY, 101, 3), T0 + 2)
    out = feed(venue, make_trade(99, 4, SELL, T0 + 3))
    assert fills(out) == [("high", 101, 3, True), ("low", 100, 1, True)]


def test_trades_at_our_price_first_consume_the_queue_ahead_then_fill_us() -> None:
    venue = make_venue()
    feed(venue, make_book_snapshot([(100, 10)], [(102, 5)]))
    send(venue, place("b1", BUY, 100, 4), T0 + 1)
    assert fills(feed(venue, make_trade(100, 6, SELL, T0 + 2))) == []
    assert venue.resting(INST)["b1"] == (BUY, 100, 4, 4)
    feed(venue, make_delta(2, T0 + 3, bids=[(100, 4)]))
    out = feed(venue, make_trade(100, 7, SELL, T0 + 4))
    assert fills(out) == [("b1", 100, 3, True)]
    assert venue.resting(INST) == {"b1": (BUY, 100, 1, 0)}


def test_a_trade_on_our_side_does_not_fill_us() -> None:
    venue = make_venue()
    quiet_book(venue)
    send(venue, place("b1", BUY, 101, 3), T0 + 1)
    assert fills(feed(venue, make_trade(100, 5, BUY, T0 + 2))) == []


def _queue_then_cancels(model: str) -> list[tuple[str, int, int, bool]]:
    """We join 10 lots; 10 more join behind; 5 cancel; then 10 trade at our price."""
    venue = make_venue(queue_model=model, queue_power=1.0, seed=7)
    feed(venue, make_book_snapshot([(100, 10)], [(102, 5)]))
    send(venue, place("b1", BUY, 100, 4), T0 + 1)
    feed(venue, make_delta(2, T0 + 2, bids=[(100, 20)]), make_delta(3, T0 + 3, bids=[(100, 15)]))
    return fills(feed(venue, make_trade(100, 10, SELL, T0 + 4)))


def test_risk_averse_queue_does_not_advance_on_a_book_decrease() -> None:
    assert _queue_then_cancels("risk_averse") == []


def test_probabilistic_queue_advances_on_a_book_decrease() -> None:
    got = _queue_then_cancels("probabilistic")
    # half the 5 cancels were ahead of us in expectation (10 ahead, 10 behind, power 1)
    assert len(got) == 1 and got[0][2] in (2, 3)


def test_risk_averse_queue_ahead_never_exceeds_the_visible_level() -> None:
    venue = make_venue()
    feed(venue, make_book_snapshot([(100, 10)], [(102, 5)]))
    send(venue, place("b1", BUY, 100, 4), T0 + 1)
    feed(venue, make_delta(2, T0 + 2, bids=[(100, 3)]))
    assert venue.resting(INST)["b1"][3] == 3


def _two_bids_then_cancels(seed: int) -> tuple[dict[str, int], list[tuple[str, int, int, bool]]]:
    """Our bids b1 then b2 at 100 with a lot between them; the level goes 1 -> 2 -> 3 -> 1 (two
    lots cancel); then 1 lot sells at 100. Returns the queue ahead before the trade, and fills."""
    venue = make_venue(queue_model="probabilistic", queue_power=1.0, seed=seed)
    feed(venue, make_book_snapshot([(100, 1)], [(102, 5)]))
    send(venue, place("b1", BUY, 100, 5), T0 + 1)
    feed(venue, make_delta(2, T0 + 2, bids=[(100, 2)]))
    send(venue, place("b2", BUY, 100, 5), T0 + 3)
    feed(venue, make_delta(3, T0 + 4, bids=[(100, 3)]), make_delta(4, T0 + 5, bids=[(100, 1)]))
    ahead = {cid: order[3] for cid, order in venue.resting(INST).items()}
    return ahead, fills(feed(venue, make_trade(100, 1, SELL, T0 + 6)))


def test_probabilistic_cancels_never_put_a_later_order_of_ours_ahead_of_an_earlier_one() -> None:
    # rounded separately, the split of the two cancels left b2 with 0 ahead and b1 with 1
    # for some seeds (15 among them), and the trade then filled b2 instead of b1
    for seed in range(40):
        ahead, got = _two_bids_then_cancels(seed)
        assert ahead["b1"] <= ahead["b2"] <= 1, (seed, ahead)
        assert [cid for cid, *_ in got] in ([], ["b1"]), (seed, got)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["place", "depth", "depth", "trade"]), st.integers(0, 8)),
        min_size=5,
        max_size=50,
    ),
    power=st.sampled_from([0.0, 1.0, 2.0]),
    seed=st.integers(0, 2**32),
)
def test_probabilistic_queue_fills_our_orders_at_one_price_in_arrival_order(
    steps: list[tuple[str, int]], power: float, seed: int
) -> None:
    # a few seeds per market: an inversion needs both the right market and the right draws
    for draws in range(seed, seed + 4):
        run = _run_bids_at_one_price(steps, "probabilistic", power, draws)
        assert run == _run_bids_at_one_price(steps, "probabilistic", power, draws)  # reproducible
    _run_bids_at_one_price(steps, "risk_averse", power, seed)


def _run_bids_at_one_price(
    steps: list[tuple[str, int]], model: str, power: float, seed: int
) -> list[Any]:
    """Our bids at 100 while the level there changes and trades; checks after every step that
    ``ahead`` is non-decreasing in arrival order and that a trade fills a prefix of our orders,
    all but the last of them completely. Returns everything the venue emitted."""
    venue = make_venue(queue_model=model, queue_power=power, seed=seed)
    out = feed(venue, make_book_snapshot([(100, 3)], [(102, 5)]))
    seq = 1
    level = 3
    for i, (kind, n) in enumerate(steps):
        ts = T0 + 1 + i
        before = [(cid, order[2]) for cid, order in venue.resting(INST).items()]
        if kind == "place":
            events = send(venue, place(f"b{i}", BUY, 100, n + 1), ts)
        elif kind == "depth":
            seq += 1
            level = n
            events = feed(venue, make_delta(seq, ts, bids=[(100, n)]))
        else:
            events = feed(venue, make_trade(100, n + 1, SELL, ts))
        got = [(e.client_id, e.size) for e in events if type(e) is Fill]
        assert [cid for cid, _ in got] == [cid for cid, _ in before[: len(got)]], (before, got)
        assert all(size == left for (_, size), (_, left) in zip(got[:-1], before)), (before, got)
        aheads = [order[3] for order in venue.resting(INST).values()]
        assert aheads == sorted(aheads), (i, venue.resting(INST))
        assert all(a <= level for a in aheads), (i, level, venue.resting(INST))
        out += events
    return out


def test_the_book_moving_through_our_bid_fills_us_at_our_price_from_the_crossing_size() -> None:
    venue = make_venue()
    quiet_book(venue)
    send(venue, place("b1", BUY, 101, 5), T0 + 1)
    out = feed(venue, make_delta(2, T0 + 2, asks=[(102, 0), (101, 2)]))
    assert fills(out) == [("b1", 101, 2, True)]
    # the same crossing ask is not ours twice; a fresh one is
    assert fills(feed(venue, make_delta(3, T0 + 3, bids=[(99, 1)]))) == []
    assert fills(feed(venue, make_delta(4, T0 + 4, asks=[(100, 1)]))) == [("b1", 101, 1, True)]
    assert venue.resting(INST)["b1"][2] == 2


def test_a_partial_fill_leaves_the_remainder_resting_and_fillable() -> None:
    venue = make_venue()
    quiet_book(venue)
    send(venue, place("a1", SELL, 101, 5), T0 + 1)
    first = feed(venue, make_trade(102, 2, BUY, T0 + 2))
    second = feed(venue, make_trade(102, 9, BUY, T0 + 3))
    assert fills(first) == [("a1", 101, 2, True)]
    assert fills(second) == [("a1", 101, 3, True)]
    assert venue.resting(INST) == {}


def test_a_maker_rebate_is_a_negative_fee() -> None:
    venue = make_venue(make_instrument(maker_fee="-0.0001"))
    quiet_book(venue)
    send(venue, place("b1", BUY, 101, 3), T0 + 1)
    out = feed(venue, make_trade(100, 3, SELL, T0 + 2))
    (fill,) = [e for e in out if type(e) is Fill]
    assert fill.maker is True
    assert fill.fee == -3_030  # 101 * 3 * 100_000 * -100_000 / 1e9
    assert venue.statistics().fees == -3_030


def test_config_fee_rates_override_the_instruments() -> None:
    venue = make_venue(make_instrument(maker_fee="0.001"), maker_fee="-0.0002")
    quiet_book(venue)
    send(venue, place("b1", BUY, 101, 3), T0 + 1)
    (fill,) = [e for e in feed(venue, make_trade(100, 3, SELL, T0 + 2)) if type(e) is Fill]
    assert fill.fee == -6_060


# ---------------------------------------------------------------- cancels


def test_a_cancel_of_a_resting_order_emits_order_canceled() -> None:
    venue = make_venue()
    quiet_book(venue)
    send(venue, place("b1", BUY, 101, 3), T0 + 1)
    out = send(venue, Cancel(INST, 0, "b1"), T0 + 2)
    assert [(type(e), e.client_id) for e in out] == [(OrderCanceled, "b1")]
    assert venue.resting(INST) == {}


def test_a_cancel_racing_a_fill_emits_nothing_and_is_counted() -> None:
    venue = make_venue(entry_latency_ms=5.0)
    quiet_book(venue)
    venue.submit(place("b1", BUY, 101, 3), T0)
    venue.advance_to(T0 + 5_000_000)
    venue.submit(Cancel(INST, 0, "b1"), T0 + 6_000_000)  # arrives at T0 + 11 ms
    venue.on_market(make_trade(100, 5, SELL, T0 + 8_000_000))  # fills b1 first
    venue.advance_to(T0 + 20_000_000)
    out = venue.pop_outbound(NEVER)
    assert [type(e) for e in out] == [OrderAccepted, Fill]
    assert venue.statistics().cancel_misses == 1


def test_cancel_all_cancels_every_resting_order_in_arrival_order() -> None:
    venue = make_venue()
    quiet_book(venue)
    send(venue, place("b1", BUY, 99, 1), T0 + 1)
    send(venue, place("a1", SELL, 104, 1), T0 + 2)
    out = send(venue, CancelAll(INST, 0, "halt"), T0 + 3)
    assert [(e.client_id, e.reason) for e in out] == [("b1", "halt"), ("a1", "halt")]
    assert send(venue, CancelAll("", 0), T0 + 4) == []
