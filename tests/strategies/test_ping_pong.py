"""Ping-pong: one order at a time, side switching on fills, initial side from the position."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest
from test_strategy_factories import MS, SECOND, SYMBOL, T0, Driver, make_fill, make_instrument

from mmcore.events import BUY, SELL
from mmcore.intents import QuoteTarget
from strategies.ping_pong import PingPongParams, PingPongStrategy

BID, ASK = 999_990, 1_000_010  # mid 1_000_000 ticks


def make_driver(min_size: str = "0.001", **overrides: Any) -> Driver:
    fields: dict[str, Any] = {"size_lots": 5, "offset_bps": 5.0, "reprice_bps": 5.0}
    fields.update(overrides)
    inst = make_instrument(min_size=min_size)
    params = msgspec.convert(fields, PingPongParams)
    return Driver(PingPongStrategy(inst, params, random.Random(1)), inst)


def last(driver: Driver) -> QuoteTarget:
    target = driver.intents[-1]
    assert isinstance(target, QuoteTarget)
    return target


def test_flat_it_starts_with_a_bid_offset_bps_below_mid() -> None:
    driver = make_driver()
    driver.top(BID, ASK, T0)
    assert last(driver) == QuoteTarget(SYMBOL, bids=((999_500, 5),))
    assert "initial_side" in driver.codes()


def test_flat_it_starts_on_the_configured_initial_side() -> None:
    driver = make_driver(initial_side="sell")
    driver.top(BID, ASK, T0)
    assert last(driver) == QuoteTarget(SYMBOL, asks=((1_000_500, 5),))


def test_long_it_starts_by_selling_the_position() -> None:
    driver = make_driver()
    driver.feed(make_fill(BUY, BID, 3, ts=T0 - SECOND))
    driver.top(BID, ASK, T0)
    assert last(driver) == QuoteTarget(SYMBOL, asks=((1_000_500, 3),))


def test_short_it_starts_by_buying() -> None:
    driver = make_driver(initial_side="sell")
    driver.feed(make_fill(SELL, ASK, 2, ts=T0 - SECOND))
    driver.top(BID, ASK, T0)
    assert last(driver) == QuoteTarget(SYMBOL, bids=((999_500, 2),))


def test_a_full_fill_switches_to_the_other_side() -> None:
    driver = make_driver()
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, 999_500, 5, ts=T0 + SECOND))
    assert last(driver) == QuoteTarget(SYMBOL, asks=((1_000_500, 5),))
    driver.feed(make_fill(SELL, 1_000_500, 5, ts=T0 + 2 * SECOND))
    assert last(driver) == QuoteTarget(SYMBOL, bids=((999_500, 5),))
    assert driver.codes().count("side_switch") == 2


def test_a_partial_fill_switches_side_and_sells_only_what_was_bought() -> None:
    driver = make_driver()
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, 999_500, 2, ts=T0 + SECOND))
    assert last(driver) == QuoteTarget(SYMBOL, asks=((1_000_500, 2),))
    assert driver.strategy.statistics().side == SELL  # type: ignore[attr-defined]


def test_a_second_partial_fill_of_the_old_order_keeps_the_new_side() -> None:
    driver = make_driver()
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, 999_500, 2, ts=T0 + SECOND))
    driver.feed(make_fill(BUY, 999_500, 1, ts=T0 + SECOND + MS))
    assert last(driver) == QuoteTarget(SYMBOL, asks=((1_000_500, 3),))
    assert driver.strategy.statistics().switches == 1  # type: ignore[attr-defined]


def test_a_position_below_the_minimum_size_does_not_cap_the_order_that_would_reduce_it() -> None:
    driver = make_driver(min_size="0.01", size_lots=10)  # a minimum of 10 lots
    driver.top(BID, ASK, T0)
    driver.feed(make_fill(BUY, 999_500, 3, ts=T0 + SECOND))  # long 3: dust
    assert last(driver) == QuoteTarget(SYMBOL, asks=((1_000_500, 10),))  # not 3: none would go


def test_it_reprices_only_when_mid_moves_past_reprice_bps() -> None:
    driver = make_driver(reprice_bps=5.0)
    driver.top(BID, ASK, T0)
    count = len(driver.intents)
    driver.top(BID + 400, ASK + 400, T0 + SECOND)  # 4 bps
    assert len(driver.intents) == count
    driver.top(BID + 600, ASK + 600, T0 + 2 * SECOND)  # 6 bps
    assert last(driver) == QuoteTarget(SYMBOL, bids=((1_000_099, 5),))  # 1_000_600 * 0.9995


def test_the_opposite_best_reaching_the_order_reprices_it() -> None:
    driver = make_driver(offset_bps=1.0, reprice_bps=50.0)
    driver.top(BID, ASK, T0)  # bid at 999_900
    driver.top(999_850, 999_900, T0 + SECOND)  # best ask now at our bid; drift only 1.25 bps
    assert last(driver).bids == ((999_775, 5),)  # 999_875 * 0.9999 rounded down


@pytest.mark.parametrize(
    ("side", "offset_bps", "mid", "expected"),
    [
        ("sell", 0.5, 200_000, QuoteTarget(SYMBOL, asks=((200_010, 5),))),  # was 200_011
        ("buy", 12.0, 15_000, QuoteTarget(SYMBOL, bids=((14_982, 5),))),
        ("sell", 12.0, 15_000, QuoteTarget(SYMBOL, asks=((15_018, 5),))),  # was 15_019
    ],
)
def test_an_offset_of_whole_ticks_rests_exactly_that_many_ticks_from_mid(
    side: str, offset_bps: float, mid: int, expected: QuoteTarget
) -> None:
    driver = make_driver(offset_bps=offset_bps, initial_side=side)
    driver.top(mid - 1, mid + 1, T0)
    assert last(driver) == expected


def test_the_order_never_crosses_a_narrow_book() -> None:
    driver = make_driver(offset_bps=0.0)
    driver.top(1_000_000, 1_000_001, T0)
    assert last(driver).bids[0][0] == 1_000_000
    driver.feed(make_fill(BUY, 1_000_000, 5, ts=T0 + SECOND))
    assert last(driver).asks[0][0] == 1_000_001


def test_a_size_below_the_minimum_places_nothing() -> None:
    driver = make_driver(min_size="0.01", size_lots=5)  # minimum 10 lots
    driver.top(BID, ASK, T0)
    assert last(driver) == QuoteTarget(SYMBOL)


def test_a_stale_book_pulls_the_order() -> None:
    driver = make_driver()
    driver.top(BID, ASK, T0)
    driver.book.stale = True
    driver.feed(make_fill(BUY, 999_500, 5, ts=T0 + SECOND))
    assert last(driver) == QuoteTarget(SYMBOL)


def test_order_notional_sets_the_size_in_lots() -> None:
    driver = make_driver(order_notional_usd=250.0)  # 100 USD per lot at 100_000
    driver.top(BID, ASK, T0)
    assert last(driver).bids == ((999_500, 2),)


def test_the_same_events_give_the_same_intents() -> None:
    def run() -> list[object]:
        driver = make_driver()
        for i in range(20):
            driver.top(BID + 700 * (i % 3), ASK + 700 * (i % 3), T0 + i * SECOND)
            if i % 4 == 1:
                driver.feed(make_fill(BUY if i % 8 == 1 else SELL, BID, 1 + i % 3, T0 + i * SECOND))
        return list(driver.intents)

    assert run() == run()


@pytest.mark.parametrize(("field", "value"), [("size_lots", 0), ("offset_bps", -1.0)])
def test_params_refuse_values_out_of_range_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        PingPongParams(**{field: value})  # type: ignore[arg-type]
