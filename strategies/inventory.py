"""Inventory state machine: a wrapper that adds inventory limits to any quoting strategy.

Enable it with an ``inventory`` table in a quoting strategy's params (``avellaneda_stoikov``,
``ping_pong``, ``symmetric_uptime``); without the table the strategy runs bare. The wrapper
steps the inner strategy on every event (so its estimators stay current), follows the lifecycle
in ``strategies.inventory_states`` and rewrites what the inner strategy wants:

- after ``soft_timeout_s`` holding inventory, the exit side (asks when long, bids when short)
  moves ``exit_tighten_bps`` of mid towards mid, never through the opposite best or our own
  opposite quote;
- after ``hard_timeout_s``, or when the unrealized loss exceeds ``max_loss_usd``, or (with
  ``flatten_outside_hours``) when the trading window closes, it returns
  ``Flatten(aggressive=False)`` (the order manager cancels quotes and works a maker exit), and
  ``maker_exit_s`` later, if not flat yet, ``Flatten(aggressive=True)`` (IOC);
- outside the UTC trading window it returns an empty ``QuoteTarget`` (no quotes).

Every state change, the soft timeout, the escalation to IOC and trading-window changes are
emitted as ``StrategyEvent``s. Time is ``view.now``; position is ``view.ledger.position``.
"""

from __future__ import annotations

import msgspec

from mmcore.commands import Output
from mmcore.events import Event, Fill, Position
from mmcore.instrument import Instrument
from mmcore.intents import Flatten, Intent, QuoteTarget
from mmcore.protocols import Strategy
from mmcore.view import View
from strategies.inventory_states import (
    FLATTENING,
    HARD_TIMEOUT,
    IDLE,
    INVENTORY_LONG,
    INVENTORY_SHORT,
    LOSS_LIMIT,
    OFF_HOURS,
    QUOTING,
    START,
    STOP,
    WENT_FLAT,
    WENT_LONG,
    WENT_SHORT,
    next_inventory_state,
)
from strategies.notes import Notes
from strategies.trading_hours import TradingHours

__all__ = ["InventoryGuard", "InventoryParams", "InventoryStats"]

_HOLDING = (INVENTORY_LONG, INVENTORY_SHORT)


class InventoryParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The inventory state machine (``[strategy.params.inventory]``; absent = disabled).

    soft_timeout_s: inventory age after which the exit side is tightened, s; default 120.
    hard_timeout_s: inventory age after which the position is flattened, s; default 300.
    exit_tighten_bps: how far the exit side moves towards mid after the soft timeout, bps of
        mid; default 5.
    max_loss_usd: flatten when the position's unrealized loss exceeds this (quote currency);
        0 = no loss limit; default 0.
    loss_check_ms: how often (event time) the unrealized loss is checked, ms; default 100.
    maker_exit_s: seconds of maker exit before flattening turns aggressive (IOC); default 5.
    trading_start_hour: UTC hour the trading window opens (inclusive, 0..23); default 0.
    trading_end_hour: UTC hour it closes (exclusive, 1..24; below start wraps past midnight);
        default 24 (with start 0: always open).
    flatten_outside_hours: flatten inventory when the window is closed instead of only
        pulling quotes; default false.
    """

    soft_timeout_s: float = 120.0
    hard_timeout_s: float = 300.0
    exit_tighten_bps: float = 5.0
    max_loss_usd: float = 0.0
    loss_check_ms: int = 100
    maker_exit_s: float = 5.0
    trading_start_hour: int = 0
    trading_end_hour: int = 24
    flatten_outside_hours: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.soft_timeout_s <= self.hard_timeout_s:
            raise ValueError(
                f"soft_timeout_s: expected 0 < soft_timeout_s <= hard_timeout_s "
                f"({self.hard_timeout_s}), found {self.soft_timeout_s}"
            )
        if not self.exit_tighten_bps >= 0:
            raise ValueError(f"exit_tighten_bps: expected >= 0, found {self.exit_tighten_bps}")
        if not self.max_loss_usd >= 0:
            raise ValueError(f"max_loss_usd: expected >= 0, found {self.max_loss_usd}")
        if self.loss_check_ms < 1:
            raise ValueError(f"loss_check_ms: expected >= 1, found {self.loss_check_ms}")
        if not self.maker_exit_s >= 0:
            raise ValueError(f"maker_exit_s: expected >= 0, found {self.maker_exit_s}")
        try:
            TradingHours(self.trading_start_hour, self.trading_end_hour)
        except ValueError as exc:
            raise ValueError(str(exc).replace("trading ", "trading_", 1)) from None


class InventoryStats(msgspec.Struct, frozen=True):
    """state: current lifecycle state. position: last seen, lots. transitions: state changes.
    soft_timeouts: exit sides tightened. flattens: flattens started. aggressive_flattens:
    flattens escalated to IOC. in_hours: the trading window is open."""

    state: str
    position: int
    transitions: int
    soft_timeouts: int
    flattens: int
    aggressive_flattens: int
    in_hours: bool


class InventoryGuard:
    """Wraps a quoting strategy with the inventory lifecycle, timeouts and trading hours."""

    def __init__(self, inner: Strategy, inst: Instrument, params: InventoryParams) -> None:
        self.inst = inst.symbol
        self.inner = inner
        self.params = params
        self.state = IDLE
        self._hours = TradingHours(params.trading_start_hour, params.trading_end_hour)
        self._notes = Notes(self.inst)
        self._soft = int(params.soft_timeout_s * 1e9)
        self._hard = int(params.hard_timeout_s * 1e9)
        self._maker_exit = int(params.maker_exit_s * 1e9)
        self._loss_interval = params.loss_check_ms * 1_000_000
        self._max_loss = int(params.max_loss_usd * 1e9)
        self._started = False
        self._pos = 0
        self._min_lots = inst.min_lots
        self._open = True
        self._hours_next = 0
        self._target: Intent | None = None
        self._last_out: Intent | None = None
        self._soft_at = 0
        self._hard_at = 0
        self._loss_next = 0
        self._tightened = False
        self._exit = 0  # top price of the tightened exit side in the last output, 0 when none
        self._flat_since = 0
        self._flatten_pending = False
        self._aggressive = False
        self._reason = ""
        self._transitions = 0
        self._soft_timeouts = 0
        self._flattens = 0
        self._aggressive_flattens = 0
        self._next_check = 0  # before this event time nothing but a fill or new intent matters

    # ------------------------------------------------------------ protocol

    def step(self, view: View, event: Event) -> Intent | None:
        intent = self.inner.step(view, event)
        now = view.now
        t = type(event)
        # the inner strategy reprices its own quotes when the book reaches them, not ours
        reached = self._exit != 0 and self._exit_reached(view)
        if (
            intent is None
            and not reached
            and now < self._next_check
            and t is not Fill
            and t is not Position
        ):
            return None  # fast path: no new intent, no position change, no timer due
        changed = reached
        if intent is not None:
            self._target = intent
            changed = True
        if not self._started or (
            (t is Fill or t is Position) and event.inst == self.inst  # type: ignore[union-attr]
        ):
            self._started = True
            changed = self._on_position(now, view.ledger.position(self.inst)) or changed
        if now >= self._hours_next:
            changed = self._on_hours(now) or changed
        if self.state in _HOLDING:
            changed = self._check_limits(now, view) or changed
        if self.state == FLATTENING:
            out = self._flatten_step(now)
        elif changed:
            self._check_activity(now)
            out = self._output(view)
        else:
            out = None
        self._next_check = self._next_due()
        return out

    def _next_due(self) -> int:
        """The earliest event time at which a timer (hours, timeouts, loss check) is due."""
        due = self._hours_next
        state = self.state
        if state in _HOLDING:
            if self._hard_at < due:
                due = self._hard_at
            if not self._tightened and self._soft_at < due:
                due = self._soft_at
            if self._max_loss and self._loss_next < due:
                due = self._loss_next
            if not self._open and self.params.flatten_outside_hours:
                due = 0
        elif state == FLATTENING:
            if self._flatten_pending:
                due = 0
            elif not self._aggressive and self._flat_since + self._maker_exit < due:
                due = self._flat_since + self._maker_exit
        return due

    def notes(self) -> list[Output]:
        inner = self.inner.notes()
        if not self._notes.items:
            return inner
        own = self._notes.drain()
        return inner + own if inner else own

    def statistics(self) -> InventoryStats:
        return InventoryStats(
            state=self.state,
            position=self._pos,
            transitions=self._transitions,
            soft_timeouts=self._soft_timeouts,
            flattens=self._flattens,
            aggressive_flattens=self._aggressive_flattens,
            in_hours=self._open,
        )

    # ------------------------------------------------------------ lifecycle

    def _fire(self, now: int, trigger: str, why: str) -> None:
        old = self.state
        self.state = next_inventory_state(old, trigger, self.inst)
        self._transitions += 1
        self._notes.add(
            now,
            "inventory_state",
            f"{old} -> {self.state} on {trigger}: position {self._pos} lots; {why}",
        )

    def _on_position(self, now: int, pos: int) -> bool:
        self._pos = pos
        if -self._min_lots < pos < self._min_lots:
            pos = 0  # dust (partial fills) no order can close: flat, as far as exits go
        state = self.state
        if pos > 0 and state != INVENTORY_LONG and state != FLATTENING:
            self._fire(now, WENT_LONG, "inventory acquired")
        elif pos < 0 and state != INVENTORY_SHORT and state != FLATTENING:
            self._fire(now, WENT_SHORT, "inventory acquired")
        elif pos == 0 and state != IDLE and state != QUOTING:
            self._fire(now, WENT_FLAT, "position closed")
            self._flatten_pending = False
            return True
        else:
            return False
        self._soft_at = now + self._soft
        self._hard_at = now + self._hard
        self._loss_next = now
        self._tightened = False
        return True

    def _on_hours(self, now: int) -> bool:
        hours = self._hours
        self._hours_next = hours.next_change_ns(now)
        is_open = hours.is_open(now)
        if is_open == self._open:
            return False
        self._open = is_open
        window = f"{hours.start_hour:02d}:00-{hours.end_hour:02d}:00 UTC"
        self._notes.add(
            now, "trading_hours", f"trading window {window} {'open' if is_open else 'closed'}"
        )
        return True

    def _check_limits(self, now: int, view: View) -> bool:
        """Hard timeout, closed window, loss limit (each may start a flatten); soft timeout."""
        held_s = (now - self._hard_at + self._hard) * 1e-9
        if now >= self._hard_at:
            self._start_flatten(now, HARD_TIMEOUT, f"inventory held {held_s:.1f}s")
            return True
        if not self._open and self.params.flatten_outside_hours:
            self._start_flatten(now, OFF_HOURS, "trading window closed")
            return True
        if self._max_loss and now >= self._loss_next:
            self._loss_next = now + self._loss_interval
            mark_x2 = view.mark_x2(self.inst)
            if mark_x2:
                loss = -view.ledger.unrealized(self.inst, mark_x2)
                if loss > self._max_loss:
                    self._start_flatten(
                        now, LOSS_LIMIT, f"unrealized loss {loss * 1e-9:.2f} > max_loss_usd"
                    )
                    return True
        if not self._tightened and now >= self._soft_at:
            self._tightened = True
            self._soft_timeouts += 1
            self._notes.add(
                now,
                "inventory_soft_timeout",
                f"inventory held {held_s:.1f}s: exit side tightened by "
                f"{self.params.exit_tighten_bps:g} bps",
            )
            return True
        return False

    def _start_flatten(self, now: int, trigger: str, why: str) -> None:
        self._fire(now, trigger, why)
        self._exit = 0
        self._reason = f"{trigger}: {why}"
        self._flat_since = now
        self._flatten_pending = True
        self._aggressive = False
        self._flattens += 1

    def _flatten_step(self, now: int) -> Intent | None:
        if self._flatten_pending:
            self._flatten_pending = False
            self._last_out = Flatten(self.inst, self._reason, aggressive=False)
            return self._last_out
        if not self._aggressive and now >= self._flat_since + self._maker_exit:
            self._aggressive = True
            self._aggressive_flattens += 1
            self._notes.add(
                now,
                "inventory_flatten_aggressive",
                f"not flat after {self.params.maker_exit_s:g}s of maker exit "
                f"(position {self._pos} lots): flattening with IOC",
            )
            self._last_out = Flatten(self.inst, self._reason, aggressive=True)
            return self._last_out
        return None

    def _check_activity(self, now: int) -> None:
        target = self._target
        active = (
            self._open
            and type(target) is QuoteTarget
            and bool(target.bids or target.asks)
        )
        if self.state == IDLE and active:
            self._fire(now, START, "quoting")
        elif self.state == QUOTING and not active:
            self._fire(now, STOP, "inner strategy pulled its quotes or trading window closed")

    # ------------------------------------------------------------ output

    def _output(self, view: View) -> Intent | None:
        target = self._target
        self._exit = 0
        if not self._open:
            out: Intent | None = QuoteTarget(self.inst)
        elif type(target) is QuoteTarget and self._tightened and self.state in _HOLDING:
            out = self._tighten(target, view)
        else:
            out = target
        if out is None or out == self._last_out:
            return None
        self._last_out = out
        return out

    def _exit_reached(self, view: View) -> bool:
        """Whether the opposite best has reached the tightened exit quote (``_exit``)."""
        book = view.books[self.inst]
        if self.state == INVENTORY_LONG:
            return book.best_bid >= self._exit
        return 0 < book.best_ask <= self._exit

    def _tighten(self, target: QuoteTarget, view: View) -> QuoteTarget:
        """Move the exit side ``exit_tighten_bps`` towards mid, never crossing."""
        book = view.books[self.inst]
        shift = int(book.mid_x2() * self.params.exit_tighten_bps / 20000.0)
        if shift <= 0:
            return target
        if self.state == INVENTORY_LONG:
            floor = max(book.best_bid, target.bids[0][0] if target.bids else 0)
            asks: list[tuple[int, int]] = []
            for price, size in target.asks:
                price = max(price - shift, floor + 1)
                asks.append((price, size))
                floor = price
            self._exit = asks[0][0] if asks else 0
            return QuoteTarget(self.inst, target.bids, tuple(asks), target.post_only)
        ceiling = book.best_ask or 0
        if target.asks:
            ceiling = min(ceiling, target.asks[0][0]) if ceiling else target.asks[0][0]
        bids: list[tuple[int, int]] = []
        for price, size in target.bids:
            price = price + shift
            if ceiling:
                price = min(price, ceiling - 1)
            if price < 1:
                break
            bids.append((price, size))
            ceiling = price
        self._exit = bids[0][0] if bids else 0
        return QuoteTarget(self.inst, tuple(bids), target.asks, target.post_only)
