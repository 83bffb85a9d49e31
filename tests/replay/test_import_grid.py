"""The importers' fast exact decimal → ticks/lots conversion agrees with ``Instrument``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.instrument import Instrument, OffGridError
from replay.importers.grid import CACHE_SIZE, Grid

TICKS = ["0.1", "0.5", "1", "10", "0.25", "2.5", "0.01"]
LOTS = ["0.001", "0.00001", "1", "0.5", "100"]


def make_instrument(tick: str, lot: str) -> Instrument:
    return Instrument(venue="test", symbol="X", tick_size=tick, lot_size=lot)


@st.composite
def decimal_texts(draw: st.DrawFn) -> str:
    """Decimal strings as venues and tables write them, plus a few odd spellings."""
    mantissa = draw(st.integers(-(10**12), 10**12))
    scale = draw(st.integers(0, 9))
    digits = str(abs(mantissa)).rjust(scale + 1, "0")
    text = digits if scale == 0 else f"{digits[:-scale]}.{digits[-scale:]}"
    sign = "-" if mantissa < 0 else draw(st.sampled_from(["", "+"]))
    style = draw(st.sampled_from(["plain", "plain", "exponent", "trailing dot"]))
    if style == "exponent":
        return f"{sign}{abs(mantissa)}e-{scale}"
    if style == "trailing dot" and scale == 0:
        return f"{sign}{text}."
    return sign + text


def outcome(convert: Callable[[str], int], text: str) -> int | str:
    try:
        return convert(text)
    except OffGridError:
        return "off grid"


@settings(max_examples=200, deadline=None)
@given(tick=st.sampled_from(TICKS), lot=st.sampled_from(LOTS), text=decimal_texts())
def test_grid_conversion_agrees_with_the_instrument_on_and_off_the_grid(
    tick: str, lot: str, text: str
) -> None:
    inst = make_instrument(tick, lot)
    grid = Grid(inst)
    assert outcome(grid.ticks, text) == outcome(inst.price_to_ticks, text)
    assert outcome(grid.lots, text) == outcome(inst.size_to_lots, text)
    # the memoised answer is the same the second time
    assert outcome(grid.ticks, text) == outcome(inst.price_to_ticks, text)


@settings(max_examples=200, deadline=None)
@given(
    tick=st.sampled_from(TICKS),
    lot=st.sampled_from(LOTS),
    text=decimal_texts(),
    before=st.sampled_from(["", " ", "\t"]),
    after=st.sampled_from(["", " ", "  ", "\t", "\n"]),
)
def test_grid_conversion_agrees_with_the_instrument_on_padded_cells(
    tick: str, lot: str, text: str, before: str, after: str
) -> None:
    # table cells are handed over as read: "61800.00 " must not become 6180.0
    inst = make_instrument(tick, lot)
    grid = Grid(inst)
    padded = before + text + after
    assert outcome(grid.ticks, padded) == outcome(inst.price_to_ticks, padded)
    assert outcome(grid.lots, padded) == outcome(inst.size_to_lots, padded)


def test_a_trailing_space_does_not_shift_the_decimal_point() -> None:
    grid = Grid(make_instrument("0.1", "0.001"))
    assert grid.ticks("61800.00 ") == 618000
    assert grid.lots("0.010\t") == 10


def test_off_grid_values_raise_with_the_unit_and_the_value() -> None:
    grid = Grid(make_instrument("0.1", "0.001"))
    with pytest.raises(OffGridError, match=r"X price: expected a multiple of tick_size=0.1, found"):
        grid.ticks("1.05")
    with pytest.raises(OffGridError, match=r"lot_size=0.001, found 0.0005"):
        grid.lots("0.0005")
    with pytest.raises(OffGridError, match="expected a decimal number"):
        grid.ticks("abc")


def test_a_value_beyond_a_64_bit_count_of_units_is_refused_not_written() -> None:
    grid = Grid(make_instrument("0.1", "0.001"))
    for text in ("1" + "0" * 25, "1e25", "-1" + "0" * 25):
        with pytest.raises(OffGridError, match=r"expected at most 2\^63 units of tick_size"):
            grid.ticks(text)
    assert grid.ticks("922337203685477580.7") == 2**63 - 1  # the largest that fits
    with pytest.raises(OffGridError):
        grid.ticks("922337203685477580.8")


def test_levels_flatten_price_size_pairs_in_order() -> None:
    grid = Grid(make_instrument("0.1", "0.001"))
    assert grid.levels([("100.0", "1.500"), ("99.9", "0")]) == (1000, 1500, 999, 0)


def test_the_memo_is_bounded() -> None:
    grid = Grid(make_instrument("1", "1"))
    for i in range(CACHE_SIZE + 10):
        assert grid.ticks(str(i)) == i
    assert len(grid.tick_cache) <= CACHE_SIZE
