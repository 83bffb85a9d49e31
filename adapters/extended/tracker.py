"""Our orders at Extended, by client id (= the venue's external id), and the events they owe.

The tracker is the one place that decides which order event to emit, so that each order produces
at most one ``OrderAccepted`` and exactly one terminal event (``OrderCanceled`` /
``OrderRejected``) unless it filled completely. A fill is never dropped (only a duplicate trade
id is): one that arrives after the order's terminal event is still passed on, and counted late.
Stream messages, REST answers and reconciliation all go through it, in whatever order they arrive.

An order the venue reports ended (CANCELLED, EXPIRED, REJECTED or FILLED) with more filled
(``filledQty``) than the fills passed on so far has fills on their way: a cancel raced the match
and its order update overtook the trade, or a TRADE frame was lost. Its terminal event is held
back (``ends_held``) and the order stays live to the engine, whose risk gate keeps counting its
remaining size: that covers the fills on their way, so the room is never freed before they are
counted. The event goes out right after the fill that brings the fills seen up to the venue's
``filledQty`` (a FILLED order simply ends with its last fill); ``on_held`` asks for a reconcile,
which passes on fills the stream lost, and gives the end up (``give_up_end``: the terminal event,
"fills not seen") when even the trades it read lack them.

A finished order is kept ``done_kept_ns`` (default ``DONE_KEPT_NS``, 10 minutes of the ``ts_recv``
clock) after its end, so that a late fill is still matched to it (by client id or venue id) and a
copy of it seen working is still flagged as a stray; then it is forgotten, so the tracker holds
the live orders plus those of the last few minutes, not every order of the session. Ten minutes
is far beyond the races it covers: a cancel racing a match (milliseconds), a held place landing
after its request gave up (the REST timeout), a fill missed by the stream and found by the next
reconcile (``reconcile_interval_s``, or an account-stream reconnect). Past it, an update of that
order counts as foreign, and an order still working then is an orphan the reconcile cancels
(``cancel_unknown_orders``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping

import msgspec

from adapters.extended.normalize import SIDES, MalformedMessageError, venue_ns
from adapters.extended.wire import WireOrder, WireTrade
from mmcore.commands import Place
from mmcore.events import Event, Fill, OrderAccepted, OrderCanceled, OrderRejected
from mmcore.instrument import Instrument

__all__ = [
    "DONE",
    "DONE_KEPT_NS",
    "ENDED_STATUSES",
    "LIVE_STATUSES",
    "OPEN",
    "PENDING",
    "HeldEnd",
    "OrderTracker",
    "TrackedOrder",
    "TrackerStatistics",
]

log = logging.getLogger(__name__)

PENDING = "pending"
"""Place sent (or about to be); no sign of the order on the venue yet."""
OPEN = "open"
"""The venue has the order working (we emitted ``OrderAccepted``)."""
DONE = "done"
"""Filled, canceled or rejected: no more events for it."""

LIVE_STATUSES = frozenset(("NEW", "PARTIALLY_FILLED", "UNTRIGGERED"))
"""The venue's statuses of an order that works (may still trade)."""
ENDED_STATUSES = frozenset(("CANCELLED", "EXPIRED", "REJECTED", "FILLED"))
"""The venue's statuses of an order that ended (trades no more)."""
_SEEN_TRADES_KEPT = 10_000

DONE_KEPT_NS = 10 * 60 * 1_000_000_000
"""How long a finished order stays tracked after its end (see the module doc)."""


class HeldEnd(msgspec.Struct):
    """The venue's end of an order whose fills have not all been passed on yet."""

    status: str
    """CANCELLED, EXPIRED, REJECTED or FILLED."""
    reason: str
    """The venue's ``statusReason`` (or the status when it gives none); "filled" for FILLED."""
    ts: int
    """The venue's time of the update that ended it."""
    venue_filled: int
    """Lots the venue reports filled: the terminal event goes out once this many are seen."""
    held_ns: int = 0
    """When the end began to wait (the ``ts_recv`` clock): the reconcile gives it up only once
    it has waited ``Reconciler.give_up_after_ns``."""


class TrackedOrder:
    """One order this session placed."""

    __slots__ = (
        "cancel_wanted",
        "client_id",
        "end",
        "filled",
        "in_flight",
        "inst",
        "placed_ns",
        "side",
        "size",
        "state",
        "venue_id",
    )

    def __init__(self, place: Place) -> None:
        self.client_id = place.client_id
        self.inst = place.inst
        self.placed_ns = place.ts
        """When the engine decided the place (its clock: the venue's, give or take)."""
        self.side = place.side
        self.size = place.size
        self.filled = 0
        self.state = PENDING
        self.venue_id = ""
        self.in_flight = True
        self.cancel_wanted = False
        """A cancel was asked for and the venue did not confirm taking it: the reconcile sends it
        again while the order rests."""
        self.end: HeldEnd | None = None
        """Set when the venue ended the order before all its fills reached us: its terminal
        event waits for them (see the module doc)."""


