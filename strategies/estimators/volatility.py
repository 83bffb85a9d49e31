"""EWMA volatility of mid log-returns, sampled on a grid of event time.

The mid is sampled at most once per ``sample_interval_ms`` (on the first book event at or after
each grid point), so the cost per book event is one integer comparison. Each sample's squared
log-return is divided by the seconds since the previous sample, which makes irregular sampling
(quiet markets, gaps) unbiased; the EWMA weight of a sample is ``1 - 2**(-dt / half_life_s)``.

``sigma`` is in price-return units per square root of a second: a mid of 100 with sigma 0.001
moves about 0.1 per second (one standard deviation). ``warm`` turns true after
``warmup_samples`` returns; until then ``sigma`` is a rough early value the strategies ignore.
"""

from __future__ import annotations

import math

import msgspec

__all__ = ["EwmaVolatility", "VolatilityParams", "VolatilityStats"]

_LN2 = math.log(2.0)


class VolatilityParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Parameters of the volatility estimator (``[strategy.params.volatility]``).

    sample_interval_ms: grid of event time on which the mid is sampled, ms; default 100.
    half_life_s: EWMA half-life in seconds of event time; default 60.
    warmup_samples: returns needed before the estimate counts as warm; default 30.
    """

    sample_interval_ms: int = 100
    half_life_s: float = 60.0
    warmup_samples: int = 30

    def __post_init__(self) -> None:
        if self.sample_interval_ms < 1:
            raise ValueError(
                f"sample_interval_ms: expected >= 1, found {self.sample_interval_ms}"
            )
        if not self.half_life_s > 0:
            raise ValueError(f"half_life_s: expected > 0, found {self.half_life_s}")
        if self.warmup_samples < 1:
            raise ValueError(f"warmup_samples: expected >= 1, found {self.warmup_samples}")


class VolatilityStats(msgspec.Struct, frozen=True):
    """samples: returns folded in. warm: enough of them. sigma: current estimate per sqrt(s)."""

    samples: int
    warm: bool
    sigma: float


class EwmaVolatility:
    """Per-second volatility of mid log-returns, sampled on a time grid."""

    __slots__ = (
        "_interval",
        "_k",
        "_last_mid_x2",
        "_last_ts",
        "_var",
        "_warmup",
        "next_sample_ns",
        "samples",
        "sigma",
        "warm",
    )

    def __init__(self, params: VolatilityParams) -> None:
        self._interval = params.sample_interval_ms * 1_000_000
        self._k = _LN2 / params.half_life_s
        self._warmup = params.warmup_samples
        self._last_mid_x2 = 0
        self._last_ts = 0
        self._var = 0.0
        self.next_sample_ns = 0
        """Event time (ns) from which the next sample is taken; callers may skip calls before."""
        self.samples = 0
        self.sigma = 0.0
        self.warm = False

    def on_mid(self, now: int, mid_x2: int) -> bool:
        """Offer the current mid (twice, in ticks); returns True when a sample was taken."""
        if now < self.next_sample_ns or mid_x2 <= 0:
            return False
        interval = self._interval
        self.next_sample_ns = (now // interval + 1) * interval
        last = self._last_mid_x2
        self._last_mid_x2 = mid_x2
        dt_s = (now - self._last_ts) * 1e-9
        self._last_ts = now
        if last == 0 or dt_s <= 0.0:
            return True
        r = math.log(mid_x2 / last)
        sample = r * r / dt_s
        if self.samples == 0:
            self._var = sample
        else:
            alpha = 1.0 - math.exp(-self._k * dt_s)
            self._var += alpha * (sample - self._var)
        self.samples += 1
        self.sigma = math.sqrt(self._var)
        if not self.warm and self.samples >= self._warmup:
            self.warm = True
        return True

    def statistics(self) -> VolatilityStats:
        return VolatilityStats(samples=self.samples, warm=self.warm, sigma=self.sigma)
