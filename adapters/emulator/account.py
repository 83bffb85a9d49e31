"""One emulated trading account: its orders, fills, positions and collateral, in integer units.

Venue-neutral: prices in ticks, sizes in lots, money in nanos of quote, times in nanoseconds. The
matching itself happens in the simulated venue (``adapters.sim``); the account folds the events
that come out of it (accepted, rejected, canceled, filled, funding) and reports what changed, so a
venue's emulator can render the changes in that venue's wire format. Every funding payment settled
is kept (``EmulatedAccount.funding``), for a venue's funding history.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from adapters.emulator.deadman import DeadMansSwitch
from mmcore.errors import MMError
from mmcore.events import (
    Event,
    Fill,
    FundingPayment,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
)
from mmcore.instrument import Instrument

__all__ = [
    "CANCELLED",
    "DEAD_MAN_REASON",
    "EXPIRED",
    "EXPIRED_REASON",
    "FILLED",
    "NEW",
    "OPEN_STATUSES",
    "PARTIALLY_FILLED",
    "PENDING",
    "REJECTED",
    "AccountStatistics",
    "AccountUpdate",
    "DuplicateClientIdError",
    "EmulatedAccount",
    "EmulatedFill",
    "EmulatedFunding",
    "EmulatedOrder",
    "EmulatedPosition",
]

PENDING = "PENDING"
NEW = "NEW"
PARTIALLY_FILLED = "PARTIALLY_FILLED"
FILLED = "FILLED"
CANCELLED = "CANCELLED"
REJECTED = "REJECTED"
EXPIRED = "EXPIRED"
OPEN_STATUSES = frozenset((PENDING, NEW, PARTIALLY_FILLED))

DEAD_MAN_REASON = "dead_man_switch"
"""Cancel reason of orders the dead man's switch took down."""
EXPIRED_REASON = "expired"
"""Cancel reason of orders whose expiry time passed; their status becomes EXPIRED."""


class DuplicateClientIdError(MMError, ValueError):
    """An order was submitted with a client id the account has already used."""


class EmulatedOrder:
    """An order as the emulated venue holds it."""

    __slots__ = (
        "client_id",
        "created_ns",
        "expiry_ns",
        "fee_nanos",
        "filled",
        "filled_notional",
        "inst",
        "post_only",
        "price",
        "reason",
        "reduce_only",
        "side",
        "size",
        "status",
        "tif",
        "updated_ns",
        "venue_id",
    )

    def __init__(
        self,
        venue_id: int,
        client_id: str,
        inst: str,
        side: int,
        price: int,
        size: int,
        post_only: bool,
        reduce_only: bool,
        tif: str,
        now_ns: int,
        expiry_ns: int = 0,
    ) -> None:
        self.venue_id = venue_id
        self.client_id = client_id
        self.inst = inst
        self.side = side
        self.price = price
        self.size = size
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.tif = tif
        self.created_ns = now_ns
        self.updated_ns = now_ns
        self.expiry_ns = expiry_ns
        self.filled = 0
        self.filled_notional = 0
        self.fee_nanos = 0
        self.status = PENDING
        self.reason = ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def __repr__(self) -> str:
        return (
            f"EmulatedOrder({self.venue_id}, {self.client_id!r}, {self.inst}, side={self.side}, "
            f"{self.size}@{self.price}, filled={self.filled}, {self.status})"
        )


class EmulatedFill:
    """One execution of one of the account's orders."""

    __slots__ = (
        "client_id",
        "fee_nanos",
        "inst",
        "maker",
        "price",
        "side",
        "size",
        "trade_id",
        "ts_ns",
        "venue_order_id",
    )

    def __init__(
        self,
        trade_id: int,
        order: EmulatedOrder,
        price: int,
        size: int,
        fee_nanos: int,
        maker: bool,
        ts_ns: int,
    ) -> None:
        self.trade_id = trade_id
        self.venue_order_id = order.venue_id
        self.client_id = order.client_id
        self.inst = order.inst
        self.side = order.side
        self.price = price
        self.size = size
        self.fee_nanos = fee_nanos
        self.maker = maker
        self.ts_ns = ts_ns