class TrackerStatistics(msgspec.Struct, frozen=True):
    """Counters of the order tracker."""

    tracked: int
    pending: int
    open: int
    accepted: int
    canceled: int
    rejected: int
    fills: int
    duplicate_fills: int
    """Fills the account stream repeated (a trade id already passed on)."""
    late_fills: int
    foreign_updates: int
    forgotten: int = 0
    """Finished orders dropped ``done_kept_ns`` after their end."""
    fills_reread: int = 0
    """Fills a REST reconcile read again (it reads the latest trades every run): expected,
    counted apart so that ``duplicate_fills`` shows the stream's own repeats."""
    ends_held: int = 0
    """Orders whose terminal event waited for fills the venue had counted and we had not seen."""
    ends_given_up: int = 0
    """Of those, the ones ended by a reconcile that found no such fills ("fills not seen")."""


class OrderTracker:
    """Client id ↔ venue id, lifecycle state and seen trade ids of our orders."""

    def __init__(
        self, instruments: Mapping[str, Instrument], done_kept_ns: int = DONE_KEPT_NS
    ) -> None:
        self.instruments = instruments
        self.done_kept_ns = done_kept_ns
        self.orders: dict[str, TrackedOrder] = {}
        """Live orders and those finished within ``done_kept_ns``."""
        self._live: dict[str, TrackedOrder] = {}  # pending or open, oldest first
        self._done: deque[tuple[int, TrackedOrder]] = deque()  # (ts_recv of the end, order)
        self._forgotten = 0
        self._by_venue_id: dict[str, TrackedOrder] = {}
        self._seen_trades: OrderedDict[str, None] = OrderedDict()
        self._accepted = 0
        self._canceled = 0
        self._rejected = 0
        self._fills = 0
        self._dup_fills = 0
        self._reread = 0
        self._foreign = 0
        self._late_fills = 0
        self.strays: set[str] = set()
        """Client ids of orders the venue reports working that must not work: after their
        terminal event (a place declared not found whose held copy landed later; the engine
        counts nothing for them), or with a cancel wanted (a place that landed after a
        cancel-all, a cancel that failed). The adapter cancels them at the venue."""
        self.on_listed: Callable[[str], None] | None = None
        """Called with a client id when the venue first names its order (its venue id is
        learned): the executor then drops the signed body it kept for a resend."""
        self.on_forgotten: Callable[[str], None] | None = None
        """Called with a client id when an ended order is forgotten (``done_kept_ns`` after its
        end): the executor drops a body it still kept for it (a place of unknown outcome the
        reconcile ended unlisted), which would otherwise stay for the whole session."""
        self.ends_held: dict[str, TrackedOrder] = {}
        """Orders, by client id, that the venue ended with fills we have not seen: their
        terminal event waits for those fills (see the module doc)."""
        self.on_held: Callable[[str], None] | None = None
        """Called (with a reason) when an order's end starts to wait for its fills: the adapter
        asks for a reconcile, which finds fills whose TRADE frame was lost."""
        self._held = 0
        self._given_up = 0

    # ------------------------------------------------------------ lookups

    def get(self, client_id: str) -> TrackedOrder | None:
        return self.orders.get(client_id)

    def by_venue_id(self, venue_id: str) -> TrackedOrder | None:
        return self._by_venue_id.get(venue_id)

    def seen_trade(self, trade_id: str) -> bool:
        """True when the fill of ``trade_id`` was passed on (recently: the last 10,000)."""
        return trade_id in self._seen_trades

    def live(self) -> list[TrackedOrder]:
        """Orders pending or open, oldest first."""
        return list(self._live.values())

    # ------------------------------------------------------------ our own actions

    def placing(self, place: Place) -> TrackedOrder:
        """Track a place about to be sent; a repeated client id returns the existing order."""
        order = self.orders.get(place.client_id)
        if order is None:
            order = self.orders[place.client_id] = TrackedOrder(place)
            self._live[place.client_id] = order
        return order

    def learn_venue_id(self, order: TrackedOrder, venue_id: str) -> None:
        if venue_id and not order.venue_id:
            order.venue_id = venue_id
            self._by_venue_id[venue_id] = order
            if self.on_listed is not None:
                self.on_listed(order.client_id)

    # ------------------------------------------------------------ end and forgetting

    def _finish(self, order: TrackedOrder, ts_recv: int) -> None:
        """The order ended: out of ``live()``; forgotten ``done_kept_ns`` after ``ts_recv``."""
        order.state = DONE
        order.end = None
        self.ends_held.pop(order.client_id, None)
        self._live.pop(order.client_id, None)
        done = self._done
        done.append((ts_recv, order))
        horizon = ts_recv - self.done_kept_ns
        while done and done[0][0] <= horizon:
            old = done.popleft()[1]
            if self.orders.get(old.client_id) is old:
                del self.orders[old.client_id]
            if old.venue_id and self._by_venue_id.get(old.venue_id) is old:
                del self._by_venue_id[old.venue_id]
            self._forgotten += 1
            if self.on_forgotten is not None:
                self.on_forgotten(old.client_id)

    # ------------------------------------------------------------ transitions → events

    def accepted(self, order: TrackedOrder, ts: int, ts_recv: int) -> list[Event]:
        if order.state != PENDING:
            return []
        order.state = OPEN
        self._accepted += 1
        return [OrderAccepted(order.inst, ts, ts_recv, order.client_id, order.venue_id)]

    def canceled(self, order: TrackedOrder, ts: int, ts_recv: int, reason: str) -> list[Event]:
        if order.state == DONE:
            return []
        self._finish(order, ts_recv)
        self._canceled += 1
        return [OrderCanceled(order.inst, ts, ts_recv, order.client_id, reason)]

    def rejected(
        self, order: TrackedOrder, ts: int, ts_recv: int, code: str, reason: str
    ) -> list[Event]:
        """A reject of a pending order; a reject of a live one is reported as a cancel."""
        if order.state == DONE:
            return []
        if order.state == OPEN:
            return self.canceled(order, ts, ts_recv, f"{code}: {reason}")
        self._finish(order, ts_recv)
        self._rejected += 1
        return [OrderRejected(order.inst, ts, ts_recv, order.client_id, code, reason)]

    def on_order(self, w: WireOrder, ts_recv: int) -> list[Event]:
        """An order update from the account stream or from REST. An end that reports more
        filled than the fills passed on is held until they are (see the module doc)."""
        order = self.orders.get(w.external_id)
        if order is None:
            self._foreign += 1
            return []
        self.learn_venue_id(order, str(w.id))
        ts = venue_ns(w.updated_time, ts_recv, "order updatedTime")
        status = w.status
        if status in LIVE_STATUSES:
            if order.state == DONE or order.cancel_wanted:
                self.strays.add(order.client_id)
            return self.accepted(order, ts, ts_recv)
        if status not in ENDED_STATUSES:
            raise MalformedMessageError(
                f"order {w.external_id}: expected a known status, found {status!r}"
            )
        if order.state == DONE:
            return []
        sr = w.status_reason
        reason = "filled" if status == "FILLED" else sr if sr and sr != "NONE" else status
        end = HeldEnd(status, reason, ts, self._venue_filled(order, w), ts_recv)
        if order.filled < end.venue_filled:
            self._hold(order, end)
            return []
        return self._end_events(order, end, ts_recv)

    def _venue_filled(self, order: TrackedOrder, w: WireOrder) -> int:
        """Lots the venue says ``w``'s order filled: all of it when FILLED; its ``filledQty``
        otherwise (0 when absent). A ``filledQty`` that is not a whole number of lots is read
        as all of it (the end then waits for every fill, or for the reconcile to give it up):
        raising would drop the whole account frame, or end every reconcile, over one field."""
        if w.status == "FILLED":
            return order.size
        if w.filled_qty is None:
            return 0
        try:
            return self.instruments[order.inst].size_to_lots(w.filled_qty)
        except ValueError as exc:
            log.warning("extended order %s: filledQty %r unreadable (%s); taken as the whole "
                        "order", w.external_id, w.filled_qty, exc)
            return order.size

    def _hold(self, order: TrackedOrder, end: HeldEnd) -> None:
        """Hold ``order``'s end until its fills are seen; a repeated end keeps the first one
        (raising what the venue reports filled, should a later update report more)."""
        held = order.end
        if held is not None:
            held.venue_filled = max(held.venue_filled, end.venue_filled)
            return
        order.end = end
        self.ends_held[order.client_id] = order
        self._held += 1
        if self.on_held is not None:
            self.on_held(f"order {order.client_id} {end.status} with {end.venue_filled} lots "
                         f"filled, {order.filled} seen")

    def _end_events(
        self, order: TrackedOrder, end: HeldEnd, ts_recv: int, given_up: bool = False
    ) -> list[Event]:
        """The terminal event of ``end``: none for FILLED (its last fill ended it), unless
        ``given_up`` (its fills were not found): then a cancel, so that the engine stops
        counting the order."""
        note = ", fills not seen" if given_up else ""
        if end.status == "FILLED":
            if given_up:
                return self.canceled(order, end.ts, ts_recv, "reconcile: filled, fills not seen")
            if order.filled >= order.size:
                self._finish(order, ts_recv)
            return []
        if end.status == "REJECTED":
            return self.rejected(
                order, end.ts, ts_recv, end.reason, f"order {order.venue_id} REJECTED{note}"
            )
        reason = f"reconcile: {end.reason}{note}" if given_up else end.reason
        return self.canceled(order, end.ts, ts_recv, reason)

    def give_up_end(self, order: TrackedOrder, ts_recv: int) -> list[Event]:
        """The reconcile's last resort for an end held since before it read the venue's
        trades, whose fills were not among them: emit the terminal event now, saying so (the
        venue's position, which the reconcile reads, then sets the engine's right)."""
        end = order.end
        if end is None or order.state == DONE:
            return []
        self._given_up += 1
        return self._end_events(order, end, ts_recv, given_up=True)

    def take_strays(self) -> set[str]:
        """The strays flagged so far (see ``strays``), forgotten here."""
        strays = self.strays
        self.strays = set()
        return strays

    def on_trade(self, w: WireTrade, ts_recv: int, reread: bool = False) -> list[Event]:
        """One of our fills, from the account stream or (``reread``) from a REST reconcile;
        one already passed on is dropped."""
        trade_id = str(w.id)
        if trade_id in self._seen_trades:
            if reread:
                self._reread += 1
            else:
                self._dup_fills += 1
            return []
        order = self.orders.get(w.external_order_id or "") or self._by_venue_id.get(
            str(w.order_id)
        )
        if order is None:
            self._foreign += 1
            return []
        inst = self.instruments[order.inst]
        side = SIDES.get(w.side)
        if side is None:
            raise MalformedMessageError(
                f"trade {trade_id}: expected side BUY or SELL, found {w.side!r}"
            )
        try:
            price = inst.price_to_ticks(w.price)
            size = inst.size_to_lots(w.qty)
            fee = inst.quote_to_nanos(w.fee)
        except ValueError as exc:
            raise MalformedMessageError(f"trade {trade_id}: {exc}") from None
        self._remember_trade(trade_id)
        ts = venue_ns(w.created_time, ts_recv, "trade createdTime")
        fill = Fill(
            order.inst, ts, ts_recv, order.client_id, side, price, size, fee,
            not w.is_taker, trade_id,
        )
        order.filled += size
        self._fills += 1
        if order.state == DONE:
            # after its terminal event (a cancel raced the match): the position moved all the
            # same, so the fill is passed on; the ledger books fills of finished orders too
            self._late_fills += 1
            return [fill]
        if order.filled >= order.size:
            self._finish(order, ts_recv)
            return [fill]
        if order.state == PENDING:
            order.state = OPEN
        end = order.end
        if end is not None and order.filled >= end.venue_filled:
            # the last fill the venue counted before the order's end: the end follows it
            return [fill, *self._end_events(order, end, ts_recv)]
        return [fill]

    def may_be_ours(self, w: WireTrade) -> bool:
        """Whether a trade ``on_trade`` matched to no order may still be one of ours: its id is
        new, and a place of ours on its market has no venue id yet. The venue names the order
        of a trade by its own id (its trade messages need not carry our external id), which we
        learn from the place's answer or the order's first update; a fill that comes before both
        (an order that trades at once) cannot be matched yet."""
        if str(w.id) in self._seen_trades:
            return False
        if self.orders.get(w.external_order_id or "") or self._by_venue_id.get(str(w.order_id)):
            return False
        return any(o.inst == w.market and not o.venue_id for o in self._live.values())

    def _remember_trade(self, trade_id: str) -> None:
        seen = self._seen_trades
        seen[trade_id] = None
        if len(seen) > _SEEN_TRADES_KEPT:
            seen.popitem(last=False)

    def statistics(self) -> TrackerStatistics:
        live = self.live()
        return TrackerStatistics(
            tracked=len(self.orders),
            pending=sum(1 for o in live if o.state == PENDING),
            open=sum(1 for o in live if o.state == OPEN),
            accepted=self._accepted,
            canceled=self._canceled,
            rejected=self._rejected,
            fills=self._fills,
            duplicate_fills=self._dup_fills,
            fills_reread=self._reread,
            late_fills=self._late_fills,
            foreign_updates=self._foreign,
            forgotten=self._forgotten,
            ends_held=self._held,
            ends_given_up=self._given_up,
        )
