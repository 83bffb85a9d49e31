"""How the simulated venue behaves: queue model, latency, fees, funding and timers.

``SimConfig`` is the ``[sim]`` table of a session config. It is validated on construction (and by
``msgspec.convert``); a bad value raises ``ConfigError`` naming the field, what was expected and
what was found.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import msgspec

from mmcore.errors import ConfigError
from mmcore.instrument import PPB

__all__ = [
    "LATENCY_MODELS",
    "QUEUE_MODELS",
    "SimConfig",
    "fee_rate_ppb",
]

QUEUE_MODELS = ("risk_averse", "probabilistic")
LATENCY_MODELS = ("constant", "lognormal")


def fee_rate_ppb(value: str, where: str) -> int:
    """A fee rate given as a decimal fraction of notional ("0.0002", "-0.0001") in parts per
    billion; raises ``ConfigError`` unless it is a finite decimal in (-1, 1) with at most nine
    decimal places."""
    try:
        d = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ConfigError(f"{where}: expected a decimal fraction, found {value!r}") from None
    if not d.is_finite() or not -1 < d < 1:
        raise ConfigError(f"{where}: expected a finite fraction in (-1, 1), found {value!r}")
    ppb = d * PPB
    if ppb != ppb.to_integral_value():
        raise ConfigError(f"{where}: expected at most 9 decimal places, found {value!r}")
    return int(ppb)


class SimConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The simulated venue's knobs. Each field, its meaning and its default:

    queue_model: "risk_averse" (default) — our queue ahead shrinks only by trades at our price
        (and never exceeds the visible level); "probabilistic" — a level decrease without a trade
        is also split into cancels ahead of / behind us, see ``adapters.sim.queue``.
    queue_power: exponent ``p`` of ``f(x) = x**p`` in the probabilistic split; default 2.0.
    entry_latency_ms: command travel time, engine to venue (the median for "lognormal"); 5.0.
    response_latency_ms: venue to engine travel time of acks, rejects, cancels and fills; 5.0.
    latency_model: "constant" (default) or "lognormal" (seeded from the venue's random source).
    latency_sigma: lognormal shape: the log of the latency has this standard deviation; 0.5.
    latency_cap_ms: lognormal draws are capped at this many milliseconds; 100.0.
    maker_fee, taker_fee: fee rates as decimal fractions of notional overriding the instrument's
        (negative = rebate), e.g. "-0.0001"; default None keeps the instrument's rates.
    funding_interval_s: funding settles at every multiple of this many seconds of exchange time
        (UTC epoch aligned); 28800 (8 h); 0 turns funding off.

    The cadence of the backtest's ``Timer`` events is ``[session] timer_interval_ms``, as live.
    """

    queue_model: str = "risk_averse"
    queue_power: float = 2.0
    entry_latency_ms: float = 5.0
    response_latency_ms: float = 5.0
    latency_model: str = "constant"
    latency_sigma: float = 0.5
    latency_cap_ms: float = 100.0
    maker_fee: str | None = None
    taker_fee: str | None = None
    funding_interval_s: int = 28800

    def __post_init__(self) -> None:
        if self.queue_model not in QUEUE_MODELS:
            raise ConfigError(
                f"sim.queue_model: expected one of {QUEUE_MODELS}, found {self.queue_model!r}"
            )
        if self.latency_model not in LATENCY_MODELS:
            raise ConfigError(
                f"sim.latency_model: expected one of {LATENCY_MODELS}, "
                f"found {self.latency_model!r}"
            )
        for name in (
            "queue_power",
            "entry_latency_ms",
            "response_latency_ms",
            "latency_sigma",
            "latency_cap_ms",
        ):
            value = getattr(self, name)
            if not value >= 0 or value == float("inf"):
                raise ConfigError(f"sim.{name}: expected a finite number >= 0, found {value!r}")
        if self.funding_interval_s < 0:
            raise ConfigError(
                f"sim.funding_interval_s: expected an integer >= 0, found "
                f"{self.funding_interval_s!r}"
            )
        if self.maker_fee is not None:
            fee_rate_ppb(self.maker_fee, "sim.maker_fee")
        if self.taker_fee is not None:
            fee_rate_ppb(self.taker_fee, "sim.taker_fee")
