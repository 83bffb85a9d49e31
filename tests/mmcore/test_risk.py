"""Tests of mmcore/risk.py (and the loss windows and config of mmcore/risk_limits.py)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.book import Book
from mmcore.commands import GTC, IOC, Cancel, CancelAll, Command, Output, Place
from mmcore.errors import ConfigError
from mmcore.events import (
    BUY,
    SELL,
    Balance,
    BookDelta,
    BookSnapshot,
    ConnectionState,
    Fill,
    MarkPrice,
    OrderAccepted,
    OrderRejected,
    Position,
    PriorDayPnl,
    RiskEvent,
    Timer,
    Trade,
)
from mmcore.instrument import Instrument
from mmcore.intents import QuoteTarget
from mmcore.orders import OrderManagerConfig, QuoteOrderManager
from mmcore.ratelimit import RateLimitConfig, venue_defaults
from mmcore.risk import RISK_CODES, RiskConfig, RiskGate
from mmcore.risk_limits import DAY_NS, HOUR_NS, LossWindows
from mmcore.session_control import halt_event, resume_event, stop_event
from mmcore.state import Ledger
from mmcore.view import View

INST = "BTC-USD"
NS = 1_000_000_000
T0 = 1_700_000_000 * NS  # 22:13:20 UTC
BID = 99_990
ASK = 100_010
UNIT = 100_000  # nanos per tick-lot: 0.1 * 0.001 * 1e9
MIN_LOTS = 2


def make_instrument() -> Instrument:
    return Instrument(
        venue="sim", symbol=INST, tick_size="0.1", lot_size="0.001", min_size="0.002"
    )


def make_book(bid: int = BID, ask: int = ASK) -> Book:
    book = Book(INST)
    book.apply_snapshot(BookSnapshot(INST, T0, T0, 1, (bid, 10) if bid else (), (ask, 10)))
    return book


def make_view(bid: int = BID, ask: int = ASK, now: int = T0) -> View:
    instruments = {INST: make_instrument()}
    view = View(instruments, {INST: make_book(bid, ask)}, Ledger(instruments))
    view.now = now
    return view


def make_gate(**overrides: object) -> RiskGate:
    fields: dict[str, object] = {"max_position_lots": 10}
    fields.update(overrides)
    return RiskGate(RiskConfig(**fields), {INST: make_instrument()})  # type: ignore[arg-type]


def make_place(
    cid: str = "mm-1",
    side: int = BUY,
    price: int = BID,
    size: int = 2,
    post_only: bool = True,
    reduce_only: bool = False,
    tif: str = GTC,
) -> Place:
    return Place(INST, T0, cid, side, price, size, post_only, reduce_only, tif)


def make_fill(side: int, size: int, price: int = 100_000, cid: str = "ext", now: int = T0) -> Fill:
    return Fill(INST, now, now, cid, side, price, size, 0, True)


def hold(view: View, position: int, price: int = 100_000) -> None:
    """Give the ledger a position through a fill of an order we do not track."""
    if position:
        view.ledger.apply_fill(make_fill(BUY if position > 0 else SELL, abs(position), price), 0)


def rest(view: View, cid: str, side: int, size: int, price: int | None = None) -> None:
    """An acknowledged resting order in the ledger."""
    if price is None:
        price = BID - 5 if side == BUY else ASK + 5
    view.ledger.on_command(make_place(cid, side, price, size))
    view.ledger.apply(OrderAccepted(INST, view.now, view.now, cid))


def events(outputs: Sequence[Output]) -> list[str]:
    return [o.code for o in outputs if isinstance(o, RiskEvent)]


def commands(outputs: Sequence[Output]) -> list[Command]:
    return [o for o in outputs if not isinstance(o, RiskEvent)]  # type: ignore[misc]


# ---------------------------------------------------------------- exposure


def test_a_place_within_every_limit_leaves_unchanged() -> None:
    view = make_view()
    place = make_place()
    assert make_gate().check([place], view) == [place]


def test_a_place_that_could_pass_the_position_limit_is_clamped_to_fit() -> None:
    view = make_view()
    hold(view, 2)
    rest(view, "old", BUY, 3)
    out = make_gate(max_position_lots=10).check([make_place(size=8)], view)
    assert events(out) == ["position_limit"]
    assert isinstance(out[1], Place) and out[1].size == 5


def test_pending_cancel_orders_still_count_towards_exposure() -> None:
    view = make_view()
    rest(view, "old", SELL, 8)
    view.ledger.on_command(Cancel(INST, T0, "old"))
    out = make_gate(max_position_lots=10).check([make_place(side=SELL, price=ASK, size=4)], view)
    assert isinstance(out[-1], Place) and out[-1].size == 2


def test_places_earlier_in_the_batch_count_towards_exposure() -> None:
    view = make_view()
    batch: list[Command] = [make_place("a", size=6), make_place("b", size=6)]
    out = make_gate(max_position_lots=10).check(batch, view)
    assert [c.size for c in commands(out) if isinstance(c, Place)] == [6, 4]


def test_a_place_is_dropped_when_less_than_the_minimum_size_fits() -> None:
    view = make_view()
    hold(view, 9)
    out = make_gate(max_position_lots=10).check([make_place(size=3)], view)
    assert events(out) == ["position_limit"] and commands(out) == []


def test_the_usd_limit_is_converted_at_the_mark() -> None:
    view = make_view()
    view.ledger.apply(MarkPrice(INST, T0, T0, 100_000))
    # one lot at 100_000 ticks is 100_000 * UNIT nanos = $10, so $35 allows 3 lots
    gate = RiskGate(RiskConfig(max_position_usd=35.0), {INST: make_instrument()})
    out = gate.check([make_place(size=5)], view)
    assert isinstance(out[-1], Place) and out[-1].size == 3


def test_the_smaller_of_the_lot_and_usd_limits_wins() -> None:
    view = make_view()
    view.ledger.apply(MarkPrice(INST, T0, T0, 100_000))
    gate = RiskGate(
        RiskConfig(max_position_lots=2, max_position_usd=35.0), {INST: make_instrument()}
    )
    out = gate.check([make_place(size=5)], view)
    assert isinstance(out[-1], Place) and out[-1].size == 2


# ---------------------------------------------------------------- order checks


def test_places_beyond_max_open_orders_are_dropped() -> None:
    view = make_view()
    rest(view, "old", BUY, 2)
    out = make_gate(max_open_orders=2).check(
        [make_place("a", size=2), make_place("b", side=SELL, price=ASK)], view
    )
    assert [c.client_id for c in commands(out)] == ["a"]  # type: ignore[union-attr]
    assert events(out) == ["open_orders_limit"]


def test_a_place_outside_the_price_band_is_dropped() -> None:
    view = make_view()  # mid 100_000, 500 bps = 5_000 ticks
    gate = make_gate(price_band_bps=500.0)
    assert commands(gate.check([make_place(price=95_000)], view)) != []
    out = gate.check([make_place(price=94_999)], view)
    assert events(out) == ["price_band"] and commands(out) == []


def test_a_place_without_any_mark_or_mid_is_dropped_by_the_band() -> None:
    view = make_view(bid=0)
    out = make_gate().check([make_place(side=SELL, price=ASK)], view)
    assert events(out) == ["price_band"]


@pytest.mark.parametrize(("side", "price"), [(BUY, ASK), (BUY, ASK + 3), (SELL, BID)])
def test_post_only_places_that_would_cross_are_dropped(side: int, price: int) -> None:
    out = make_gate().check([make_place(side=side, price=price)], make_view())
    assert events(out) == ["post_only_cross"] and commands(out) == []


def test_a_crossing_place_that_is_not_post_only_may_leave() -> None:
    place = make_place(price=ASK, post_only=False)
    assert make_gate().check([place], make_view()) == [place]


@pytest.mark.parametrize("place", [make_place(size=1), make_place(price=0)])
def test_places_below_the_minimum_size_or_without_a_price_are_invalid(place: Place) -> None:
    assert events(make_gate().check([place], make_view())) == ["invalid_order"]


def test_places_on_an_unknown_market_are_invalid() -> None:
    place = Place("ETH-USD", T0, "x", BUY, 100, 2)
    assert events(make_gate().check([place], make_view())) == ["invalid_order"]


# ---------------------------------------------------------------- rate budget


def test_places_are_dropped_when_the_rate_budget_is_spent() -> None:
    gate = make_gate(rate_limit=venue_defaults("paradex"))  # 2 new orders a second
    view = make_view()
    out = gate.check([make_place("a"), make_place("b"), make_place("c")], view)
    assert len(commands(out)) == 2 and events(out) == ["rate_limited"]


def test_cancels_are_preferred_over_places_when_the_budget_is_short() -> None:
    gate = make_gate(rate_limit=venue_defaults("paradex"))  # 3 a second, 2 for places
    view = make_view()
    batch: list[Command] = [
        make_place("a"),
        Cancel(INST, T0, "x"),
        make_place("b", side=SELL, price=ASK),
        Cancel(INST, T0, "y"),
        Cancel(INST, T0, "z"),
    ]
    out = gate.check(batch, view)
    assert commands(out) == [Cancel(INST, T0, "x"), Cancel(INST, T0, "y"), Cancel(INST, T0, "z")]
    assert events(out) == ["rate_limited", "rate_limited"]


def test_a_cancel_without_budget_is_recorded_as_rate_limited() -> None:
    gate = make_gate(rate_limit=RateLimitConfig(windows=[(1.0, 1)], reserve_for_cancels=0.0))
    view = make_view()
    out = gate.check([Cancel(INST, T0, "x"), Cancel(INST, T0, "y")], view)
    assert commands(out) == [Cancel(INST, T0, "x")]
    assert [(o.code, "y" in o.message) for o in out if isinstance(o, RiskEvent)] == [
        ("rate_limited", True)
    ]


# ---------------------------------------------------------------- halts


def test_a_halt_intents_cancel_all_halts_its_market_until_resume() -> None:
    view = make_view()
    hold(view, 4)
    gate = make_gate()
    out = gate.check([CancelAll(INST, T0, "stale")], view)
    assert events(out) == ["halted"] and commands(out) == [CancelAll(INST, T0, "stale")]
    assert gate.is_halted(INST) and not gate.halted
    assert events(gate.check([make_place()], view)) == ["halted"]
    exit_order = make_place("exit", side=SELL, price=ASK, size=4, reduce_only=True)
    assert gate.check([exit_order], view) == [exit_order]
    assert events(gate.resume(INST)) == ["resumed"]
    assert commands(gate.check([make_place()], view)) == [make_place()]


def test_a_halt_of_every_market_halts_globally() -> None:
    gate = make_gate()
    gate.check([CancelAll("", T0, "shutdown")], make_view())
    assert gate.halted and gate.statistics().reasons == ["halt_intent"]


def test_a_reduce_only_order_larger_than_the_position_is_clamped() -> None:
    view = make_view()
    hold(view, 3)
    out = make_gate().check([make_place(side=SELL, price=ASK, size=5, reduce_only=True)], view)
    assert events(out) == ["not_reducing"]
    assert isinstance(out[-1], Place) and out[-1].size == 3


def test_a_reduce_only_order_on_the_wrong_side_is_dropped() -> None:
    view = make_view()
    hold(view, 3)
    out = make_gate().check([make_place(side=BUY, size=2, reduce_only=True)], view)
    assert events(out) == ["not_reducing"] and commands(out) == []


def test_the_kill_switch_trips_once_after_n_rejects_in_a_row() -> None:
    view = make_view()
    gate = make_gate(max_consecutive_failures=3)
    reject = OrderRejected(INST, T0, T0, "mm-1", "E1", "bad")
    assert gate.on_event(reject, view) == []
    assert gate.on_event(reject, view) == []
    out = gate.on_event(reject, view)
    assert events(out) == ["kill_switch"] and commands(out) == [CancelAll("", T0, "kill_switch")]
    assert gate.halted
    assert gate.on_event(reject, view) == []


def test_the_operators_halt_cancels_everything_and_holds_until_the_operators_resume() -> None:
    view = make_view()
    hold(view, 4)
    gate = make_gate()
    out = gate.on_event(halt_event(T0, "SIGUSR2"), view)
    assert events(out) == ["operator_halt"]
    assert commands(out) == [CancelAll("", T0, "operator_halt")]
    assert gate.halted and gate.on_event(halt_event(T0), view) == []  # once
    assert events(gate.check([make_place()], view)) == ["halted"]
    exit_order = make_place("exit", side=SELL, price=ASK, size=4, reduce_only=True)
    assert gate.check([exit_order], view) == [exit_order]
    out = gate.on_event(resume_event(T0 + NS, "SIGUSR1"), view)
    assert events(out) == ["resumed"] and not gate.halted
    assert "operator_halt" in out[0].message
    assert commands(gate.check([make_place()], view)) == [make_place()]


def test_other_session_and_connection_states_are_not_the_gates_business() -> None:
    view = make_view()
    gate = make_gate()
    assert gate.on_event(stop_event(T0), view) == []
    down = ConnectionState(T0, T0, "market:BTC-USD", "down", "socket closed")
    assert gate.on_event(down, view) == [] and not gate.halted


def test_an_ack_or_a_fill_resets_the_reject_count() -> None:
    view = make_view()
    gate = make_gate(max_consecutive_failures=2)
    reject = OrderRejected(INST, T0, T0, "mm-1", "E1", "bad")
    gate.on_event(reject, view)
    gate.on_event(OrderAccepted(INST, T0, T0, "mm-2"), view)
    gate.on_event(reject, view)
    gate.on_event(make_fill(BUY, 1), view)
    assert gate.on_event(reject, view) == [] and not gate.halted


def test_without_a_mark_or_mid_the_usd_limit_is_valued_at_the_highest_price_in_sight() -> None:
    view = make_view()
    view.books[INST].apply_snapshot(BookSnapshot(INST, T0, T0, 2, (99_990, 500), ()))
    # bids only: no mid; no MarkPrice yet
    gate = make_gate(max_position_lots=0, max_position_usd=35.0, price_band_bps=0.0)
    # a sell far below the market fills at the bids: $35 there is 3 lots (1 lot ~ $10)
    sell = make_place("mm-1", SELL, price=1, size=400, post_only=False)
    out = commands(gate.check([sell], view))
    assert [(c.price, c.size) for c in out if isinstance(c, Place)] == [(1, 3)]


def test_without_any_price_but_the_orders_own_the_usd_limit_lets_only_reducing_orders_go(
) -> None:
    view = make_view()
    view.books[INST].apply_snapshot(BookSnapshot(INST, T0, T0, 2, (), ()))  # empty; no mark
    gate = make_gate(max_position_lots=0, max_position_usd=35.0, price_band_bps=0.0)
    out = gate.check([make_place("mm-1", SELL, price=1, size=400, post_only=False)], view)
    assert commands(out) == [] and events(out) == ["position_limit"]
    hold(view, 5)
    exit_ = make_place("mm-2", SELL, price=99_000, size=5, post_only=False, reduce_only=True)
    assert commands(gate.check([exit_], view)) == [exit_]


def test_a_loss_beyond_the_hourly_limit_halts_once() -> None:
    view = make_view()
    gate = make_gate(max_loss_hour_usd=0.4)
    view.ledger.apply(MarkPrice(INST, T0, T0, 100_000))
    hold(view, 5, price=100_000)
    assert gate.on_event(make_fill(BUY, 5), view) == []
    view.ledger.apply(MarkPrice(INST, T0, T0, 99_000))  # 5 lots * 1000 ticks * UNIT = $0.50
    out = gate.on_event(MarkPrice(INST, T0, T0, 99_000), view)
    assert events(out) == ["loss_limit_hour"]
    assert commands(out) == [CancelAll("", T0, "loss_limit_hour")]
    assert gate.on_event(MarkPrice(INST, T0, T0, 99_000), view) == []
    assert events(gate.check([make_place()], view)) == ["halted"]


def test_the_hourly_loss_is_the_drop_from_the_high_of_the_last_hour() -> None:
    w = LossWindows()
    w.update(T0, 100)
    w.update(T0 + 10, 40)
    assert w.hour_loss == 60
    w.update(T0 + HOUR_NS, 30)  # the high of 100 is exactly an hour old: out of the window
    assert w.hour_loss == 10


def test_the_daily_loss_counts_from_the_last_pnl_before_the_utc_day_began() -> None:
    day = (T0 // DAY_NS + 1) * DAY_NS
    w = LossWindows()
    w.update(day - 1, -50)
    assert w.day_loss == 50 and not w.new_day
    w.update(day, -80)
    assert w.new_day and w.day_loss == 30


def test_the_daily_loss_limit_lifts_when_the_utc_day_changes() -> None:
    view = make_view()
    gate = make_gate(max_loss_day_usd=0.4)
    hold(view, 5, price=100_000)
    view.ledger.apply(MarkPrice(INST, T0, T0, 99_000))
    assert events(gate.on_event(MarkPrice(INST, T0, T0, 99_000), view)) == ["loss_limit_day"]
    view.now = (T0 // DAY_NS + 1) * DAY_NS
    out = gate.on_event(Timer(view.now, view.now), view)
    assert events(out) == ["resumed"] and not gate.halted


def test_equity_below_the_minimum_halts() -> None:
    view = make_view()
    gate = make_gate(min_equity_usd=100.0)
    balance = Balance(T0, T0, "USD", 99 * NS, 50 * NS)
    view.ledger.apply(balance)
    out = gate.on_event(balance, view)
    assert events(out) == ["min_equity"] and commands(out) == [CancelAll("", T0, "min_equity")]


def test_an_unrealized_loss_beyond_the_limit_forces_a_reduce_only_ioc_exit_once() -> None:
    view = make_view()
    gate = make_gate(flatten_unrealized_loss_usd=0.4, flatten_slippage_bps=50.0)
    hold(view, 5, price=100_000)
    view.ledger.apply(MarkPrice(INST, T0, T0, 99_000))
    out = gate.on_event(MarkPrice(INST, T0, T0, 99_000), view)
    assert events(out) == ["flatten_unrealized"]
    assert commands(out) == [
        CancelAll(INST, T0, "flatten_unrealized"),
        Place(INST, T0, "risk-1", SELL, BID - 499, 5, False, True, IOC),
    ]
    assert gate.is_halted(INST) and not gate.halted
    assert gate.on_event(MarkPrice(INST, T0, T0, 98_000), view) == []


def test_the_forced_exit_goes_even_with_max_open_orders_reached() -> None:
    """Documented exemption: the exit is a reduce-only IOC (never rests, cannot add exposure)
    sent with the CancelAll of the market; holding it back until the cancels are confirmed
    would delay the loss limit's exit."""
    view = make_view()
    gate = make_gate(flatten_unrealized_loss_usd=0.4, max_open_orders=2)
    hold(view, 5, price=100_000)
    rest(view, "mm-1", BUY, 1)
    rest(view, "mm-2", SELL, 1)
    view.ledger.apply(MarkPrice(INST, T0, T0, 99_000))
    out = gate.on_event(MarkPrice(INST, T0, T0, 99_000), view)
    places = [c for c in commands(out) if type(c) is Place]
    assert len(places) == 1 and places[0].reduce_only and places[0].tif == IOC
    assert places[0].side == SELL and places[0].size == 5


