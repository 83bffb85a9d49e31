"""``max_order_age_s`` counts from the venue's first ack, not from the ``Place``.

An order the venue has not acknowledged yet is not resting: it is never refreshed as too old.
Counted from the ``Place``, a round trip longer than ``max_order_age_s`` would cancel every order
before its ack, and re-place it, forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from mmcore.book import Book
from mmcore.commands import Cancel, Command, Place
from mmcore.events import BookDelta, BookSnapshot, Event, OrderAccepted, OrderCanceled
from mmcore.instrument import Instrument
from mmcore.intents import QuoteTarget
from mmcore.log import open_log
from mmcore.orders import OrderManagerConfig, QuoteOrderManager
from mmcore.state import Ledger
from mmcore.view import View
from replay.backtest import run_session
from replay.session import load_session, resolve_instruments
from tests.example_spec import BTC_USD

INST = "BTC-USD"
MS = 1_000_000
NS = 1_000 * MS
T0 = 1_700_000_000 * NS
BID = 99_990
ASK = 100_010
ROOT = Path(__file__).resolve().parents[2]


def make_view() -> View:
    instruments = {INST: Instrument(venue="sim", symbol=INST, tick_size="0.1", lot_size="0.001")}
    book = Book(INST)
    book.apply_snapshot(BookSnapshot(INST, T0, T0, 1, (BID, 10), (ASK, 10)))
    view = View(instruments, {INST: book}, Ledger(instruments))
    view.now = T0
    return view


def make_manager(**overrides: object) -> QuoteOrderManager:
    config = OrderManagerConfig(**overrides)  # type: ignore[arg-type]
    instruments = {INST: Instrument(venue="sim", symbol=INST, tick_size="0.1", lot_size="0.001")}
    return QuoteOrderManager(config, instruments)


def quote(bid: int = BID, ask: int = ASK) -> QuoteTarget:
    return QuoteTarget(INST, ((bid, 2),), ((ask, 2),))


def send(view: View, commands: Sequence[Command]) -> list[Command]:
    for cmd in commands:
        view.ledger.on_command(cmd)
    return list(commands)


def ack(view: View, at: int) -> None:
    view.now = at
    for cid, order in list(view.ledger.orders.items()):
        if not order.ts_acked:
            view.ledger.apply(OrderAccepted(INST, at, at, cid))


def kinds(commands: Sequence[Command]) -> list[str]:
    return [type(c).__name__ for c in commands]


def test_an_order_not_yet_acknowledged_is_never_refreshed_as_too_old() -> None:
    view = make_view()
    manager = make_manager(max_order_age_s=0.05)
    assert kinds(send(view, manager.reconcile(quote(), view))) == ["Place", "Place"]
    view.now = T0 + 10 * NS  # the acks are slow: 10 s, 200 times max_order_age_s
    assert manager.reconcile(quote(), view) == []
    assert manager.statistics().refreshes == 0
    assert all(o.ts_acked == 0 for o in view.ledger.orders.values())


def test_the_age_counts_from_the_first_ack() -> None:
    view = make_view()
    manager = make_manager(max_order_age_s=0.05)
    send(view, manager.reconcile(quote(), view))
    ack(view, T0 + 1 * NS)  # a 1 s round trip
    view.now = T0 + 1 * NS + 50 * MS  # exactly max_order_age_s since the ack: not too old
    assert manager.reconcile(quote(), view) == []
    view.now += 1
    assert kinds(manager.reconcile(quote(), view)) == ["Cancel", "Cancel", "Place", "Place"]
    assert manager.statistics().refreshes == 2


def test_a_later_ack_does_not_restart_the_age() -> None:
    view = make_view()
    manager = make_manager(max_order_age_s=0.05)
    send(view, manager.reconcile(quote(), view))
    ack(view, T0 + 100 * MS)
    for cid in list(view.ledger.orders):  # a venue that acknowledges twice
        view.ledger.apply(OrderAccepted(INST, T0 + 140 * MS, T0 + 140 * MS, cid))
    view.now = T0 + 151 * MS
    assert kinds(manager.reconcile(quote(), view)) == ["Cancel", "Cancel", "Place", "Place"]


def test_a_moved_level_replaces_an_unacknowledged_order_without_counting_a_refresh() -> None:
    view = make_view()
    manager = make_manager(max_order_age_s=0.05)
    send(view, manager.reconcile(quote(), view))
    view.now = T0 + 1 * NS
    commands = manager.reconcile(quote(BID - 50, ASK + 50), view)
    assert kinds(commands) == ["Cancel", "Cancel", "Place", "Place"]
    stats = manager.statistics()
    assert (stats.replaces, stats.refreshes) == (2, 0)


def test_coalescing_keeps_an_unacknowledged_order_however_long_it_waits_for_its_ack() -> None:
    view = make_view()
    manager = make_manager(max_order_age_s=0.05, coalesce_ns=1 * NS)
    send(view, manager.reconcile(quote(), view))
    view.now = T0 + 10 * MS
    first = send(view, manager.reconcile(quote(BID - 50, ASK + 50), view))  # replaces
    assert kinds(first) == ["Cancel", "Cancel", "Place", "Place"]
    for cmd in first:
        if type(cmd) is Cancel:
            view.ledger.apply(OrderCanceled(INST, view.now, view.now, cmd.client_id, "canceled"))
    view.now = T0 + 500 * MS  # within coalesce_ns of that replace; the new orders unacked
    assert manager.reconcile(quote(BID - 100, ASK + 100), view) == []
    stats = manager.statistics()
    assert (stats.coalesced, stats.refreshes) == (2, 0)


def test_a_backtest_with_a_round_trip_longer_than_max_order_age_cancels_only_acked_orders(
    tmp_path: Path,
) -> None:
    """The reviewer's case: max_order_age_s 50 ms, 300 ms to get each answer back."""
    config = load_session(ROOT / "configs" / "strategy-simple.toml")
    config = msgspec.structs.replace(
        config,
        orders=msgspec.structs.replace(config.orders, max_order_age_s=0.05),
        sim={**config.sim, "response_latency_ms": 300.0},
        session=msgspec.structs.replace(config.session, timer_interval_ms=100),
    )
    instruments = resolve_instruments(config, {"BTC-USD": BTC_USD})  # as data gives it
    (name,) = instruments
    t = 1_700_000_000 * NS
    market: list[Event] = [
        BookSnapshot(name, t, t, 1, (999, 5), (1001, 5)),
        BookDelta(name, t + 1 * MS, t + 1 * MS, 2, -1, (999, 6), ()),
        BookDelta(name, t + 500 * MS, t + 500 * MS, 3, -1, (999, 7), ()),
    ]
    out = tmp_path / "age.mmlog"
    result = run_session(config, instruments, market, out)
    acked: set[str] = set()
    early: list[str] = []
    places = 0
    for rec in open_log(out):
        if type(rec) is OrderAccepted:
            acked.add(rec.client_id)
        elif type(rec) is Cancel and rec.client_id not in acked:
            early.append(rec.client_id)
        elif type(rec) is Place:
            places += 1
    assert early == []  # never canceled as too old before the venue acknowledged it
    assert places <= 4  # the two quotes, refreshed at most once each
    assert result.sim.canceled <= 2
