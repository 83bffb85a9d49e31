"""The ledger: orders in flight, average-cost positions, PnL, corrections and counters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.commands import IOC, Cancel, CancelAll, Place, Resync
from mmcore.errors import MMError
from mmcore.events import (
    BUY,
    SELL,
    Balance,
    BookDelta,
    Fill,
    FundingPayment,
    MarkPrice,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    Position,
    Timer,
)
from mmcore.instrument import Instrument
from mmcore.order_state import CANCELED, OPEN, PENDING_CANCEL, PENDING_NEW, IllegalTransition
from mmcore.pnl import PnlParts, UnknownInstrument
from mmcore.state import DuplicateOrderId, Ledger, LiveOrder

BTC_UNIT = 100_000  # tick 0.1 * lot 0.001 * 1e9
ODD_UNIT = 3


def make_instruments() -> dict[str, Instrument]:
    return {
        "BTC": Instrument(venue="sim", symbol="BTC", tick_size="0.1", lot_size="0.001"),
        "ODD": Instrument(venue="sim", symbol="ODD", tick_size="0.000000003", lot_size="1"),
    }


def make_ledger() -> Ledger:
    return Ledger(make_instruments())


def make_place(
    client_id: str, side: int = BUY, price: int = 1000, size: int = 5, inst: str = "BTC",
    ts: int = 1, tif: str = "GTC",
) -> Place:
    return Place(inst, ts, client_id, side, price, size, tif=tif)


def make_ack(
    client_id: str, inst: str = "BTC", ts_recv: int = 2, venue_id: str = ""
) -> OrderAccepted:
    return OrderAccepted(inst, ts_recv - 1, ts_recv, client_id, venue_id)


def make_canceled(client_id: str, inst: str = "BTC") -> OrderCanceled:
    return OrderCanceled(inst, 3, 3, client_id)


def make_rejected(client_id: str, inst: str = "BTC") -> OrderRejected:
    return OrderRejected(inst, 3, 3, client_id, "-2010", "would cross")


def make_fill(
    side: int, price: int, size: int, fee: int = 0, client_id: str = "x", inst: str = "BTC",
    maker: bool = True, ts_recv: int = 5,
) -> Fill:
    return Fill(inst, ts_recv - 1, ts_recv, client_id, side, price, size, fee, maker)


def placed_and_acked(ledger: Ledger, client_id: str, size: int = 5) -> LiveOrder:
    ledger.on_command(make_place(client_id, size=size))
    ledger.apply(make_ack(client_id))
    return ledger.orders[client_id]


# ---------------------------------------------------------------- PnL arithmetic


def test_hand_computed_fills_fees_and_funding_give_the_expected_pnl() -> None:
    ledger = make_ledger()
    ledger.apply_fill(make_fill(BUY, 1000, 3, fee=30), 2002)
    # size 3, cost 3 * 1000 * 100_000 = 300_000_000
    ledger.apply_fill(make_fill(BUY, 1004, 1, fee=10), 0)
    # size 4, cost 300_000_000 + 100_400_000 = 400_400_000 (average 1001 ticks)
    assert (ledger.position("BTC"), ledger.pos("BTC").cost) == (4, 400_400_000)
    assert ledger.pos("BTC").avg_entry_x2(BTC_UNIT) == 2002
    ledger.apply(FundingPayment("BTC", 6, 6, 5_000))
    ledger.apply_fill(make_fill(SELL, 1010, 2, fee=-8), 2017)
    # closed cost 400_400_000 * 2 // 4 = 200_200_000; realized 202_000_000 - 200_200_000
    assert ledger.pos("BTC").realized == 1_800_000
    assert ledger.pos("BTC").cost == 200_200_000
    ledger.apply_fill(make_fill(SELL, 1000, 5, fee=50), 2001)
    # closes 2: realized += 200_000_000 - 200_200_000 = -200_000; opens short 3 at 1000
    p = ledger.pos("BTC")
    assert (p.size, p.cost, p.realized) == (-3, -300_000_000, 1_600_000)
    assert (p.fees, p.funding, p.volume, p.fills) == (30 + 10 - 8 + 50, 5_000, 11, 4)
    # short 3 from 1000 valued at 997.5: 2.5 ticks * 3 lots * 100_000 = 750_000
    assert ledger.unrealized("BTC", 1995) == 750_000
    total = 1_600_000 + 750_000 - 82 + 5_000
    assert ledger.total_pnl("BTC", 1995) == total == 2_354_918
    assert ledger.pnl.parts("BTC", 1995).total == total


def test_a_round_trip_from_bid_to_ask_realizes_the_spread_and_leaves_no_cost() -> None:
    ledger = make_ledger()
    bid, ask, qty = 999, 1001, 7
    ledger.apply_fill(make_fill(BUY, bid, qty, fee=-15), 2000)
    ledger.apply_fill(make_fill(SELL, ask, qty, fee=-15), 2000)
    p = ledger.pos("BTC")
    assert (p.size, p.cost) == (0, 0)
    assert p.realized == (ask - bid) * qty * BTC_UNIT
    assert ledger.total_pnl("BTC", 2000) == p.realized - (-30)
    assert ledger.total_pnl("BTC", 12345) == ledger.total_pnl("BTC", 2000)
    assert ledger.pnl.parts("BTC", 2000).spread == 2 * qty * BTC_UNIT


def test_crossing_through_zero_realizes_the_closed_part_and_opens_the_rest_at_the_fill() -> None:
    ledger = make_ledger()
    ledger.apply_fill(make_fill(BUY, 100, 2), 0)
    ledger.apply_fill(make_fill(SELL, 110, 5), 0)
    p = ledger.pos("BTC")
    assert p.size == -3
    assert p.realized == (110 - 100) * 2 * BTC_UNIT
    assert p.cost == -110 * 3 * BTC_UNIT
    assert ledger.unrealized("BTC", 220) == 0
    ledger.apply_fill(make_fill(BUY, 105, 4), 0)  # short 3 back to long 1 at 105
    assert (p.size, p.cost) == (1, 105 * BTC_UNIT)
    assert p.realized == (10 * 2 + 5 * 3) * BTC_UNIT


def test_uneven_partial_closes_keep_the_rounding_remainder_in_cost_until_flat() -> None:
    ledger = make_ledger()
    ledger.apply_fill(make_fill(SELL, 10, 1, inst="ODD"), 0)
    ledger.apply_fill(make_fill(SELL, 11, 2, inst="ODD"), 0)  # short 3, cost -(30 + 66) = -96
    for _ in range(3):
        ledger.apply_fill(make_fill(BUY, 12, 1, inst="ODD"), 0)
    p = ledger.pos("ODD")
    assert (p.size, p.cost) == (0, 0)
    assert p.realized == (10 + 22 - 36) * ODD_UNIT


def test_half_tick_marks_are_floored_the_same_way_in_ledger_and_attribution() -> None:
    ledger = make_ledger()
    ledger.apply_fill(make_fill(BUY, 10, 1, inst="ODD"), 0)
    assert ledger.unrealized("ODD", 21) == 1  # 31.5 - 30 nanos, floored
    assert ledger.unrealized("ODD", 19) == -2  # 28.5 - 30, floored
    assert ledger.total_pnl("ODD", 19) == ledger.pnl.parts("ODD", 19).total


def test_fills_count_volume_makers_and_the_last_fill_time() -> None:
    ledger = make_ledger()
    ledger.apply_fill(make_fill(BUY, 10, 2, maker=True, ts_recv=50), 0)
    ledger.apply_fill(make_fill(SELL, 10, 3, maker=False, ts_recv=70), 0)
    p = ledger.pos("BTC")
    assert (p.volume, p.fills, p.maker_fills, p.last_fill_ts) == (5, 2, 1, 70)
    assert ledger.statistics().fills == 2


# ---------------------------------------------------------------- order lifecycle


def test_a_place_puts_a_pending_order_in_flight_that_an_ack_opens() -> None:
    ledger = make_ledger()
    ledger.on_command(make_place("b1", ts=100))
    order = ledger.orders["b1"]
    assert ledger.open_orders("BTC") == {"b1": order}
    assert (order.status, order.ts_created, order.ts_acked) == (PENDING_NEW, 100, 0)
    assert order.remaining == 5
    ledger.apply(make_ack("b1", ts_recv=130, venue_id="v77"))
    assert (order.status, order.ts_acked, order.venue_order_id) == (OPEN, 130, "v77")
    assert ledger.open_orders("ODD") == {}


def test_partial_fills_reduce_the_remainder_and_the_last_one_finishes_the_order() -> None:
    ledger = make_ledger()
    order = placed_and_acked(ledger, "b1", size=5)
    ledger.apply_fill(make_fill(BUY, 1000, 2, client_id="b1"), 0)
    assert (order.status, order.filled, order.remaining) == (OPEN, 2, 3)
    ledger.apply_fill(make_fill(BUY, 1000, 3, client_id="b1"), 0)
    assert "b1" not in ledger.orders and ledger.open_orders("BTC") == {}
    stats = ledger.statistics()
    assert (stats.orders_filled, stats.orders_done, stats.live_orders) == (1, 1, 0)
    assert ledger.position("BTC") == 5


def test_a_fill_before_the_ack_opens_the_order_and_the_late_ack_keeps_it_open() -> None:
    ledger = make_ledger()
    ledger.on_command(make_place("b1", size=5))
    ledger.apply_fill(make_fill(BUY, 1000, 2, client_id="b1"), 0)
    assert ledger.orders["b1"].status == OPEN
    ledger.apply(make_ack("b1", ts_recv=9))
    assert (ledger.orders["b1"].status, ledger.orders["b1"].ts_acked) == (OPEN, 9)


def test_a_full_fill_before_the_ack_finishes_the_order_and_the_late_ack_is_counted() -> None:
    ledger = make_ledger()
    ledger.on_command(make_place("b1", size=5))
    ledger.apply_fill(make_fill(BUY, 1000, 5, client_id="b1"), 0)
    assert ledger.orders == {}
    ledger.apply(make_ack("b1"))
    assert ledger.statistics().unknown_order_events == 1


def test_a_fill_while_a_cancel_is_in_flight_moves_the_position_and_keeps_pending_cancel() -> None:
    ledger = make_ledger()
    order = placed_and_acked(ledger, "b1", size=5)
    ledger.on_command(Cancel("BTC", 3, "b1"))
    assert order.status == PENDING_CANCEL
    ledger.apply_fill(make_fill(BUY, 1000, 2, client_id="b1"), 0)
    assert (order.status, ledger.position("BTC")) == (PENDING_CANCEL, 2)
    ledger.apply(make_canceled("b1"))
    assert order.status == CANCELED and ledger.orders == {}
    assert ledger.statistics().orders_canceled == 1


def test_a_fill_after_the_cancel_is_confirmed_still_moves_the_position() -> None:
    ledger = make_ledger()
    placed_and_acked(ledger, "b1", size=5)
    ledger.apply(make_canceled("b1"))
    ledger.apply_fill(make_fill(BUY, 1000, 1, client_id="b1"), 0)
    assert ledger.position("BTC") == 1
    assert ledger.statistics().unknown_order_fills == 1


def test_cancelling_an_order_that_already_filled_is_ignored_and_counted() -> None:
    ledger = make_ledger()
    placed_and_acked(ledger, "b1", size=1)
    ledger.apply_fill(make_fill(BUY, 1000, 1, client_id="b1"), 0)
    ledger.on_command(Cancel("BTC", 6, "b1"))
    ledger.apply(make_canceled("b1"))
    stats = ledger.statistics()
    assert (stats.unknown_cancels, stats.unknown_order_events, stats.orders_filled) == (1, 1, 1)


def test_the_unfilled_remainder_of_an_ioc_order_can_be_canceled_before_any_ack() -> None:
    ledger = make_ledger()
    ledger.on_command(make_place("ioc1", size=4, tif=IOC))
    assert ledger.orders["ioc1"].tif == IOC
    ledger.apply_fill(make_fill(BUY, 1000, 1, client_id="ioc1"), 0)
    ledger.apply(make_canceled("ioc1"))
    assert ledger.orders == {} and ledger.position("BTC") == 1


def test_a_place_canceled_before_its_ack_may_come_back_rejected() -> None:
    ledger = make_ledger()
    ledger.on_command(make_place("b1"))
    ledger.on_command(Cancel("BTC", 2, "b1"))
    ledger.apply(make_rejected("b1"))
    assert ledger.orders == {} and ledger.statistics().orders_rejected == 1


def test_rejecting_an_open_order_raises_illegal_transition_and_changes_nothing() -> None:
    ledger = make_ledger()
    order = placed_and_acked(ledger, "bid-7")
    with pytest.raises(IllegalTransition) as info:
        ledger.apply(make_rejected("bid-7"))
    message = str(info.value)
    assert "'bid-7'" in message and "OPEN" in message and "'rejected'" in message
    assert ledger.orders == {"bid-7": order} and order.status == OPEN


def test_placing_a_client_id_that_is_still_live_raises_duplicate_order_id() -> None:
    ledger = make_ledger()
    ledger.on_command(make_place("b1"))
    with pytest.raises(DuplicateOrderId, match=r"'b1' already PENDING_NEW on BTC"):
        ledger.on_command(make_place("b1", price=990))
    assert ledger.orders["b1"].price == 1000
    assert issubclass(DuplicateOrderId, MMError) and issubclass(DuplicateOrderId, ValueError)


def test_a_client_id_can_be_placed_again_once_its_order_is_finished() -> None:
    ledger = make_ledger()
    ledger.on_command(make_place("b1"))
    ledger.apply(make_rejected("b1"))
    ledger.on_command(make_place("b1", price=990))
    assert ledger.orders["b1"].price == 990


def test_events_for_unknown_client_ids_are_ignored_and_counted() -> None:
    ledger = make_ledger()
    ledger.apply(make_ack("ghost"))
    ledger.apply(make_canceled("ghost"))
    ledger.apply(make_rejected("ghost"))
    ledger.on_command(Cancel("BTC", 1, "ghost"))
    ledger.apply_fill(make_fill(SELL, 1000, 2, client_id="ghost"), 0)
    stats = ledger.statistics()
    assert stats.unknown_order_events == 3
    assert (stats.unknown_cancels, stats.unknown_order_fills) == (1, 1)
    assert ledger.position("BTC") == -2 and ledger.orders == {}


def test_cancel_all_marks_every_live_order_of_one_market_or_of_all() -> None:
    ledger = make_ledger()
    ledger.on_command(make_place("b1"))
    placed_and_acked(ledger, "b2")
    ledger.on_command(make_place("o1", inst="ODD"))
    ledger.on_command(CancelAll("BTC", 4))
    statuses = {cid: o.status for cid, o in ledger.orders.items()}
    assert statuses == {"b1": PENDING_CANCEL, "b2": PENDING_CANCEL, "o1": PENDING_NEW}
    ledger.on_command(CancelAll("", 5))
    assert {o.status for o in ledger.orders.values()} == {PENDING_CANCEL}


def test_a_resync_command_changes_nothing() -> None:
    ledger = make_ledger()
    ledger.on_command(make_place("b1"))
    ledger.on_command(Resync("BTC", 3, "gap"))
    assert ledger.orders["b1"].status == PENDING_NEW


# ---------------------------------------------------------------- other events


def test_balance_mark_and_funding_events_update_the_ledger_and_market_data_does_not() -> None:
    ledger = make_ledger()
    assert (ledger.equity, ledger.available, ledger.mark("BTC")) == (0, 0, 0)
    ledger.apply(Balance(1, 1, "USD", 10**12, 4 * 10**11))
    ledger.apply(MarkPrice("BTC", 1, 1, 1003))
    ledger.apply(FundingPayment("BTC", 1, 1, -250))
    ledger.apply(BookDelta("BTC", 1, 1, 2, -1, (1000, 0), ()))
    ledger.apply(Timer(1, 1))
    assert (ledger.equity, ledger.available, ledger.mark("BTC")) == (10**12, 4 * 10**11, 1003)
    assert ledger.pos("BTC").funding == -250 and ledger.pnl.parts("BTC", 0).funding == -250


def test_a_venue_position_that_disagrees_rebases_at_the_current_cost_per_lot() -> None:
    ledger = make_ledger()
    ledger.apply_fill(make_fill(BUY, 1000, 3), 0)
    ledger.apply_fill(make_fill(BUY, 1004, 1), 0)  # cost 400_400_000 for 4 lots
    ledger.apply(Position("BTC", 1, 1, 6))
    p = ledger.pos("BTC")
    assert (p.size, p.cost, p.realized) == (6, 400_400_000 * 6 // 4, 0)
    assert ledger.unrealized("BTC", 2002) == 0
    assert ledger.statistics().position_corrections == 1
    assert ledger.total_pnl("BTC", 2010) == ledger.pnl.parts("BTC", 2010).total


def test_a_venue_position_when_the_ledger_was_flat_is_based_at_the_mark() -> None:
    ledger = make_ledger()
    ledger.apply(MarkPrice("BTC", 1, 1, 990))
    ledger.apply(Position("BTC", 1, 1, -2))
    p = ledger.pos("BTC")
    assert (p.size, p.cost) == (-2, -2 * 990 * BTC_UNIT)
    assert ledger.unrealized("BTC", 1980) == 0


def test_a_venue_position_seen_before_any_mark_is_not_valued_as_bought_at_zero() -> None:
    # A restart: reconciliation reports a short before the mark stream has said anything.
    ledger = make_ledger()
    ledger.apply(Position("BTC", 1, 1, -2))
    assert ledger.unrealized("BTC", 2000) == 0  # was -2 * 1000 * BTC_UNIT: a phantom loss
    assert ledger.total_pnl("BTC", 2000) == ledger.pnl.parts("BTC", 2000).total == 0
    ledger.apply(MarkPrice("BTC", 2, 2, 1000))  # the first price bases it
    p = ledger.pos("BTC")
    assert (p.size, p.cost, p.realized) == (-2, -2 * 1000 * BTC_UNIT, 0)
    assert ledger.unrealized("BTC", 2010) == -2 * 5 * BTC_UNIT
    assert ledger.total_pnl("BTC", 2010) == ledger.pnl.parts("BTC", 2010).total


def test_a_venue_position_seen_before_any_price_is_based_at_the_mid_of_the_first_fill() -> None:
    ledger = make_ledger()
    ledger.apply(Position("BTC", 1, 1, 3))
    ledger.apply_fill(make_fill(SELL, 1002, 1), 2000)  # based at mid 1000 first, then sold
    p = ledger.pos("BTC")
    assert (p.size, p.cost, p.realized) == (2, 2 * 1000 * BTC_UNIT, 2 * BTC_UNIT)
    assert ledger.total_pnl("BTC", 2000) == ledger.pnl.parts("BTC", 2000).total == 2 * BTC_UNIT


def test_a_venue_position_found_at_a_restart_costs_its_entry_price_to_the_half_tick() -> None:
    # A restart: reconciliation reports a short of 2 lots entered at 1000.5 ticks on average,
    # before any mark. Its cost is what it cost, not unbased until the mark prices it.
    ledger = make_ledger()
    ledger.apply(Position("BTC", 1, 1, -2, entry_x2=2001))
    p = ledger.pos("BTC")
    assert (p.size, p.cost, p.unbased, p.inherited) == (-2, -2001 * BTC_UNIT, False, True)
    assert p.avg_entry_x2(BTC_UNIT) == 2001
    assert ledger.unrealized("BTC", 2000) == 1 * BTC_UNIT  # short from 1000.5, now 1000
    assert ledger.position_pnl("BTC", 2000) == BTC_UNIT
    # earlier sessions made that tick: the session values the short from its first mark
    assert ledger.total_pnl("BTC", 2000) == ledger.pnl.parts("BTC", 2000).total == 0
    ledger.apply(MarkPrice("BTC", 2, 2, 990))  # the first mark values it for the session
    p = ledger.pos("BTC")
    assert (p.cost, p.inherited, p.prior_open) == (-2001 * BTC_UNIT, False, 21 * BTC_UNIT)
    assert ledger.total_pnl("BTC", 1980) == ledger.pnl.parts("BTC", 1980).total == 0
    assert ledger.total_pnl("BTC", 1978) == ledger.pnl.parts("BTC", 1978).total == 2 * BTC_UNIT
    assert ledger.unrealized("BTC", 1978) == 23 * BTC_UNIT  # against what it cost, still


# ---------------------------------------------------------------- a restart holding a position


def restarted_ledger(entry_x2: int) -> Ledger:
    """The second of two sessions: the first bought 7 lots at 990 and ended with the mid at
    1001; this one starts holding them (the venue's entry price ``entry_x2``, 0 = not said),
    then sells them at 1002, the mid 1001 then."""
    ledger = make_ledger()
    ledger.apply(Position("BTC", 1, 1, 7, entry_x2=entry_x2))
    ledger.apply_fill(make_fill(SELL, 1002, 7, ts_recv=3), 2002)
    return ledger


def test_a_restarted_session_counts_only_the_pnl_made_after_it_started() -> None:
    # was 7 * 12 ticks: the 11 ticks the lots made in the first session counted again
    ledger = restarted_ledger(2 * 990)
    p = ledger.pos("BTC")
    assert ledger.total_pnl("BTC", 2002) == ledger.pnl.parts("BTC", 2002).total == 7 * BTC_UNIT
    assert ledger.pnl.parts("BTC", 2002) == PnlParts(7 * BTC_UNIT, 0, 0, 0, 7 * BTC_UNIT)
    # the position's own figures still start from what the lots cost
    assert p.realized == ledger.position_pnl("BTC", 2002) == 7 * 12 * BTC_UNIT
    assert (p.prior_open, p.prior_closed, p.cost) == (0, 7 * 11 * BTC_UNIT, 0)


def test_a_restart_counts_the_same_pnl_whether_or_not_the_venue_gave_an_entry_price() -> None:
    with_entry = restarted_ledger(2 * 990)
    without = restarted_ledger(0)
    for mark_x2 in (2000, 2002, 2013):
        assert with_entry.total_pnl("BTC", mark_x2) == without.total_pnl("BTC", mark_x2)
        assert with_entry.pnl.parts("BTC", mark_x2) == without.pnl.parts("BTC", mark_x2)


def test_an_inherited_position_is_valued_for_the_session_from_the_first_mark() -> None:
    ledger = make_ledger()
    ledger.apply(Position("BTC", 1, 1, 4, entry_x2=2 * 950))
    assert ledger.total_pnl("BTC", 2040) == 0  # not valued yet: counted at nothing
    ledger.apply(MarkPrice("BTC", 2, 2, 1000))
    assert ledger.total_pnl("BTC", 2040) == ledger.pnl.parts("BTC", 2040).total == 4 * 20 * BTC_UNIT
    # half of it sold at 1010 (the mid 1020): the session made 10 ticks a lot on those
    ledger.apply_fill(make_fill(SELL, 1010, 2, fee=7), 2040)
    p = ledger.pos("BTC")
    assert p.realized == 2 * 60 * BTC_UNIT  # from the entry price 950
    assert (p.prior_open, p.prior_closed) == (2 * 50 * BTC_UNIT, 2 * 50 * BTC_UNIT)
    assert p.session_cost() == 2 * 1000 * BTC_UNIT
    expected = 2 * 10 * BTC_UNIT + 2 * 20 * BTC_UNIT - 7
    assert ledger.total_pnl("BTC", 2040) == ledger.pnl.parts("BTC", 2040).total == expected


def test_a_correction_after_the_session_valued_the_market_is_not_inherited() -> None:
    # a mark came first: a position the venue then reports (a lost fill put right) is the
    # session's own, at the venue's entry price, as before
    ledger = make_ledger()
    ledger.apply(MarkPrice("BTC", 1, 1, 1000))
    ledger.apply(Position("BTC", 2, 2, 3, entry_x2=2 * 990))
    p = ledger.pos("BTC")
    assert (p.inherited, p.prior_open) == (False, 0)
    assert ledger.total_pnl("BTC", 2000) == ledger.position_pnl("BTC", 2000) == 30 * BTC_UNIT


def test_a_correction_of_an_inherited_position_keeps_its_session_cost_per_lot() -> None:
    ledger = make_ledger()
    ledger.apply(Position("BTC", 1, 1, 4, entry_x2=2 * 950))
    ledger.apply(MarkPrice("BTC", 2, 2, 1000))
    ledger.apply(Position("BTC", 3, 3, 2))  # a reconnect: the venue holds 2 lots, not 4
    p = ledger.pos("BTC")
    assert (p.cost, p.session_cost(), p.prior_closed) == (
        2 * 950 * BTC_UNIT, 2 * 1000 * BTC_UNIT, 0
    )
    assert ledger.total_pnl("BTC", 2010) == ledger.pnl.parts("BTC", 2010).total == 2 * 5 * BTC_UNIT


def test_a_venue_entry_price_beats_the_mark_when_the_ledger_was_flat() -> None:
    ledger = make_ledger()
    ledger.apply(MarkPrice("BTC", 1, 1, 990))
    ledger.apply(Position("BTC", 1, 1, 3, entry_x2=1900))
    assert ledger.pos("BTC").cost == 3 * 950 * BTC_UNIT
    assert ledger.unrealized("BTC", 1980) == 3 * 40 * BTC_UNIT
    assert ledger.total_pnl("BTC", 1980) == ledger.pnl.parts("BTC", 1980).total


def test_an_unbased_position_is_based_when_the_venue_later_reports_its_entry_price() -> None:
    ledger = make_ledger()
    ledger.apply(Position("BTC", 1, 1, 3))  # no entry price, no mark: unbased
    ledger.apply(Position("BTC", 2, 2, 3, entry_x2=2001))  # the same size, now with a price
    p = ledger.pos("BTC")
    assert (p.cost, p.unbased) == ((3 * 2001 * BTC_UNIT) // 2, False)
    assert ledger.statistics().position_corrections == 1
    assert ledger.total_pnl("BTC", 2002) == ledger.pnl.parts("BTC", 2002).total


def test_a_venue_position_on_the_side_the_ledger_holds_keeps_the_ledgers_cost_per_lot() -> None:
    ledger = make_ledger()
    ledger.apply_fill(make_fill(BUY, 1000, 4), 0)
    ledger.apply(Position("BTC", 1, 1, 6, entry_x2=2010))
    assert ledger.pos("BTC").cost == 6 * 1000 * BTC_UNIT


def test_a_venue_position_on_the_other_side_is_based_at_its_entry_price() -> None:
    ledger = make_ledger()
    ledger.apply_fill(make_fill(BUY, 1000, 4), 0)
    ledger.apply(Position("BTC", 1, 1, -2, entry_x2=2011))  # none of the 4 lots remain
    assert ledger.pos("BTC").cost == (-2 * 2011 * BTC_UNIT) // 2
    assert ledger.total_pnl("BTC", 2000) == ledger.pnl.parts("BTC", 2000).total


def test_a_venue_position_that_agrees_is_not_a_correction() -> None:
    ledger = make_ledger()
    ledger.apply_fill(make_fill(SELL, 1000, 3), 0)
    ledger.apply(Position("BTC", 1, 1, -3))
    assert ledger.statistics().position_corrections == 0
    assert ledger.pnl.statistics().rebases == 0


def test_a_venue_position_of_zero_clears_the_cost() -> None:
    ledger = make_ledger()
    ledger.apply_fill(make_fill(SELL, 1000, 3), 0)
    ledger.apply(Position("BTC", 1, 1, 0))
    assert (ledger.position("BTC"), ledger.pos("BTC").cost) == (0, 0)
    assert ledger.total_pnl("BTC", 1) == ledger.pnl.parts("BTC", 1).total


def test_account_events_for_unknown_markets_are_ignored_and_counted() -> None:
    ledger = make_ledger()
    ledger.apply(Position("ETH", 1, 1, 4))
    ledger.apply(FundingPayment("ETH", 1, 1, 4))
    ledger.apply_fill(make_fill(BUY, 10, 1, inst="ETH"), 0)
    assert ledger.statistics().unknown_instrument_events == 3


def test_placing_on_an_unknown_market_raises_unknown_instrument() -> None:
    ledger = make_ledger()
    with pytest.raises(UnknownInstrument, match="found 'ETH'"):
        ledger.on_command(make_place("e1", inst="ETH"))
    with pytest.raises(UnknownInstrument):
        ledger.position("ETH")
    assert ledger.orders == {}


# ---------------------------------------------------------------- memory


def test_terminal_orders_are_dropped_so_100k_cycles_leave_no_live_orders() -> None:
    ledger = make_ledger()
    for i in range(100_000):
        cid = f"c{i}"
        side = BUY if i % 2 == 0 else SELL
        ledger.on_command(Place("BTC", i, cid, side, 1000, 3))
        ledger.apply(OrderAccepted("BTC", i, i, cid))
        if i % 3 == 0:
            ledger.apply_fill(Fill("BTC", i, i, cid, side, 1000, 3, 1, True), 2000)
        else:
            ledger.apply_fill(Fill("BTC", i, i, cid, side, 1000, 1, 1, True), 2000)
            ledger.on_command(Cancel("BTC", i, cid))
            ledger.apply(OrderCanceled("BTC", i, i, cid))
    stats = ledger.statistics()
    assert len(ledger.orders) == 0 and ledger.open_orders("BTC") == {}
    assert stats.orders_done == stats.orders_placed == 100_000
    assert stats.orders_filled == 33_334 and stats.orders_canceled == 66_666


# ---------------------------------------------------------------- properties

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("fill"),
            st.sampled_from(["BTC", "ODD"]),
            st.sampled_from([BUY, SELL]),
            st.integers(1, 5_000),
            st.integers(1, 40),
            st.integers(-500, 500),
            st.one_of(st.just(0), st.integers(2, 10_001)),
        ),
        st.tuples(st.just("funding"), st.sampled_from(["BTC", "ODD"]), st.integers(-999, 999)),
        st.tuples(st.just("mark"), st.sampled_from(["BTC", "ODD"]), st.integers(1, 5_000)),
        st.tuples(
            st.just("position"),
            st.sampled_from(["BTC", "ODD"]),
            st.integers(-60, 60),
            st.one_of(st.just(0), st.integers(1, 10_001)),  # entry_x2, 0 = unknown
        ),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ops=ops, mark_x2=st.integers(0, 10_001))
def test_ledger_pnl_always_equals_the_attribution_total_and_flat_means_no_cost(
    ops: list[tuple], mark_x2: int
) -> None:
    ledger = make_ledger()
    for op in ops:
        kind, inst = op[0], op[1]
        if kind == "fill":
            _, _, side, price, size, fee, mid_x2 = op
            ledger.apply_fill(make_fill(side, price, size, fee, inst=inst), mid_x2)
        elif kind == "funding":
            ledger.apply(FundingPayment(inst, 0, 0, op[2]))
        elif kind == "mark":
            ledger.apply(MarkPrice(inst, 0, 0, op[2]))
        else:
            ledger.apply(Position(inst, 0, 0, op[2], op[3]))
    for inst in ("BTC", "ODD"):
        p = ledger.pos(inst)
        parts = ledger.pnl.parts(inst, mark_x2)
        assert ledger.total_pnl(inst, mark_x2) == parts.total
        position_pnl = p.realized + ledger.unrealized(inst, mark_x2) - p.fees + p.funding
        assert ledger.position_pnl(inst, mark_x2) == position_pnl
        # the session's PnL leaves out what inherited lots made before it valued them
        before = p.prior_open + p.prior_closed
        if p.inherited:  # not valued yet: counted at nothing
            before = ledger.unrealized(inst, mark_x2) + p.prior_closed
        assert parts.total == position_pnl - before
        assert parts.spread + parts.inventory - parts.fees + parts.funding == parts.total
        assert ledger.pnl.position(inst) == p.size
        if p.size == 0:
            assert p.cost == 0


session_ops = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.sampled_from([BUY, SELL]), st.integers(1, 5_000),
                  st.integers(1, 40), st.integers(-500, 500), st.integers(0, 10_001)),
        st.tuples(st.just("funding"), st.integers(-999, 999)),
        st.tuples(st.just("mark"), st.integers(1, 5_000)),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(
    held=st.lists(st.tuples(st.integers(-60, 60), st.integers(1, 10_001)), max_size=3),
    ops=session_ops,
    mark_x2=st.integers(0, 10_001),
)
def test_a_sessions_pnl_never_depends_on_what_the_venue_says_inherited_lots_cost(
    held: list[tuple[int, int]], ops: list[tuple], mark_x2: int
) -> None:
    # Positions reported at start-up (before any fill or mark), then the session trades: its
    # PnL, and every part of it, is the same whatever entry prices the venue gave (none: 0).
    ledgers = [make_ledger(), make_ledger()]
    for ledger, priced in zip(ledgers, (True, False)):
        for size, entry_x2 in held:
            ledger.apply(Position("BTC", 0, 0, size, entry_x2 if priced else 0))
        for op in ops:
            if op[0] == "fill":
                _, side, price, size, fee, mid_x2 = op
                ledger.apply_fill(make_fill(side, price, size, fee), mid_x2)
            elif op[0] == "funding":
                ledger.apply(FundingPayment("BTC", 0, 0, op[1]))
            else:
                ledger.apply(MarkPrice("BTC", 0, 0, op[1]))
    priced, unpriced = ledgers
    assert priced.total_pnl("BTC", mark_x2) == unpriced.total_pnl("BTC", mark_x2)
    assert priced.pnl.parts("BTC", mark_x2) == unpriced.pnl.parts("BTC", mark_x2)
    assert priced.pos("BTC").session_cost() == unpriced.pos("BTC").session_cost()
