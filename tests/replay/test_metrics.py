"""replay.metrics against hand-computed numbers; round trips and uptime from scripted events."""

from __future__ import annotations

import math
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.commands import Place
from mmcore.events import BUY, SELL, BookSnapshot, Fill, MarkPrice, Position
from mmcore.instrument import Instrument
from mmcore.state import Ledger
from replay.metrics import (
    MINUTES_PER_YEAR,
    changes,
    expectancy,
    longest_losing_streak,
    max_drawdown,
    pnl_by_hour,
    profit_factor,
    running_drawdown,
    sharpe,
    two_sided_uptime,
    win_rate,
)
from replay.resting import RestingQuotes
from replay.round_trips import RoundTrips
from replay.timeline import TimelineFold

INST = "BTC-USD"


def make_instrument() -> Instrument:
    """0.1 tick x 0.001 lot: one tick-lot is 100_000 nanos of quote."""
    return Instrument(venue="sim", symbol=INST, tick_size="0.1", lot_size="0.001")


def make_fill(side: int, price: int, size: int, fee: int = 0, client_id: str = "c", ts: int = 0
              ) -> Fill:
    return Fill(INST, ts, ts, client_id, side, price, size, fee, True)


def make_place(client_id: str, side: int, price: int = 100, size: int = 1) -> Place:
    return Place(INST, 0, client_id, side, price, size)


# ---------------------------------------------------------------- drawdown


def test_max_drawdown_is_the_largest_fall_from_a_running_peak() -> None:
    # peaks 5 then 8; falls 5->3 (2), 8->1 (7)
    assert max_drawdown([0, 5, 3, 8, 2, 6, 1]) == 7


def test_max_drawdown_of_a_curve_that_never_falls_is_zero() -> None:
    assert max_drawdown([1, 1, 2, 5, 9]) == 0
    assert max_drawdown([]) == 0


def test_max_drawdown_counts_a_fall_below_the_start() -> None:
    assert max_drawdown([0, -4, -1, -6]) == 6


def test_running_drawdown_over_chunks_equals_drawdown_over_the_whole_curve() -> None:
    rng = random.Random(11)
    curve = [rng.randint(-50, 50) for _ in range(1000)]
    for i in range(1, len(curve)):
        curve[i] += curve[i - 1]
    peak, worst = float("-inf"), 0.0
    for start in range(0, len(curve), 37):
        peak, worst = running_drawdown(curve[start:start + 37], peak, worst)
    assert worst == max_drawdown(curve)
    assert peak == max(curve)


# ---------------------------------------------------------------- Sharpe


def test_changes_start_from_the_given_value() -> None:
    assert changes([3, 5, 4]) == [3, 2, -1]
    assert changes([3, 5], start=1) == [2, 2]


def test_sharpe_is_mean_over_sample_std() -> None:
    # mean 2, sample variance ((1 + 0 + 1) / 2) = 1
    assert sharpe([1, 2, 3]) == 2.0


def test_sharpe_annualises_by_the_square_root_of_periods_per_year() -> None:
    assert sharpe([1, 2, 3], periods_per_year=4) == 4.0
    assert math.isclose(sharpe([1, 2, 3], MINUTES_PER_YEAR), 2.0 * math.sqrt(525_600))


def test_sharpe_is_undefined_for_one_change_or_no_variation() -> None:
    assert math.isnan(sharpe([5.0]))
    assert math.isnan(sharpe([2.0, 2.0, 2.0]))


@settings(max_examples=200, deadline=None)
@given(
    value=st.integers(-10**12, 10**12).map(lambda nanos: nanos / 1e9),
    n=st.integers(2, 200),
)
def test_sharpe_of_per_minute_changes_that_never_vary_is_undefined(value: float, n: int) -> None:
    # e.g. 0.1 three times: a float mean and variance of equal values can come out a few ulps
    # off, which would make a ratio of ~1e15 out of a series that does not vary at all
    assert math.isnan(sharpe([value] * n, MINUTES_PER_YEAR))


# ---------------------------------------------------------------- round-trip statistics

TRIPS = [10.0, -5.0, 20.0, -5.0, -5.0, 0.0, -1.0]


def test_win_rate_counts_only_strictly_positive_round_trips() -> None:
    assert win_rate(TRIPS) == 2 / 7


def test_profit_factor_is_gross_profit_over_gross_loss() -> None:
    assert profit_factor(TRIPS) == 30 / 16


def test_profit_factor_is_infinite_without_losses_and_undefined_without_either() -> None:
    assert profit_factor([1.0, 2.0]) == math.inf
    assert math.isnan(profit_factor([]))
    assert math.isnan(profit_factor([0.0]))


def test_expectancy_is_the_mean_round_trip() -> None:
    assert expectancy(TRIPS) == 14 / 7
    assert math.isnan(expectancy([]))


