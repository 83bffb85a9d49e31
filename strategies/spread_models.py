"""The formulas of the Avellaneda–Stoikov quoter and its alternative spread models, pure floats.

Units: prices in quote currency (not ticks), ``sigma`` in price units per sqrt(second) unless
named ``sigma_rel`` (return units per sqrt(second)), ``kappa`` in 1/price, ``gamma`` in 1/price
per unit of ``q``, times in seconds. ``q`` is the signed inventory ratio: position notional at
mid divided by ``max_position_usd`` (so q = 1 means "at the maximum long").
"""

from __future__ import annotations

import math

__all__ = [
    "as_half_spread",
    "as_reservation",
    "bounded_half_spread",
    "horizon_left_s",
    "linear_fair",
    "linear_half_spread",
]


def horizon_left_s(now_ns: int, horizon_s: float, finite: bool) -> float:
    """``T - t``: a constant ``horizon_s`` (infinite-horizon variant), or the seconds left in the
    current session when sessions of ``horizon_s`` are aligned on the Unix epoch (finite)."""
    if not finite:
        return horizon_s
    return horizon_s - math.fmod(now_ns * 1e-9, horizon_s)


def as_reservation(mid: float, q: float, gamma: float, sigma: float, tau: float) -> float:
    """Reservation price ``r = mid - q * gamma * sigma² * tau``."""
    return mid - q * gamma * sigma * sigma * tau


def as_half_spread(gamma: float, kappa: float, sigma: float, tau: float) -> float:
    """Optimal half spread ``delta = ln(1 + gamma / kappa) / gamma + gamma * sigma² * tau / 2``."""
    return math.log1p(gamma / kappa) / gamma + 0.5 * gamma * sigma * sigma * tau


def linear_half_spread(
    mid: float, base_bps: float, sigma_rel: float, alpha: float, beta: float, funding: float
) -> float:
    """``mid * (base_bps / 1e4 + alpha * sigma_rel + beta * funding / 3)``; ``funding`` is the
    current rate as a fraction per funding interval (signed)."""
    return mid * (base_bps * 1e-4 + alpha * sigma_rel + beta * funding / 3.0)


def linear_fair(mid: float, q: float, k: float) -> float:
    """``mid * (1 - q * k)``: ``k`` is the fraction of mid the fair moves per unit of ``q``
    (the brief's ``fair = mid + inventory * K_relative`` with ``K_relative = -k * mid``)."""
    return mid * (1.0 - q * k)


def bounded_half_spread(
    min_half: float, market_spread: float, sigma_mult: float, sigma: float, q: float
) -> float:
    """``max(min_half, 0.4 * market_spread + sigma_mult * sigma)``, times ``(1 + |q|)`` when
    ``|q| > 0.5``. ``market_spread`` is best ask - best bid in price units."""
    half = max(min_half, 0.4 * market_spread + sigma_mult * sigma)
    aq = abs(q)
    return half * (1.0 + aq) if aq > 0.5 else half
