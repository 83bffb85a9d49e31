"""The Avellaneda–Stoikov formulas and the alternative spread models, against hand numbers."""

from __future__ import annotations

import math

import pytest

from strategies.spread_models import (
    as_half_spread,
    as_reservation,
    bounded_half_spread,
    horizon_left_s,
    linear_fair,
    linear_half_spread,
)

SECOND = 1_000_000_000


def test_reservation_price_moves_against_the_inventory() -> None:
    # r = 100 - 0.5 * 0.1 * 0.5² * 60 = 100 - 0.75
    assert as_reservation(100.0, 0.5, 0.1, 0.5, 60.0) == pytest.approx(99.25)
    assert as_reservation(100.0, -0.5, 0.1, 0.5, 60.0) == pytest.approx(100.75)
    assert as_reservation(100.0, 0.0, 0.1, 0.5, 60.0) == 100.0


def test_optimal_half_spread_matches_the_hand_computed_value() -> None:
    # delta = ln(1 + 0.1/2) / 0.1 + 0.5 * 0.1 * 0.25 * 60 = 0.487902 + 0.75
    assert as_half_spread(0.1, 2.0, 0.5, 60.0) == pytest.approx(10 * math.log(1.05) + 0.75)
    assert as_half_spread(0.1, 2.0, 0.5, 60.0) == pytest.approx(1.2379016, rel=1e-7)


def test_the_infinite_horizon_variant_keeps_tau_constant() -> None:
    assert horizon_left_s(123 * SECOND, 60.0, finite=False) == 60.0


def test_the_finite_horizon_counts_down_to_the_end_of_the_session() -> None:
    assert horizon_left_s(3600 * SECOND + 15 * SECOND, 60.0, finite=True) == pytest.approx(45.0)
    assert horizon_left_s(3600 * SECOND, 60.0, finite=True) == pytest.approx(60.0)


def test_linear_half_spread_adds_base_volatility_and_funding_terms() -> None:
    # 100 * (5e-4 + 2 * 1e-4 + 3 * 3e-4 / 3) = 100 * 1e-3
    assert linear_half_spread(100.0, 5.0, 1e-4, 2.0, 3.0, 3e-4) == pytest.approx(0.1)


def test_linear_fair_moves_a_fraction_of_mid_per_unit_of_inventory() -> None:
    assert linear_fair(100.0, 0.5, 0.001) == pytest.approx(99.95)
    assert linear_fair(100.0, -1.0, 0.001) == pytest.approx(100.1)


def test_bounded_half_spread_has_a_floor_and_widens_with_large_inventory() -> None:
    # 0.4 * 1.0 + 2 * 0.3 = 1.0 > floor 0.5
    assert bounded_half_spread(0.5, 1.0, 2.0, 0.3, 0.2) == pytest.approx(1.0)
    assert bounded_half_spread(2.0, 1.0, 2.0, 0.3, 0.2) == pytest.approx(2.0)
    assert bounded_half_spread(0.5, 1.0, 2.0, 0.3, 0.5) == pytest.approx(1.0)  # not > 0.5
    assert bounded_half_spread(0.5, 1.0, 2.0, 0.3, -0.8) == pytest.approx(1.8)
