"""The ledger: a pure fold of our orders, positions, cash, fees, funding and PnL.

It folds two streams: the engine's own commands (``on_command``: a ``Place`` puts an order in
flight, a ``Cancel`` marks it pending cancel) and the venue's account events (``apply`` and
``apply_fill``). Order lifecycles follow the table in ``mmcore.order_state``. Only non-terminal
orders are kept; a finished order is dropped and counted, so memory stays flat however long the
session runs.

Money is integer nanos of quote: the notional of ``p`` ticks times ``q`` lots is
``p * q * unit`` with ``unit = inst.nanos_per_tick_lot``. Positions use average-cost accounting
with integers only: ``cost`` is the signed sum of ``price * qty * unit`` over the open position
(negative when short). Reducing by ``closed`` lots takes ``cost * closed // |size|`` out of it, so
the rounding remainder stays in ``cost`` and a full close leaves ``cost == 0`` exactly. Hence at
all times ``realized - cost`` equals the cash paid and received for the traded lots.
``realized``, ``unrealized`` and ``position_pnl`` are the position's, from what its lots cost
(an inherited position: from the venue's entry price); ``total_pnl``, the session's PnL, equals
``pnl`` (a ``PnlAttribution``) total exactly and counts only what happened in the session.

The venue's ``Position`` is the truth: when it disagrees with the ledger, the size is set to the
venue's and the cost re-based. While the ledger holds lots on the reported side, at its current
cost per lot. Otherwise (the ledger was flat, unbased or on the other side: none of its lots
remain) at the venue's entry price when the event carries one (``entry_x2``: a restart holding
a position is valued from what it really cost). Without one: at the current cost per lot after a
flip, at the mark when the ledger was flat; with no mark yet either (a restart: reconciliation
comes before the mark stream) the position is *unbased*: its cost is unknown, so it is valued
at whatever price is asked (unrealized 0) until a ``Position`` with an entry price, the first
``MarkPrice``, or the mid of the first fill (else its price) bases it there. Basing it at a price
of 0 would count its whole value as PnL.

A position the session *inherited* (reported before the session booked a fill or saw a
``MarkPrice`` of its market: a restart holding one) made its PnL up to now in earlier sessions,
which counted it. Its cost follows the rules above (the venue's entry price, so ``unrealized``
and ``avg_entry_x2`` still say how it stands against what it cost), but the session values it
from its market's first valuation, exactly as an unbased one is based, whether or not the venue
gave an entry price: the first ``MarkPrice``, or the mid of the first fill (else its price).
Until then the session counts it at nothing (``inherited``); from then on ``prior_open`` holds
what its open lots had made before (value then less cost), and ``prior_closed`` what the lots
closed since had, which ``total_pnl`` leaves out. A later ``Position`` (a correction after fills
or marks, a reconnect's gap) is the session's own and is handled by the rules above.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from mmcore.commands import GTC, Cancel, CancelAll, Command, Place, Resync
from mmcore.errors import MMError
from mmcore.events import (
    Balance,
    Event,
    Fill,
    FundingPayment,
    MarkPrice,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    Position,
)
from mmcore.instrument import Instrument
from mmcore.order_state import (
    CANCELED,
    FILLED,
    INITIAL,
    ON_ACCEPTED,
    ON_CANCEL_SENT,
    ON_CANCELED,
    ON_FULL_FILL,
    ON_PARTIAL_FILL,
    ON_PLACE,
    ON_REJECTED,
    REJECTED,
    TERMINAL,
    next_state,
)
from mmcore.pnl import PnlAttribution, UnknownInstrument

__all__ = ["DuplicateOrderId", "Ledger", "LedgerStats", "LiveOrder", "PositionState"]


class DuplicateOrderId(MMError, ValueError):
    """A ``Place`` reuses the client id of an order that is still live."""


class LiveOrder:
    """One of our orders that is not finished yet. Owned and mutated by the ledger only."""

    __slots__ = (
        "client_id",
        "filled",
        "inst",
        "post_only",
        "price",
        "reduce_only",
        "side",
        "size",
        "status",
        "tif",
        "ts_acked",
        "ts_created",
        "venue_order_id",
    )

    def __init__(
        self,
        client_id: str,
        inst: str,
        side: int,
        price: int,
        size: int,
        ts_created: int,
        post_only: bool = True,
        reduce_only: bool = False,
        tif: str = GTC,
    ) -> None:
        self.client_id = client_id
        self.inst = inst
        self.side = side
        self.price = price
        self.size = size
        self.filled = 0
        self.status = next_state(INITIAL, ON_PLACE, client_id)
        self.ts_created = ts_created  # engine time of the Place
        self.ts_acked = 0  # engine time of the first ack, 0 until then
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.tif = tif
        self.venue_order_id = ""

    @property
    def remaining(self) -> int:
        """Lots still working (never negative, even after an over-fill)."""
        rest = self.size - self.filled
        return rest if rest > 0 else 0

    def __repr__(self) -> str:
        return (
            f"LiveOrder({self.client_id!r}, {self.inst!r}, side={self.side}, "
            f"price={self.price}, size={self.size}, filled={self.filled}, {self.status})"
        )


class PositionState:
    """Our position in one market and what it has earned and cost so far (nanos of quote)."""

    __slots__ = (
        "cost",
        "fees",
        "fills",
        "funding",
        "inherited",
        "last_fill_ts",
        "maker_fills",
        "prior_closed",
        "prior_open",
        "realized",
        "size",
        "unbased",
        "volume",
    )

    def __init__(self) -> None:
        self.size = 0  # signed lots
        self.cost = 0  # signed nanos: average cost of the open position times its size
        self.realized = 0
        self.fees = 0  # signed: positive paid, negative rebate
        self.funding = 0  # positive received
        self.volume = 0  # lots traded
        self.fills = 0
        self.maker_fills = 0
        self.last_fill_ts = 0
        self.unbased = False  # size from the venue, no price known yet: cost unknown (0)
        self.inherited = False  # held before the session, which has not valued it yet
        self.prior_open = 0  # what the open lots made before the session valued them (nanos)
        self.prior_closed = 0  # the same for lots closed since: not the session's PnL

    def avg_entry_x2(self, unit: int) -> int:
        """Twice the average entry price in ticks, floored; 0 when flat or unbased."""
        if not self.size:
            return 0
        return (2 * self.cost) // (self.size * unit)

    def session_cost(self) -> int:
        """What the open lots cost the session: ``cost``, with inherited lots at their value
        when the session first valued them; 0 while unbased or not valued yet (it books none)."""
        if self.unbased or self.inherited:
            return 0
        return self.cost + self.prior_open


class LedgerStats(msgspec.Struct, frozen=True):
    """Counters of a ``Ledger``."""

    fills: int
    unknown_order_fills: int
    unknown_order_events: int
    unknown_cancels: int
    unknown_instrument_events: int
    position_corrections: int
    orders_placed: int
    orders_done: int
    orders_filled: int
    orders_canceled: int
    orders_rejected: int
    overfills: int
    live_orders: int


class Ledger:
    """Orders, positions, balances and PnL of one session, folded from commands and events."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self.instruments = dict(instruments)
        self._unit = {name: i.nanos_per_tick_lot for name, i in instruments.items()}
        self.orders: dict[str, LiveOrder] = {}
        self._by_inst: dict[str, dict[str, LiveOrder]] = {name: {} for name in instruments}
        self._positions = {name: PositionState() for name in instruments}
        self._marks: dict[str, int] = {}
        self.equity = 0
        self.available = 0
        self.pnl = PnlAttribution(instruments)
        self._handlers: dict[type, Callable[[Any], None]] = {
            OrderAccepted: self._on_accepted,
            OrderRejected: self._on_rejected,
            OrderCanceled: self._on_canceled,
            Balance: self._on_balance,
            Position: self._on_position,
            FundingPayment: self._on_funding,
            MarkPrice: self._on_mark,
        }
        self._fills = 0
        self._unknown_fills = 0
        self._unknown_events = 0
        self._unknown_cancels = 0
        self._unknown_inst = 0
        self._corrections = 0
        self._placed = 0
        self._done = {FILLED: 0, CANCELED: 0, REJECTED: 0}
        self._overfills = 0

    # ------------------------------------------------------------ reads

    def _missing(self, inst: str) -> UnknownInstrument:
        return UnknownInstrument(
            f"Ledger: expected an instrument in {sorted(self._positions)}, found {inst!r}"
        )

    def open_orders(self, inst: str) -> dict[str, LiveOrder]:
        """Live (non-terminal) orders of ``inst`` by client id: the ledger's own dict, read only."""
        try:
            return self._by_inst[inst]
        except KeyError:
            raise self._missing(inst) from None

    def pos(self, inst: str) -> PositionState:
        try:
            return self._positions[inst]
        except KeyError:
            raise self._missing(inst) from None

    def position(self, inst: str) -> int:
        """Signed position in lots."""
        return self.pos(inst).size

    def mark(self, inst: str) -> int:
        """The last ``MarkPrice`` of ``inst`` in ticks, 0 if none seen."""
        return self._marks.get(inst, 0)

    def unrealized(self, inst: str, mark_x2: int) -> int:
        """``size * mark - cost`` in nanos, floored to a nano when the mark is a half tick; 0
        while the position is unbased (its cost is not known yet). Against what the lots cost,
        an inherited position's included (the venue's entry price)."""
        p = self.pos(inst)
        if p.unbased:
            return 0
        return (p.size * mark_x2 * self._unit[inst] - 2 * p.cost) // 2

    def position_pnl(self, inst: str, mark_x2: int) -> int:
        """Realized + unrealized - fees + funding, in nanos: the position's PnL from what its
        lots cost, an inherited position's gain before the session included (the risk gate's
        loss limits take it and leave that part out by a rule of their own, ``mmcore.risk``)."""
        p = self.pos(inst)
        return p.realized + self.unrealized(inst, mark_x2) - p.fees + p.funding

    def total_pnl(self, inst: str, mark_x2: int) -> int:
        """The session's PnL in nanos: ``position_pnl`` less what inherited lots made before
        the session valued them; 0 for a position it has not valued yet. Equals
        ``pnl.parts(...).total``."""
        p = self.pos(inst)
        total = p.realized - p.prior_closed - p.fees + p.funding
        if p.unbased or p.inherited:
            return total
        value = (p.size * mark_x2 * self._unit[inst]) // 2
        return total + value - p.cost - p.prior_open

    # ------------------------------------------------------------ commands

    def on_command(self, cmd: Command) -> None:
        """Put our own commands in flight: ``Place`` opens an order, cancels mark them."""
        if type(cmd) is Place:
            self._on_place(cmd)
        elif type(cmd) is Cancel:
            order = self.orders.get(cmd.client_id)
            if order is None:
                self._unknown_cancels += 1
            else:
                order.status = next_state(order.status, ON_CANCEL_SENT, order.client_id)
        elif type(cmd) is CancelAll:
            live = self.orders if cmd.inst == "" else self.open_orders(cmd.inst)
            for order in live.values():
                order.status = next_state(order.status, ON_CANCEL_SENT, order.client_id)
        elif type(cmd) is not Resync:
            raise TypeError(
                f"Ledger.on_command: expected a Command, found {type(cmd).__name__}"
            )

    def _on_place(self, cmd: Place) -> None:
        cid = cmd.client_id
        if cid in self.orders:
            raise DuplicateOrderId(
                f"Ledger.on_command: expected a client id not in use, found {cid!r} "
                f"already {self.orders[cid].status} on {self.orders[cid].inst}"
            )
        by_inst = self.open_orders(cmd.inst)
        order = LiveOrder(
            cid,
            cmd.inst,
            cmd.side,
            cmd.price,
            cmd.size,
            cmd.ts,
            cmd.post_only,
            cmd.reduce_only,
            cmd.tif,
        )
        self.orders[cid] = order
        by_inst[cid] = order
        self._placed += 1

    # ------------------------------------------------------------ events

    def apply(self, ev: Event) -> None:
        """Fold an account event. Fills go through ``apply_fill``; other types are ignored."""
        handler = self._handlers.get(type(ev))
        if handler is not None:
            handler(ev)

    def _finish(self, order: LiveOrder, status: str) -> None:
        order.status = status
        if status in TERMINAL:
            del self.orders[order.client_id]
            del self._by_inst[order.inst][order.client_id]
            self._done[status] += 1

    def _on_accepted(self, ev: OrderAccepted) -> None:
        order = self.orders.get(ev.client_id)
        if order is None:
            self._unknown_events += 1
            return
        order.status = next_state(order.status, ON_ACCEPTED, order.client_id)
        if not order.ts_acked:
            order.ts_acked = ev.ts_recv
        if ev.venue_order_id:
            order.venue_order_id = ev.venue_order_id

    def _on_rejected(self, ev: OrderRejected) -> None:
        order = self.orders.get(ev.client_id)
        if order is None:
            self._unknown_events += 1
            return
        self._finish(order, next_state(order.status, ON_REJECTED, order.client_id))

    def _on_canceled(self, ev: OrderCanceled) -> None:
        order = self.orders.get(ev.client_id)
        if order is None:
            self._unknown_events += 1
            return
        self._finish(order, next_state(order.status, ON_CANCELED, order.client_id))

    def _on_balance(self, ev: Balance) -> None:
        self.equity = ev.equity
        self.available = ev.available

    def _on_mark(self, ev: MarkPrice) -> None:
        self._marks[ev.inst] = ev.price
        p = self._positions.get(ev.inst)
        if p is not None and (p.unbased or p.inherited) and ev.price > 0:
            self._base(ev.inst, p, 2 * ev.price)

    def _cost_at(self, inst: str, size: int, price_x2: int) -> int:
        """The cost of ``size`` lots bought (sold) at ``price_x2 / 2`` ticks, floored to a nano."""
        return (size * price_x2 * self._unit[inst]) // 2

    def _base(self, inst: str, p: PositionState, price_x2: int) -> None:
        """The first valuation of a position without a price: an unbased one gets its cost, an
        inherited one its value to the session, as if bought (sold) at ``price_x2 / 2`` ticks;
        what an inherited one made before is ``prior_open`` (0 when it was unbased too)."""
        value = self._cost_at(inst, p.size, price_x2)
        if p.unbased:
            p.cost = value
            p.unbased = False
        if p.inherited:
            p.prior_open = value - p.cost
            p.inherited = False
        self.pnl.on_basis(inst, value)

    def base_before_fill(self, fill: Fill, mid_x2: int) -> None:
        """Price an unbased or inherited position of ``fill.inst`` as ``apply_fill`` does
        before folding ``fill``: at ``mid_x2`` (the book's mid), else at the fill's price; else
        a no-op. ``apply_fill`` calls it; a fold that must see the basis before the fill may
        call it first (``replay.timeline``'s round trips), so there is one rule."""
        p = self._positions.get(fill.inst)
        if p is not None and (p.unbased or p.inherited):
            self._base(fill.inst, p, mid_x2 if mid_x2 else 2 * fill.price)

    def _on_funding(self, ev: FundingPayment) -> None:
        p = self._positions.get(ev.inst)
        if p is None:
            self._unknown_inst += 1
            return
        p.funding += ev.amount
        self.pnl.on_funding(ev.inst, ev.amount)

    def _on_position(self, ev: Position) -> None:
        p = self._positions.get(ev.inst)
        if p is None:
            self._unknown_inst += 1
            return
        entry_x2 = ev.entry_x2 if ev.size else 0
        if ev.size == p.size:
            if p.unbased and entry_x2 > 0:  # the venue now says what it cost
                p.cost = self._cost_at(ev.inst, p.size, entry_x2)
                p.unbased = False
                if not p.inherited:  # (an inherited one waits for its first valuation)
                    self.pnl.on_basis(ev.inst, p.cost)
            return
        booked = p.session_cost()
        held = p.size != 0 and not p.unbased and (p.size > 0) == (ev.size > 0)
        prior_open = 0
        if entry_x2 > 0 and not held:  # the ledger has no cost for these lots: the venue's
            cost = self._cost_at(ev.inst, ev.size, entry_x2)
            p.unbased = False
        elif p.size:
            cost = p.cost * ev.size // p.size  # same cost per lot, sign follows the size
            # and the same to the session: the prior gain of lots gone leaves with them
            prior_open = (p.cost + p.prior_open) * ev.size // p.size - cost
        else:
            mark = self._marks.get(ev.inst, 0)
            cost = ev.size * mark * self._unit[ev.inst]
            p.unbased = not mark  # no price yet: based by the first mark or fill
        if not ev.size:
            p.unbased = False
        # held before the session (it has booked no fill of the market nor seen its mark):
        # valued from the market's first valuation, whatever it cost (module doc)
        p.inherited = bool(ev.size) and not p.fills and not self._marks.get(ev.inst, 0)
        p.size = ev.size
        p.cost = cost
        p.prior_open = 0 if p.inherited else prior_open
        self.pnl.on_rebase(
            ev.inst, ev.size, p.session_cost() - booked, p.unbased or p.inherited
        )
        self._corrections += 1

    def apply_fill(self, fill: Fill, mid_x2: int, mid_before_x2: int | None = None) -> None:
        """Fold one of our fills. ``mid_x2`` (0 = unknown) is the book's mid now: it prices a
        position that has no price yet (``base_before_fill``). ``mid_before_x2``, the mid just
        before the fill's venue time (``Book.mid_x2_before``), is what its spread capture is
        measured against (``PnlAttribution.on_fill``); None: ``mid_x2``."""
        p = self._positions.get(fill.inst)
        if p is None:
            self._unknown_inst += 1
            return
        if p.unbased or p.inherited:
            self.base_before_fill(fill, mid_x2)
        unit = self._unit[fill.inst]
        side = fill.side
        qty = fill.size
        price = fill.price
        size = p.size
        if size == 0 or (size > 0) == (side > 0):
            p.cost += side * price * qty * unit
            p.size = size + side * qty
        else:
            held = size if size > 0 else -size
            closed = qty if qty < held else held
            closed_cost = p.cost * closed // held
            # long: proceeds - cost; short: -(cost of buying back) - (negative) cost
            p.realized += -side * price * closed * unit - closed_cost
            if p.prior_open:  # inherited lots close at their cost to the session, pro rata
                prior = (p.cost + p.prior_open) * closed // held - closed_cost
                p.prior_open -= prior
                p.prior_closed += prior
            p.cost -= closed_cost
            rest = qty - closed
            if rest:  # crossed through zero: cost is exactly 0 here, open the rest at price
                p.cost = side * price * rest * unit
            p.size = size + side * qty
        p.fees += fill.fee
        p.volume += qty
        p.fills += 1
        if fill.maker:
            p.maker_fills += 1
        p.last_fill_ts = fill.ts_recv
        self._fills += 1
        self.pnl.on_fill(fill, mid_x2 if mid_before_x2 is None else mid_before_x2)

        order = self.orders.get(fill.client_id)
        if order is None:
            self._unknown_fills += 1
            return
        order.filled += qty
        if order.filled >= order.size:
            if order.filled > order.size:
                self._overfills += 1
            self._finish(order, next_state(order.status, ON_FULL_FILL, order.client_id))
        else:
            order.status = next_state(order.status, ON_PARTIAL_FILL, order.client_id)

    # ------------------------------------------------------------ counters

    def statistics(self) -> LedgerStats:
        done = self._done
        return LedgerStats(
            fills=self._fills,
            unknown_order_fills=self._unknown_fills,
            unknown_order_events=self._unknown_events,
            unknown_cancels=self._unknown_cancels,
            unknown_instrument_events=self._unknown_inst,
            position_corrections=self._corrections,
            orders_placed=self._placed,
            orders_done=done[FILLED] + done[CANCELED] + done[REJECTED],
            orders_filled=done[FILLED],
            orders_canceled=done[CANCELED],
            orders_rejected=done[REJECTED],
            overfills=self._overfills,
            live_orders=len(self.orders),
        )
