"""Float quotes onto the tick and lot grid: rounding away from mid, never crossing."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.quote_grid import (
    ask_levels,
    bid_levels,
    cap_to_limit,
    notional_lots,
    offset_tops,
    skewed_size,
)


def test_a_bid_is_rounded_down_and_an_ask_up() -> None:
    assert bid_levels(100.9, 0.0, 2, 1, 0) == ((100, 2),)
    assert ask_levels(100.1, 0.0, 2, 1, 0) == ((101, 2),)


def test_a_bid_at_or_through_the_best_ask_is_pulled_one_tick_below_it() -> None:
    assert bid_levels(105.0, 0.0, 1, 1, 103) == ((102, 1),)


def test_an_ask_at_or_through_the_best_bid_is_pushed_one_tick_above_it() -> None:
    assert ask_levels(95.0, 0.0, 1, 1, 97) == ((98, 1),)


def test_levels_step_away_from_mid_and_stay_strictly_ordered() -> None:
    assert bid_levels(100.0, 2.5, 1, 3, 0) == ((100, 1), (97, 1), (95, 1))
    assert ask_levels(100.0, 0.2, 1, 3, 0) == ((100, 1), (101, 1), (102, 1))


def test_a_bid_that_would_be_below_one_tick_is_dropped() -> None:
    assert bid_levels(1.5, 1.0, 1, 3, 0) == ((1, 1),)


def test_a_zero_size_or_a_non_finite_price_gives_no_levels() -> None:
    assert bid_levels(100.0, 0.0, 0, 1, 0) == ()
    assert ask_levels(float("nan"), 0.0, 1, 1, 0) == ()
    assert bid_levels(float("inf"), 0.0, 1, 1, 0) == ()


def test_notional_is_converted_to_whole_lots_at_mid() -> None:
    # BTC at 100_000.0 with tick 0.1 and lot 0.001: one tick-lot is 0.0001 quote = 100_000 nanos
    assert notional_lots(250.0, 2_000_000, 100_000) == 2  # 250 / 100 per lot = 2.5 -> 2
    assert notional_lots(250.0, 0, 100_000) == 0


def test_the_side_that_adds_inventory_shrinks_with_the_inventory_ratio() -> None:
    assert skewed_size(10, 0.3, 1, 1) == 7  # long: bids shrink
    assert skewed_size(10, 0.3, -1, 1) == 10  # long: asks keep their size
    assert skewed_size(10, -0.5, -1, 1) == 5  # short: asks shrink
    assert skewed_size(10, 1.2, 1, 1) == 0  # beyond the maximum: nothing added


def test_a_size_below_the_minimum_drops_the_level_instead_of_rounding_up() -> None:
    assert skewed_size(10, 0.75, 1, 3) == 0  # 2.5 lots -> 2 < 3
    assert skewed_size(2, 0.0, 1, 3) == 0


BIDS3 = ((100, 5), (99, 5), (98, 5))
ASKS3 = ((101, 5), (102, 5), (103, 5))


def test_the_adding_side_is_cut_to_the_room_left_best_level_first() -> None:
    assert cap_to_limit(BIDS3, 1, 0, 12, 1) == ((100, 5), (99, 5), (98, 2))  # flat: 12 lots
    assert cap_to_limit(BIDS3, 1, 4, 12, 1) == ((100, 5), (99, 3))  # long 4: 8 left
    assert cap_to_limit(ASKS3, -1, -9, 12, 1) == ((101, 3),)  # short 9: 3 left
    assert cap_to_limit(ASKS3, -1, 0, 100, 1) == ASKS3  # room to spare: unchanged


def test_a_level_left_below_the_minimum_is_dropped_never_rounded_up() -> None:
    assert cap_to_limit(BIDS3, 1, 0, 12, 3) == ((100, 5), (99, 5))  # 2 left < 3
    assert cap_to_limit(BIDS3, 1, 0, 2, 3) == ()


def test_a_single_level_larger_than_the_room_is_cut() -> None:
    assert cap_to_limit(((100, 20),), 1, 0, 7, 1) == ((100, 7),)


def test_at_or_past_the_limit_the_adding_side_is_empty() -> None:
    assert cap_to_limit(BIDS3, 1, 12, 12, 1) == ()
    assert cap_to_limit(ASKS3, -1, -15, 12, 1) == ()


def test_the_side_that_reduces_inventory_is_cut_only_past_the_opposite_limit() -> None:
    assert cap_to_limit(ASKS3, -1, 11, 12, 1) == ASKS3  # long 11: 23 lots of room
    assert cap_to_limit(BIDS3, 1, -30, 12, 1) == BIDS3  # short past the limit: bids reduce
    assert cap_to_limit(ASKS3, -1, 1, 3, 1) == ((101, 4),)  # long 1, limit 3: short 3 at most


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=2, max_value=10**7),
    st.integers(min_value=1, max_value=1000),
    st.floats(min_value=-(10**7), max_value=2 * 10**7, allow_nan=False),
    st.floats(min_value=0.0, max_value=1000.0),
    st.integers(min_value=1, max_value=5),
)
def test_levels_are_ints_never_through_the_opposite_best_and_strictly_ordered(
    best_bid: int, spread: int, top: float, step: float, count: int
) -> None:
    best_ask = best_bid + spread
    bids = bid_levels(top, step, 3, count, best_ask)
    asks = ask_levels(top, step, 3, count, best_bid)
    for price, size in bids + asks:
        assert type(price) is int and type(size) is int
    assert all(1 <= p < best_ask for p, _ in bids)
    assert all(p > best_bid for p, _ in asks)
    assert all(a[0] > b[0] for a, b in pairwise(bids))
    assert all(a[0] < b[0] for a, b in pairwise(asks))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=2, max_value=4 * 10**7),
    st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 7.5, 12.0, 15.0, 100.0]),
)
def test_offset_tops_are_the_same_distance_from_mid_each_rounded_away_from_it(
    mid_x2: int, bps: float
) -> None:
    bid, ask = offset_tops(mid_x2, bps)
    distance_x2 = mid_x2 * Fraction(str(bps)) / 10_000
    assert bid == math.floor((mid_x2 - distance_x2) / 2)
    assert ask == math.ceil((mid_x2 + distance_x2) / 2)
    assert bid + ask == mid_x2


def test_offset_tops_land_on_whole_ticks_exactly() -> None:
    assert offset_tops(400_000, 0.5) == (199_990, 200_010)  # mid * 1.00005 was 200_010.000...04
    assert offset_tops(30_000, 12.0) == (14_982, 15_018)


def test_a_price_a_float_hair_off_a_whole_tick_is_that_tick_on_either_side() -> None:
    bid = (1_000.0 - 0.2) / 0.1  # 9_998 in exact arithmetic; 9_997.999... in floats
    ask = (777.7 + 0.2) / 0.1  # 7_779 exactly; 7_779.000...1 in floats
    assert bid < 9_998 and ask > 7_779
    assert bid_levels(bid, 0, 1, 1, 0) == ((9_998, 1),)
    assert ask_levels(ask, 0, 1, 1, 0) == ((7_779, 1),)
    # a real fraction of a tick is still rounded away from mid
    assert bid_levels(999_997.9, 0, 1, 1, 0) == ((999_997, 1),)
    assert ask_levels(1_000_002.1, 0, 1, 1, 0) == ((1_000_003, 1),)
