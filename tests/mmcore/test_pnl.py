"""PnL attribution: parts that sum to a cash-based total, exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.errors import MMError
from mmcore.events import BUY, SELL, Fill
from mmcore.instrument import Instrument
from mmcore.pnl import MissingMark, PnlAttribution, PnlParts, UnknownInstrument

BTC_UNIT = 100_000  # tick 0.1 * lot 0.001 * 1e9
ODD_UNIT = 3  # tick 3e-9 * lot 1 * 1e9: odd, so half-tick marks give half nanos


def make_instruments() -> dict[str, Instrument]:
    return {
        "BTC": Instrument(venue="sim", symbol="BTC", tick_size="0.1", lot_size="0.001"),
        "ODD": Instrument(venue="sim", symbol="ODD", tick_size="0.000000003", lot_size="1"),
    }


def make_fill(
    side: int, price: int, size: int, fee: int = 0, inst: str = "BTC", client_id: str = "c"
) -> Fill:
    return Fill(inst, 0, 0, client_id, side, price, size, fee, True)


def assert_identity(p: PnlParts) -> None:
    assert p.spread + p.inventory - p.fees + p.funding == p.total


def test_units_of_the_test_instruments_are_what_the_tests_assume() -> None:
    inst = make_instruments()
    assert inst["BTC"].nanos_per_tick_lot == BTC_UNIT
    assert inst["ODD"].nanos_per_tick_lot == ODD_UNIT


def test_hand_computed_attribution_matches_spread_inventory_fees_and_funding() -> None:
    pnl = PnlAttribution(make_instruments())
    pnl.on_fill(make_fill(BUY, 1000, 3, fee=30), 2002)  # mid 1001: captured 1 tick * 3
    pnl.on_fill(make_fill(BUY, 1004, 1, fee=10), 0)  # mid unknown: no capture
    pnl.on_funding("BTC", 5_000)
    pnl.on_fill(make_fill(SELL, 1010, 2, fee=-8), 2017)  # mid 1008.5: captured 1.5 * 2
    pnl.on_fill(make_fill(SELL, 1000, 5, fee=50), 2001)  # mid 1000.5: gave 0.5 * 5
    # spread = (1*3 + 1.5*2 - 0.5*5) ticks*lots * 100_000 = 3.5 * 100_000
    spread = 350_000
    # cash from trades = -3000 - 1004 + 2020 + 5000 = 3016 tick*lots; position -3 at 997.5
    total = (3016 * 2 - 3 * 1995) * BTC_UNIT // 2 - (30 + 10 - 8 + 50) + 5_000
    assert total == 2_354_918
    parts = pnl.parts("BTC", 1995)
    assert parts == PnlParts(
        spread=spread,
        inventory=total - spread + 82 - 5_000,
        fees=82,
        funding=5_000,
        total=total,
    )
    assert parts.inventory == 2_000_000
    assert pnl.position("BTC") == -3


def test_a_fill_without_a_known_mid_captures_no_spread_and_is_counted() -> None:
    pnl = PnlAttribution(make_instruments())
    pnl.on_fill(make_fill(BUY, 1000, 2), 0)
    assert pnl.parts("BTC", 2000).spread == 0
    assert pnl.statistics().fills_without_mid == 1


def test_a_buy_above_the_mid_has_negative_spread_capture() -> None:
    pnl = PnlAttribution(make_instruments())
    pnl.on_fill(make_fill(BUY, 1001, 4), 2000)
    assert pnl.parts("BTC", 2000).spread == -4 * BTC_UNIT


def test_half_nano_values_are_floored_and_inventory_absorbs_the_remainder() -> None:
    pnl = PnlAttribution(make_instruments())
    pnl.on_fill(make_fill(BUY, 10, 1, inst="ODD"), 21)  # captured 0.5 tick * 3 = 1.5 nanos
    parts = pnl.parts("ODD", 21)  # value 10.5 * 3 = 31.5 nanos, cost 30
    assert parts.spread == 1
    assert parts.total == 1
    assert parts.inventory == 0
    assert_identity(parts)


def test_total_parts_sums_every_market_and_keeps_the_identity() -> None:
    pnl = PnlAttribution(make_instruments())
    pnl.on_fill(make_fill(BUY, 1000, 3, fee=7), 2001)
    pnl.on_fill(make_fill(SELL, 11, 5, fee=-2, inst="ODD"), 21)
    pnl.on_funding("ODD", -4)
    marks = {"BTC": 2004, "ODD": 19}
    btc, odd = pnl.parts("BTC", 2004), pnl.parts("ODD", 19)
    summed = pnl.total_parts(marks)
    assert summed == PnlParts(
        btc.spread + odd.spread,
        btc.inventory + odd.inventory,
        btc.fees + odd.fees,
        btc.funding + odd.funding,
        btc.total + odd.total,
    )
    assert_identity(summed)


def test_total_parts_needs_a_mark_only_for_markets_with_a_position() -> None:
    pnl = PnlAttribution(make_instruments())
    pnl.on_fill(make_fill(BUY, 1000, 1), 0)
    assert pnl.total_parts({"BTC": 2000}).total == 0
    with pytest.raises(MissingMark, match="'BTC'"):
        pnl.total_parts({"ODD": 20})


def test_an_unknown_instrument_raises_naming_the_known_ones() -> None:
    pnl = PnlAttribution(make_instruments())
    with pytest.raises(UnknownInstrument) as info:
        pnl.on_funding("ETH", 1)
    assert "'ETH'" in str(info.value) and "['BTC', 'ODD']" in str(info.value)
    assert isinstance(info.value, MMError) and isinstance(info.value, KeyError)


def test_a_rebase_moves_the_position_and_books_the_cost_change_as_cash() -> None:
    pnl = PnlAttribution(make_instruments())
    pnl.on_fill(make_fill(BUY, 1000, 2), 0)
    pnl.on_rebase("BTC", 3, 1000 * BTC_UNIT)  # one more lot at 1000 ticks
    assert pnl.position("BTC") == 3
    assert pnl.parts("BTC", 2000).total == 0
    assert pnl.statistics().rebases == 1


def test_statistics_count_fills_and_funding_payments() -> None:
    pnl = PnlAttribution(make_instruments())
    pnl.on_fill(make_fill(BUY, 1000, 2), 2000)
    pnl.on_fill(make_fill(SELL, 1000, 2), 2000)
    pnl.on_funding("BTC", 3)
    stats = pnl.statistics()
    assert (stats.fills, stats.fills_without_mid, stats.funding_payments) == (2, 0, 1)


# ---------------------------------------------------------------- properties

fill_ops = st.tuples(
    st.just("fill"),
    st.sampled_from(["BTC", "ODD"]),
    st.sampled_from([BUY, SELL]),
    st.integers(1, 5_000),  # price
    st.integers(1, 50),  # size
    st.integers(-1_000, 1_000),  # fee
    st.one_of(st.just(0), st.integers(2, 10_001)),  # mid_x2, 0 = unknown
)
funding_ops = st.tuples(
    st.just("funding"), st.sampled_from(["BTC", "ODD"]), st.integers(-10**6, 10**6)
)
ops_lists = st.lists(st.one_of(fill_ops, funding_ops), max_size=40)
marks = st.fixed_dictionaries({"BTC": st.integers(0, 10_001), "ODD": st.integers(0, 10_001)})


@settings(max_examples=300, deadline=None)
@given(ops=ops_lists, marks_x2=marks)
def test_parts_always_sum_to_a_total_equal_to_brute_force_cash_plus_position_value(
    ops: list[tuple], marks_x2: dict[str, int]
) -> None:
    units = {"BTC": BTC_UNIT, "ODD": ODD_UNIT}
    pnl = PnlAttribution(make_instruments())
    # independent brute force, in half-nanos so that nothing is rounded until the end
    cash_x2 = {"BTC": 0, "ODD": 0}
    position = {"BTC": 0, "ODD": 0}
    for op in ops:
        if op[0] == "fill":
            _, inst, side, price, size, fee, mid_x2 = op
            pnl.on_fill(make_fill(side, price, size, fee, inst), mid_x2)
            cash_x2[inst] += -2 * side * price * size * units[inst] - 2 * fee
            position[inst] += side * size
        else:
            _, inst, amount = op
            pnl.on_funding(inst, amount)
            cash_x2[inst] += 2 * amount
    for inst in ("BTC", "ODD"):
        parts = pnl.parts(inst, marks_x2[inst])
        assert_identity(parts)
        expected_x2 = cash_x2[inst] + position[inst] * marks_x2[inst] * units[inst]
        assert parts.total == expected_x2 // 2
        assert pnl.position(inst) == position[inst]
    assert_identity(pnl.total_parts(marks_x2))
