"""The engine: one synchronous, deterministic fold from an event to the outputs it causes.

``Engine.on_event(event)`` runs, in the order DESIGN.md gives and without I/O:

1. the book applies market data (a sequence gap or a crossed book asks the adapter to resync);
2. the ledger folds account events (orders, fills, balances, positions, funding, marks);
3. the risk gate sees the event and may force outputs (halt, cancel-all);
4. the strategy of the event's market steps and may return a new intent;
5. the order manager turns the intent into ``Place``/``Cancel`` commands;
6. the risk gate checks those commands; the ones it lets through enter the ledger as in flight.

Time is the event's ``ts_recv``; nothing here reads a clock or draws unseeded randomness. The
same events in the same order always give the same outputs, which is what exact replay checks.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable, Mapping

import msgspec

from mmcore.book import APPLIED, CROSSED, GAP, MID_HISTORY, Book
from mmcore.commands import CancelAll, Command, Output, Resync
from mmcore.errors import MMError
from mmcore.events import (
    BOOK_STREAM,
    Balance,
    BookDelta,
    BookSnapshot,
    ConnectionState,
    Event,
    Fill,
    FundingPayment,
    FundingRate,
    MarkPrice,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    Position,
    PriorDayPnl,
    RiskEvent,
    StrategyEvent,
    Timer,
    Trade,
)
from mmcore.instrument import Instrument
from mmcore.intents import Intent
from mmcore.own_orders import OwnOrdersInBook
from mmcore.protocols import OrderManager, RiskGate, Strategy
from mmcore.session_control import SESSION_STREAM, STOPPING
from mmcore.state import Ledger
from mmcore.view import View

log = logging.getLogger("mmcore.engine")

COMMAND_TYPES: frozenset[type] = frozenset(typing.get_args(Command))

__all__ = ["COMMAND_TYPES", "Engine", "EngineStats"]


class EngineStats(msgspec.Struct, frozen=True):
    """Counters of one engine: events in, outputs out, and what it had to drop."""

    events: int
    outputs: int
    commands: int
    resyncs: int
    unknown_market: int
    ledger_errors: int


class Engine:
    """Wires book → ledger → risk → strategy → order manager → risk for every event."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        strategies: Mapping[str, Strategy],
        orders: OrderManager,
        risk: RiskGate,
        *,
        book_max_levels: int = 0,
    ) -> None:
        missing = set(strategies) - set(instruments)
        if missing:
            raise MMError(f"strategies for unknown instruments: {sorted(missing)}")
        self.instruments = dict(instruments)
        # each book keeps its last mid changes: a fill's spread is measured against the mid just
        # before its venue time, not the one its report finds (Ledger.apply_fill)
        self.books = {sym: Book(sym, book_max_levels, MID_HISTORY) for sym in instruments}
        self.ledger = Ledger(self.instruments)
        self.view = View(self.instruments, self.books, self.ledger)
        self.strategies = dict(strategies)
        self.orders = orders
        self.risk = risk
        self._intents: dict[str, Intent] = {}
        # markets whose venue book includes our orders: the engine's book is kept without them
        self._own: dict[str, OwnOrdersInBook] = {
            sym: OwnOrdersInBook() for sym, i in instruments.items() if i.own_orders_in_book
        }
        self.stopping = False
        self._resync_sent: set[str] = set()
        self._failed: set[str] = set()  # markets whose strategy raised: never stepped again
        self._events = 0
        self._outputs = 0
        self._commands = 0
        self._resyncs = 0
        self._unknown_market = 0
        self._ledger_errors = 0
        handlers: dict[type, Callable[[Event], list[Output]]] = {
            BookDelta: self._on_delta,  # type: ignore[dict-item]
            BookSnapshot: self._on_snapshot,  # type: ignore[dict-item]
            Trade: self._on_market,
            FundingRate: self._on_market,
            MarkPrice: self._on_account,
            OrderAccepted: self._on_account,
            OrderRejected: self._on_account,
            OrderCanceled: self._on_order_gone,
            Position: self._on_account,
            FundingPayment: self._on_account,
            Fill: self._on_fill,  # type: ignore[dict-item]
            Balance: self._on_broadcast,
            ConnectionState: self._on_connection,  # type: ignore[dict-item]
            Timer: self._on_timer,  # type: ignore[dict-item]
            PriorDayPnl: self._on_broadcast,
            RiskEvent: self._on_ignored,
            StrategyEvent: self._on_ignored,
        }
        self._handlers = handlers
        self._risk_watched = risk.watched
        # The delta fast path's route per market: the book's bound ``apply_delta`` and the
        # market's strategy (None without one), found with one dict lookup per delta instead of
        # two. Empty when the risk gate watches deltas: then every delta takes _on_delta; so do
        # the deltas of a market whose book needs our own orders taken out.
        self._delta_routes: dict[str, tuple[Callable[[BookDelta], int], Strategy | None]] = (
            {
                sym: (book.apply_delta, self.strategies.get(sym))
                for sym, book in self.books.items()
                if sym not in self._own
            }
            if BookDelta not in risk.watched
            else {}
        )

    # ------------------------------------------------------------------ entry point

    def on_event(self, event: Event) -> list[Output]:
        """Fold one event and return the outputs it causes (usually none)."""
        view = self.view
        view.now = event.ts_recv
        self._events += 1
        if type(event) is BookDelta:
            route = self._delta_routes.get(event.inst)
            if route is not None:
                # The hot path, flattened: most events are deltas that change nothing we quote.
                # It does exactly what _on_delta does when the risk gate does not watch deltas.
                apply_delta, strategy = route
                try:
                    status = apply_delta(event)
                except MMError as exc:
                    out = self._malformed(event, exc)
                    self._outputs += len(out)
                    return out
                if status == APPLIED:
                    if strategy is None:
                        return []
                    try:
                        intent = strategy.step(view, event)
                        notes = strategy.notes()
                    except Exception as exc:  # a strategy's bug: that market stops, not the run
                        out = self._strategy_failed(strategy, event, exc, [])
                        self._outputs += len(out)
                        return out
                    if intent is None and not notes:
                        return []
                    if intent is not None:  # (stopping: the routes have no strategy)
                        self._intents[strategy.inst] = intent
                        notes = notes + self._execute(intent)
                    self._outputs += len(notes)
                    return notes
                out = self._resync(event.inst, status)
                out = self._step(strategy, event, out)
                self._outputs += len(out)
                return out
        out = self._handlers[type(event)](event)
        if out:
            self._outputs += len(out)
        return out

    def statistics(self) -> EngineStats:
        return EngineStats(
            events=self._events,
            outputs=self._outputs,
            commands=self._commands,
            resyncs=self._resyncs,
            unknown_market=self._unknown_market,
            ledger_errors=self._ledger_errors,
        )

    # ------------------------------------------------------------------ market data

    def _on_delta(self, ev: BookDelta) -> list[Output]:
        book = self.books.get(ev.inst)
        if book is None:
            return self._unknown(ev)
        try:
            status = book.apply_delta(ev)
        except MMError as exc:
            return self._malformed(ev, exc)
        own = self._own.get(ev.inst)
        # applied either way (a crossed book is flagged, not stale): the levels it set hold the
        # venue's size, our orders included; a delta that sets none of the levels we rest at or
        # took from changes nothing there (on_delta says so, and the sync is skipped)
        if own is not None and status in (APPLIED, CROSSED) and own.on_delta(ev):
            self._sync_own(ev.inst)
        out = self._forced(ev)
        if status != APPLIED:
            out = out + self._resync(ev.inst, status)
        return self._step(self.strategies.get(ev.inst), ev, out)

    def _on_snapshot(self, ev: BookSnapshot) -> list[Output]:
        book = self.books.get(ev.inst)
        if book is None:
            return self._unknown(ev)
        self._resync_sent.discard(ev.inst)
        try:
            status = book.apply_snapshot(ev)
        except MMError as exc:
            return self._malformed(ev, exc)
        own = self._own.get(ev.inst)
        if own is not None:
            own.on_snapshot()
            self._sync_own(ev.inst)
        out = self._forced(ev)
        if status != APPLIED:
            out = out + self._resync(ev.inst, status)
        return self._step(self.strategies.get(ev.inst), ev, out)

    def _malformed(self, ev: BookDelta | BookSnapshot, exc: MMError) -> list[Output]:
        """A book event that cannot be applied: the book is stale; say so and ask for a resync."""
        log.warning("malformed book event dropped: %s", exc)
        now = self.view.now
        note: list[Output] = [RiskEvent(now, now, ev.inst, "malformed_book_event", str(exc))]
        return note + self._resync(ev.inst, GAP) + self._pull(ev)

    def _pull(self, ev: Event) -> list[Output]:
        """Let the strategy see the (now stale) book so it can pull its quotes."""
        return self._step(self.strategies.get(ev.inst), ev, [])  # type: ignore[union-attr]

    def _on_market(self, ev: Event) -> list[Output]:
        inst: str = ev.inst  # type: ignore[union-attr]
        if inst not in self.books:
            return self._unknown(ev)
        return self._step(self.strategies.get(inst), ev, self._forced(ev))

    def _resync(self, inst: str, status: int) -> list[Output]:
        """Ask once per episode for a fresh snapshot; the book stays stale until it comes."""
        if inst in self._resync_sent:
            return []
        reason = "sequence_gap" if status == GAP else "crossed_book"
        if status != GAP and not self.books[inst].crossed:
            return []  # a delta ignored while stale: the resync is already on its way
        self._resync_sent.add(inst)
        self._resyncs += 1
        self._commands += 1
        return [Resync(inst, self.view.now, reason)]

    # ------------------------------------------------------------------ account

    def _on_account(self, ev: Event) -> list[Output]:
        inst: str = ev.inst  # type: ignore[union-attr]
        if inst not in self.books:
            return self._unknown(ev)
        errors = self._fold(ev)
        if inst in self._own:
            self._sync_own(inst)
        out = self._forced(ev)
        return self._step(self.strategies.get(inst), ev, errors + out if errors else out)

    def _on_fill(self, ev: Fill) -> list[Output]:
        book = self.books.get(ev.inst)
        if book is None:
            return self._unknown(ev)
        errors: list[Output] = []
        try:
            self.ledger.apply_fill(ev, book.mid_x2(), book.mid_x2_before(ev.ts))
        except MMError as exc:
            errors = self._ledger_error(ev, exc)
        if ev.inst in self._own:
            self._sync_own(ev.inst)
        out = self._forced(ev)
        out = self._step(self.strategies.get(ev.inst), ev, errors + out if errors else out)
        return out + self._refresh(ev.inst)

    def _on_order_gone(self, ev: Event) -> list[Output]:
        out = self._on_account(ev)
        return out + self._refresh(ev.inst)  # type: ignore[union-attr]

    def _sync_own(self, inst: str) -> None:
        """Our orders of ``inst`` changed: keep them out of its book (``mmcore.own_orders``)."""
        self._own[inst].sync(
            self.books[inst], self.ledger.open_orders(inst).values(), self.view.now
        )

    def _fold(self, ev: Event) -> list[Output]:
        try:
            self.ledger.apply(ev)
        except MMError as exc:
            return self._ledger_error(ev, exc)
        return []

    def _ledger_error(self, ev: Event, exc: MMError) -> list[Output]:
        """A venue message the ledger cannot accept: record it and keep going."""
        self._ledger_errors += 1
        inst = getattr(ev, "inst", "")
        log.warning("ledger rejected %s: %s", type(ev).__name__, exc)
        now = self.view.now
        return [RiskEvent(now, now, inst, "ledger_inconsistency", str(exc))]

    # ------------------------------------------------------------------ control

    def _on_broadcast(self, ev: Event) -> list[Output]:
        """Events without a market (balance): every strategy sees them."""
        errors = self._fold(ev)
        out = errors + self._forced(ev)
        for strategy in self.strategies.values():
            out = self._step(strategy, ev, out)
        return out

    def _on_connection(self, ev: ConnectionState) -> list[Output]:
        if ev.stream == SESSION_STREAM and ev.state == STOPPING:
            return self._stop(ev)
        if ev.state == "down":
            stream = ev.stream
            if stream.startswith(BOOK_STREAM):
                # no data for this market's book: stale until the adapter's fresh snapshot
                book = self.books.get(stream[len(BOOK_STREAM):])
                if book is not None:
                    book.stale = True
            elif stream.startswith("market"):
                # no market data at all: every book is stale until the adapter resyncs it
                for book in self.books.values():
                    book.stale = True
        # every strategy sees it; one whose book went stale pulls its quotes
        return self._on_broadcast(ev)

    def _stop(self, ev: ConnectionState) -> list[Output]:
        """The session is ending: cancel everything and accept no new intent from now on."""
        self.stopping = True
        self._intents.clear()
        # no strategy steps from now on (_step): the delta fast path's routes keep none either
        self._delta_routes = {
            sym: (apply_delta, None) for sym, (apply_delta, _) in self._delta_routes.items()
        }
        now = self.view.now
        return self._admit([self.risk.force(CancelAll("", now, ev.reason or "shutdown"), now)])

    def _on_timer(self, ev: Timer) -> list[Output]:
        for inst in self._own:  # what is held for orders gone is given back in time
            self._sync_own(inst)
        out = self._on_broadcast(ev)
        for inst in self._intents:
            out = out + self._refresh(inst)
        return out

    def _on_ignored(self, ev: Event) -> list[Output]:
        return []

    def _unknown(self, ev: Event) -> list[Output]:
        self._unknown_market += 1
        if self._unknown_market <= 10:
            log.warning("event for an unknown market dropped: %r", ev)
        return []

    # ------------------------------------------------------------------ intents → commands

    def _step(self, strategy: Strategy | None, ev: Event, out: list[Output]) -> list[Output]:
        if strategy is None or self.stopping or (self._failed and strategy.inst in self._failed):
            return out
        try:
            intent = strategy.step(self.view, ev)
            notes = strategy.notes()
        except Exception as exc:  # a strategy's bug: that market stops, not the run
            return self._strategy_failed(strategy, ev, exc, out)
        if notes:
            out = out + notes
        if intent is None:
            return out
        self._intents[strategy.inst] = intent
        return out + self._execute(intent)

    def _strategy_failed(
        self, strategy: Strategy, ev: Event, exc: Exception, out: list[Output]
    ) -> list[Output]:
        """``strategy`` raised on ``ev``: its state can no longer be trusted. Its market's
        orders are canceled, its standing intent dropped and it is never stepped again; the
        session goes on (other markets, fills, the risk gate's limits and forced exits), and
        the outputs other strategies made for the same event leave as usual. Deterministic, so
        a replay raises and cancels at the same event."""
        inst = strategy.inst
        log.error("strategy for %s raised on %s; its orders are canceled and it is stepped no "
                  "more", inst, type(ev).__name__, exc_info=exc)
        self._failed.add(inst)
        self._intents.pop(inst, None)
        route = self._delta_routes.get(inst)
        if route is not None:
            self._delta_routes[inst] = (route[0], None)
        now = self.view.now
        note: list[Output] = [RiskEvent(
            now, now, inst, "strategy_error",
            f"{type(exc).__name__}: {exc} (on {type(ev).__name__}); its orders are canceled and "
            "it is stepped no more",
        )]
        cancel = self.risk.force(CancelAll(inst, now, "strategy_error"), now)
        return out + note + self._admit([cancel])

    def _refresh(self, inst: str) -> list[Output]:
        """Re-run the order manager on the standing intent (order aged, filled or canceled)."""
        intent = self._intents.get(inst)
        if intent is None:
            return []
        return self._execute(intent)

    def _forced(self, ev: Event) -> list[Output]:
        """What the risk gate imposes on seeing ``ev`` (usually nothing), admitted to the ledger."""
        if type(ev) not in self._risk_watched:  # most events (deltas, trades): skip the call
            return []
        forced = self.risk.on_event(ev, self.view)
        return self._admit(forced) if forced else forced

    def _execute(self, intent: Intent) -> list[Output]:
        commands: list[Command] = self.orders.reconcile(intent, self.view)
        if not commands:
            return []
        return self._admit(self.risk.check(commands, self.view))

    def _admit(self, checked: list[Output]) -> list[Output]:
        """Put each command in flight in the ledger; one the ledger refuses is never sent."""
        out: list[Output] = []
        ledger = self.ledger
        for item in checked:
            if type(item) in COMMAND_TYPES:
                try:
                    ledger.on_command(item)  # type: ignore[arg-type]
                except MMError as exc:
                    # never send what the ledger cannot track: drop it, say why
                    out.extend(self._ledger_error_for_command(item, exc))
                    continue
                self._commands += 1
                if self._own:  # a cancel leaves the order resting, but its state changed
                    for own in self._own.values():
                        own.orders_changed()
            out.append(item)
        return out

    def _ledger_error_for_command(self, cmd: Output, exc: MMError) -> list[Output]:
        self._ledger_errors += 1
        log.error("command dropped, ledger refused it: %r: %s", cmd, exc)
        now = self.view.now
        inst = getattr(cmd, "inst", "")
        return [RiskEvent(now, now, inst, "command_dropped", str(exc))]
