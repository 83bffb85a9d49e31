"""Keeps a usable kappa: refits on a time grid and falls back, loudly, when a fit is not good.

A fit is rejected when there is not enough data, kappa is not finite or not positive, or R²
(when the method has one) is NaN or below ``min_r2``. Then kappa stays at the last good value,
or, before any good fit, ``1 / (mid * fallback_depth_bps / 10000)``. Entering the fallback (or a
change of its reason) yields a note ``("kappa_fallback", message)`` for the strategy to emit as
a ``StrategyEvent``; the first good fit after a fallback yields ``("kappa_recovered", ...)``.
The kappa the tracker holds is therefore always finite and positive once ``refit`` has run with
a mid.
"""

from __future__ import annotations

import math

import msgspec

from strategies.estimators.kappa import KappaEstimator, KappaFit, KappaParams, make_kappa_estimator

__all__ = ["KappaStats", "KappaTracker"]

FALLBACK = "kappa_fallback"
RECOVERED = "kappa_recovered"


class KappaStats(msgspec.Struct, frozen=True):
    """fits: refits attempted. good_fits: fits used. fallbacks: fits rejected.
    kappa: current value (1/price). fallback_active: the current value is a fallback.
    last_fit: the latest fit the method produced (used or not), None before any."""

    fits: int
    good_fits: int
    fallbacks: int
    kappa: float
    fallback_active: bool
    last_fit: KappaFit | None


class KappaTracker:
    """Current kappa for a strategy, with refit cadence and guarded fallback."""

    __slots__ = (
        "_default_bps",
        "_fits",
        "_good",
        "_interval",
        "_last_fit",
        "_last_good",
        "_method",
        "_min_r2",
        "_reason",
        "_tick",
        "estimator",
        "kappa",
        "next_fit_ns",
    )

    def __init__(self, params: KappaParams, tick: float) -> None:
        self.estimator: KappaEstimator = make_kappa_estimator(params, tick)
        self._method = params.method
        self._interval = int(params.refit_interval_s * 1e9)
        self._min_r2 = params.min_r2
        self._default_bps = params.fallback_depth_bps
        self._tick = tick
        self._last_good = 0.0
        self._last_fit: KappaFit | None = None
        self._reason = ""  # category of the active fallback, "" when the fit is good
        self._fits = 0
        self._good = 0
        self.kappa = 0.0
        """Current kappa in 1/price units; 0 until the first ``refit`` with a mid."""
        self.next_fit_ns = 0
        """Event time (ns) of the next due refit; callers may skip ``refit`` before it."""

    def on_trade(self, ts: int, price: int, size: int, side: int, mid_x2: int) -> None:
        self.estimator.on_trade(ts, price, size, side, mid_x2)

    def refit(self, now: int, mid_x2: int) -> tuple[str, str] | None:
        """Refit if due; returns a ``(code, message)`` note when a decision is worth logging."""
        if now < self.next_fit_ns or mid_x2 <= 0:
            return None
        self.next_fit_ns = now + self._interval
        self._fits += 1
        fit = self.estimator.estimate(now, mid_x2)
        if fit is not None:
            self._last_fit = fit
        category, why = self._judge(fit)
        if not category:
            assert fit is not None
            self.kappa = self._last_good = fit.kappa
            self._good += 1
            was = self._reason
            self._reason = ""
            if was:
                return RECOVERED, f"{self._method}: good fit again, {_describe(fit)}"
            return None
        if self._last_good > 0.0:
            self.kappa = self._last_good
            using = f"last good kappa={self.kappa:.6g}/price"
        else:
            self.kappa = 1e4 / (mid_x2 * 0.5 * self._tick * self._default_bps)
            using = (
                f"default kappa={self.kappa:.6g}/price "
                f"(fallback_depth_bps={self._default_bps:g})"
            )
        if category == self._reason:
            return None
        self._reason = category
        return FALLBACK, f"{self._method}: {why}; using {using}"

    def _judge(self, fit: KappaFit | None) -> tuple[str, str]:
        """("", "") for a usable fit, else (category, human reason)."""
        if fit is None:
            return "no_data", "not enough trades in the window to fit"
        k = fit.kappa
        if not math.isfinite(k):
            return "not_finite", f"fitted kappa is {k}"
        if k <= 0.0:
            return "not_positive", f"fitted kappa {k:.6g} <= 0"
        r2 = fit.r2
        if r2 is not None and not r2 >= self._min_r2:
            return "low_r2", f"R²={r2:.3f} below min_r2={self._min_r2:g}"
        return "", ""

    @property
    def fallback_active(self) -> bool:
        return bool(self._reason)

    def statistics(self) -> KappaStats:
        return KappaStats(
            fits=self._fits,
            good_fits=self._good,
            fallbacks=self._fits - self._good,
            kappa=self.kappa,
            fallback_active=bool(self._reason),
            last_fit=self._last_fit,
        )


def _describe(fit: KappaFit) -> str:
    r2 = "n/a" if fit.r2 is None else f"{fit.r2:.3f}"
    return (
        f"kappa={fit.kappa:.6g}/price [{fit.ci_low:.6g}, {fit.ci_high:.6g}], "
        f"A={fit.a:.6g}/s, R²={r2}, points={fit.points}"
    )
