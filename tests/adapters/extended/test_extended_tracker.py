"""The order tracker emits each order's lifecycle events at most once, in a legal order."""

from __future__ import annotations

from adapters.extended.tracker import DONE, DONE_KEPT_NS, OPEN, PENDING, OrderTracker
from adapters.extended.wire import WireOrder, WireTrade
from mmcore.commands import Place
from mmcore.events import BUY, Fill, OrderAccepted, OrderCanceled, OrderRejected
from mmcore.instrument import Instrument

MS = 1_000_000


def make_tracker() -> OrderTracker:
    inst = Instrument(venue="extended", symbol="BTC-USD", tick_size="1", lot_size="0.001")
    return OrderTracker({"BTC-USD": inst})


def make_place(client_id: str = "c-1", size: int = 3) -> Place:
    return Place("BTC-USD", 0, client_id, BUY, 100, size)


def make_order(
    status: str, reason: str | None = None, ext: str = "c-1", filled: str | None = None
) -> WireOrder:
    return WireOrder(
        id=77,
        external_id=ext,
        market="BTC-USD",
        side="BUY",
        status=status,
        qty="0.003",
        status_reason=reason,
        filled_qty=filled,
        updated_time=5,
    )


def make_trade(trade_id: int, qty: str = "0.001", order_id: int = 77) -> WireTrade:
    return WireTrade(
        id=trade_id,
        market="BTC-USD",
        order_id=order_id,
        side="BUY",
        price="100",
        qty=qty,
        fee="0.01",
        is_taker=True,
        created_time=6,
    )


def test_an_order_goes_pending_then_open_then_canceled_with_one_event_each() -> None:
    tracker = make_tracker()
    order = tracker.placing(make_place())
    assert order.state == PENDING
    accepted = tracker.on_order(make_order("NEW"), 9)
    assert accepted == [OrderAccepted("BTC-USD", 5 * MS, 9, "c-1", "77")]
    assert order.state == OPEN
    assert tracker.on_order(make_order("PARTIALLY_FILLED"), 9) == []
    canceled = tracker.on_order(make_order("CANCELLED", "NONE"), 9)
    assert canceled == [OrderCanceled("BTC-USD", 5 * MS, 9, "c-1", "CANCELLED")]
    assert tracker.on_order(make_order("CANCELLED"), 9) == []
    assert order.state == DONE


def test_a_post_only_failure_on_the_stream_is_a_reject_with_the_venue_reason_as_code() -> None:
    tracker = make_tracker()
    tracker.placing(make_place())
    events = tracker.on_order(make_order("REJECTED", "POST_ONLY_FAILED"), 9)
    assert len(events) == 1
    assert isinstance(events[0], OrderRejected)
    assert events[0].code == "POST_ONLY_FAILED"


def test_fills_complete_an_order_and_later_updates_emit_nothing() -> None:
    tracker = make_tracker()
    order = tracker.placing(make_place(size=2))
    tracker.learn_venue_id(order, "77")
    first = tracker.on_trade(make_trade(1), 9)
    second = tracker.on_trade(make_trade(2), 9)
    assert [type(e) for e in first + second] == [Fill, Fill]
    assert isinstance(first[0], Fill) and first[0].size == 1 and not first[0].maker
    assert order.state == DONE
    assert tracker.on_order(make_order("FILLED"), 9) == []
    assert tracker.on_order(make_order("CANCELLED"), 9) == []


def test_a_fill_after_the_terminal_event_is_passed_on_and_counted_as_late() -> None:
    tracker = make_tracker()
    order = tracker.placing(make_place())
    tracker.learn_venue_id(order, "77")
    tracker.on_order(make_order("CANCELLED"), 9)
    late = tracker.on_trade(make_trade(5), 9)
    assert [type(e) for e in late] == [Fill]
    assert tracker.statistics().late_fills == 1
    assert tracker.on_trade(make_trade(5), 9) == []  # the same trade id again: a duplicate


def test_updates_about_orders_we_did_not_place_are_ignored_and_counted() -> None:
    tracker = make_tracker()
    assert tracker.on_order(make_order("NEW", ext="someone-else"), 9) == []
    assert tracker.on_trade(make_trade(3, order_id=12345), 9) == []
    assert tracker.statistics().foreign_updates == 2


def test_a_reject_of_an_already_open_order_is_reported_as_a_cancel() -> None:
    tracker = make_tracker()
    order = tracker.placing(make_place())
    tracker.accepted(order, 1, 1)
    events = tracker.rejected(order, 2, 2, "1142", "gone")
    assert [type(e) for e in events] == [OrderCanceled]