def test_a_forced_exit_below_the_minimum_size_is_not_sent_and_says_so() -> None:
    # 1 lot long, the instrument's minimum is 2: the venue would only reject the exit
    view = make_view()
    gate = make_gate(flatten_unrealized_loss_usd=0.05)
    hold(view, 1, price=100_000)
    view.ledger.apply(MarkPrice(INST, T0, T0, 99_000))
    out = gate.on_event(MarkPrice(INST, T0, T0, 99_000), view)
    assert events(out) == ["flatten_unrealized", "invalid_order"]
    assert commands(out) == [CancelAll(INST, T0, "flatten_unrealized")]
    assert "exiting" not in out[0].message  # type: ignore[union-attr]
    assert "minimum size 2 lots, found 1; not sent" in out[2].message  # type: ignore[union-attr]
    assert gate.is_halted(INST) and gate.statistics().forced == 1


def test_the_forced_exits_slippage_is_exact_at_a_whole_tick() -> None:
    # 3 bps of 10,000 ticks is 3 ticks exactly; 10_000 * (3 / 10_000.0) is 2.9999999999999996
    view = make_view(bid=10_000, ask=10_002)
    gate = make_gate(flatten_unrealized_loss_usd=0.1, flatten_slippage_bps=3.0)
    hold(view, 5, price=10_500)
    view.ledger.apply(MarkPrice(INST, T0, T0, 10_000))
    out = gate.on_event(MarkPrice(INST, T0, T0, 10_000), view)
    assert commands(out)[-1] == Place(INST, T0, "risk-1", SELL, 10_000 - 3, 5, False, True, IOC)


