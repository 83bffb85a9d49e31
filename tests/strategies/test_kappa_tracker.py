"""The kappa tracker: refit cadence, loud fallback, recovery, always a finite positive kappa."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.estimators.kappa import KappaFit, KappaParams
from strategies.estimators.kappa_tracker import KappaTracker

SECOND = 1_000_000_000
TICK = 0.1
MID_X2 = 2_000_000  # 100_000.0 in price


class ScriptedEstimator:
    """Returns the fits it is given, one per ``estimate``."""

    def __init__(self, fits: list[KappaFit | None]) -> None:
        self.fits = fits

    def on_trade(self, ts: int, price: int, size: int, side: int, mid_x2: int) -> None:
        pass

    def estimate(self, now: int, mid_x2: int) -> KappaFit | None:
        return self.fits.pop(0)


def make_fit(kappa: float = 0.5, r2: float | None = 0.9) -> KappaFit:
    return KappaFit("scripted", kappa, 10.0, r2, kappa * 0.9, kappa * 1.1, 8)


def make_tracker(*fits: KappaFit | None, refit_s: float = 5.0) -> KappaTracker:
    tracker = KappaTracker(KappaParams(refit_interval_s=refit_s, fallback_depth_bps=5.0), TICK)
    tracker.estimator = ScriptedEstimator(list(fits))
    return tracker


def test_without_data_it_falls_back_to_the_default_and_says_so() -> None:
    tracker = make_tracker(None)
    note = tracker.refit(0, MID_X2)
    assert note is not None and note[0] == "kappa_fallback"
    assert "default" in note[1] and "not enough trades" in note[1]
    # kappa = 1 / (mid * 5 bps) = 1 / (100_000 * 0.0005)
    assert tracker.kappa == pytest.approx(0.02)
    assert tracker.fallback_active


def test_a_good_fit_is_used_silently() -> None:
    tracker = make_tracker(make_fit(0.5))
    assert tracker.refit(0, MID_X2) is None
    assert tracker.kappa == 0.5 and not tracker.fallback_active


def test_after_a_good_fit_a_bad_one_falls_back_to_the_last_good_value() -> None:
    tracker = make_tracker(make_fit(0.5), make_fit(0.7, r2=0.1))
    tracker.refit(0, MID_X2)
    note = tracker.refit(5 * SECOND, MID_X2)
    assert note is not None and note[0] == "kappa_fallback"
    assert "R²=0.100 below min_r2=0.5" in note[1] and "last good" in note[1]
    assert tracker.kappa == 0.5


@pytest.mark.parametrize(
    ("fit", "why"),
    [
        (make_fit(-0.3), "<= 0"),
        (make_fit(0.0), "<= 0"),
        (make_fit(math.nan), "nan"),
        (make_fit(math.inf), "inf"),
        (make_fit(0.4, r2=math.nan), "R²=nan"),
        (make_fit(0.4, r2=0.2), "below min_r2"),
    ],
)
def test_nonsense_fits_are_rejected_with_a_reason(fit: KappaFit, why: str) -> None:
    tracker = make_tracker(fit)
    note = tracker.refit(0, MID_X2)
    assert note is not None and note[0] == "kappa_fallback" and why in note[1]
    assert math.isfinite(tracker.kappa) and tracker.kappa > 0


def test_a_method_without_r2_is_not_rejected_for_it() -> None:
    tracker = make_tracker(make_fit(0.3, r2=None))
    assert tracker.refit(0, MID_X2) is None and tracker.kappa == 0.3


def test_the_same_fallback_reason_is_reported_once_and_counted_every_time() -> None:
    tracker = make_tracker(None, None, None)
    notes = [tracker.refit(i * 5 * SECOND, MID_X2) for i in range(3)]
    assert [n is not None for n in notes] == [True, False, False]
    stats = tracker.statistics()
    assert (stats.fits, stats.good_fits, stats.fallbacks) == (3, 0, 3)


def test_a_good_fit_after_a_fallback_is_reported_as_recovered() -> None:
    tracker = make_tracker(None, make_fit(0.6))
    tracker.refit(0, MID_X2)
    note = tracker.refit(5 * SECOND, MID_X2)
    assert note is not None and note[0] == "kappa_recovered"
    assert tracker.kappa == 0.6


def test_it_refits_only_on_its_time_grid() -> None:
    tracker = make_tracker(make_fit(0.5), make_fit(0.8), refit_s=5.0)
    tracker.refit(0, MID_X2)
    assert tracker.refit(4 * SECOND, MID_X2) is None and tracker.kappa == 0.5
    tracker.refit(5 * SECOND, MID_X2)
    assert tracker.kappa == 0.8


def test_statistics_keep_the_latest_fit_even_when_rejected() -> None:
    bad = make_fit(0.7, r2=0.1)
    tracker = make_tracker(bad)
    tracker.refit(0, MID_X2)
    assert tracker.statistics().last_fit == bad


trades = st.lists(
    st.tuples(
        st.integers(min_value=-200, max_value=200),  # ticks from mid
        st.integers(min_value=1, max_value=50),  # size
        st.sampled_from([1, -1]),  # aggressor
    ),
    max_size=80,
)


@settings(max_examples=80, deadline=None)
@given(
    trades,
    st.sampled_from(["trade_rate", "virtual_quotes", "depth_intensity"]),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_any_trades_leave_a_finite_positive_kappa_and_a_fallback_is_always_announced(
    tape: list[tuple[int, int, int]], method: str, min_r2: float
) -> None:
    params = KappaParams(
        method=method,  # type: ignore[arg-type]
        min_trades=5,
        min_points=3,
        min_r2=min_r2,
        max_depth_pct=0.05,
    )
    tracker = KappaTracker(params, TICK)
    for i, (ticks, size, side) in enumerate(tape):
        tracker.on_trade(i * SECOND // 10, MID_X2 // 2 + ticks, size, side, MID_X2)
    note = tracker.refit(10 * SECOND, MID_X2)
    assert math.isfinite(tracker.kappa) and tracker.kappa > 0
    if tracker.fallback_active:
        assert note is not None and note[0] == "kappa_fallback"
    else:
        assert note is None
