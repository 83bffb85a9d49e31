"""Order-book imbalance over the top N levels, EMA-smoothed, with an activation threshold.

``raw = (bid_vol - ask_vol) / (bid_vol + ask_vol)`` over the top ``levels`` of each side
(``Book.imbalance``), in [-1, 1]. The EMA weight of an update ``dt`` seconds after the previous
one is ``1 - 2**(-dt / half_life)``, so it behaves the same however often it is asked; the
strategies ask only when they are about to requote. A smoothed value whose magnitude is below
``threshold`` reads as 0 (no signal).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from mmcore.book import Book

__all__ = ["ImbalanceParams", "ImbalanceSignal", "ImbalanceStats"]

_LN2 = math.log(2.0)


class ImbalanceParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The order-book-imbalance overlay (``[strategy.params.obi]``).

    weight: contrarian overlay weight; fair -= weight * obi * quoted_spread; 0 = off; default 0.
    levels: book levels per side summed into the imbalance; default 5.
    half_life_ms: EMA half-life in ms of event time; default 1000.
    threshold: |smoothed obi| below this reads as 0; default 0.2.
    """

    weight: float = 0.0
    levels: int = 5
    half_life_ms: float = 1000.0
    threshold: float = 0.2

    def __post_init__(self) -> None:
        if not math.isfinite(self.weight) or self.weight < 0:
            raise ValueError(f"weight: expected a finite number >= 0, found {self.weight}")
        if self.levels < 1:
            raise ValueError(f"levels: expected >= 1, found {self.levels}")
        if not self.half_life_ms > 0:
            raise ValueError(f"half_life_ms: expected > 0, found {self.half_life_ms}")
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold: expected 0 <= threshold < 1, found {self.threshold}")


class ImbalanceStats(msgspec.Struct, frozen=True):
    """updates: times the book was read. smoothed: EMA value. value: after the threshold."""

    updates: int
    smoothed: float
    value: float


class ImbalanceSignal:
    """Smoothed, thresholded top-of-book imbalance."""

    __slots__ = ("_ema", "_k", "_last_ts", "_levels", "_threshold", "updates", "value")

    def __init__(self, params: ImbalanceParams) -> None:
        self._levels = params.levels
        self._k = _LN2 / (params.half_life_ms * 1e6)  # per nanosecond
        self._threshold = params.threshold
        self._ema = 0.0
        self._last_ts = 0
        self.updates = 0
        self.value = 0.0

    def update(self, now: int, book: Book) -> float:
        """Fold the book's current imbalance at ``now`` (ns); returns the thresholded value."""
        raw = book.imbalance(self._levels)
        if self.updates == 0:
            self._ema = raw
        else:
            dt = now - self._last_ts
            if dt > 0:
                self._ema += (1.0 - math.exp(-self._k * dt)) * (raw - self._ema)
        self._last_ts = now
        self.updates += 1
        ema = self._ema
        self.value = ema if abs(ema) >= self._threshold else 0.0
        return self.value

    def statistics(self) -> ImbalanceStats:
        return ImbalanceStats(updates=self.updates, smoothed=self._ema, value=self.value)
