"""Exact conversion between venue decimals and engine integers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmcore.instrument import Instrument, OffGridError, spec_differences


def make_instrument(tick: str = "0.1", lot: str = "0.001", **kw: str) -> Instrument:
    return Instrument(venue="test", symbol="BTC-USD", tick_size=tick, lot_size=lot, **kw)


@given(ticks=st.integers(min_value=0, max_value=10**12), lots=st.integers(0, 10**9))
def test_integers_round_trip_through_decimal_strings(ticks: int, lots: int) -> None:
    inst = make_instrument()
    assert inst.price_to_ticks(inst.price_str(ticks)) == ticks
    assert inst.size_to_lots(inst.size_str(lots)) == lots


@pytest.mark.parametrize(("tick", "price", "ticks"), [
    ("0.1", "65000.1", 650001), ("0.5", "100.5", 201), ("0.00001", "0.12345", 12345),
    ("1", "42", 42), ("0.1", "65000.10000", 650001),
])
def test_on_grid_prices_convert_exactly(tick: str, price: str, ticks: int) -> None:
    assert make_instrument(tick=tick).price_to_ticks(price) == ticks


def test_an_off_grid_price_is_refused_with_the_tick_named() -> None:
    with pytest.raises(OffGridError, match=r"tick_size=0\.1.*65000\.15"):
        make_instrument().price_to_ticks("65000.15")


def test_an_off_grid_size_is_refused() -> None:
    with pytest.raises(OffGridError, match="lot_size"):
        make_instrument().size_to_lots("0.0015")


def test_garbage_is_refused_with_the_value_shown() -> None:
    with pytest.raises(OffGridError, match="'abc'"):
        make_instrument().price_to_ticks("abc")
    with pytest.raises(OffGridError):
        make_instrument().price_to_ticks("NaN")


def test_a_grid_finer_than_a_nano_of_quote_is_refused() -> None:
    with pytest.raises(OffGridError, match="finer than 1e-9"):
        make_instrument(tick="0.0000001", lot="0.0001")


def test_notional_in_nanos_is_exact() -> None:
    inst = make_instrument()
    # 65000.1 * 0.005 = 325.0005 USD
    assert 650001 * 5 * inst.nanos_per_tick_lot == 325_000_500_000


def test_minimum_size_rounds_up_to_whole_lots() -> None:
    assert make_instrument(min_size="0.0025").min_lots == 3
    assert make_instrument().min_lots == 1


def test_fees_and_amounts_convert_to_nanos() -> None:
    inst = make_instrument(maker_fee="-0.0002", taker_fee="0.0005")
    assert inst.maker_fee_ppb == -200_000
    assert inst.taker_fee_ppb == 500_000
    assert inst.quote_to_nanos("1.2345678912") == 1_234_567_891
    assert inst.nanos_to_quote(1_500_000_000) == Decimal("1.5")


def test_off_grid_marks_round_to_the_nearest_tick() -> None:
    inst = make_instrument()
    assert inst.price_to_ticks_nearest("65000.14") == 650001
    assert inst.price_to_ticks_nearest("65000.16") == 650002


def test_a_value_a_hair_off_the_grid_is_refused_however_many_digits_it_takes() -> None:
    inst = Instrument(venue="x", symbol="BTC-USD", tick_size="0.1", lot_size="0.00001")
    # 28 digits (the default decimal context) would round both onto the grid
    with pytest.raises(OffGridError):
        inst.size_to_lots("1.000000000000000000000000000001")
    with pytest.raises(OffGridError):
        inst.price_to_ticks("0.100000000000000000000000000001")
    assert inst.size_to_lots("1.000000000000000000000000000000") == 100_000
    assert inst.quote_to_nanos("12345678901234567890.0000000015") == 12345678901234567890_000000002


def test_spec_differences_names_the_numbers_that_differ_by_value_in_field_order() -> None:
    """"0.10" is the tick "0.1"; the venue's name, the quote's and own_orders_in_book are not
    numbers a config's settings are in, so by default they are not compared."""
    a = make_instrument(tick="0.10", maker_fee="-0.0001", taker_fee="0.0005")
    b = Instrument(venue="other", symbol="BTC-USD", tick_size="0.1", lot_size="0.01",
                   maker_fee="0", taker_fee="0.00050", quote="USDT", own_orders_in_book=True)
    assert spec_differences(a, b) == ["lot_size", "maker_fee"]
    assert spec_differences(a, a) == []
    assert spec_differences(a, b, ("venue", "tick_size", "quote")) == ["venue", "quote"]