def test_an_order_seen_working_after_its_end_or_with_a_cancel_wanted_is_a_stray() -> None:
    tracker = make_tracker()
    gone = tracker.placing(make_place("c-1"))
    tracker.rejected(gone, 1, 1, "NOT_FOUND", "the venue has no order with this id")
    assert tracker.on_order(make_order("NEW", ext="c-1"), 9) == []  # no second verdict
    assert gone.state == DONE
    wanted = tracker.placing(make_place("c-2"))
    wanted.cancel_wanted = True
    assert [type(e) for e in tracker.on_order(make_order("NEW", ext="c-2"), 9)] == [
        OrderAccepted
    ]
    assert tracker.take_strays() == {"c-1", "c-2"}
    assert tracker.strays == set()
    tracker.placing(make_place("c-3"))
    tracker.on_order(make_order("NEW", ext="c-3"), 9)
    assert tracker.strays == set()  # an ordinary ack is no stray


def test_finished_orders_are_forgotten_after_the_grace_period_and_live_ones_kept() -> None:
    """A quoting session places and cancels orders all day: the tracker must not keep every
    one of them (memory) nor scan them all for ``live()`` (CPU)."""
    tracker = make_tracker()
    hour = 3600 * 1_000_000_000
    resting = tracker.placing(make_place("rest"))
    tracker.learn_venue_id(resting, "1")
    tracker.accepted(resting, 1, 1)
    for i in range(1000):
        order = tracker.placing(make_place(f"q-{i}"))
        tracker.learn_venue_id(order, str(100 + i))
        tracker.accepted(order, i * hour, i * hour)
        tracker.canceled(order, i * hour, i * hour, "CANCELLED")
    assert len(tracker.orders) <= 3  # "rest", the last order and at most one still in grace
    assert tracker.get("rest") is resting and tracker.by_venue_id("1") is resting
    assert tracker.live() == [resting]
    assert tracker.get("q-0") is None and tracker.by_venue_id("100") is None
    assert tracker.get("q-999") is not None
    assert tracker.statistics().forgotten >= 998


def test_within_the_grace_period_late_fills_and_strays_are_still_matched() -> None:
    tracker = make_tracker()
    second = 1_000_000_000
    end = 10 * second
    order = tracker.placing(make_place("c-1"))
    tracker.learn_venue_id(order, "77")
    tracker.on_order(make_order("CANCELLED"), end)
    gone = tracker.placing(make_place("c-2"))
    tracker.rejected(gone, end, end, "NOT_FOUND", "the venue has no order with this id")
    # other orders end meanwhile (each end forgets what is past the grace period)
    later = end + DONE_KEPT_NS - second
    other = tracker.placing(make_place("c-3"))
    tracker.canceled(other, later, later, "CANCELLED")
    late = tracker.on_trade(make_trade(5), later)  # by venue id, after the cancel
    assert len(late) == 1 and isinstance(late[0], Fill) and late[0].client_id == "c-1"
    assert tracker.statistics().late_fills == 1
    assert tracker.on_order(make_order("NEW", ext="c-2"), later) == []
    assert tracker.take_strays() == {"c-2"}
    # past the grace period they are forgotten: their updates count as foreign
    past = end + DONE_KEPT_NS
    tracker.canceled(tracker.placing(make_place("c-4")), past, past, "CANCELLED")
    assert tracker.get("c-1") is None and tracker.get("c-2") is None
    assert tracker.get("c-3") is not None
    assert tracker.on_trade(make_trade(6), past) == []
    assert tracker.statistics().foreign_updates == 1



def test_a_fill_a_reconcile_reads_again_is_not_counted_as_the_streams_duplicate() -> None:
    """Every reconcile reads the latest trades again; those used to be counted as duplicate
    fills (hundreds a run), so the stream's own repeats could not be seen in the counter."""
    tracker = make_tracker()
    order = tracker.placing(make_place())
    tracker.learn_venue_id(order, "77")
    assert [type(e) for e in tracker.on_trade(make_trade(1), 9)] == [Fill]
    assert tracker.on_trade(make_trade(1), 9, reread=True) == []
    assert tracker.on_trade(make_trade(1), 9, reread=True) == []
    stats = tracker.statistics()
    assert (stats.fills_reread, stats.duplicate_fills) == (2, 0)
    assert tracker.on_trade(make_trade(1), 9) == []  # the stream repeated it
    assert tracker.statistics().duplicate_fills == 1


# ---------------------------------------------------------------- ends that overtake their fills


def held_tracker() -> tuple[OrderTracker, list[str]]:
    """A tracker with "c-1" (3 lots) open, and the reasons ``on_held`` was called with."""
    tracker = make_tracker()
    asked: list[str] = []
    tracker.on_held = asked.append
    order = tracker.placing(make_place())
    tracker.on_order(make_order("NEW"), 8)
    assert order.state == OPEN
    return tracker, asked