def test_longest_losing_streak_is_ended_by_a_flat_round_trip() -> None:
    assert longest_losing_streak(TRIPS) == 2
    assert longest_losing_streak([-1.0, -1.0, -1.0, 0.0, -1.0]) == 3
    assert longest_losing_streak([]) == 0


def test_round_trips_close_at_average_cost_net_of_pro_rata_fees() -> None:
    trips = RoundTrips({INST: make_instrument()})
    unit = 100_000
    trips.on_fill(make_fill(BUY, 100, 2, fee=10))
    trips.on_fill(make_fill(SELL, 103, 1, fee=5))  # closes 1 of 2: +3 ticks, fees 5 + 5
    trips.on_fill(make_fill(SELL, 99, 3, fee=9))  # closes 1 (-1 tick, fees 5 + 3), shorts 2
    trips.on_fill(make_fill(BUY, 97, 2, fee=4))  # closes 2: +2 ticks each, fees 6 + 4
    assert list(trips.pnl) == [3 * unit - 10, -1 * unit - 8, 4 * unit - 10]
    assert trips.statistics().closed == 3


def test_round_trips_close_a_position_the_venue_reported_at_the_ledgers_basis() -> None:
    # a live session that starts holding 3 lots: reconciliation reports them (``Position``) and
    # the ledger books them at the mark (101); the fills that close them are round trips
    fold = TimelineFold({INST: make_instrument()})
    fold.feed([
        BookSnapshot(INST, 1, 1, 1, (100, 5), (102, 5)),
        MarkPrice(INST, 2, 2, 101),
        Position(INST, 3, 3, 3),
        make_fill(SELL, 103, 3, ts=4),  # closes the 3 lots: +2 ticks each
        make_fill(BUY, 100, 2, ts=5),
        make_fill(SELL, 102, 2, ts=6),  # closes 2: +2 ticks each
    ])
    timeline = fold.finish()
    unit = 100_000
    assert list(timeline.round_trips) == [6 * unit, 4 * unit]
    pos = fold.ledger.pos(INST)
    assert pos.size == 0
    assert sum(timeline.round_trips) == pos.realized - pos.fees


def test_a_position_reported_before_any_price_is_closed_at_the_mid_the_ledger_prices_it() -> None:
    fold = TimelineFold({INST: make_instrument()})
    fold.feed([
        Position(INST, 1, 1, 3),  # no mark yet: unbased until priced
        BookSnapshot(INST, 2, 2, 1, (100, 5), (102, 5)),
        make_fill(SELL, 103, 3, ts=3),  # the ledger prices the 3 lots at the mid, 101: +2 each
        make_fill(BUY, 100, 2, ts=4),
        make_fill(SELL, 102, 2, ts=5),  # +2 ticks each
    ])
    unit = 100_000
    assert list(fold.finish().round_trips) == [6 * unit, 4 * unit]
    pos = fold.ledger.pos(INST)
    assert sum(fold.trips.pnl) == pos.realized - pos.fees


def test_a_position_held_before_the_session_closes_from_its_first_valuation_not_its_entry(
) -> None:
    # a restart holding 3 lots the venue says were bought at 99.5 ticks on average: the lots
    # made 1.5 ticks each before this session, which counted none of it; the session values
    # them at the mid of its first fill (101), as when the venue gives no entry price
    fold = TimelineFold({INST: make_instrument()})
    fold.feed([
        Position(INST, 1, 1, 3, entry_x2=199),
        BookSnapshot(INST, 2, 2, 1, (100, 5), (102, 5)),
        make_fill(SELL, 103, 3, ts=3),  # +2 ticks each for the session (was +3.5)
    ])
    unit = 100_000
    timeline = fold.finish()
    assert list(timeline.round_trips) == [6 * unit]
    pos = fold.ledger.pos(INST)
    assert pos.realized == 21 * unit // 2  # the position's own, from its entry price
    assert sum(fold.trips.pnl) == pos.realized - pos.prior_closed - pos.fees
    assert timeline.parts.total == fold.ledger.total_pnl(INST, 202) == 6 * unit


def test_round_trips_follow_a_venue_correction_of_the_position_with_its_fees_pro_rata() -> None:
    fold = TimelineFold({INST: make_instrument()})
    fold.feed([
        BookSnapshot(INST, 1, 1, 1, (100, 5), (102, 5)),
        make_fill(BUY, 100, 3, fee=30, ts=2),
        Position(INST, 3, 3, 1),  # the venue holds 1 lot: 2 lots and their fees are gone
        make_fill(SELL, 104, 2, fee=10, ts=4),  # closes the 1 lot (fees 10 + 5), shorts 1
        make_fill(BUY, 103, 1, ts=5),  # closes the short: +1 tick, fee 5 of opening it
    ])
    timeline = fold.finish()
    unit = 100_000
    assert list(timeline.round_trips) == [4 * unit - 10 - 5, 1 * unit - 5]
    assert fold.trips.statistics().rebases == 1


