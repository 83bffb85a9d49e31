"""The symmetric uptime quoter: reference, drift, proximity guard, quote age, uptime."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_strategy_factories import (
    HOUR,
    SECOND,
    SYMBOL,
    T0,
    Driver,
    make_instrument,
    make_mark,
    make_snapshot,
    make_timer,
)

from mmcore.events import BUY, SELL
from mmcore.intents import QuoteTarget
from strategies.symmetric_uptime import SymmetricUptimeParams, SymmetricUptimeStrategy

BID, ASK = 999_990, 1_000_010  # mid 1_000_000 ticks; 1 bp = 100 ticks


def make_driver(**overrides: Any) -> tuple[Driver, SymmetricUptimeStrategy]:
    fields: dict[str, Any] = {"half_spread_bps": 5.0, "requote_bps": 2.0, "size_lots": 2}
    fields.update(overrides)
    params = msgspec.convert(fields, SymmetricUptimeParams)
    inst = make_instrument()
    strategy = SymmetricUptimeStrategy(inst, params, random.Random(1))
    return Driver(strategy, inst), strategy


def last(driver: Driver) -> QuoteTarget:
    target = driver.intents[-1]
    assert isinstance(target, QuoteTarget)
    return target


def test_it_quotes_half_spread_bps_each_side_of_mid() -> None:
    driver, _ = make_driver()
    driver.top(BID, ASK, T0)
    assert last(driver) == QuoteTarget(SYMBOL, bids=((999_500, 2),), asks=((1_000_500, 2),))


def test_with_reference_mark_it_centres_on_the_mark_once_seen() -> None:
    driver, _ = make_driver(reference="mark", touch_guard_bps=0.0)
    driver.top(BID, ASK, T0)
    assert last(driver).bids == ((999_500, 2),)  # no mark yet: mid
    driver.feed(make_mark(1_000_300, ts=T0 + SECOND))  # 3 bps away: past requote_bps
    assert last(driver) == QuoteTarget(SYMBOL, bids=((999_799, 2),), asks=((1_000_801, 2),))


def test_it_requotes_only_past_the_drift_threshold() -> None:
    driver, strategy = make_driver()
    driver.top(BID, ASK, T0)
    driver.top(BID + 150, ASK + 150, T0 + SECOND)
    assert len(driver.intents) == 1
    driver.top(BID + 250, ASK + 250, T0 + 2 * SECOND)
    assert len(driver.intents) == 2 and strategy.statistics().drift_requotes == 1


def test_a_quote_near_the_opposite_best_is_requoted_away_from_it() -> None:
    driver, strategy = make_driver(requote_bps=50.0, touch_guard_bps=2.0)
    driver.top(BID, ASK, T0)  # bid 999_500
    driver.top(999_300, 999_650, T0 + SECOND)  # best ask 150 ticks above our bid, guard 200
    assert strategy.statistics().guard_requotes == 1
    bid = last(driver).bids[0][0]
    assert bid <= 999_650 - 200
    assert last(driver).asks[0][0] >= 999_300 + 200


def test_without_a_guard_a_book_through_a_quote_still_requotes() -> None:
    driver, strategy = make_driver(requote_bps=50.0, touch_guard_bps=0.0)
    driver.top(BID, ASK, T0)  # bid 999_500
    driver.top(999_400, 999_500, T0 + SECOND)  # best ask at our bid
    assert strategy.statistics().guard_requotes == 1
    assert last(driver).bids[0][0] < 999_500


def test_quotes_older_than_the_maximum_age_are_repriced() -> None:
    driver, strategy = make_driver(max_quote_age_s=30.0)
    driver.top(BID, ASK, T0)
    driver.top(BID + 100, ASK + 100, T0 + SECOND)  # 1 bp: below requote_bps
    driver.feed(make_timer(T0 + 29 * SECOND))
    assert len(driver.intents) == 1
    driver.feed(make_timer(T0 + 30 * SECOND))
    assert strategy.statistics().age_requotes == 1
    assert last(driver).bids == ((999_599, 2),)  # 1_000_100 * 0.9995, rounded down


def test_a_stale_book_pulls_both_quotes() -> None:
    driver, _ = make_driver()
    driver.top(BID, ASK, T0)
    driver.book.stale = True
    driver.feed(make_timer(T0 + HOUR))
    assert last(driver) == QuoteTarget(SYMBOL)


def test_quotes_never_cross_a_one_tick_book() -> None:
    driver, _ = make_driver(half_spread_bps=0.01, touch_guard_bps=0.0)
    driver.top(1_000_000, 1_000_001, T0)
    target = last(driver)
    assert target.bids[0][0] < 1_000_001 and target.asks[0][0] > 1_000_000


@settings(max_examples=200, deadline=None)
@given(
    half_spread_bps=st.sampled_from([0.5, 1.5, 2.5, 5.0, 7.5, 10.0, 12.0, 15.0, 25.0]),
    mid=st.integers(min_value=1, max_value=1000).map(lambda j: j * 20_000),
    half_tick=st.booleans(),
)
@example(half_spread_bps=0.5, mid=200_000, half_tick=False)  # ask was 11 ticks out, bid 10
@example(half_spread_bps=12.0, mid=1_000_000, half_tick=True)
def test_the_bid_and_the_ask_are_the_same_distance_from_mid_rounded_away_from_it(
    half_spread_bps: float, mid: int, half_tick: bool
) -> None:
    # mids that are a multiple of 20_000 ticks put every sampled half spread on whole ticks
    driver, _ = make_driver(half_spread_bps=half_spread_bps, touch_guard_bps=0.0)
    driver.top(mid - 1, mid + 1 + half_tick, T0)  # the book clamps nothing
    target = last(driver)
    (bid, _), (ask, _) = target.bids[0], target.asks[0]
    mid_x2 = 2 * mid + half_tick
    distance_x2 = mid_x2 * Fraction(str(half_spread_bps)) / 10_000
    assert bid == math.floor((mid_x2 - distance_x2) / 2)
    assert ask == math.ceil((mid_x2 + distance_x2) / 2)
    assert bid + ask == mid_x2


def test_with_reference_mark_a_book_whose_bid_side_empties_pulls_both_quotes() -> None:
    driver, _ = make_driver(reference="mark")
    driver.feed(make_mark(1_000_000, ts=T0))
    driver.top(BID, ASK, T0)
    assert last(driver).bids and last(driver).asks
    driver.feed(make_snapshot([], [(ASK, 5)], ts=T0 + SECOND, seq=2))  # no bids at all
    assert last(driver) == QuoteTarget(SYMBOL)


def test_with_reference_mark_a_book_whose_ask_side_empties_pulls_both_quotes() -> None:
    driver, _ = make_driver(reference="mark")
    driver.feed(make_mark(1_000_000, ts=T0))
    driver.top(BID, ASK, T0)
    driver.feed(make_snapshot([(BID, 5)], [], ts=T0 + SECOND, seq=2))
    assert last(driver) == QuoteTarget(SYMBOL)


def test_it_reports_each_hour_of_uptime_as_a_strategy_event() -> None:
    driver, strategy = make_driver(band_bps=10.0, tier_minutes=[30.0, 42.0])
    start = T0 // HOUR * HOUR + HOUR
    driver.feed(make_mark(1_000_000, ts=start))
    driver.top(BID, ASK, start)
    driver.rest("b1", BUY, 999_500, 2, start)
    driver.rest("a1", SELL, 1_000_500, 2, start)
    driver.feed(make_timer(start + HOUR))
    stats = strategy.statistics().uptime
    assert stats.completed[0].in_band_s == pytest.approx(3600.0)
    assert stats.completed[0].tier_minutes == 42.0
    assert "uptime_hour" in driver.codes()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("half_spread_bps", 0.0),
        ("tier_minutes", [90.0]),
        ("size_lots", 0),
        ("band_bps", -1.0),
        ("touch_guard_bps", 5.0),
    ],
)
def test_params_refuse_values_out_of_range_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(msgspec.ValidationError, match=f"^{field}: expected"):
        msgspec.convert({field: value}, SymmetricUptimeParams)
