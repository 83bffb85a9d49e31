"""BpsRatio: basis points of an integer price, exactly as written."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from mmcore.bps import BpsRatio


def test_three_bps_of_ten_thousand_ticks_is_three_ticks_not_a_float_hair_under() -> None:
    assert int(10_000 * (3.0 / 10_000.0)) == 2  # what float arithmetic gives
    assert BpsRatio(3.0).of(10_000) == 3


@given(
    bps=st.decimals(min_value=0, max_value=9_999, places=2).map(float),
    ticks=st.integers(min_value=0, max_value=10**12),
)
def test_the_share_is_the_written_bps_of_the_price_floored(bps: float, ticks: int) -> None:
    exact = Fraction(str(bps)) * ticks / 10_000
    assert BpsRatio(bps).of(ticks) == exact.numerator // exact.denominator
