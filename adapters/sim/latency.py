"""Latency models: how long a command takes to reach the venue and a response to come back.

A model is asked once per command (``entry``) and once per outbound event (``response``) and
returns whole nanoseconds. ``ConstantLatency`` always answers the same; ``LognormalLatency`` draws
``median * exp(sigma * N(0, 1))`` from the venue's seeded ``random.Random`` and caps it, which is
the usual shape of network round trips: most are near the median, a few are much slower.

The venue keeps each direction first-in first-out whatever the draws (one connection each way),
so a random model delays messages but never reorders them; see ``adapters.sim.venue``.
"""

from __future__ import annotations

import math
import random
from typing import Protocol

from adapters.sim.config import SimConfig

__all__ = ["ConstantLatency", "LatencyModel", "LognormalLatency", "make_latency", "ms_to_ns"]


def ms_to_ns(ms: float) -> int:
    """Milliseconds (a config float) to whole nanoseconds, rounded to the nearest."""
    return round(ms * 1_000_000)


class LatencyModel(Protocol):
    """Travel times in nanoseconds, asked per message."""

    def entry(self, now: int) -> int:
        """Engine → venue delay of a command sent at engine time ``now``."""
        ...

    def response(self, ts: int) -> int:
        """Venue → engine delay of an event the venue emits at exchange time ``ts``."""
        ...


class ConstantLatency:
    """The same delay every time."""

    __slots__ = ("entry_ns", "response_ns")

    def __init__(self, entry_ns: int, response_ns: int) -> None:
        self.entry_ns = entry_ns
        self.response_ns = response_ns

    def entry(self, now: int) -> int:
        return self.entry_ns

    def response(self, ts: int) -> int:
        return self.response_ns


class LognormalLatency:
    """``min(cap, median * exp(sigma * z))`` with ``z`` standard normal from ``rng``."""

    __slots__ = ("cap_ns", "entry_ns", "response_ns", "rng", "sigma")

    def __init__(
        self, entry_ns: int, response_ns: int, sigma: float, cap_ns: int, rng: random.Random
    ) -> None:
        self.entry_ns = entry_ns
        self.response_ns = response_ns
        self.sigma = sigma
        self.cap_ns = cap_ns
        self.rng = rng

    def _draw(self, median_ns: int) -> int:
        if not median_ns:
            return 0
        exponent = self.sigma * self.rng.gauss(0.0, 1.0)  # drawn even when capped: same stream
        cap = self.cap_ns
        if cap <= 0:
            return 0
        # cap in log space first: the config accepts any finite sigma, and exp overflows a float
        # (exponent above ~709) for draws the cap would cut anyway
        if exponent >= math.log(cap / median_ns):
            return cap
        return min(cap, int(median_ns * math.exp(exponent)))

    def entry(self, now: int) -> int:
        return self._draw(self.entry_ns)

    def response(self, ts: int) -> int:
        return self._draw(self.response_ns)


def make_latency(config: SimConfig, rng: random.Random) -> LatencyModel:
    """The model ``config.latency_model`` names, with its parameters."""
    entry = ms_to_ns(config.entry_latency_ms)
    response = ms_to_ns(config.response_latency_ms)
    if config.latency_model == "lognormal":
        return LognormalLatency(
            entry, response, config.latency_sigma, ms_to_ns(config.latency_cap_ms), rng
        )
    return ConstantLatency(entry, response)
