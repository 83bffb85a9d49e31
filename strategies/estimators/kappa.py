"""Order-flow intensity kappa: how fast the arrival rate of trades decays with depth from mid.

The model is ``lambda(delta) = A * exp(-kappa * delta)``: an order resting ``delta`` (price units)
from mid is hit ``lambda(delta)`` times per second. Three methods estimate it from the public
trades of a rolling window, behind one small protocol (``on_trade`` / ``estimate``):

- ``trade_rate``: ``A`` is the trade count per second and ``kappa = 1 / mean(depth)``, the
  maximum-likelihood rate if trade depths from mid are exponential; CI from ``kappa / sqrt(n)``.
- ``virtual_quotes``: on a grid of ``grid_points`` depths from 2 ticks to ``max_depth_pct`` of
  mid, count how many trades would have hit a virtual order there (trade depth >= grid depth),
  and fit ``ln(hits / 2T)`` on depth by OLS.
- ``depth_intensity``: traded volume per second in each whole-tick depth bucket (1 ..
  ``max_depth_ticks``), OLS of its log on depth in ticks; kappa reported per price unit.

A trade's depth is measured against the mid at the trade: ``side * (price - mid)``, so a buy
that lifts the ask has a positive depth. Every ``KappaFit`` reports kappa in 1/price units,
with R² (None for ``trade_rate``) and an approximate 95 % confidence interval (normal
quantile). Whether a fit is good enough is ``strategies.estimators.kappa_tracker``'s decision.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from typing import Literal, Protocol

import msgspec

from strategies.estimators.exponential_fit import fit_exponential

__all__ = [
    "DepthIntensityKappa",
    "KappaEstimator",
    "KappaFit",
    "KappaParams",
    "TradeRateKappa",
    "TradeWindow",
    "VirtualQuoteKappa",
    "make_kappa_estimator",
]

_Z95 = 1.959964


class KappaParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Parameters of the kappa estimator (``[strategy.params.kappa]``).

    method: "trade_rate", "virtual_quotes" or "depth_intensity"; default "trade_rate".
    window_s: rolling window of trades used by a fit, seconds; default 300.
    refit_interval_s: seconds of event time between fits; default 5.
    max_trades: trades kept in the window at most (memory bound); default 100000.
    min_trades: trades with a positive depth needed by "trade_rate"; default 20.
    min_points: depths with hits needed by the two OLS methods (>= 3); default 4.
    min_r2: least R² a fit needs to be used; default 0.5.
    grid_points: depths on the "virtual_quotes" grid; default 18.
    max_depth_pct: deepest grid depth in percent of mid ("virtual_quotes"); default 1.5.
    max_depth_ticks: deepest bucket of "depth_intensity", ticks; default 50.
    fallback_depth_bps: without any good fit, kappa = 1 / (mid * fallback_depth_bps / 10000),
        i.e. trades reach this far from mid on average; default 5.
    """

    method: Literal["trade_rate", "virtual_quotes", "depth_intensity"] = "trade_rate"
    window_s: float = 300.0
    refit_interval_s: float = 5.0
    max_trades: int = 100_000
    min_trades: int = 20
    min_points: int = 4
    min_r2: float = 0.5
    grid_points: int = 18
    max_depth_pct: float = 1.5
    max_depth_ticks: int = 50
    fallback_depth_bps: float = 5.0

    def __post_init__(self) -> None:
        for name in ("window_s", "refit_interval_s", "max_depth_pct", "fallback_depth_bps"):
            value = getattr(self, name)
            if not value > 0 or not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite number > 0, found {value}")
        if self.max_trades < 1:
            raise ValueError(f"max_trades: expected >= 1, found {self.max_trades}")
        if self.min_trades < 1:
            raise ValueError(f"min_trades: expected >= 1, found {self.min_trades}")
        if self.min_points < 3:
            raise ValueError(f"min_points: expected >= 3, found {self.min_points}")
        if not 0.0 <= self.min_r2 <= 1.0:
            raise ValueError(f"min_r2: expected 0 <= min_r2 <= 1, found {self.min_r2}")
        if self.grid_points < 3:
            raise ValueError(f"grid_points: expected >= 3, found {self.grid_points}")
        if self.max_depth_ticks < 3:
            raise ValueError(f"max_depth_ticks: expected >= 3, found {self.max_depth_ticks}")


class KappaFit(msgspec.Struct, frozen=True):
    """One estimate. kappa: 1/price units. a: hits per second at depth 0. r2: R² of the fit
    (None when the method has none). ci_low/ci_high: ~95 % interval of kappa. points: data
    points behind it (trades or depths)."""

    method: str
    kappa: float
    a: float
    r2: float | None
    ci_low: float
    ci_high: float
    points: int


class KappaEstimator(Protocol):
    """A method of estimating kappa from public trades."""

    def on_trade(self, ts: int, price: int, size: int, side: int, mid_x2: int) -> None:
        """Record a public trade (aggressor ``side``) with the book's mid (x2, ticks) at it."""
        ...

    def estimate(self, now: int, mid_x2: int) -> KappaFit | None:
        """Fit over the window ending at ``now``; None when there is too little data."""
        ...