class EmulatedFunding:
    """One funding payment settled on one of the account's positions.

    ``size``: the position in lots (positive long) it was paid on; ``amount``: nanos of quote,
    positive when the account received it; ``mark_x2``: twice the valuation price it was
    computed at, in ticks; ``rate_ppb``: the rate; ``paid_ns``: the settlement's exchange time.
    ``mark_x2`` and ``rate_ppb`` are 0 when the one settling did not say (``apply``).
    """

    __slots__ = ("amount", "inst", "mark_x2", "paid_ns", "payment_id", "position_id", "rate_ppb",
                 "size")

    def __init__(
        self,
        payment_id: int,
        inst: str,
        position_id: int,
        size: int,
        amount: int,
        mark_x2: int,
        rate_ppb: int,
        paid_ns: int,
    ) -> None:
        self.payment_id = payment_id
        self.inst = inst
        self.position_id = position_id
        self.size = size
        self.amount = amount
        self.mark_x2 = mark_x2
        self.rate_ppb = rate_ppb
        self.paid_ns = paid_ns


class EmulatedPosition:
    """Net position in lots (positive long) with its entry cost and realised PnL."""

    __slots__ = (
        "created_ns",
        "entry_notional",
        "id",
        "inst",
        "realized_nanos",
        "size",
        "updated_ns",
    )

    def __init__(self, position_id: int, inst: str, now_ns: int) -> None:
        self.id = position_id
        self.inst = inst
        self.size = 0
        self.entry_notional = 0  # |size| lots at their average entry, in ticks*lots
        self.realized_nanos = 0
        self.created_ns = now_ns
        self.updated_ns = now_ns

    def entry_price_ticks(self) -> float:
        """Average entry price in ticks (a float, for display only), 0 when flat."""
        return self.entry_notional / abs(self.size) if self.size else 0.0


class AccountUpdate:
    """What one batch of matching events changed; the emulator's wire layer renders it."""

    __slots__ = ("balance", "fills", "orders", "positions")

    def __init__(self) -> None:
        self.orders: list[EmulatedOrder] = []
        self.fills: list[EmulatedFill] = []
        self.positions: list[EmulatedPosition] = []
        self.balance = False

    def __bool__(self) -> bool:
        return bool(self.orders or self.fills or self.positions or self.balance)

    def touch_order(self, order: EmulatedOrder) -> None:
        if order not in self.orders:
            self.orders.append(order)

    def touch_position(self, pos: EmulatedPosition) -> None:
        if pos not in self.positions:
            self.positions.append(pos)


class AccountStatistics(msgspec.Struct, frozen=True):
    """Counters of one emulated account."""

    orders: int
    open_orders: int
    accepted: int
    rejected: int
    canceled: int
    fills: int
    dead_man_fired: int


