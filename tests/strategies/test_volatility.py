"""EWMA volatility on a time grid: units, sampling, warm-up."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.estimators.volatility import EwmaVolatility, VolatilityParams

MS = 1_000_000


def make_vol(warmup: int = 5, interval_ms: int = 100, half_life_s: float = 10.0) -> EwmaVolatility:
    return EwmaVolatility(
        VolatilityParams(
            sample_interval_ms=interval_ms, half_life_s=half_life_s, warmup_samples=warmup
        )
    )


def test_alternating_mids_give_the_per_second_sigma_computed_by_hand() -> None:
    vol = make_vol(warmup=4)
    for i in range(10):
        vol.on_mid(i * 100 * MS, 20000 if i % 2 == 0 else 20002)
    expected = abs(math.log(20002 / 20000)) / math.sqrt(0.1)
    assert vol.sigma == pytest.approx(expected, rel=1e-12)


def test_it_is_warm_only_after_the_configured_number_of_returns() -> None:
    vol = make_vol(warmup=3)
    warm = []
    for i in range(5):
        vol.on_mid(i * 100 * MS, 20000 + i)
        warm.append(vol.warm)
    # the first sample has no return; returns 1, 2, 3 come with samples 2, 3, 4
    assert warm == [False, False, False, True, True]


def test_mids_offered_before_the_next_grid_point_are_not_sampled() -> None:
    vol = make_vol()
    assert vol.on_mid(0, 20000)
    assert not vol.on_mid(50 * MS, 30000)
    assert not vol.on_mid(99 * MS, 30000)
    assert vol.on_mid(100 * MS, 20002)
    assert vol.samples == 1
    assert vol.sigma == pytest.approx(abs(math.log(20002 / 20000)) / math.sqrt(0.1))


def test_a_missing_mid_is_ignored() -> None:
    vol = make_vol()
    assert not vol.on_mid(0, 0)
    assert vol.samples == 0 and vol.next_sample_ns == 0


def test_an_irregular_gap_scales_the_return_by_the_elapsed_seconds() -> None:
    vol = make_vol(warmup=1)
    vol.on_mid(0, 20000)
    vol.on_mid(2_000 * MS, 20010)  # two seconds later
    assert vol.sigma == pytest.approx(abs(math.log(20010 / 20000)) / math.sqrt(2.0))


def test_statistics_report_samples_warmth_and_sigma() -> None:
    vol = make_vol(warmup=1)
    vol.on_mid(0, 20000)
    vol.on_mid(100 * MS, 20002)
    stats = vol.statistics()
    assert (stats.samples, stats.warm, stats.sigma) == (1, True, vol.sigma)


@pytest.mark.parametrize(
    ("field", "value"),
    [("sample_interval_ms", 0), ("half_life_s", 0.0), ("warmup_samples", 0)],
)
def test_params_refuse_values_out_of_range_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        VolatilityParams(**{field: value})  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=2, max_size=60))
def test_sigma_is_finite_and_non_negative_for_any_positive_mids(mids: list[int]) -> None:
    vol = make_vol(warmup=1)
    for i, mid in enumerate(mids):
        vol.on_mid(i * 100 * MS, mid)
    assert math.isfinite(vol.sigma) and vol.sigma >= 0.0