@pytest.mark.parametrize(
    ("bps", "ask", "price"),
    [(0.3, 100_000, 100_003), (12.5, 80_000, 80_100), (0.0, 80_000, 80_000), (7.0, 99, 99)],
)
def test_the_forced_exits_slippage_is_the_bps_as_written_floored_to_a_tick(
    bps: float, ask: int, price: int
) -> None:
    view = make_view(bid=ask - 2, ask=ask)
    gate = make_gate(flatten_unrealized_loss_usd=0.0001, flatten_slippage_bps=bps)
    hold(view, -5, price=ask * 99 // 100)  # short: the exit buys through the ask
    view.ledger.apply(MarkPrice(INST, T0, T0, ask))
    out = gate.on_event(MarkPrice(INST, T0, T0, ask), view)
    assert commands(out)[-1] == Place(INST, T0, "risk-1", BUY, price, 5, False, True, IOC)


def test_a_position_found_at_start_up_before_any_mark_trips_no_loss_limit() -> None:
    # Restart holding a short: reconciliation's Position comes before the first MarkPrice, and a
    # timer then values it at the book's mid. Bought at 0 it would be a loss of its whole value.
    view = make_view()
    gate = make_gate(flatten_unrealized_loss_usd=0.4, max_loss_day_usd=5.0)
    view.ledger.apply(Position(INST, T0, T0, -5))
    assert gate.on_event(Timer(T0, T0), view) == []
    view.ledger.apply(MarkPrice(INST, T0 + 1, T0 + 1, 100_000))
    assert gate.on_event(MarkPrice(INST, T0 + 1, T0 + 1, 100_000), view) == []
    assert not gate.halted and not gate.is_halted(INST)
    view.ledger.apply(MarkPrice(INST, T0 + 2, T0 + 2, 101_000))  # now a real loss of 0.5 USD
    out = gate.on_event(MarkPrice(INST, T0 + 2, T0 + 2, 101_000), view)
    assert events(out) == ["flatten_unrealized"]


def test_a_place_below_the_venues_min_notional_is_dropped_unless_reduce_only() -> None:
    # 2 lots at 9,999.0 are 19.998 USD, 3 lots 29.997 USD: the venue takes 25 USD and more
    inst = Instrument(venue="sim", symbol=INST, tick_size="0.1", lot_size="0.001",
                      min_size="0.002", min_notional="25")
    view = View({INST: inst}, {INST: make_book()}, Ledger({INST: inst}))
    view.now = T0
    gate = RiskGate(RiskConfig(max_position_lots=10), {INST: inst})
    out = gate.check([make_place("a", size=2)], view)
    assert commands(out) == [] and events(out) == ["invalid_order"]
    assert "notional" in out[0].message  # type: ignore[union-attr]
    assert commands(gate.check([make_place("b", size=3)], view)) == [make_place("b", size=3)]
    view.ledger.apply_fill(make_fill(BUY, 2), 0)
    exit_order = make_place("c", side=SELL, price=ASK, size=2, reduce_only=True)
    assert commands(gate.check([exit_order], view)) == [exit_order]  # closing is never too small


def test_market_data_never_costs_a_pnl_recomputation() -> None:
    view = make_view()
    gate = make_gate(max_loss_hour_usd=0.01, max_consecutive_failures=1)
    hold(view, 5)
    view.ledger.apply(MarkPrice(INST, T0, T0, 1))  # a huge loss, seen only on Mark/Fill/Timer
    assert gate.on_event(BookDelta(INST, T0, T0, 2, -1, (BID, 0), ()), view) == []
    assert gate.on_event(Trade(INST, T0, T0, BID, 1, SELL), view) == []
    assert events(gate.on_event(Timer(T0, T0), view)) == ["loss_limit_hour"]


def test_forced_commands_spend_rate_budget_but_always_leave() -> None:
    view = make_view()
    gate = make_gate(
        max_consecutive_failures=1,
        rate_limit=RateLimitConfig(windows=[(1.0, 1)], reserve_for_cancels=0.0),
    )
    gate.check([Cancel(INST, T0, "x")], view)
    out = gate.on_event(OrderRejected(INST, T0, T0, "mm-1", "E", "bad"), view)
    assert commands(out) == [CancelAll("", T0, "kill_switch")]
    assert gate.statistics().forced_over_budget == 1


def test_a_forced_command_sent_over_budget_still_counts_against_the_rate_window() -> None:
    view = make_view()
    gate = make_gate(
        max_consecutive_failures=1,
        rate_limit=RateLimitConfig(windows=[(10.0, 2)], reserve_for_cancels=0.0),
    )
    assert len(commands(gate.check([Cancel(INST, T0, "a"), Cancel(INST, T0, "b")], view))) == 2
    view.now = T0 + 5 * NS
    out = gate.on_event(OrderRejected(INST, view.now, view.now, "mm-1", "E", "bad"), view)
    assert commands(out) == [CancelAll("", T0 + 5 * NS, "kill_switch")]  # over budget
    view.now = T0 + 10 * NS  # "a" and "b" left the venue's window, the CancelAll did not
    out = gate.check([Cancel(INST, view.now, "c"), Cancel(INST, view.now, "d")], view)
    assert commands(out) == [Cancel(INST, view.now, "c")]
    assert events(out) == ["rate_limited"]


# ---------------------------------------------------------------- config and counters


def test_a_gate_without_any_position_limit_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_position_lots"):
        RiskGate(RiskConfig(), {INST: make_instrument()})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_position_lots": -1}, "max_position_lots"),
        ({"max_position_usd": -1.0}, "max_position_usd"),
        ({"max_open_orders": 0}, "max_open_orders"),
        ({"max_loss_hour_usd": float("nan")}, "max_loss_hour_usd"),
        ({"max_consecutive_failures": -1}, "max_consecutive_failures"),
        ({"price_band_bps": -5.0}, "price_band_bps"),
        ({"flatten_slippage_bps": 10_000.0}, "flatten_slippage_bps"),
        ({"client_id_prefix": "risk!"}, "client_id_prefix"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        RiskConfig(**kwargs)  # type: ignore[arg-type]


def test_statistics_count_decisions_by_code() -> None:
    view = make_view()
    gate = make_gate()
    gate.check([make_place("a"), make_place("b", price=ASK)], view)
    stats = gate.statistics()
    assert (stats.commands_in, stats.commands_out, stats.dropped) == (2, 1, 1)
    assert stats.decisions["post_only_cross"] == 1
    assert set(stats.decisions) == set(RISK_CODES)


# ---------------------------------------------------------------- properties


def brute_force_extremes(view: View, position: int) -> tuple[int, int]:
    """Highest and lowest position reachable by any subset of the live orders filling."""
    live = list(view.ledger.open_orders(INST).values())
    best_long = best_short = position
    for n in range(len(live) + 1):
        for subset in itertools.combinations(live, n):
            p = position + sum(o.side * o.remaining for o in subset)
            best_long = max(best_long, p)
            best_short = min(best_short, p)
    return best_long, best_short


orders_st = st.lists(
    st.tuples(st.sampled_from([BUY, SELL]), st.integers(1, 6), st.booleans()), max_size=5
)
levels_st = st.lists(st.tuples(st.integers(-3, 30), st.integers(0, 7)), max_size=3)
raw_st = st.lists(
    st.tuples(
        st.sampled_from([BUY, SELL]),
        st.integers(-30, 30),
        st.integers(0, 9),
        st.booleans(),
        st.booleans(),
    ),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(
    bid=st.integers(99_000, 101_000),
    spread=st.integers(1, 20),
    position=st.integers(-12, 12),
    existing=orders_st,
    bids=levels_st,
    asks=levels_st,
    raw=raw_st,
    max_lots=st.integers(1, 15),
    max_usd=st.sampled_from([0.0, 25.0, 80.0]),
)
def test_no_place_that_leaves_can_take_the_position_past_the_limit(
    bid: int,
    spread: int,
    position: int,
    existing: list[tuple[int, int, bool]],
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    raw: list[tuple[int, int, int, bool, bool]],
    max_lots: int,
    max_usd: float,
) -> None:
    ask = bid + spread
    view = make_view(bid, ask)
    view.ledger.apply(MarkPrice(INST, T0, T0, bid))
    hold(view, position)
    for k, (side, size, canceled) in enumerate(existing):
        rest(view, f"old-{k}", side, size, bid - 1 if side == BUY else ask + 1)
        if canceled:
            view.ledger.on_command(Cancel(INST, T0, f"old-{k}"))
    gate = RiskGate(
        RiskConfig(max_position_lots=max_lots, max_position_usd=max_usd, max_open_orders=8),
        {INST: make_instrument()},
    )
    manager = QuoteOrderManager(OrderManagerConfig(), {INST: make_instrument()})
    target = QuoteTarget(
        INST, tuple((bid - d, s) for d, s in bids), tuple((ask + d, s) for d, s in asks)
    )
    batch = manager.reconcile(target, view)
    for k, (side, offset, size, post_only, reduce_only) in enumerate(raw):
        price = (bid if side == BUY else ask) + offset
        batch.append(make_place(f"raw-{k}", side, price, size, post_only, reduce_only))
    out = gate.check(batch, view)
    places = [c for c in out if isinstance(c, Place)]
    for p in places:
        assert type(p.price) is int and p.price > 0
        assert type(p.size) is int and p.size >= MIN_LOTS
        if p.post_only:
            assert (p.side == BUY and p.price < ask) or (p.side == SELL and p.price > bid)
        if p.reduce_only:
            assert p.side == (SELL if position > 0 else BUY) and p.size <= abs(position)
    for cmd in commands(out):
        view.ledger.on_command(cmd)
    limit = max_lots
    if max_usd:
        limit = min(limit, round(max_usd * NS) // (bid * UNIT))
    highest, lowest = brute_force_extremes(view, position)
    if any(p.side == BUY for p in places):
        assert highest <= limit
    if any(p.side == SELL for p in places):
        assert lowest >= -limit
    assert not places or len(view.ledger.open_orders(INST)) <= 8


@settings(max_examples=150, deadline=None)
@given(
    position=st.integers(-6, 6),
    scope=st.sampled_from(["market", "global", "kill"]),
    raw=raw_st,
    cancels=st.integers(0, 2),
)
def test_while_halted_only_cancels_and_reducing_orders_leave(
    position: int, scope: str, raw: list[tuple[int, int, int, bool, bool]], cancels: int
) -> None:
    view = make_view()
    hold(view, position)
    gate = make_gate(max_consecutive_failures=1)
    if scope == "kill":
        gate.on_event(OrderRejected(INST, T0, T0, "mm-0", "E", "bad"), view)
    else:
        gate.check([CancelAll(INST if scope == "market" else "", T0, "halt")], view)
    batch: list[Command] = [Cancel(INST, T0, f"c-{k}") for k in range(cancels)]
    for k, (side, offset, size, post_only, reduce_only) in enumerate(raw):
        price = (BID if side == BUY else ASK) + offset
        batch.append(make_place(f"raw-{k}", side, price, size, post_only, reduce_only))
    out = gate.check(batch, view)
    for cmd in commands(out):
        if isinstance(cmd, Place):
            assert cmd.reduce_only and cmd.side == (SELL if position > 0 else BUY)
            assert cmd.size <= abs(position)
        else:
            assert isinstance(cmd, (Cancel, CancelAll))
    assert sum(isinstance(c, Cancel) for c in out) == cancels


@settings(max_examples=100, deadline=None)
@given(
    batches=st.lists(
        st.tuples(st.integers(0, 700_000_000), st.integers(0, 3), st.integers(0, 3)),
        min_size=1,
        max_size=30,
    )
)
def test_commands_out_of_the_gate_never_exceed_any_rate_window(
    batches: list[tuple[int, int, int]],
) -> None:
    view = make_view()
    gate = make_gate(
        max_position_lots=1000, max_open_orders=1000, rate_limit=venue_defaults("paradex")
    )
    sent: list[tuple[int, bool]] = []
    n = 0
    for gap, places, cancels in batches:
        view.now += gap
        batch: list[Command] = []
        for _ in range(places):
            n += 1
            batch.append(Place(INST, view.now, f"p-{n}", BUY, BID, 2))
        batch.extend(Cancel(INST, view.now, f"c-{k}") for k in range(cancels))
        for cmd in commands(gate.check(batch, view)):
            sent.append((view.now, isinstance(cmd, Place)))
    for i, (t, _) in enumerate(sent):
        for seconds, limit in venue_defaults("paradex").windows:
            window = [is_place for u, is_place in sent[: i + 1] if t - u < seconds * NS]
            assert len(window) <= limit
            if sent[i][1]:
                assert len(window) <= int(limit * 0.8 + 1e-9)


# ---------------------------------------------------------------- the day's PnL carried over

TODAY = T0 // DAY_NS
LIMIT = 400_000_000  # max_loss_day_usd = 0.4 in nanos


def carried(pnl: int, day: int = TODAY) -> PriorDayPnl:
    return PriorDayPnl(T0, T0, day, pnl)


def test_a_carried_loss_past_the_daily_limit_halts_the_session_at_once() -> None:
    view = make_view()
    gate = make_gate(max_loss_day_usd=0.4)
    out = gate.on_event(carried(-LIMIT - 1), view)
    assert events(out) == ["day_pnl_carried", "loss_limit_day"]
    assert commands(out) == [CancelAll("", T0, "loss_limit_day")]
    assert gate.halted and events(gate.check([make_place()], view)) == ["halted"]


def test_a_carried_loss_and_the_sessions_loss_add_up_toward_the_daily_limit() -> None:
    def session(carry: int | None) -> list[str]:
        view = make_view()
        gate = make_gate(max_loss_day_usd=0.4)
        out = [] if carry is None else gate.on_event(carried(carry), view)
        hold(view, 5, price=100_000)
        view.ledger.apply(MarkPrice(INST, T0, T0, 99_600))  # 5 lots * 400 ticks: -$0.20
        return events(out + gate.on_event(MarkPrice(INST, T0, T0, 99_600), view))

    assert session(None) == []
    assert session(-300_000_000) == ["day_pnl_carried", "loss_limit_day"]  # $0.30 + $0.20
    assert session(-100_000_000) == ["day_pnl_carried"]  # $0.10 + $0.20


@settings(max_examples=200, deadline=None)
@given(carry=st.integers(-10**9, 10**9), mark=st.integers(99_000, 101_000))
def test_the_daily_limit_halts_exactly_when_carried_plus_session_pnl_passes_it(
    carry: int, mark: int
) -> None:
    view = make_view()
    gate = make_gate(max_loss_day_usd=0.4)
    gate.on_event(carried(carry), view)
    hold(view, 5, price=100_000)
    view.ledger.apply(MarkPrice(INST, T0, T0, mark))
    gate.on_event(MarkPrice(INST, T0, T0, mark), view)
    session = 5 * (mark - 100_000) * UNIT
    assert gate.halted == (-carry > LIMIT or -(carry + session) > LIMIT)
    assert gate.day_pnl() == (TODAY, carry + session)


def test_another_days_carried_pnl_is_ignored() -> None:
    view = make_view()
    gate = make_gate(max_loss_day_usd=0.4)
    out = gate.on_event(carried(-10 * LIMIT, day=TODAY - 1), view)
    assert events(out) == ["day_pnl_carried"] and "ignored" in out[0].message  # type: ignore[union-attr]
    assert not gate.halted
    gate.on_event(Timer(T0, T0), view)
    assert gate.day_pnl() == (TODAY, 0)


def test_a_carried_loss_saved_on_a_later_day_counts_toward_today() -> None:
    """A file saved while the clock ran a day ahead (or read after this clock stepped back)
    used to be ignored as another day's: a restart then had a fresh allowance."""
    view = make_view()
    gate = make_gate(max_loss_day_usd=0.4)
    out = gate.on_event(carried(-10 * LIMIT, day=TODAY + 1), view)
    assert events(out) == ["day_pnl_carried", "loss_limit_day"]
    assert "clock stepped" in out[0].message  # type: ignore[union-attr]
    assert gate.halted and gate.day_pnl() == (TODAY, -10 * LIMIT)


def test_without_a_daily_limit_nothing_is_carried_or_reported() -> None:
    view = make_view()
    gate = make_gate(max_loss_hour_usd=0.4)
    assert gate.on_event(carried(-10 * LIMIT), view) == []
    gate.on_event(Timer(T0, T0), view)
    assert not gate.halted and gate.day_pnl() is None


def test_a_carry_after_the_sessions_first_loss_check_is_ignored() -> None:
    w = LossWindows()
    w.update(T0, -5)
    w.carry(TODAY, -1_000)
    assert w.day_loss == 5 and w.day_pnl == (TODAY, -5)


# ------------------------------------------------------------ the last hour's highs carried over

MINUTE = 60 * NS
HOUR_LIMIT = 400_000_000  # max_loss_hour_usd = 0.4 in nanos


def carried_highs(highs: list[tuple[int, int]], day: int = TODAY, pnl: int = 0) -> PriorDayPnl:
    return PriorDayPnl(T0, T0, day, pnl, tuple(highs))


def test_a_restart_past_the_hourly_drawdown_limit_starts_halted() -> None:
    view = make_view()
    gate = make_gate(max_loss_hour_usd=0.4)
    out = gate.on_event(carried_highs([(T0 - 10 * MINUTE, HOUR_LIMIT + 1)]), view)
    assert events(out) == ["hour_highs_carried", "loss_limit_hour"]
    assert commands(out) == [CancelAll("", T0, "loss_limit_hour")]
    assert gate.halted and events(gate.check([make_place()], view)) == ["halted"]


def test_a_carried_high_and_the_sessions_loss_add_up_toward_the_hourly_limit() -> None:
    def session(highs: list[tuple[int, int]]) -> list[str]:
        view = make_view()
        gate = make_gate(max_loss_hour_usd=0.4)
        out = gate.on_event(carried_highs(highs), view) if highs else []
        hold(view, 5, price=100_000)
        view.ledger.apply(MarkPrice(INST, T0, T0, 99_600))  # 5 lots * 400 ticks: -$0.20
        return events(out + gate.on_event(MarkPrice(INST, T0, T0, 99_600), view))

    assert session([]) == []
    assert session([(T0 - MINUTE, 300_000_000)]) == ["hour_highs_carried", "loss_limit_hour"]
    assert session([(T0 - MINUTE, 100_000_000)]) == ["hour_highs_carried"]
    # a high more than an hour old no longer counts
    assert session([(T0 - HOUR_NS, 300_000_000)]) == []


def test_highs_carried_across_midnight_count_though_the_days_pnl_does_not() -> None:
    midnight = (T0 // DAY_NS + 1) * DAY_NS
    view = make_view(now=midnight + MINUTE)
    gate = make_gate(max_loss_hour_usd=0.4, max_loss_day_usd=0.4)
    yesterday = midnight // DAY_NS - 1
    out = gate.on_event(
        PriorDayPnl(view.now, view.now, yesterday, -10 * LIMIT, ((midnight - MINUTE, 5 * LIMIT),)),
        view,
    )
    assert events(out) == ["hour_highs_carried", "day_pnl_carried", "loss_limit_hour"]
    assert "ignored" in out[1].message  # type: ignore[union-attr]
    assert gate.statistics().reasons == ["loss_limit_hour"]


def test_without_an_hourly_limit_the_highs_are_neither_carried_nor_saved() -> None:
    view = make_view()
    gate = make_gate(max_loss_day_usd=0.4)
    out = gate.on_event(carried_highs([(T0 - MINUTE, 10 * HOUR_LIMIT)], pnl=-1), view)
    assert events(out) == ["day_pnl_carried"] and not gate.halted
    carry = gate.loss_carry()
    assert carry is not None and (carry.day, carry.pnl, carry.hour_highs) == (TODAY, -1, ())


def test_what_the_gate_hands_the_next_session_is_its_day_pnl_and_its_highs_above_the_last_pnl(
) -> None:
    view = make_view()
    gate = make_gate(max_loss_hour_usd=10.0)
    assert gate.loss_carry() is None  # no loss check yet
    hold(view, 5, price=100_000)
    for minute, mark in [(1, 100_400), (2, 100_200), (3, 100_300), (4, 100_100)]:
        view.now = T0 + minute * MINUTE
        view.ledger.apply(MarkPrice(INST, view.now, view.now, mark))
        gate.on_event(MarkPrice(INST, view.now, view.now, mark), view)
    carry = gate.loss_carry()
    assert carry is not None
    pnl = 5 * 100 * UNIT  # marked at 100_100 after buying at 100_000
    assert (carry.day, carry.pnl) == (TODAY, pnl)
    # the highs of 100_400 (minute 1) and 100_300 (minute 3), as nanos above the last PnL
    assert carry.hour_highs == ((T0 + MINUTE, 5 * 300 * UNIT), (T0 + 3 * MINUTE, 5 * 200 * UNIT))


def test_a_minutes_highs_are_carried_as_its_highest_value_at_its_latest_time() -> None:
    w = LossWindows()
    assert T0 % MINUTE == 20 * NS  # T0 and T0 + 10 s fall in one minute
    w.update(T0, 100)
    w.update(T0 + 10 * NS, 80)
    w.update(T0 + 20 * MINUTE, 0)
    assert w.hour_highs() == [(T0 + 10 * NS, 100)]  # never less drawdown, nor for less long
    assert w.hour_highs(bucket_ns=1) == [(T0, 100), (T0 + 10 * NS, 80)]


_gaps = st.one_of(st.integers(1, 20 * MINUTE), st.integers(1, 20 * NS))  # several a minute, too
_samples = st.lists(st.tuples(_gaps, st.integers(-10**9, 10**9)), min_size=1, max_size=60)


def _restart(
    before: list[tuple[int, int]], after: list[tuple[int, int]], bucket: int
) -> tuple[list[int], list[int]]:
    """Hour losses at each sample of ``after``: one session going on (``before`` then ``after``)
    and a restart after ``before`` carrying its ``hour_highs(bucket)`` (the new session's PnL
    counts from where the old one ended, and its first sample repeats the old one's last)."""
    one, first = LossWindows(), LossWindows()
    t = T0
    for dt, total in before:
        t += dt
        one.update(t, total)
        first.update(t, total)
    last = before[-1][1]
    second = LossWindows()
    second.carry_highs(first.hour_highs(bucket))
    second.update(t, 0)
    going_on, restarted = [], []
    for dt, total in after:
        t += dt
        one.update(t, total)
        second.update(t, total - last)
        going_on.append(one.hour_loss)
        restarted.append(second.hour_loss)
    return going_on, restarted


@settings(max_examples=300, deadline=None)
@given(before=_samples, after=_samples)
def test_a_restart_carrying_the_exact_highs_sees_the_drawdown_a_session_going_on_would(
    before: list[tuple[int, int]], after: list[tuple[int, int]]
) -> None:
    going_on, restarted = _restart(before, after, bucket=1)
    assert restarted == going_on


@settings(max_examples=300, deadline=None)
@given(before=_samples, after=_samples)
def test_a_restart_carrying_minute_highs_never_sees_less_drawdown_than_a_session_going_on(
    before: list[tuple[int, int]], after: list[tuple[int, int]]
) -> None:
    going_on, restarted = _restart(before, after, bucket=MINUTE)
    assert all(r >= g for r, g in zip(restarted, going_on))


@settings(max_examples=100, deadline=None)
@given(samples=st.lists(
    st.tuples(st.integers(1, 5 * NS), st.integers(-10**9, 10**9)), min_size=1, max_size=2000
))
def test_the_carried_highs_are_at_most_one_a_minute_of_the_last_hour(
    samples: list[tuple[int, int]]
) -> None:
    w = LossWindows()
    t = T0
    for dt, total in samples:
        t += dt
        w.update(t, total)
    highs = w.hour_highs()
    assert len(highs) <= 61
    assert all(t - HOUR_NS < ts <= t and above > 0 for ts, above in highs)
    assert [ts for ts, _ in highs] == sorted(ts for ts, _ in highs)
    assert [a for _, a in highs] == sorted((a for _, a in highs), reverse=True)


# ------------------------------------------------------------ a position inherited at start-up


def inherit(view: View, gate: RiskGate, lots: int, entry: int) -> None:
    """The start-up reconcile's position, with the venue's entry price, before any valuation."""
    pos = Position(INST, view.now, view.now, lots, 2 * entry)
    view.ledger.apply(pos)
    gate.on_event(pos, view)


def mark_at(view: View, gate: RiskGate, price: int, t: int) -> list[Output]:
    view.now = t
    ev = MarkPrice(INST, t, t, price)
    view.ledger.apply(ev)
    return gate.on_event(ev, view)


def test_a_restart_counts_an_inherited_position_from_the_last_sessions_last_mark() -> None:
    # session 1 bought 10 lots at 100_000 and was last valued at 101_000: +$1 today
    first = make_view()
    gate = make_gate(max_position_lots=100, max_loss_day_usd=0.4)
    first.ledger.apply_fill(make_fill(BUY, 10, price=100_000), 0)
    mark_at(first, gate, 101_000, T0 + 1)
    carry = gate.loss_carry()
    assert carry is not None and carry.pnl == NS and carry.marks == ((INST, 10, 202_000),)
    # session 2: the venue reports the 10 lots at their entry price; the mark fell 500 ticks
    # while no session ran (-$0.50 of today's PnL, which the carry could not hold)
    view = make_view(now=T0 + 10 * NS)
    gate = make_gate(max_position_lots=100, max_loss_day_usd=0.4)
    gate.on_event(PriorDayPnl(view.now, view.now, carry.day, carry.pnl, (), carry.marks), view)
    inherit(view, gate, 10, entry=100_000)
    mark_at(view, gate, 100_500, view.now + 1)
    assert gate.day_pnl() == (TODAY, NS - 10 * 500 * UNIT)  # not +$1 + $0.50 again
    out = mark_at(view, gate, 99_500, view.now + 1)  # the day is now down $0.50 in all
    assert gate.day_pnl() == (TODAY, NS - 10 * 1_500 * UNIT)
    assert events(out) == ["loss_limit_day"] and gate.halted


def test_an_inherited_positions_old_loss_trips_no_limit_and_its_new_one_does() -> None:
    view = make_view()
    gate = make_gate(max_position_lots=100, max_loss_hour_usd=0.4)
    inherit(view, gate, 10, entry=100_000)
    assert mark_at(view, gate, 99_500, T0 + 1) == []  # -$0.50 vs entry: an earlier session's
    assert not gate.halted and gate.day_pnl() is None
    out = mark_at(view, gate, 99_000, T0 + 2)  # -$0.50 since: this session's
    assert events(out) == ["loss_limit_hour"]


def test_a_position_correction_after_the_market_was_valued_is_this_sessions() -> None:
    view = make_view()
    gate = make_gate(max_position_lots=100, max_loss_day_usd=10.0)
    mark_at(view, gate, 100_000, T0 + 1)  # valued flat
    inherit(view, gate, 10, entry=99_000)  # a lost fill put right: bought at 99_000
    mark_at(view, gate, 100_000, T0 + 2)
    assert gate.day_pnl() == (TODAY, 10 * 1_000 * UNIT)