class TradeWindow:
    """Public trades of the last ``window_s`` seconds as ``(ts, depth_x2, size, mid_x2)``.

    ``depth_sum`` and ``depth_count`` are the sum and count of the positive depths (x2, ticks)
    in ``trades``, kept in step by ``add`` and ``span_s`` (exact integers), so that a fit
    needing only their mean does not walk the window.
    """

    __slots__ = ("_first_ts", "_window", "depth_count", "depth_sum", "trades")

    def __init__(self, params: KappaParams) -> None:
        self._window = int(params.window_s * 1e9)
        self._first_ts = -1
        self.trades: deque[tuple[int, int, int, int]] = deque(maxlen=params.max_trades)
        self.depth_sum = 0
        self.depth_count = 0

    def add(self, ts: int, price: int, size: int, side: int, mid_x2: int) -> None:
        if mid_x2 <= 0:
            return
        if self._first_ts < 0:
            self._first_ts = ts
        trades = self.trades
        if len(trades) == trades.maxlen:  # the append below drops the oldest
            self._forget(trades[0][1])
        depth = side * (2 * price - mid_x2)
        if depth > 0:
            self.depth_sum += depth
            self.depth_count += 1
        trades.append((ts, depth, size, mid_x2))

    def span_s(self, now: int) -> float:
        """Drop trades older than the window; seconds of data the window now covers."""
        if self._first_ts < 0:
            return 0.0
        start = now - self._window
        trades = self.trades
        while trades and trades[0][0] < start:
            self._forget(trades.popleft()[1])
        return (now - max(start, self._first_ts)) * 1e-9

    def _forget(self, depth: int) -> None:
        if depth > 0:
            self.depth_sum -= depth
            self.depth_count -= 1


class TradeRateKappa:
    """``A`` = trades per second, ``kappa`` = 1 / mean depth from mid (exponential MLE)."""

    __slots__ = ("_min", "_tick", "window")

    def __init__(self, params: KappaParams, tick: float) -> None:
        self.window = TradeWindow(params)
        self._min = params.min_trades
        self._tick = tick

    def on_trade(self, ts: int, price: int, size: int, side: int, mid_x2: int) -> None:
        self.window.add(ts, price, size, side, mid_x2)

    def estimate(self, now: int, mid_x2: int) -> KappaFit | None:
        window = self.window
        span = window.span_s(now)
        n = window.depth_count
        if span <= 0.0 or n < self._min:
            return None
        mean_depth = window.depth_sum * 0.5 * self._tick / n
        kappa = 1.0 / mean_depth
        half = _Z95 * kappa / math.sqrt(n)
        rate = len(window.trades) / span
        return KappaFit("trade_rate", kappa, rate, None, kappa - half, kappa + half, n)


class VirtualQuoteKappa:
    """Hits of virtual orders on a depth grid, fitted to ``A * exp(-kappa * depth)``."""

    __slots__ = ("_grid", "_max_rel", "_min", "_tick", "window")

    def __init__(self, params: KappaParams, tick: float) -> None:
        self.window = TradeWindow(params)
        self._grid = params.grid_points
        self._max_rel = params.max_depth_pct / 100.0
        self._min = params.min_points
        self._tick = tick

    def on_trade(self, ts: int, price: int, size: int, side: int, mid_x2: int) -> None:
        self.window.add(ts, price, size, side, mid_x2)

    def estimate(self, now: int, mid_x2: int) -> KappaFit | None:
        span = self.window.span_s(now)
        if span <= 0.0 or mid_x2 <= 0:
            return None
        lo = 4.0 / mid_x2  # two ticks, relative to mid
        hi = self._max_rel
        if hi <= lo:
            return None
        rel = sorted(t[1] / t[3] for t in self.window.trades if t[1] > 0)
        n = len(rel)
        mid = mid_x2 * 0.5 * self._tick
        steps = self._grid - 1
        xs: list[float] = []
        ys: list[float] = []
        for j in range(self._grid):
            depth = lo + (hi - lo) * j / steps
            hits = n - bisect_left(rel, depth)
            if hits <= 0:
                break  # deeper points have no hits either
            xs.append(depth * mid)
            ys.append(hits / (2.0 * span))
        if len(xs) < self._min:
            return None
        return _to_kappa_fit("virtual_quotes", xs, ys, 1.0)


class DepthIntensityKappa:
    """Traded volume per second in whole-tick depth buckets; OLS of its log on depth."""

    __slots__ = ("_max", "_min", "_tick", "window")

    def __init__(self, params: KappaParams, tick: float) -> None:
        self.window = TradeWindow(params)
        self._max = params.max_depth_ticks
        self._min = params.min_points
        self._tick = tick

    def on_trade(self, ts: int, price: int, size: int, side: int, mid_x2: int) -> None:
        self.window.add(ts, price, size, side, mid_x2)

    def estimate(self, now: int, mid_x2: int) -> KappaFit | None:
        span = self.window.span_s(now)
        if span <= 0.0:
            return None
        top = self._max
        volume = [0] * (top + 1)
        for t in self.window.trades:
            d = (t[1] + 1) // 2  # half-ticks from mid, rounded half up to whole ticks
            if 0 < d <= top:
                volume[d] += t[2]
        xs = [float(d) for d in range(1, top + 1) if volume[d]]
        if len(xs) < self._min:
            return None
        ys = [volume[int(d)] / span for d in xs]
        return _to_kappa_fit("depth_intensity", xs, ys, self._tick)


def _to_kappa_fit(method: str, xs: list[float], ys: list[float], unit: float) -> KappaFit | None:
    """Fit and convert kappa from 1/x-units to 1/price (``unit`` = price of one x-unit)."""
    fit = fit_exponential(xs, ys)
    if fit is None:
        return None
    kappa = fit.kappa / unit
    half = _Z95 * fit.kappa_se / unit
    return KappaFit(method, kappa, fit.a, fit.r2, kappa - half, kappa + half, fit.points)


def make_kappa_estimator(params: KappaParams, tick: float) -> KappaEstimator:
    """The estimator ``params.method`` names; ``tick`` is the tick size in price units."""
    if params.method == "virtual_quotes":
        return VirtualQuoteKappa(params, tick)
    if params.method == "depth_intensity":
        return DepthIntensityKappa(params, tick)
    return TradeRateKappa(params, tick)
