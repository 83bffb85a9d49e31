"""Least-squares fit of ``y = A * exp(-kappa * x)`` by ordinary least squares of ``ln y`` on x.

Used by the kappa estimators on small arrays (a few dozen points), so it is plain Python. The
result carries the coefficient of determination (R², of the log-linear fit) and the standard
error of kappa, from which the caller builds a confidence interval.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import msgspec

__all__ = ["ExponentialFit", "fit_exponential"]

_LN_MAX = math.log(sys.float_info.max)
"""The largest argument ``math.exp`` takes without raising ``OverflowError``."""


class ExponentialFit(msgspec.Struct, frozen=True):
    """kappa: decay rate (1 / unit of x). a: intensity at x = 0 (inf past the largest float).
    r2: R² of ln y on x (NaN when ln y is constant). kappa_se: standard error of kappa. points:
    number of (x, y) pairs."""

    kappa: float
    a: float
    r2: float
    kappa_se: float
    points: int


def fit_exponential(xs: Sequence[float], ys: Sequence[float]) -> ExponentialFit | None:
    """Fit ``ys ≈ a * exp(-kappa * xs)``; None with fewer than 3 points, constant x or y <= 0."""
    n = len(xs)
    if n < 3 or len(ys) != n:
        return None
    if min(ys) <= 0.0:
        return None
    ly = [math.log(y) for y in ys]
    mx = sum(xs) / n
    my = sum(ly) / n
    sxx = 0.0
    sxy = 0.0
    syy = 0.0
    for x, y in zip(xs, ly):
        dx = x - mx
        dy = y - my
        sxx += dx * dx
        sxy += dx * dy
        syy += dy * dy
    if sxx <= 0.0:
        return None
    slope = sxy / sxx
    intercept = my - slope * mx
    sse = 0.0
    for x, y in zip(xs, ly):
        e = y - intercept - slope * x
        sse += e * e
    r2 = 1.0 - sse / syy if syy > 0.0 else math.nan
    se = math.sqrt(sse / (n - 2) / sxx)
    # a steep decay far from x = 0 extrapolates past the largest float: A is then inf, not a crash
    a = math.exp(intercept) if intercept <= _LN_MAX else math.inf
    return ExponentialFit(kappa=-slope, a=a, r2=r2, kappa_se=se, points=n)
