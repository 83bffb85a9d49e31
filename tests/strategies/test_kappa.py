"""Kappa methods recover the decay rate of synthetic exponential trade depths; the OLS fit."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies.estimators.exponential_fit import fit_exponential
from strategies.estimators.kappa import (
    DepthIntensityKappa,
    KappaEstimator,
    KappaParams,
    TradeRateKappa,
    TradeWindow,
    VirtualQuoteKappa,
    make_kappa_estimator,
)

SECOND = 1_000_000_000
TICK = 0.1
MID_X2 = 2_000_000  # mid 1_000_000 ticks = 100_000.0 in price


def feed_exponential_trades(
    estimator: KappaEstimator, mean_depth: float, n: int, seed: int, seconds: float = 100.0
) -> None:
    """``n`` trades over ``seconds`` whose depth from mid is exponential with ``mean_depth``."""
    rng = random.Random(seed)
    print(f"seed={seed}")
    mid_ticks = MID_X2 // 2
    for i in range(n):
        side = 1 if rng.random() < 0.5 else -1
        depth_ticks = round(rng.expovariate(1.0 / mean_depth) / TICK)
        ts = int(i * seconds * SECOND / n)
        estimator.on_trade(ts, mid_ticks + side * depth_ticks, 1, side, MID_X2)


def test_fit_exponential_recovers_exact_parameters() -> None:
    xs = [0.0, 1.0, 2.0, 3.0, 4.0]
    ys = [3.0 * math.exp(-0.5 * x) for x in xs]
    fit = fit_exponential(xs, ys)
    assert fit is not None
    assert fit.kappa == pytest.approx(0.5)
    assert fit.a == pytest.approx(3.0)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.kappa_se == pytest.approx(0.0, abs=1e-9)
    assert fit.points == 5


def test_fit_exponential_needs_three_points_varying_x_and_positive_y() -> None:
    assert fit_exponential([1.0, 2.0], [1.0, 2.0]) is None
    assert fit_exponential([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None
    assert fit_exponential([1.0, 2.0, 3.0], [1.0, 0.0, 3.0]) is None


def test_a_steep_decay_far_from_mid_is_a_fit_not_a_crash() -> None:
    # one sweep through four levels 600-603 ticks out (6 bps of a 0.01-tick market at 100_000):
    # ln A = intercept is about 900, past what exp() can return
    estimator = DepthIntensityKappa(KappaParams(max_depth_ticks=1000), 0.01)
    mid_x2 = 20_000_000
    for depth, size in ((600, 100), (601, 20), (602, 4), (603, 1)):
        estimator.on_trade(SECOND, mid_x2 // 2 + depth, size, 1, mid_x2)
    fit = estimator.estimate(2 * SECOND, mid_x2)
    assert fit is not None and fit.a == math.inf
    assert fit.kappa == pytest.approx(math.log(100) / 3 / 0.01, rel=0.05)


def test_a_constant_intensity_has_an_undefined_r2() -> None:
    fit = fit_exponential([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert fit is not None and math.isnan(fit.r2) and fit.kappa == 0.0


def test_trade_rate_estimates_kappa_as_one_over_the_mean_depth() -> None:
    est = TradeRateKappa(KappaParams(method="trade_rate"), TICK)
    feed_exponential_trades(est, mean_depth=5.0, n=4000, seed=11)
    fit = est.estimate(100 * SECOND, MID_X2)
    assert fit is not None
    assert fit.kappa == pytest.approx(0.2, rel=0.06)
    assert fit.ci_low < fit.kappa < fit.ci_high
    assert fit.r2 is None
    assert fit.a == pytest.approx(40.0, rel=0.01)  # 4000 trades in 100 s


def test_virtual_quotes_fit_the_decay_of_hits_with_depth() -> None:
    params = KappaParams(method="virtual_quotes", max_depth_pct=0.03)  # grid 0.2 .. 30.0
    est = VirtualQuoteKappa(params, TICK)
    feed_exponential_trades(est, mean_depth=5.0, n=4000, seed=12)
    fit = est.estimate(100 * SECOND, MID_X2)
    assert fit is not None
    assert fit.kappa == pytest.approx(0.2, rel=0.1)
    assert fit.r2 is not None and fit.r2 > 0.95
    assert fit.ci_low < fit.kappa < fit.ci_high
    assert fit.points >= 10


def test_depth_intensity_reports_kappa_per_price_unit_with_r2() -> None:
    est = DepthIntensityKappa(KappaParams(method="depth_intensity"), TICK)
    feed_exponential_trades(est, mean_depth=1.0, n=6000, seed=13)  # 10 ticks on average
    fit = est.estimate(100 * SECOND, MID_X2)
    assert fit is not None
    assert fit.kappa == pytest.approx(1.0, rel=0.15)
    assert fit.r2 is not None and fit.r2 > 0.8


def test_trades_older_than_the_window_are_forgotten() -> None:
    est = TradeRateKappa(KappaParams(method="trade_rate", window_s=10.0, min_trades=1), TICK)
    est.on_trade(0, 1_000_010, 1, 1, MID_X2)
    est.on_trade(15 * SECOND, 1_000_002, 1, 1, MID_X2)
    fit = est.estimate(20 * SECOND, MID_X2)
    assert fit is not None and fit.points == 1
    assert fit.kappa == pytest.approx(1.0 / 0.2)  # only the 2-tick trade remains


def test_every_method_returns_none_without_enough_trades() -> None:
    for method in ("trade_rate", "virtual_quotes", "depth_intensity"):
        est = make_kappa_estimator(KappaParams(method=method), TICK)
        est.on_trade(0, 1_000_001, 1, 1, MID_X2)
        assert est.estimate(SECOND, MID_X2) is None, method


def test_make_kappa_estimator_builds_the_named_method() -> None:
    kinds = {
        "trade_rate": TradeRateKappa,
        "virtual_quotes": VirtualQuoteKappa,
        "depth_intensity": DepthIntensityKappa,
    }
    for method, kind in kinds.items():
        est = make_kappa_estimator(KappaParams(method=method), TICK)  # type: ignore[arg-type]
        assert type(est) is kind


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window_s", 0.0),
        ("refit_interval_s", -1.0),
        ("min_points", 2),
        ("min_r2", 1.5),
        ("grid_points", 2),
        ("max_depth_pct", 0.0),
        ("fallback_depth_bps", math.inf),
    ],
)
def test_params_refuse_values_out_of_range_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        KappaParams(**{field: value})  # type: ignore[arg-type]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3 * SECOND),  # time step to the next trade
            st.integers(-40, 40),  # price offset from mid, ticks
            st.sampled_from([1, -1]),
            st.booleans(),  # call span_s (expiry) after this trade
        ),
        max_size=60,
    ),
    st.integers(1, 8),
)
def test_trade_window_running_depth_sum_matches_its_trades(
    steps: list[tuple[int, int, int, bool]], max_trades: int
) -> None:
    # The running sum behind trade_rate's mean must follow expiry and maxlen eviction exactly.
    window = TradeWindow(KappaParams(window_s=5.0, max_trades=max_trades))
    ts = 0
    for dt, offset, side, expire in steps:
        ts += dt
        window.add(ts, MID_X2 // 2 + offset, 1, side, MID_X2)
        if expire:
            window.span_s(ts)
        depths = [t[1] for t in window.trades if t[1] > 0]
        assert (window.depth_sum, window.depth_count) == (sum(depths), len(depths))
