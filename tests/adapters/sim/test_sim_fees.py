"""Fees in integer nanos: exact, rounded in the venue's favour, negative for rebates."""

from __future__ import annotations

import pytest

from adapters.sim.config import SimConfig
from adapters.sim.fees import FeeSchedule
from mmcore.errors import ConfigError
from mmcore.instrument import Instrument


def make_instrument(maker_fee: str = "0.0002", taker_fee: str = "0.0005") -> Instrument:
    return Instrument(venue="sim", symbol="X", tick_size="0.01", lot_size="0.1",
                      maker_fee=maker_fee, taker_fee=taker_fee)


def test_fees_come_from_the_instrument_in_parts_per_billion() -> None:
    fees = FeeSchedule.for_instrument(make_instrument(), SimConfig())
    assert (fees.maker_ppb, fees.taker_ppb, fees.unit) == (200_000, 500_000, 1_000_000)
    # 12345 ticks of 0.01 x 7 lots of 0.1 = 86.415 quote; 5 bp taker = 0.0432075
    assert fees.fee(12345, 7, maker=False) == 43_207_500
    assert fees.fee(12345, 7, maker=True) == 17_283_000


def test_config_rates_override_the_instrument_one_side_at_a_time() -> None:
    fees = FeeSchedule.for_instrument(make_instrument(), SimConfig(maker_fee="-0.0001"))
    assert (fees.maker_ppb, fees.taker_ppb) == (-100_000, 500_000)


def test_a_charge_rounds_up_and_a_rebate_rounds_towards_zero() -> None:
    fees = FeeSchedule(maker_ppb=-333, taker_ppb=333, unit=1)
    assert fees.fee(1, 1000, maker=False) == 1
    assert fees.fee(1, 1000, maker=True) == 0
    assert FeeSchedule(-3_000_000, 0, 1).fee(1, 1000, maker=True) == -3


def test_a_fee_rate_finer_than_a_part_per_billion_is_refused() -> None:
    with pytest.raises(ConfigError, match="maker_fee"):
        SimConfig(maker_fee="0.0000000001")
