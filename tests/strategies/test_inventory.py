"""The inventory state machine: its table, timeouts, loss limit, flattening, trading hours."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest
from test_strategy_factories import (
    HOUR,
    MS,
    SECOND,
    SYMBOL,
    T0,
    Driver,
    make_fill,
    make_instrument,
    make_mark,
    make_timer,
)

from mmcore.commands import Output
from mmcore.errors import MMError
from mmcore.events import BUY, SELL, BookSnapshot, Event
from mmcore.intents import Flatten, Intent, QuoteTarget
from mmcore.view import View
from strategies.inventory import InventoryGuard, InventoryParams
from strategies.inventory_states import (
    FLATTENING,
    IDLE,
    INVENTORY_LONG,
    INVENTORY_SHORT,
    QUOTING,
    STATES,
    TRANSITIONS,
    TRIGGERS,
    IllegalInventoryTransition,
    next_inventory_state,
)
from strategies.ping_pong import PingPongParams, PingPongStrategy

BID, ASK = 999_990, 1_000_010  # mid 1_000_000 ticks; 5 bps of mid = 500 ticks


class FixedQuoter:
    """An inner strategy quoting one lot 1000 ticks outside the touch on every new book."""

    inst = SYMBOL

    def __init__(self) -> None:
        self.last: QuoteTarget | None = None

    def step(self, view: View, event: Event) -> Intent | None:
        if type(event) is not BookSnapshot:
            return None
        book = view.books[SYMBOL]
        target = QuoteTarget(
            SYMBOL, bids=((book.best_bid - 1000, 1),), asks=((book.best_ask + 1000, 1),)
        )
        if target == self.last:
            return None
        self.last = target
        return target

    def notes(self) -> list[Output]:
        return []


def make_guard(**overrides: Any) -> tuple[Driver, InventoryGuard]:
    guard = InventoryGuard(FixedQuoter(), make_instrument(), InventoryParams(**overrides))
    return Driver(guard), guard


def make_guarded_ping_pong(**overrides: Any) -> tuple[Driver, InventoryGuard]:
    """A real ping-pong (5 bps from mid, repriced past 5 bps of drift) inside the guard."""
    inst = make_instrument()
    inner = PingPongStrategy(inst, PingPongParams(size_lots=2), random.Random(1))
    guard = InventoryGuard(inner, inst, InventoryParams(**overrides))
    return Driver(guard, inst), guard


def last(driver: Driver) -> Intent:
    return driver.intents[-1]


# ---------------------------------------------------------------- the table


def test_every_pair_in_the_table_moves_to_the_listed_state() -> None:
    for (state, trigger), target in TRANSITIONS.items():
        assert next_inventory_state(state, trigger) == target


def test_every_pair_not_in_the_table_raises_a_named_error_showing_state_and_trigger() -> None:
    for state in STATES:
        for trigger in TRIGGERS:
            if (state, trigger) in TRANSITIONS:
                continue
            with pytest.raises(IllegalInventoryTransition) as info:
                next_inventory_state(state, trigger, SYMBOL)
            assert info.value.state == state and info.value.trigger == trigger
            assert state in str(info.value) and repr(trigger) in str(info.value)


def test_an_illegal_transition_is_an_engine_error_and_a_value_error() -> None:
    with pytest.raises(MMError, match="no transition from state IDLE on trigger 'hard_timeout'"):
        next_inventory_state(IDLE, "hard_timeout", SYMBOL)
    assert issubclass(IllegalInventoryTransition, ValueError)


# ---------------------------------------------------------------- lifecycle


def test_it_starts_idle_and_quotes_what_the_inner_strategy_wants() -> None:
    driver, guard = make_guard()
    assert guard.state == IDLE
    driver.top(BID, ASK, T0)
    assert guard.state == QUOTING
    assert last(driver) == QuoteTarget(SYMBOL, bids=((BID - 1000, 1),), asks=((ASK + 1000, 1),))
    assert "inventory_state" in driver.codes()


def test_a_fill_moves_to_inventory_and_closing_it_back_to_quoting() -> None:
    driver, guard = make_guard()
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, BID, 2, ts=T0 + SECOND))
    assert guard.state == INVENTORY_LONG
    driver.feed(make_fill(SELL, ASK, 2, ts=T0 + 2 * SECOND))
    assert guard.state == QUOTING
    driver.feed(make_fill(SELL, ASK, 1, ts=T0 + 3 * SECOND))
    assert guard.state == INVENTORY_SHORT


def test_a_fill_through_zero_goes_straight_from_long_to_short() -> None:
    driver, guard = make_guard()
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, BID, 2, ts=T0 + SECOND))
    driver.feed(make_fill(SELL, ASK, 5, ts=T0 + 2 * SECOND))
    assert guard.state == INVENTORY_SHORT


def test_a_position_held_at_start_is_inventory_from_the_first_event() -> None:
    driver, guard = make_guard()
    driver.ledger.apply_fill(make_fill(BUY, BID, 2), 0)
    driver.top(BID, ASK, T0)
    assert guard.state == INVENTORY_LONG


# ---------------------------------------------------------------- timeouts


def test_before_the_soft_timeout_the_exit_side_is_untouched() -> None:
    driver, _ = make_guard(soft_timeout_s=120.0)
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, BID, 2, ts=T0))
    count = len(driver.intents)
    driver.feed(make_timer(T0 + 119 * SECOND))
    assert len(driver.intents) == count and "inventory_soft_timeout" not in driver.codes()


def test_after_the_soft_timeout_a_long_position_tightens_the_asks() -> None:
    driver, guard = make_guard(soft_timeout_s=120.0, exit_tighten_bps=5.0)
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, BID, 2, ts=T0))
    driver.feed(make_timer(T0 + 120 * SECOND))
    assert last(driver) == QuoteTarget(
        SYMBOL, bids=((BID - 1000, 1),), asks=((ASK + 1000 - 500, 1),)
    )
    assert "inventory_soft_timeout" in driver.codes()
    assert guard.state == INVENTORY_LONG


def test_after_the_soft_timeout_a_short_position_tightens_the_bids() -> None:
    driver, _ = make_guard(soft_timeout_s=60.0, exit_tighten_bps=5.0)
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(SELL, ASK, 2, ts=T0))
    driver.feed(make_timer(T0 + 60 * SECOND))
    assert last(driver) == QuoteTarget(
        SYMBOL, bids=((BID - 1000 + 500, 1),), asks=((ASK + 1000, 1),)
    )


def test_tightening_never_crosses_the_opposite_best() -> None:
    driver, _ = make_guard(soft_timeout_s=60.0, exit_tighten_bps=50.0)  # 5000 ticks
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, BID, 2, ts=T0))
    driver.feed(make_timer(T0 + 60 * SECOND))
    target = last(driver)
    assert isinstance(target, QuoteTarget) and target.asks == ((BID + 1, 1),)


def test_a_book_reaching_the_tightened_ask_moves_it_back_above_the_best_bid() -> None:
    driver, _ = make_guarded_ping_pong(soft_timeout_s=60.0, exit_tighten_bps=5.0)
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, 999_500, 2, ts=T0 + SECOND))  # ping-pong now offers at 1_000_500
    driver.feed(make_timer(T0 + 61 * SECOND))
    assert last(driver) == QuoteTarget(SYMBOL, asks=((1_000_000, 2),))  # 5 bps towards mid
    # the market lifts by 0.3 bps: no reprice for ping-pong, but the best bid passes our ask
    driver.top(BID + 30, ASK + 30, T0 + 62 * SECOND)
    target = last(driver)
    assert isinstance(target, QuoteTarget)
    assert target.asks and target.asks[0][0] > driver.book.best_bid


def test_a_book_reaching_the_tightened_bid_moves_it_back_below_the_best_ask() -> None:
    driver, _ = make_guarded_ping_pong(soft_timeout_s=60.0, exit_tighten_bps=5.0)
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(SELL, 1_000_500, 2, ts=T0 + SECOND))  # short: ping-pong bids 999_500
    driver.feed(make_timer(T0 + 61 * SECOND))
    assert last(driver) == QuoteTarget(SYMBOL, bids=((1_000_000, 2),))
    driver.top(BID - 30, ASK - 30, T0 + 62 * SECOND)
    target = last(driver)
    assert isinstance(target, QuoteTarget)
    assert target.bids and target.bids[0][0] < driver.book.best_ask


def test_new_inner_quotes_stay_tightened_while_inventory_is_old() -> None:
    driver, _ = make_guard(soft_timeout_s=60.0, exit_tighten_bps=5.0)
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, BID, 2, ts=T0))
    driver.feed(make_timer(T0 + 60 * SECOND))
    driver.top(BID + 100, ASK + 100, T0 + 61 * SECOND)
    target = last(driver)
    assert isinstance(target, QuoteTarget) and target.asks == ((ASK + 100 + 1000 - 500, 1),)


def test_the_hard_timeout_flattens_as_maker_then_aggressively() -> None:
    driver, guard = make_guard(hard_timeout_s=300.0, maker_exit_s=5.0)
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, BID, 2, ts=T0))
    driver.feed(make_timer(T0 + 300 * SECOND))
    flatten = last(driver)
    assert isinstance(flatten, Flatten) and not flatten.aggressive
    assert "hard_timeout" in flatten.reason and guard.state == FLATTENING
    count = len(driver.intents)
    driver.top(BID + 10, ASK + 10, T0 + 302 * SECOND)  # inner requotes: suppressed
    assert len(driver.intents) == count
    driver.feed(make_timer(T0 + 305 * SECOND))
    aggressive = last(driver)
    assert isinstance(aggressive, Flatten) and aggressive.aggressive
    assert "inventory_flatten_aggressive" in driver.codes()


def test_once_flat_after_flattening_it_quotes_again() -> None:
    driver, guard = make_guard(hard_timeout_s=10.0, soft_timeout_s=5.0)
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, BID, 2, ts=T0))
    driver.feed(make_timer(T0 + 10 * SECOND))
    driver.feed(make_fill(SELL, BID, 2, ts=T0 + 11 * SECOND))
    assert guard.state == QUOTING
    assert last(driver) == QuoteTarget(SYMBOL, bids=((BID - 1000, 1),), asks=((ASK + 1000, 1),))


def test_dust_left_by_a_partial_exit_ends_the_flatten_and_quoting_resumes() -> None:
    """A remainder below the minimum size can be closed by no order (the order manager places
    none): flattening on would pull the quotes for good."""
    inst = msgspec.structs.replace(make_instrument(), min_size="0.005")  # 5 lots
    guard = InventoryGuard(FixedQuoter(), inst, InventoryParams(hard_timeout_s=10.0,
                                                                soft_timeout_s=5.0))
    driver = Driver(guard, inst)
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, BID, 12, ts=T0))
    driver.feed(make_timer(T0 + 10 * SECOND))
    assert guard.state == FLATTENING
    driver.feed(make_fill(SELL, BID, 9, ts=T0 + 11 * SECOND))  # 3 lots left: dust
    assert guard.state == QUOTING
    assert last(driver) == QuoteTarget(SYMBOL, bids=((BID - 1000, 1),), asks=((ASK + 1000, 1),))
    driver.feed(make_timer(T0 + 100 * SECOND))  # and dust never counts as inventory
    assert guard.state == QUOTING


def test_an_unrealized_loss_beyond_the_limit_flattens() -> None:
    driver, guard = make_guard(max_loss_usd=5.0)
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, 1_000_000, 10, ts=T0))  # 0.01 BTC at 100_000.0
    driver.feed(make_mark(999_600, ts=T0 + SECOND))  # -40.0 * 0.01 = -0.40: fine
    assert guard.state == INVENTORY_LONG
    driver.feed(make_mark(999_000, ts=T0 + 2 * SECOND))  # -100.0 * 0.01 = -1.0: fine
    assert guard.state == INVENTORY_LONG
    driver.feed(make_mark(994_000, ts=T0 + 3 * SECOND))  # -600.0 * 0.01 = -6.0 > 5
    assert guard.state == FLATTENING
    flatten = last(driver)
    assert isinstance(flatten, Flatten) and "loss_limit" in flatten.reason


# ---------------------------------------------------------------- trading hours

CLOSED_AT_T0 = {"trading_start_hour": 8, "trading_end_hour": 20}  # T0 is 22:13 UTC
NEXT_OPEN = (T0 // HOUR + 10) * HOUR  # 08:00 the next day


def test_outside_trading_hours_it_quotes_nothing() -> None:
    driver, guard = make_guard(**CLOSED_AT_T0)
    driver.top(BID, ASK, T0)
    assert driver.intents == [QuoteTarget(SYMBOL)]
    assert guard.state == IDLE and "trading_hours" in driver.codes()


def test_when_the_window_opens_it_quotes_and_when_it_closes_it_pulls() -> None:
    driver, guard = make_guard(**CLOSED_AT_T0)
    driver.top(BID, ASK, T0)
    driver.feed(make_timer(NEXT_OPEN - MS))
    assert guard.state == IDLE
    driver.feed(make_timer(NEXT_OPEN))
    assert guard.state == QUOTING
    assert last(driver) == QuoteTarget(SYMBOL, bids=((BID - 1000, 1),), asks=((ASK + 1000, 1),))
    driver.feed(make_timer(NEXT_OPEN + 12 * HOUR))  # 20:00
    assert guard.state == IDLE and last(driver) == QuoteTarget(SYMBOL)


def test_a_window_past_midnight_wraps() -> None:
    driver, guard = make_guard(trading_start_hour=22, trading_end_hour=2)
    driver.top(BID, ASK, T0)  # 22:13
    assert guard.state == QUOTING


def test_with_flatten_outside_hours_inventory_is_flattened_when_the_window_closes() -> None:
    driver, guard = make_guard(
        trading_start_hour=8,
        trading_end_hour=23,
        flatten_outside_hours=True,
        soft_timeout_s=3600.0,
        hard_timeout_s=7200.0,
    )
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, BID, 2, ts=T0 + SECOND))
    driver.feed(make_timer((T0 // HOUR + 1) * HOUR))  # 23:00
    flatten = last(driver)
    assert isinstance(flatten, Flatten) and "off_hours" in flatten.reason
    assert guard.state == FLATTENING


def test_statistics_count_transitions_and_flattens() -> None:
    driver, guard = make_guard(hard_timeout_s=10.0, soft_timeout_s=5.0, maker_exit_s=1.0)
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, BID, 2, ts=T0))
    driver.feed(make_timer(T0 + 5 * SECOND))
    driver.feed(make_timer(T0 + 10 * SECOND))
    driver.feed(make_timer(T0 + 11 * SECOND))
    stats = guard.statistics()
    assert (stats.state, stats.position, stats.transitions) == (FLATTENING, 2, 3)
    assert (stats.soft_timeouts, stats.flattens, stats.aggressive_flattens) == (1, 1, 1)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"soft_timeout_s": 400.0}, "soft_timeout_s"),
        ({"maker_exit_s": -1.0}, "maker_exit_s"),
        ({"max_loss_usd": -1.0}, "max_loss_usd"),
        ({"trading_start_hour": 24}, "trading_start_hour"),
        ({"trading_end_hour": 0}, "trading_end_hour"),
    ],
)
def test_params_refuse_values_out_of_range_naming_the_field(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        InventoryParams(**fields)
