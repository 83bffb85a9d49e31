"""From float prices and sizes to post-only quote levels on the instrument's tick and lot grid.

Strategies compute fair prices and spreads in floats; these functions put the result on the
grid the same way everywhere: a bid is rounded DOWN and an ask UP to a whole tick (away from
mid), then a bid is kept below the best ask and an ask above the best bid, so a post-only
order never crosses the book. Deeper levels are kept strictly behind the level before them.
A size below the instrument's minimum drops the side rather than being rounded up. A side's
levels together are cut to the room left before the strategy's position limit that way.
"""

from __future__ import annotations

import math

__all__ = [
    "GRID_EPS",
    "ask_levels",
    "bid_levels",
    "cap_to_limit",
    "notional_lots",
    "offset_tops",
    "skewed_size",
]

Levels = tuple[tuple[int, int], ...]


GRID_EPS = 1e-6
"""Ticks within which a price counts as on the grid before it is rounded away from mid: a
price computed in floats (``(fair - half) / tick`` with a tick of 0.1) lands a hair off a whole
tick it is meant to hit exactly, and a plain floor or ceil would then move it a whole tick."""


def bid_levels(top: float, step: float, size: int, count: int, best_ask: int) -> Levels:
    """``count`` bids from ``top`` ticks down by ``step`` ticks, each of ``size`` lots.

    Every price is an int >= 1, below ``best_ask`` (when there is one) and below the level
    before it; rounded down, but never by a whole tick from a price within ``GRID_EPS`` of one.
    Empty when ``top`` is not finite or ``size`` < 1.
    """
    if size < 1 or not math.isfinite(top) or not math.isfinite(step):
        return ()
    levels: list[tuple[int, int]] = []
    ceiling = best_ask if best_ask > 0 else math.inf
    for i in range(count):
        price = math.floor(top - i * step + GRID_EPS)
        if price >= ceiling:
            price = int(ceiling) - 1
        if price < 1:
            break
        levels.append((price, size))
        ceiling = price
    return tuple(levels)


def ask_levels(top: float, step: float, size: int, count: int, best_bid: int) -> Levels:
    """``count`` asks from ``top`` ticks up by ``step`` ticks, each of ``size`` lots.

    Every price is an int above ``best_bid`` and above the level before it; rounded up, but
    never by a whole tick from a price within ``GRID_EPS`` of one. Empty when ``top`` is not
    finite or ``size`` < 1.
    """
    if size < 1 or not math.isfinite(top) or not math.isfinite(step):
        return ()
    levels: list[tuple[int, int]] = []
    floor = max(best_bid, 0)
    for i in range(count):
        price = math.ceil(top + i * step - GRID_EPS)
        if price <= floor:
            price = floor + 1
        levels.append((price, size))
        floor = price
    return tuple(levels)


def offset_tops(mid_x2: int, bps: float) -> tuple[int, int]:
    """The bid ``bps`` of mid below mid rounded down and the ask as far above rounded up, ticks.

    The distance is computed once, in half ticks (``mid_x2 * bps / 1e4``: exact whenever it is
    a whole number), and the ask mirrors the bid, so both are always the same distance from mid
    (``bid + ask == mid_x2``). ``mid * (1 ± bps / 1e4)`` would round ``1 ± bps / 1e4`` first and
    could land a hair past a whole tick, one side then a tick further out than the other.
    """
    bid = math.floor((mid_x2 - mid_x2 * bps / 10000.0) * 0.5)
    return bid, mid_x2 - bid


def notional_lots(notional: float, mid_x2: int, nanos_per_tick_lot: int) -> int:
    """Whole lots worth at most ``notional`` (quote currency) at mid; 0 without a mid."""
    if mid_x2 <= 0 or not notional > 0:
        return 0
    return int(notional * 2e9 / (mid_x2 * nanos_per_tick_lot))


def skewed_size(base: int, q: float, side: int, min_lots: int) -> int:
    """``base`` lots, shrunk on the side that adds inventory by ``max(0, 1 - |q|)``.

    ``q`` is the inventory ratio (position / maximum, signed); ``side`` is 1 for bids, -1 for
    asks. Returns 0 when the result is below ``min_lots`` (the level is dropped).
    """
    if q * side > 0.0:
        scale = 1.0 - abs(q)
        size = int(base * scale) if scale > 0.0 else 0
    else:
        size = base
    return size if size >= min_lots else 0


def cap_to_limit(
    levels: Levels, side: int, position: int, limit_lots: int, min_lots: int
) -> Levels:
    """``levels`` of ``side`` (1 bids, -1 asks) cut so that, all filled, the position stays
    within ``limit_lots`` either way.

    A size per level (even skewed) does not bound the side's total: several levels of it can
    together carry the position past the limit. The room of a side is ``limit_lots - side *
    position`` lots: on the side that adds inventory, with ``limit_lots = floor(max_notional /
    (lot * mid))`` (``notional_lots``), that is ``floor((1 - q_side) * max_notional / (lot *
    mid))``, ``q_side`` the signed inventory ratio in the side's direction, exactly (whole-lot
    position); on the side that reduces it, the position plus the limit beyond flat, so the
    reduction itself is never cut, only levels that would carry the position past the opposite
    limit.
    """
    return _fill_room(levels, limit_lots - side * position, min_lots)


def _fill_room(levels: Levels, room: int, min_lots: int) -> Levels:
    """``levels`` (best first) holding at most ``room`` lots in all, handed out best level first.

    The best levels are the likeliest to fill and the ones a quoter means most, so they keep
    their size; the level where the room runs out gets what is left, and a level left below
    ``min_lots`` is dropped (with every level behind it, which would get nothing), never rounded
    up: that would carry the position past the limit.
    """
    kept: list[tuple[int, int]] = []
    for price, size in levels:
        size = min(size, room)
        if size < min_lots or size <= 0:
            break
        kept.append((price, size))
        room -= size
    return tuple(kept)
