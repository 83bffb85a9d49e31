"""Basis points applied to integer prices exactly.

A config gives basis points as a float (``flatten_slippage_bps = 0.3``); ``price * bps / 1e4`` in
floats can land a hair under a whole tick (3 bps of 10,000 ticks gives 2.9999999999999996, then
2). ``BpsRatio`` takes the number as written (its shortest repr: 0.3 is 3/10, not the double
nearest it) and applies it in integers.
"""

from __future__ import annotations

from fractions import Fraction

__all__ = ["BpsRatio"]


class BpsRatio:
    """``bps`` basis points as an exact ratio; ``of(ticks)`` is ``ticks * bps / 10_000`` floored."""

    __slots__ = ("den", "num")

    def __init__(self, bps: float) -> None:
        ratio = Fraction(str(bps))
        self.num = ratio.numerator
        self.den = ratio.denominator * 10_000

    def of(self, ticks: int) -> int:
        """``ticks * bps / 10_000``, floored to a whole tick."""
        return ticks * self.num // self.den