fills_strategy = st.lists(
    st.tuples(st.sampled_from([BUY, SELL]), st.integers(90, 110), st.integers(1, 5),
              st.integers(-20, 20)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(fills_strategy)
def test_round_trips_of_a_session_that_ends_flat_sum_to_its_realized_pnl_net_of_fees(
    fills: list[tuple[int, int, int, int]],
) -> None:
    inst = make_instrument()
    trips = RoundTrips({INST: inst})
    ledger = Ledger({INST: inst})
    position = 0
    for side, price, size, fee in fills:
        fill = make_fill(side, price, size, fee)
        trips.on_fill(fill)
        ledger.apply_fill(fill, 0)
        position += side * size
    if position:
        flat = make_fill(SELL if position > 0 else BUY, 100, abs(position), 3)
        trips.on_fill(flat)
        ledger.apply_fill(flat, 0)
    pos = ledger.pos(INST)
    assert pos.size == 0
    assert sum(trips.pnl) == pos.realized - pos.fees


venue_session = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.sampled_from([BUY, SELL]), st.integers(90, 110),
                  st.integers(1, 5)),
        st.tuples(st.just("position"), st.integers(-6, 6),
                  st.one_of(st.just(0), st.integers(180, 220))),  # entry_x2, 0 = unknown
        st.tuples(st.just("mark"), st.integers(90, 110)),
        st.tuples(st.just("book"), st.integers(90, 108)),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(venue_session)
def test_round_trips_close_every_position_the_venue_reports_at_the_ledgers_basis(
    ops: list[tuple[Any, ...]],
) -> None:
    # Without fees a round trip's PnL is exactly what the session realizes when the ledger
    # closes lots, whatever the venue reported in between and however the ledger priced it (its
    # entry price, a mark, the mid of a fill, the fill's price; lots held before the session
    # at their first valuation).
    fold = TimelineFold({INST: make_instrument()})
    for t, op in enumerate(ops, 1):
        if op[0] == "fill":
            _, side, price, size = op
            fold.feed([make_fill(side, price, size, ts=t)])
        elif op[0] == "position":
            fold.feed([Position(INST, t, t, op[1], entry_x2=op[2])])
        elif op[0] == "mark":
            fold.feed([MarkPrice(INST, t, t, op[1])])
        else:
            bid = op[1]
            fold.feed([BookSnapshot(INST, t, t, t, (bid, 5), (bid + 2, 5))])
        pos = fold.ledger.pos(INST)
        assert sum(fold.trips.pnl) == pos.realized - pos.prior_closed


# ---------------------------------------------------------------- uptime


def test_uptime_sums_two_sided_periods_over_the_session() -> None:
    # two-sided 10..30 and 50..end(100)
    assert two_sided_uptime([10, 30, 50], 0, 100) == 0.7


def test_uptime_clips_periods_to_the_session() -> None:
    assert two_sided_uptime([-10, 20, 30, 80], 0, 40) == 0.75


def test_uptime_is_undefined_for_an_empty_session() -> None:
    assert math.isnan(two_sided_uptime([], 5, 5))


def test_uptime_of_a_scripted_order_timeline() -> None:
    quotes = RestingQuotes([INST])
    quotes.on_place(make_place("bid-1", BUY, size=2))
    quotes.on_place(make_place("ask-1", SELL, size=3))
    quotes.on_accepted("bid-1", 10)
    quotes.on_accepted("ask-1", 20)  # two-sided from 20
    quotes.on_fill(make_fill(SELL, 100, 1, client_id="ask-1", ts=30))  # partial: still up
    quotes.on_canceled("bid-1", 60)  # one-sided from 60
    quotes.on_place(make_place("bid-2", BUY))
    quotes.on_rejected("bid-2", 65)  # never rested: no change
    quotes.on_place(make_place("bid-3", BUY))
    quotes.on_accepted("bid-3", 70)  # two-sided again
    quotes.on_fill(make_fill(SELL, 100, 2, client_id="ask-1", ts=90))  # ask done: down
    quotes.on_canceled("unknown", 95)
    edges = quotes.edges(INST)
    assert list(edges) == [20, 60, 70, 90]
    assert two_sided_uptime(edges, 0, 100) == 0.6
    stats = quotes.statistics()
    assert (stats.accepted, stats.filled, stats.canceled, stats.rejected, stats.unknown) == (
        3, 1, 1, 1, 1
    )
    assert stats.open == 1


# ---------------------------------------------------------------- by hour


def test_pnl_by_hour_groups_minutes_by_utc_hour_of_day() -> None:
    minutes = [0, 59, 60, 1439, 1440]  # 00:00, 00:59, 01:00, 23:59, next day 00:00
    assert pnl_by_hour(minutes, [1.0, 2.0, 3.0, 4.0, 5.0]) == {0: 8.0, 1: 3.0, 23: 4.0}