def test_a_cancel_that_overtakes_its_fills_is_emitted_right_after_the_last_of_them() -> None:
    """The venue cancels an order 2 of whose 3 lots it matched just before, and its CANCELLED
    update (filledQty 0.002) comes before the trades. Emitted at once, the cancel would free
    the order's room in the engine's risk gate before the 2 lots reach the position: the gate
    would let a new order take that room, and the position pass its limit when they land."""
    tracker, asked = held_tracker()
    order = tracker.get("c-1")
    assert order is not None
    assert tracker.on_order(make_order("CANCELLED", "NONE", filled="0.002"), 9) == []
    assert order.state == OPEN and order in tracker.live()  # still counted by the engine
    assert list(tracker.ends_held) == ["c-1"]
    assert asked and "c-1" in asked[0]  # a reconcile, in case the trade frame is lost
    assert tracker.on_order(make_order("CANCELLED", filled="0.002"), 9) == []  # repeated
    first = tracker.on_trade(make_trade(1), 10)
    assert [type(e) for e in first] == [Fill]
    last = tracker.on_trade(make_trade(2), 11)
    assert last == [last[0], OrderCanceled("BTC-USD", 5 * MS, 11, "c-1", "CANCELLED")]
    assert isinstance(last[0], Fill) and last[0].trade_id == "2"
    assert order.state == DONE and tracker.ends_held == {}
    stats = tracker.statistics()
    assert (stats.ends_held, stats.ends_given_up, stats.late_fills) == (1, 0, 0)
    assert len(asked) == 1


def test_an_end_whose_fills_were_seen_already_is_emitted_at_once() -> None:
    tracker, asked = held_tracker()
    assert [type(e) for e in tracker.on_trade(make_trade(1), 9)] == [Fill]
    events = tracker.on_order(make_order("EXPIRED", filled="0.001"), 10)
    assert events == [OrderCanceled("BTC-USD", 5 * MS, 10, "c-1", "EXPIRED")]
    assert asked == [] and tracker.statistics().ends_held == 0


def test_a_reject_of_a_working_order_with_fills_on_their_way_waits_for_them() -> None:
    tracker, _ = held_tracker()
    assert tracker.on_order(make_order("REJECTED", "UNKNOWN", filled="0.001"), 9) == []
    events = tracker.on_trade(make_trade(1), 10)
    assert [type(e) for e in events] == [Fill, OrderCanceled]
    assert isinstance(events[1], OrderCanceled) and events[1].reason.startswith("UNKNOWN: ")


def test_a_filled_order_whose_trades_are_not_in_yet_ends_with_its_last_fill() -> None:
    tracker, asked = held_tracker()
    order = tracker.get("c-1")
    assert order is not None
    assert tracker.on_order(make_order("FILLED", filled="0.003"), 9) == []
    assert order.state == OPEN and len(asked) == 1
    trades = [tracker.on_trade(make_trade(i, "0.001"), 10) for i in (1, 2, 3)]
    assert [[type(e) for e in t] for t in trades] == [[Fill], [Fill], [Fill]]
    assert order.state == DONE and tracker.ends_held == {}


def test_an_end_given_up_by_the_reconcile_says_its_fills_were_not_seen() -> None:
    """The last resort: no reconcile found the fills the venue counted. The end goes out (the
    reconcile's positions then set the engine's right) and a fill found later is a late one."""
    tracker, _ = held_tracker()
    order = tracker.get("c-1")
    assert order is not None
    tracker.on_order(make_order("CANCELLED", "NONE", filled="0.002"), 9)
    events = tracker.give_up_end(order, 20)
    assert events == [
        OrderCanceled("BTC-USD", 5 * MS, 20, "c-1", "reconcile: CANCELLED, fills not seen")
    ]
    assert tracker.give_up_end(order, 21) == []
    assert [type(e) for e in tracker.on_trade(make_trade(1), 22)] == [Fill]
    stats = tracker.statistics()
    assert (stats.ends_given_up, stats.late_fills) == (1, 1)
    filled = tracker.placing(make_place("c-2"))
    tracker.on_order(make_order("FILLED", ext="c-2"), 23)
    assert tracker.give_up_end(filled, 24) == [
        OrderCanceled("BTC-USD", 5 * MS, 24, "c-2", "reconcile: filled, fills not seen")
    ]


def test_a_filled_quantity_off_the_lot_grid_holds_the_end_for_the_whole_order() -> None:
    """Raising would drop the whole account frame, or end every reconcile, over one field: the
    end waits for every fill instead (the order keeps counting whole), or for a give-up."""
    tracker, asked = held_tracker()
    assert tracker.on_order(make_order("CANCELLED", filled="0.0015"), 9) == []
    order = tracker.get("c-1")
    assert order is not None and order.end is not None and order.end.venue_filled == 3
    assert asked and tracker.ends_held == {"c-1": order}
