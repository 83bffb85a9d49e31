"""The risk gate: every command passes it, and it may halt trading on its own.

``RiskGate.check(commands, view)`` lets commands through, clamps them or drops them, and puts a
``RiskEvent`` (code from ``mmcore.risk_limits.RISK_CODES``, plus a message) right before each
clamped command or in place of each dropped one. Cancels are handled first (they may use the rate
budget's cancel reserve), then places, each against, in this order:

1. a known market, price > 0 and size >= the instrument's minimum (``invalid_order``);
2. the halt: while halted only reduce-only orders leave (``halted``); a reduce-only order must
   be on the side that reduces the position and is clamped to it (``not_reducing``);
3. post-only never crossing the opposite best (``post_only_cross``);
4. the price band around the mark, or the mid when no mark was seen (``price_band``);
5. open orders: non-terminal orders plus places earlier in the batch (``open_orders_limit``);
6. exposure: filled together with every non-terminal order (pending-cancel ones included) and
   every earlier place of the batch, the position stays within the limit; otherwise the size is
   clamped, or the place dropped if less than the minimum fits (``position_limit``);
7. the venue's minimum notional (price times the size left after 6), which a reduce-only order
   is exempt from as it only closes (``invalid_order``);
8. the rate budget (``rate_limited``).

Halts. ``halted`` (a bool attribute) is the global halt: loss limits, minimum equity, the kill
switch, the operator's ``halt_event`` (``mmcore.session_control``), or a Halt intent for every
market (a ``CancelAll`` with an empty market passing ``check``). ``halted_markets`` holds the
markets halted on their own: a Halt intent for one market (its ``CancelAll``) or a forced
flatten. Halts stay until ``resume()`` (which the operator's ``resume_event`` calls), except the
daily loss limit, which lifts itself when the UTC day changes.

``on_event`` sees every event and is cheap for market data: PnL is recomputed only on ``Fill``,
``MarkPrice`` and ``Timer``. When a limit trips it returns ``[RiskEvent, CancelAll]`` once (plus a
reduce-only IOC ``Place`` for a forced flatten, priced ``flatten_slippage_bps`` through the
opposite best in integers; an exit below the instrument's minimum size is not sent, an
``invalid_order`` event in its place). Forced commands spend rate budget as cancels but
leave even without it: pulling quotes matters more than a rejected request. One sent without
budget is still recorded (``RateBudget.force``), so later requests wait for it to leave the
venue's windows. The engine's own cancels (its stop, a strategy that failed) go through
``force`` the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from mmcore.bps import BpsRatio
from mmcore.client_ids import ClientIds
from mmcore.commands import IOC, Cancel, CancelAll, Command, Output, Place, Resync
from mmcore.errors import ConfigError
from mmcore.events import (
    BUY,
    SELL,
    Balance,
    ConnectionState,
    Event,
    Fill,
    MarkPrice,
    OrderAccepted,
    OrderRejected,
    Position,
    PriorDayPnl,
    RiskEvent,
    Timer,
)
from mmcore.instrument import Instrument
from mmcore.ratelimit import RateBudget, RateStats
from mmcore.risk_limits import (
    DAY_NS,
    DAY_PNL_CARRIED,
    FLATTEN_UNREALIZED,
    HALTED,
    HOUR_HIGHS_CARRIED,
    HOUR_NS,
    INVALID_ORDER,
    KILL_SWITCH,
    LOSS_LIMIT_DAY,
    LOSS_LIMIT_HOUR,
    MIN_EQUITY,
    NOT_REDUCING,
    OPEN_ORDERS_LIMIT,
    OPERATOR_HALT,
    POSITION_LIMIT,
    POST_ONLY_CROSS,
    PRICE_BAND,
    RATE_LIMITED,
    RESUMED,
    RISK_CODES,
    LossCarry,
    LossWindows,
    RiskConfig,
    usd_to_nanos,
)
from mmcore.session_control import HALT, RESUME, SESSION_STREAM
from mmcore.state import LiveOrder
from mmcore.view import View

__all__ = ["RISK_CODES", "RiskConfig", "RiskGate", "RiskStats"]

_HALT_INTENT = "halt_intent"


class RiskStats(msgspec.Struct, frozen=True):
    """Counters of a ``RiskGate``.

    commands_in / commands_out: commands given to and let out of ``check``. clamped / dropped:
    places made smaller / commands refused. decisions: ``RiskEvent``s by code. forced: commands
    sent through ``force`` (``on_event``'s, and the engine's own cancels); forced_over_budget:
    of those, sent without rate budget.
    consecutive_rejects: current run of ``OrderRejected``. halted / halted_markets / reasons:
    the halt state now. rate: the rate budget's counters.
    """

    commands_in: int
    commands_out: int
    clamped: int
    dropped: int
    decisions: dict[str, int]
    forced: int
    forced_over_budget: int
    consecutive_rejects: int
    halted: bool
    halted_markets: list[str]
    reasons: list[str]
    rate: RateStats


def _mark_x2(view: View, inst: str) -> int:
    """Twice the mark in ticks, else the book's mid_x2, else 0."""
    mark = view.ledger.mark(inst)
    if mark:
        return 2 * mark
    book = view.books.get(inst)
    return book.mid_x2() if book is not None else 0


