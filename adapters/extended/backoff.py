"""Exponential backoff with seeded jitter, for reconnects and REST retries."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays ``min_s, 2*min_s, 4*min_s, ...`` capped at ``max_s``, each drawn in [d/2, d].

    Half-jitter keeps a floor (no hammering) while spreading reconnecting clients apart. The
    ``random.Random`` is handed in, so a seeded run waits the same delays.
    """

    __slots__ = ("_attempt", "_rng", "max_s", "min_s")

    def __init__(self, min_s: float, max_s: float, rng: random.Random) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self._rng = rng
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """How many delays have been handed out since the last reset."""
        return self._attempt

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.min_s * (2 ** min(self._attempt, 62)))
        self._attempt += 1
        return ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)

    def reset(self) -> None:
        self._attempt = 0

    def fresh(self) -> Backoff:
        """A new backoff with the same bounds and the same random source, at its first delay."""
        return Backoff(self.min_s, self.max_s, self._rng)