class EmulatedAccount:
    """Orders, fills, positions and collateral of one account."""

    def __init__(
        self,
        account_id: int,
        api_key: str,
        instruments: Mapping[str, Instrument],
        collateral_nanos: int,
        id_base: int,
        leverage: int = 10,
    ) -> None:
        self.account_id = account_id
        self.api_key = api_key
        self.instruments = dict(instruments)
        self.collateral_nanos = collateral_nanos
        self.leverage = leverage
        """The default leverage of every market (and the account-level figure a venue shows)."""
        self.leverages: dict[str, int] = {}
        """Per-market leverage the account set; markets absent here use ``leverage``."""
        self.orders: dict[int, EmulatedOrder] = {}
        self.by_client: dict[str, EmulatedOrder] = {}
        self.fills: list[EmulatedFill] = []
        self.funding: list[EmulatedFunding] = []
        """Every funding payment settled, oldest first."""
        self.positions: dict[str, EmulatedPosition] = {}
        self.dead_man = DeadMansSwitch()
        self.updated_ns = 0
        self._next_id = id_base
        self._n_accepted = 0
        self._n_rejected = 0
        self._n_canceled = 0

    # ------------------------------------------------------------ ids and orders

    def next_id(self) -> int:
        """A fresh venue id (orders, trades, positions share one counter)."""
        self._next_id += 1
        return self._next_id

    def new_order(
        self,
        client_id: str,
        inst: str,
        side: int,
        price: int,
        size: int,
        post_only: bool,
        reduce_only: bool,
        tif: str,
        now_ns: int,
        expiry_ns: int = 0,
    ) -> EmulatedOrder:
        """Record a new order (status PENDING) before it goes to matching."""
        if client_id in self.by_client:
            raise DuplicateClientIdError(
                f"account {self.account_id}: expected a new client id, found {client_id!r} "
                f"(order {self.by_client[client_id].venue_id})"
            )
        order = EmulatedOrder(
            self.next_id(),
            client_id,
            inst,
            side,
            price,
            size,
            post_only,
            reduce_only,
            tif,
            now_ns,
            expiry_ns,
        )
        self.orders[order.venue_id] = order
        self.by_client[client_id] = order
        return order

    def reject(self, order: EmulatedOrder, reason: str, now_ns: int) -> None:
        """Mark an order rejected before it reached matching (e.g. a reduce-only failure)."""
        order.status = REJECTED
        order.reason = reason
        order.updated_ns = now_ns
        self._n_rejected += 1

    def open_orders(self, inst: str = "") -> list[EmulatedOrder]:
        return [o for o in self.orders.values() if o.is_open and (not inst or o.inst == inst)]

    def position(self, inst: str, now_ns: int) -> EmulatedPosition:
        pos = self.positions.get(inst)
        if pos is None:
            pos = self.positions[inst] = EmulatedPosition(self.next_id(), inst, now_ns)
        return pos

    # ------------------------------------------------------------ folding matching output

    def apply(self, ev: Event, now_ns: int, update: AccountUpdate) -> None:
        """Fold one event from the simulated venue; record what changed in ``update``."""
        t = type(ev)
        if t is Fill:
            self._fill(ev, now_ns, update)  # type: ignore[arg-type]
        elif t is OrderAccepted:
            order = self.by_client.get(ev.client_id)  # type: ignore[union-attr]
            if order is not None and order.status == PENDING:
                order.status = NEW
                order.updated_ns = now_ns
                self._n_accepted += 1
                update.touch_order(order)
        elif t is OrderCanceled or t is OrderRejected:
            order = self.by_client.get(ev.client_id)  # type: ignore[union-attr]
            if order is not None and order.is_open:
                if t is OrderRejected:
                    order.status = REJECTED
                    order.reason = ev.code  # type: ignore[union-attr]
                    self._n_rejected += 1
                else:
                    order.reason = ev.reason  # type: ignore[union-attr]
                    order.status = EXPIRED if order.reason == EXPIRED_REASON else CANCELLED
                    self._n_canceled += 1
                order.updated_ns = now_ns
                update.touch_order(order)
        elif t is FundingPayment:
            self.settle_funding(ev, 0, 0, now_ns, update)  # type: ignore[arg-type]
        self.updated_ns = now_ns

    def settle_funding(
        self, ev: FundingPayment, mark_x2: int, rate_ppb: int, now_ns: int, update: AccountUpdate
    ) -> None:
        """Fold a funding payment of the simulated venue, computed at ``mark_x2`` and
        ``rate_ppb`` (what the venue's record of it shows): the collateral moves by its amount
        and the payment is kept in ``funding``."""
        pos = self.position(ev.inst, now_ns)
        self.funding.append(
            EmulatedFunding(
                self.next_id(), ev.inst, pos.id, pos.size, ev.amount, mark_x2, rate_ppb, ev.ts
            )
        )
        self.collateral_nanos += ev.amount
        update.balance = True
        self.updated_ns = now_ns

    def _fill(self, ev: Fill, now_ns: int, update: AccountUpdate) -> None:
        order = self.by_client.get(ev.client_id)
        if order is None or ev.size <= 0:
            return
        inst = self.instruments[order.inst]
        if order.status == PENDING:
            order.status = NEW
            self._n_accepted += 1
        order.filled += ev.size
        order.filled_notional += ev.price * ev.size
        order.fee_nanos += ev.fee
        order.status = FILLED if order.filled >= order.size else PARTIALLY_FILLED
        order.updated_ns = now_ns
        fill = EmulatedFill(self.next_id(), order, ev.price, ev.size, ev.fee, ev.maker, now_ns)
        self.fills.append(fill)
        pos = self.position(order.inst, now_ns)
        self._move_position(pos, order.side * ev.size, ev.price, inst.nanos_per_tick_lot)
        pos.updated_ns = now_ns
        self.collateral_nanos -= ev.fee
        update.touch_order(order)
        update.fills.append(fill)
        update.touch_position(pos)
        update.balance = True

    def _move_position(self, pos: EmulatedPosition, delta: int, price: int, unit: int) -> None:
        size = pos.size
        if size == 0 or (size > 0) == (delta > 0):
            pos.entry_notional += abs(delta) * price
            pos.size = size + delta
            return
        closing = min(abs(delta), abs(size))
        cost = pos.entry_notional * closing // abs(size)
        direction = 1 if size > 0 else -1
        pnl = (price * closing - cost) * direction * unit
        pos.realized_nanos += pnl
        self.collateral_nanos += pnl
        pos.entry_notional -= cost
        pos.size = size + delta
        if pos.size == 0:
            pos.entry_notional = 0
        elif (pos.size > 0) != (size > 0):  # flipped: the rest opens at this price
            pos.entry_notional = abs(pos.size) * price

    # ------------------------------------------------------------ valuations

    def unrealized_nanos(self, marks: Mapping[str, int]) -> int:
        total = 0
        for pos in self.positions.values():
            if pos.size:
                mark = marks.get(pos.inst, 0)
                unit = self.instruments[pos.inst].nanos_per_tick_lot
                direction = 1 if pos.size > 0 else -1
                total += (mark * abs(pos.size) - pos.entry_notional) * direction * unit
        return total

    def exposure_nanos(self, marks: Mapping[str, int]) -> int:
        total = 0
        for pos in self.positions.values():
            unit = self.instruments[pos.inst].nanos_per_tick_lot
            total += abs(pos.size) * marks.get(pos.inst, 0) * unit
        return total

    def equity_nanos(self, marks: Mapping[str, int]) -> int:
        return self.collateral_nanos + self.unrealized_nanos(marks)

    def leverage_of(self, inst: str) -> int:
        """The leverage of market ``inst``: the one set for it, else the account's default."""
        return self.leverages.get(inst, self.leverage)

    def initial_margin_nanos(self, marks: Mapping[str, int]) -> int:
        """The exposure at each market's leverage (summed per leverage, then divided)."""
        by_leverage: dict[int, int] = {}
        for pos in self.positions.values():
            unit = self.instruments[pos.inst].nanos_per_tick_lot
            exposure = abs(pos.size) * marks.get(pos.inst, 0) * unit
            lev = self.leverage_of(pos.inst)
            by_leverage[lev] = by_leverage.get(lev, 0) + exposure
        return sum(exposure // lev for lev, exposure in by_leverage.items())

    def available_nanos(self, marks: Mapping[str, int]) -> int:
        return self.equity_nanos(marks) - self.initial_margin_nanos(marks)

    def statistics(self) -> AccountStatistics:
        return AccountStatistics(
            orders=len(self.orders),
            open_orders=sum(1 for o in self.orders.values() if o.is_open),
            accepted=self._n_accepted,
            rejected=self._n_rejected,
            canceled=self._n_canceled,
            fills=len(self.fills),
            dead_man_fired=self.dead_man.fired,
        )