class RiskGate:
    """Limits, budgets and halts; implements ``protocols.RiskGate``."""

    def __init__(self, config: RiskConfig, instruments: Mapping[str, Instrument]) -> None:
        if config.max_position_lots <= 0 and config.max_position_usd <= 0:
            raise ConfigError(
                "risk.max_position_lots / risk.max_position_usd: expected at least one > 0, "
                "found both 0"
            )
        self.config = config
        self.instruments = dict(instruments)
        self._min_lots = {name: i.min_lots for name, i in instruments.items()}
        self._unit = {name: i.nanos_per_tick_lot for name, i in instruments.items()}
        self._min_notional = {
            name: i.quote_to_nanos(i.min_notional) for name, i in instruments.items()
        }
        self._max_lots = config.max_position_lots
        self._max_nanos = usd_to_nanos(config.max_position_usd)
        self._max_open = config.max_open_orders
        self._band = config.price_band_bps
        self._min_equity = usd_to_nanos(config.min_equity_usd)
        self._loss_hour = usd_to_nanos(config.max_loss_hour_usd)
        self._loss_day = usd_to_nanos(config.max_loss_day_usd)
        self._flatten_loss = usd_to_nanos(config.flatten_unrealized_loss_usd)
        self._max_rejects = config.max_consecutive_failures
        self._slip = BpsRatio(config.flatten_slippage_bps)  # exact: the exit's price in integers
        self.budget = RateBudget(config.rate_limit)
        self._ids = ClientIds(config.client_id_prefix)
        self._losses = LossWindows()
        self._pnl: dict[str, int] = {}  # per market: what the loss limits count (see _revalue)
        # A position the session inherited (reported before the market was first valued) is
        # valued by the ledger's position_pnl from the venue's entry price: its PnL up to now
        # was made, and counted, by earlier sessions. The loss limits count it from the gate's
        # own first valuation of the market (plus the move since the last session's last mark,
        # when it said). The ledger's session PnL (total_pnl) leaves that part out too, but from
        # its own first valuation (a mark or a fill; the gate's may be a timer's mid), and
        # without the move since the last session: the gate keeps its rule and its figures.
        self._inherited: set[str] = set()  # inherited, not valued yet
        self._offset: dict[str, int] = {}  # PnL not the session's, taken off at valuation
        # the last session's (lots, mark_x2), already in this session's units (mmcore.day_pnl)
        self._prior_marks: dict[str, tuple[int, int]] = {}
        self._marks: dict[str, tuple[int, int]] = {}  # (lots, mark_x2) at the last valuation
        self.halted = False
        self.halted_markets: set[str] = set()
        self._reasons: set[str] = set()  # global halt reasons
        self._market_reasons: dict[str, set[str]] = {}
        self._watch_pnl = bool(self._flatten_loss or self._loss_hour or self._loss_day)
        self._now = 0
        self._rejects = 0
        self._in = 0
        self._out = 0
        self._clamped = 0
        self._dropped = 0
        self._decisions = dict.fromkeys(RISK_CODES, 0)
        self._forced = 0
        self._over_budget = 0
        self._handlers: dict[type, Callable[[Any, View], list[Output]]] = {
            OrderRejected: self._on_rejected,
            OrderAccepted: self._on_accepted,
            Fill: self._on_fill,
            MarkPrice: self._on_mark,
            Timer: self._on_timer,
            Balance: self._on_balance,
            ConnectionState: self._on_session,
            PriorDayPnl: self._on_prior_day_pnl,
            Position: self._on_position,
        }
        self.watched: frozenset[type] = frozenset(self._handlers)
        """Event types ``on_event`` acts on; the engine need not call it for others."""

    # ------------------------------------------------------------ halts

    def is_halted(self, inst: str) -> bool:
        """True when ``inst`` may only send cancels and reduce-only orders."""
        return self.halted or inst in self.halted_markets

    def resume(self, inst: str = "") -> list[Output]:
        """Lift the halt of ``inst`` (every halt when empty); returns the ``RiskEvent`` to log.

        The engine time of the event is the last one this gate saw. Tripped limits re-arm.
        """
        if inst:
            reasons = self._market_reasons.pop(inst, set())
            self.halted_markets.discard(inst)
        else:
            reasons = set(self._reasons)
            for more in self._market_reasons.values():
                reasons |= more
            self._reasons.clear()
            self._market_reasons.clear()
            self.halted_markets.clear()
            self.halted = False
        self._rejects = 0
        now = self._now
        return [self._event(now, inst, RESUMED, f"resumed after {sorted(reasons)}")]

    def _halt_all(self, code: str) -> bool:
        """Add a global reason; True if trading was not halted globally before."""
        was = self.halted
        self._reasons.add(code)
        self.halted = True
        return not was

    def _halt_market(self, inst: str, code: str) -> bool:
        reasons = self._market_reasons.setdefault(inst, set())
        was = bool(reasons)
        reasons.add(code)
        self.halted_markets.add(inst)
        return not was

    def _trip(self, now: int, inst: str, code: str, message: str) -> list[Output]:
        """A global limit tripped: its event and, the first time trading halts, a CancelAll."""
        if code in self._reasons:
            return []
        out: list[Output] = [self._event(now, inst, code, message)]
        if self._halt_all(code):
            out.append(self.force(CancelAll("", now, code), now))
        return out

    # ------------------------------------------------------------ events

    def on_event(self, event: Event, view: View) -> list[Output]:
        """Fold ``event`` into reject counts and loss windows; forced outputs when a limit trips."""
        handler = self._handlers.get(type(event))
        if handler is None:
            return []
        self._now = view.now
        return handler(event, view)

    def _on_rejected(self, ev: OrderRejected, view: View) -> list[Output]:
        self._rejects += 1
        if self._max_rejects and self._rejects >= self._max_rejects:
            return self._trip(
                view.now, ev.inst, KILL_SWITCH,
                f"expected fewer than {self._max_rejects} rejects in a row, found "
                f"{self._rejects} (last {ev.client_id}: {ev.code} {ev.reason})",
            )
        return []

    def _on_accepted(self, ev: OrderAccepted, view: View) -> list[Output]:
        self._rejects = 0
        return []

    def _on_fill(self, ev: Fill, view: View) -> list[Output]:
        self._rejects = 0
        return self._revalue(ev.inst, view, True) if self._watch_pnl else []

    def _on_mark(self, ev: MarkPrice, view: View) -> list[Output]:
        return self._revalue(ev.inst, view, True) if self._watch_pnl else []

    def _on_timer(self, ev: Timer, view: View) -> list[Output]:
        if not self._watch_pnl:
            return []
        out: list[Output] = []
        for inst in self.instruments:
            out.extend(self._revalue(inst, view, False))
        return out + self._check_losses(view.now)

    def _on_session(self, ev: ConnectionState, view: View) -> list[Output]:
        """The operator's halt and resume (other connection states are not the gate's)."""
        if ev.stream != SESSION_STREAM:
            return []
        if ev.state == HALT:
            return self._trip(view.now, "", OPERATOR_HALT, f"operator halt: {ev.reason}")
        if ev.state == RESUME:
            return self.resume()
        return []

    def _on_prior_day_pnl(self, ev: PriorDayPnl, view: View) -> list[Output]:
        """Earlier sessions' PnL of today counts toward the daily loss limit, and their highs of
        the last hour toward the hourly one (checked at once, so a session restarted past a
        limit starts halted). An earlier day's PnL is ignored (its highs are not); a later
        day's counts as today's (the clocks disagree: see below)."""
        now = view.now
        out: list[Output] = []
        carried = False
        if self._watch_pnl:
            self._prior_marks = {
                inst: (lots, mark_x2) for inst, lots, mark_x2 in ev.marks if inst in self._unit
            }
        horizon = now - HOUR_NS
        highs = [(t, a) for t, a in ev.hour_highs if t > horizon and a > 0]
        if self._loss_hour and highs:
            self._losses.carry_highs(highs)
            carried = True
            out.append(self._event(
                now, "", HOUR_HIGHS_CARRIED,
                f"earlier sessions' PnL stood up to {max(a for _, a in highs)} nanos above "
                "where it ended within the last hour; counted toward the 60-minute drawdown "
                "limit",
            ))
        if self._loss_day:
            today = now // DAY_NS
            if ev.day < today:
                out.append(self._event(
                    now, "", DAY_PNL_CARRIED,
                    f"earlier sessions' PnL of UTC day {ev.day} ignored: today is day {today}",
                ))
            else:
                # a later day than today: the clock that saved it ran ahead of this one (or
                # this one stepped back); its losses were made no earlier than today, so they
                # count toward today's limit (ignoring them gave a fresh allowance)
                self._losses.carry(today, ev.pnl)
                carried = True
                later = (
                    f" (saved on UTC day {ev.day}, after today {today}: a clock stepped)"
                    if ev.day > today else ""
                )
                out.append(self._event(
                    now, "", DAY_PNL_CARRIED,
                    f"earlier sessions made {ev.pnl} nanos today{later}; counted toward the "
                    "daily loss limit",
                ))
        return out + self._check_losses(now) if carried else out

    def day_pnl(self) -> tuple[int, int] | None:
        """``(utc_day, pnl_nanos)``: the PnL made on the day of the last loss check, earlier
        sessions' carried PnL included; None while no loss limit is watched or before the first
        check."""
        return self._losses.day_pnl if self._loss_day else None

    def loss_carry(self) -> LossCarry | None:
        """What the live runner saves for the next session (``mmcore.day_pnl``): the day's PnL
        and the last hour's highs; None while neither loss limit is watched or before the first
        check."""
        if not (self._loss_day or self._loss_hour):
            return None
        day = self._losses.day_pnl
        if day is None:
            return None
        highs = tuple(self._losses.hour_highs()) if self._loss_hour else ()
        marks = tuple(
            (inst, lots, mark_x2) for inst, (lots, mark_x2) in sorted(self._marks.items()) if lots
        )
        return LossCarry(day[0], day[1], highs, marks)

    def _on_balance(self, ev: Balance, view: View) -> list[Output]:
        equity = view.ledger.equity
        if self._min_equity and equity < self._min_equity:
            return self._trip(
                view.now, "", MIN_EQUITY,
                f"expected equity >= {self._min_equity} nanos, found {equity} ({ev.asset})",
            )
        return []

    def _revalue(self, inst: str, view: View, losses: bool) -> list[Output]:
        """Recompute ``inst``'s PnL; check its unrealized loss and (if ``losses``) the totals."""
        if inst not in self._unit:
            return []
        mark_x2 = _mark_x2(view, inst)
        ledger = view.ledger
        position = ledger.position(inst)
        if not mark_x2 and position:
            return []  # cannot value the position: keep the last PnL
        pnl = ledger.position_pnl(inst, mark_x2)
        if inst in self._inherited:
            self._inherited.discard(inst)
            self._offset[inst] = pnl - self._moved_since_prior(inst, mark_x2)
        self._pnl[inst] = pnl - self._offset.get(inst, 0)
        self._marks[inst] = (position, mark_x2)
        out: list[Output] = []
        if self._flatten_loss and position:
            loss = -ledger.unrealized(inst, mark_x2)
            if loss > self._flatten_loss and FLATTEN_UNREALIZED not in self._market_reasons.get(
                inst, ()
            ):
                out = self._force_flatten(inst, position, loss, view)
        if losses:
            out.extend(self._check_losses(view.now))
        return out

    def _on_position(self, ev: Position, view: View) -> list[Output]:
        """A position reported before the market's first valuation is inherited (see
        ``_revalue``); later ones are corrections of this session's own position."""
        if self._watch_pnl and ev.inst not in self._pnl and view.ledger.position(ev.inst):
            self._inherited.add(ev.inst)
        return []

    def _moved_since_prior(self, inst: str, mark_x2: int) -> int:
        """What the last session's position made from its last mark to ``mark_x2`` (nanos),
        while no session was running; 0 when it did not say."""
        prior = self._prior_marks.get(inst)
        if prior is None or not prior[1]:
            return 0
        lots, prior_x2 = prior
        return lots * (mark_x2 - prior_x2) * self._unit[inst] // 2

    def _check_losses(self, now: int) -> list[Output]:
        if not (self._loss_hour or self._loss_day):
            return []
        w = self._losses
        w.update(now, sum(self._pnl.values()))
        out: list[Output] = []
        if w.new_day and LOSS_LIMIT_DAY in self._reasons:
            self._reasons.discard(LOSS_LIMIT_DAY)
            self.halted = bool(self._reasons)
            out.append(self._event(now, "", RESUMED, "loss_limit_day: a new UTC day began"))
        if self._loss_hour and w.hour_loss > self._loss_hour:
            out.extend(self._trip(
                now, "", LOSS_LIMIT_HOUR,
                f"expected a 60-minute drawdown <= {self._loss_hour} nanos, found {w.hour_loss}",
            ))
        if self._loss_day and w.day_loss > self._loss_day:
            out.extend(self._trip(
                now, "", LOSS_LIMIT_DAY,
                f"expected a UTC-day loss <= {self._loss_day} nanos, found {w.day_loss}",
            ))
        return out

    def _force_flatten(self, inst: str, position: int, loss: int, view: View) -> list[Output]:
        """Cancel ``inst``, send a reduce-only IOC through the opposite best, halt ``inst``.

        No exit leaves without a price to send it at, nor one below the instrument's minimum
        size, which the venue would only reject (an ``invalid_order`` event says so): the
        position then stays open, with ``inst`` halted."""
        now = view.now
        self._halt_market(inst, FLATTEN_UNREALIZED)
        side = SELL if position > 0 else BUY
        size = position if position > 0 else -position
        book = view.books.get(inst)
        ref = 0
        if book is not None:
            ref = book.best_bid if side == SELL else book.best_ask
        if not ref:
            ref = _mark_x2(view, inst) // 2
        min_lots = self._min_lots[inst]
        if not ref:
            action = f"cancelling; no price to exit {position} lots at"
        elif size < min_lots:
            action = f"cancelling; the exit of {position} lots is below the minimum, not sent"
        else:
            action = f"cancelling and exiting {position} lots"
        out: list[Output] = [
            self._event(
                now, inst, FLATTEN_UNREALIZED,
                f"expected an unrealized loss <= {self._flatten_loss} nanos, found {loss}; "
                + action,
            ),
            self.force(CancelAll(inst, now, FLATTEN_UNREALIZED), now),
        ]
        if not ref:
            return out
        if size < min_lots:
            out.append(self._event(
                now, inst, INVALID_ORDER,
                f"forced exit of {position} lots on {inst}: expected at least the minimum size "
                f"{min_lots} lots, found {size}; not sent, the position stays open",
            ))
            return out
        slip = self._slip.of(ref)
        price = max(1, ref - slip) if side == SELL else ref + slip
        place = Place(inst, now, self._ids.next(), side, price, size, False, True, IOC)
        out.append(self.force(place, now))
        return out

    def force(self, cmd: Command, now: int) -> Command:
        """``cmd`` leaves whatever the limits and budget say (a forced exit, the engine's own
        cancels at its stop or when a strategy fails); it is recorded against the rate budget
        (``RateBudget.force``) so that later requests wait for it to leave the windows."""
        self._forced += 1
        if not self.budget.force(now, True):  # it leaves anyway, so the venue counts it
            self._over_budget += 1
        return cmd

    def _event(self, now: int, inst: str, code: str, message: str) -> RiskEvent:
        self._decisions[code] += 1
        return RiskEvent(now, now, inst, code, message)

    # ------------------------------------------------------------ commands

    def check(self, commands: list[Command], view: View) -> list[Output]:
        """The commands allowed to leave, each clamped one or dropped one with its RiskEvent."""
        now = view.now
        self._now = now
        self._in += len(commands)
        out: list[Output] = []
        budget = self.budget
        places = False
        for cmd in commands:
            t = type(cmd)
            if t is Cancel or t is CancelAll:
                if t is CancelAll:
                    self._halt_intent(cmd, now, out)  # type: ignore[arg-type]
                if budget.try_spend(now, True):
                    out.append(cmd)
                    self._out += 1
                else:
                    self._dropped += 1
                    out.append(self._event(
                        now, cmd.inst, RATE_LIMITED,
                        f"{_describe(cmd)}: no rate budget left; retried on the next reconcile",
                    ))
            else:
                places = True
        if places:
            batch: dict[str, list[int]] = {}  # inst -> [buys, sells, orders] incl. this batch
            for cmd in commands:
                t = type(cmd)
                if t is Place:
                    self._check_place(cmd, view, batch, out)  # type: ignore[arg-type]
                elif t is Resync:
                    out.append(cmd)
                    self._out += 1
        return out

    def _halt_intent(self, cmd: CancelAll, now: int, out: list[Output]) -> None:
        """A CancelAll from the order manager is a Halt intent: halt its market (or all)."""
        if cmd.inst:
            started = self._halt_market(cmd.inst, _HALT_INTENT)
        else:
            started = _HALT_INTENT not in self._reasons
            self._halt_all(_HALT_INTENT)
        if started:
            out.append(self._event(
                now, cmd.inst, HALTED,
                f"Halt intent ({cmd.reason}): only cancels and reduce-only orders leave "
                f"until resume()",
            ))

    def _drop(self, cmd: Place, now: int, code: str, why: str, out: list[Output]) -> None:
        self._dropped += 1
        out.append(self._event(now, cmd.inst, code, f"{_describe(cmd)}: {why}; dropped"))

    def _check_place(
        self, cmd: Place, view: View, batch: dict[str, list[int]], out: list[Output]
    ) -> None:
        now = view.now
        inst = cmd.inst
        min_lots = self._min_lots.get(inst)
        side = cmd.side
        price = cmd.price
        size = cmd.size
        if min_lots is None or price <= 0 or size < min_lots or (side != BUY and side != SELL):
            known = "unknown market" if min_lots is None else f"min size {min_lots} lots"
            return self._drop(cmd, now, INVALID_ORDER, f"expected price > 0 and {known}", out)
        ledger = view.ledger
        position = ledger.position(inst)
        notes: list[Output] = []
        if cmd.reduce_only:
            held = position if side == SELL else -position  # what this side can reduce
            if held < min_lots:
                why = f"expected a position this side reduces, found {position}"
                return self._drop(cmd, now, NOT_REDUCING, why, out)
            if size > held:
                notes.append(self._event(
                    now, inst, NOT_REDUCING, f"{_describe(cmd)}: clamped to position {held}"
                ))
                size = held
        elif self.halted or inst in self.halted_markets:
            return self._drop(cmd, now, HALTED, "trading is halted", out)
        book = view.books.get(inst)
        if cmd.post_only and book is not None:
            if side == BUY and book.best_ask and price >= book.best_ask:
                why = f"expected a price below the best ask {book.best_ask}"
                return self._drop(cmd, now, POST_ONLY_CROSS, why, out)
            if side == SELL and book.best_bid and price <= book.best_bid:
                why = f"expected a price above the best bid {book.best_bid}"
                return self._drop(cmd, now, POST_ONLY_CROSS, why, out)
        mark_x2 = _mark_x2(view, inst)
        if self._band:
            if not mark_x2:
                return self._drop(cmd, now, PRICE_BAND, "no mark or mid to check against", out)
            off = abs(2 * price - mark_x2)
            if off * 10_000 > self._band * mark_x2:
                why = f"expected within {self._band} bps of mark_x2 {mark_x2}"
                return self._drop(cmd, now, PRICE_BAND, why, out)
        acc = batch.get(inst)
        if acc is None:
            acc = batch[inst] = _exposure(ledger.open_orders(inst))
        if acc[2] >= self._max_open:
            why = f"expected fewer than {self._max_open} open orders, found {acc[2]}"
            return self._drop(cmd, now, OPEN_ORDERS_LIMIT, why, out)
        value_x2 = mark_x2
        if not value_x2 and self._max_nanos:
            # no mark nor mid: the USD limit is valued at the highest price in sight (the
            # order's own price can be far from where it fills: a sell at 1 tick takes the
            # bids); with no price but its own, only an order that cannot add exposure goes
            top = 0
            if book is not None:
                top = book.best_bid if book.best_bid > book.best_ask else book.best_ask
            if not top and not cmd.reduce_only:
                why = "no mark, mid or book price to value the USD position limit at"
                return self._drop(cmd, now, POSITION_LIMIT, why, out)
            value_x2 = 2 * (top if top > price else price)
        limit = self._limit_lots(inst, value_x2 if value_x2 else 2 * price)
        if side == BUY:
            room = limit - position - acc[0]
        else:
            room = limit + position - acc[1]
        if size > room:
            if room < min_lots:
                why = (
                    f"expected worst-case position within {limit} lots, found position "
                    f"{position} with {acc[0]} bought / {acc[1]} sold if all orders filled"
                )
                return self._drop(cmd, now, POSITION_LIMIT, why, out)
            notes.append(self._event(
                now, inst, POSITION_LIMIT,
                f"{_describe(cmd)}: clamped to {room} lots, worst-case limit {limit} lots",
            ))
            size = room
        least = self._min_notional[inst]
        if price * size * self._unit[inst] < least and not cmd.reduce_only:
            why = (
                f"expected a notional >= {least} nanos (the venue's minimum), found "
                f"{price * size * self._unit[inst]}"
            )
            return self._drop(cmd, now, INVALID_ORDER, why, out)
        if not self.budget.try_spend(now, False):
            return self._drop(cmd, now, RATE_LIMITED, "no rate budget left", out)
        if size != cmd.size:
            self._clamped += 1
            cmd = Place(
                inst, cmd.ts, cmd.client_id, side, price, size,
                cmd.post_only, cmd.reduce_only, cmd.tif,
            )
            out.extend(notes)
        acc[0 if side == BUY else 1] += size
        acc[2] += 1
        out.append(cmd)
        self._out += 1

    def _limit_lots(self, inst: str, ref_x2: int) -> int:
        """The position limit in lots: the lot limit, the USD limit at ``ref_x2``, the smaller."""
        limit = self._max_lots
        if self._max_nanos:
            by_usd = (2 * self._max_nanos) // (ref_x2 * self._unit[inst])
            if not limit or by_usd < limit:
                limit = by_usd
        return limit

    # ------------------------------------------------------------ counters

    def statistics(self) -> RiskStats:
        reasons = set(self._reasons)
        for more in self._market_reasons.values():
            reasons |= more
        return RiskStats(
            commands_in=self._in,
            commands_out=self._out,
            clamped=self._clamped,
            dropped=self._dropped,
            decisions=dict(self._decisions),
            forced=self._forced,
            forced_over_budget=self._over_budget,
            consecutive_rejects=self._rejects,
            halted=self.halted,
            halted_markets=sorted(self.halted_markets),
            reasons=sorted(reasons),
            rate=self.budget.statistics(),
        )


def _exposure(live: Mapping[str, LiveOrder]) -> list[int]:
    """[remaining lots of live buys, of live sells, count] over every non-terminal order."""
    buys = sells = 0
    for o in live.values():
        if o.side == BUY:
            buys += o.remaining
        else:
            sells += o.remaining
    return [buys, sells, len(live)]


def _describe(cmd: Command) -> str:
    t = type(cmd)
    if t is Place:
        p: Place = cmd  # type: ignore[assignment]
        side = "buy" if p.side == BUY else "sell"
        return f"Place {p.client_id} {side} {p.size} @ {p.price} on {p.inst}"
    if t is Cancel:
        return f"Cancel {cmd.client_id} on {cmd.inst}"  # type: ignore[union-attr]
    return f"{t.__name__} on {cmd.inst or 'every market'}"
