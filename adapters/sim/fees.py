"""Trading fees in integer nanos of quote.

``fee = ceil(price * size * nanos_per_tick_lot * rate_ppb / 1e9)``: exact integer arithmetic,
rounded up, i.e. in the venue's favour both ways (a charge rounds up, a rebate, being negative,
rounds towards zero). A negative fee is a rebate paid to us.
"""

from __future__ import annotations

from adapters.sim.config import SimConfig, fee_rate_ppb
from mmcore.instrument import PPB, Instrument

__all__ = ["FeeSchedule"]


class FeeSchedule:
    """Maker and taker rates of one instrument, in parts per billion of notional."""

    __slots__ = ("maker_ppb", "taker_ppb", "unit")

    def __init__(self, maker_ppb: int, taker_ppb: int, unit: int) -> None:
        self.maker_ppb = maker_ppb
        self.taker_ppb = taker_ppb
        self.unit = unit

    @classmethod
    def for_instrument(cls, inst: Instrument, config: SimConfig) -> FeeSchedule:
        """The instrument's rates, each replaced by the config's when the config sets it."""
        maker = (
            inst.maker_fee_ppb
            if config.maker_fee is None
            else fee_rate_ppb(config.maker_fee, "sim.maker_fee")
        )
        taker = (
            inst.taker_fee_ppb
            if config.taker_fee is None
            else fee_rate_ppb(config.taker_fee, "sim.taker_fee")
        )
        return cls(maker, taker, inst.nanos_per_tick_lot)

    def fee(self, price: int, size: int, maker: bool) -> int:
        """Nanos charged for ``size`` lots at ``price`` ticks (negative: rebate)."""
        scaled = price * size * self.unit * (self.maker_ppb if maker else self.taker_ppb)
        return -(-scaled // PPB)
