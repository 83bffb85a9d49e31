"""Reconciliation: what the venue's REST says about our orders, fills, positions and balance.

Run at start-up, after the account stream reconnects and periodically. It brings the tracker in
line with the venue so that no order is orphaned and none is double-counted:

- an open order we placed but never saw acknowledged → ``OrderAccepted``;
- fills we missed (trade ids not seen yet) → ``Fill``, those of a place still in flight too (an
  order filled before the answer to its place came back: looked up by external id);
- an order we think is live but the venue no longer lists → looked up by id (or external id)
  and closed with the venue's verdict (``OrderCanceled`` / ``OrderRejected``), after its fills:
  when the venue counts fills of it that we have not seen, the verdict waits for them (the
  tracker's ``ends_held``; the next run reads the venue's trades again), and only a background
  run that starts once the verdict has waited ``give_up_after_ns``, and whose trades lack
  them too, gives them up and passes the verdict on saying so ("fills not seen"; the one-shot
  start-up and shutdown runs give up at once, also when they fail): the positions then set the
  engine's right; a place whose
  outcome was unknown and that the venue does not know (yet) is first sent again with the same
  signed body (``settle_place``), never declared gone while a held copy may still land, unless
  a cancel (a CancelAll) went out after it: then it is declared canceled and never sent again;
- an open order on our markets that this session did not place → canceled when
  ``cancel_unknown_orders`` is on; with it off, only one whose external id is a live session's
  (``mmcore.client_ids.is_live_session_id``: a stale order of an earlier session of ours);
- an open order whose cancel (or cancel-all) failed or had an unknown outcome → canceled again;
  ``cancels_wanted`` counts those still resting after the call failed once more (the adapter
  then reconciles again soon instead of waiting for the next period);
- one of our orders working at the venue after the engine was told it ended (a place reported
  not found, its outcome known, whose copy landed later), or seen working by the stream with a
  cancel wanted (a place that landed after a cancel-all): the tracker's ``strays`` → canceled;
- positions and balance → ``Position`` (0 for markets without one; with the venue's entry
  price, so a restart values a position it finds at what it cost) and ``Balance``. In a
  background run (``confirm``) a position that differs from the one the adapter has told the
  engine is not passed on at once: a fill between the run's trades read and its positions read
  is in the position while its TRADE frame may still be on its way, and the position would then
  count it before the frame counts it again (and book it at the position's average cost). The
  run after it (``CONFIRM_AFTER_S`` later) passes the venue's position on if it still differs.

Events are handed to ``emit`` the moment the tracker transitions, so they interleave correctly
with the stream's events for the same orders.

Its cancels, and the places ``settle_place`` resends, are the adapter's own order requests: once
the REST client is paced they pay from the runner's rate budget, waiting for it when it is spent
(``adapters.extended.rest``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from x10.models.balance import BalanceModel
from x10.models.order import OpenOrderModel
from x10.models.position import PositionModel
from x10.models.trade import AccountTradeModel

from adapters.extended.errors import ExtendedError, ExtendedVenueError
from adapters.extended.normalize import Normalizer
from adapters.extended.rest import ExtendedRest
from adapters.extended.tracker import DONE, PENDING, OrderTracker, TrackedOrder
from adapters.extended.wire import WireBalance, WireOrder, WirePosition, WireTrade
from mmcore.client_ids import is_live_session_id
from mmcore.events import Event, Position
from mmcore.instrument import Instrument
from mmcore.venue import Clock

__all__ = ["Reconciler", "wire_balance", "wire_order", "wire_position", "wire_trade"]

log = logging.getLogger(__name__)

Emit = Callable[[list[Event]], None]

CONFIRM_AFTER_S = 1.0
"""How soon a background reconcile runs again to confirm a position that differed from the
engine's (see the module doc), or to look again for the fills an order's end waits for."""
GIVE_UP_AFTER_NS = 5_000_000_000
"""Default of ``Reconciler.give_up_after_ns``."""
GIVE_UP_FLOOR_NS = 2_000_000_000
"""The least ``give_up_after_ns`` the adapter sets, whatever ``position_hold_s`` says (0 passes a
held position on at once): a trade overtaken by its order's end needs a moment to arrive, and
the run the held end asks for at once must not give it up."""


def wire_order(m: OpenOrderModel) -> WireOrder:
    return WireOrder(
        id=m.id,
        external_id=m.external_id,
        market=m.market,
        side=str(m.side),
        status=str(m.status),
        qty=str(m.qty),
        status_reason=str(m.status_reason) if m.status_reason is not None else None,
        price=str(m.price) if m.price is not None else None,
        filled_qty=str(m.filled_qty) if m.filled_qty is not None else None,
        type=str(m.type),
        updated_time=m.updated_time,
    )


def wire_trade(m: AccountTradeModel) -> WireTrade:
    return WireTrade(
        id=m.id,
        market=m.market,
        order_id=m.order_id,
        side=str(m.side),
        price=str(m.price),
        qty=str(m.qty),
        fee=str(m.fee),
        is_taker=m.is_taker,
        created_time=m.created_time,
        trade_type=str(m.trade_type),
    )


def wire_position(m: PositionModel) -> WirePosition:
    return WirePosition(
        market=m.market,
        side=str(m.side),
        size=str(m.size),
        status=str(m.status),
        updated_at=m.updated_at,
        open_price=str(m.open_price),
    )


def wire_balance(m: BalanceModel) -> WireBalance:
    return WireBalance(
        collateral_name=m.collateral_name,
        equity=str(m.equity),
        available_for_trade=str(m.available_for_trade),
        updated_time=m.updated_time,
    )


class Reconciler:
    """Compares REST truth with the tracker and emits the difference as events."""

    def __init__(
        self,
        rest: ExtendedRest,
        tracker: OrderTracker,
        normalizer: Normalizer,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        cancel_unknown: bool,
    ) -> None:
        self.positions_read_ns = 0
        """When the last run began to read the venue's positions (the clock's ns): a frame
        received before it is older than what the run read."""
        self._rest = rest
        self._tracker = tracker
        self._norm = normalizer
        self._instruments = instruments
        self._clock = clock
        self._cancel_unknown = cancel_unknown
        self.runs = 0
        self.orphans_canceled = 0
        self.orphans_left: set[str] = set()
        """External ids of the orders the last run should have canceled as orphans but whose
        cancel failed: they may still work (the adapter keeps the dead man's switch armed)."""
        self.cancels_resent = 0
        self.strays_canceled = 0
        self.cancels_wanted = 0
        self.told: Callable[[str], int] | None = None
        """Set by the adapter: the position of a market as the engine was told it so far
        (its fills and positions folded); with it, background runs confirm positions."""
        self.unconfirmed: dict[str, int] = {}
        """Markets whose venue position differed from the engine's at the last background run,
        with that position; the next run passes it on if it still differs."""
        self.give_up_after_ns = GIVE_UP_AFTER_NS
        """How long an order's end waits for fills the venue counted before a background run
        whose trades lack them gives it up (the adapter sets it to ``position_hold_s``: the
        same wait for the same frames)."""
        self.settle_place: Callable[[TrackedOrder], Awaitable[bool]] | None = None
        """Set by the adapter when it places orders (``Executor.settle``): a pending order the
        venue does not list is settled by resending its place, when its outcome was unknown,
        before any NOT_FOUND verdict."""

    async def run(
        self,
        emit: Emit,
        fills_passed: Callable[[], None] | None = None,
        *,
        confirm: bool = False,
    ) -> None:
        """One reconcile; ``fills_passed`` is called once every fill this run found in the
        venue's trades has been emitted (the adapter then releases the positions it held back
        since a gap: ``adapters.extended.position_hold``); ``confirm``: a background run, whose
        positions are confirmed before they are passed on (see the module doc)."""
        try:
            await self._run(emit, fills_passed, confirm)
        except BaseException:
            if not confirm:  # no run follows a one-shot one (the shutdown's last): nothing to
                self._give_up_ends(None, emit)  # wait for, and no new order takes the room
            raise

    async def _run(
        self, emit: Emit, fills_passed: Callable[[], None] | None, confirm: bool
    ) -> None:
        symbols = list(self._instruments)
        rest = self._rest
        tracker = self._tracker
        # ends held long enough before this run reads the venue's trades: given up if these
        # trades lack their fills too (one held just now, by the stream, waits for later runs:
        # the trade that overtook its order update may not be listed yet)
        due = self._clock() - self.give_up_after_ns
        held_before = {c for c, o in tracker.ends_held.items() if o.end and o.end.held_ns <= due}
        opens = await rest.open_orders(symbols)
        trades: list[AccountTradeModel] = []
        for sym in symbols:  # each market's latest: a busy one never pushes another's out
            trades += await rest.trades([sym])
        self.runs += 1
        listed: set[str] = set()
        unknown: list[OpenOrderModel] = []
        for m in opens:
            if m.market not in self._instruments:
                continue
            if tracker.get(m.external_id) is None:
                unknown.append(m)
                continue
            listed.add(m.external_id)
            emit(tracker.on_order(wire_order(m), self._clock()))
        trades = sorted(trades, key=lambda t: (t.created_time, t.id))
        unmatched: list[AccountTradeModel] = []
        for t in trades:
            fills = tracker.on_trade(wire_trade(t), self._clock(), reread=True)
            if fills:
                emit(fills)
            elif not tracker.seen_trade(str(t.id)):
                unmatched.append(t)
        if unmatched:
            await self._in_flight_fills(unmatched, emit)
        for order in tracker.live():
            if order.client_id in listed or order.in_flight or order.end is not None:
                continue  # an end held already has the venue's verdict: it waits for fills
            await self._resolve(order, trades, emit)
        self._give_up_ends(held_before if confirm else None, emit)
        if fills_passed is not None:
            fills_passed()
        await self._cancel_again(listed, tracker.take_strays())
        self.orphans_left = set()
        for m in unknown:
            # a live session's id is ours, from a session that ended without canceling it (or
            # one of this session's forgotten by the tracker): canceled whatever the setting
            if not (self._cancel_unknown or is_live_session_id(m.external_id)):
                continue
            log.warning(
                "extended reconcile: canceling order %s (%s) this session did not place",
                m.id,
                m.external_id,
            )
            try:
                await rest.cancel_id(m.id, paid=False)
                self.orphans_canceled += 1
            except ExtendedError as exc:
                self.orphans_left.add(m.external_id)
                log.warning("extended reconcile: cancel of orphan %s failed: %s", m.id, exc)
        await self._account(symbols, emit, confirm)

    async def _in_flight_fills(self, unmatched: list[AccountTradeModel], emit: Emit) -> None:
        """Trades of an order we do not know by venue id: of another session, or of one of our
        places still in flight, which filled before its answer came back (an order filled at
        once is in no open-orders list, and REST trades name orders by venue id only). Each
        such place, on a market with such a trade, is looked up by its external id (whatever
        the trade's time: the venue's clock cannot be compared with ours, which may run ahead
        of it; places in flight are few, at most ``max_in_flight``); the fills of one the venue
        knows are passed on now, before ``fills_passed``, so that no position is released
        without them."""
        tracker = self._tracker
        for order in tracker.live():
            if not order.in_flight or order.venue_id:
                continue
            if not any(t.market == order.inst for t in unmatched):
                continue
            m = await self._rest.order_by_external_id(order.client_id)
            if m is not None:
                tracker.learn_venue_id(order, str(m.id))
            if not order.venue_id:
                continue  # not at the venue (yet): none of these trades is its
            now = self._clock()
            for t in unmatched:
                if str(t.order_id) == order.venue_id:
                    emit(tracker.on_trade(wire_trade(t), now, reread=True))

    async def _cancel_again(self, listed: set[str], strays: set[str]) -> None:
        """Send again the cancels the venue did not confirm taking, for orders still resting;
        cancel the strays (orders working at the venue though they must not: see
        ``OrderTracker.strays``)."""
        wanted = 0
        for order in self._tracker.live():
            if not (order.cancel_wanted and order.client_id in listed):
                continue
            strays.discard(order.client_id)
            log.warning("extended reconcile: %s still rests after its cancel failed; canceling "
                        "again", order.client_id)
            try:
                await self._rest.cancel_external(order.client_id, paid=False)
                self.cancels_resent += 1
            except ExtendedError as exc:
                wanted += 1
                log.warning("extended reconcile: cancel of %s failed again: %s", order.client_id,
                            exc)
        for client_id in sorted(strays):
            log.warning("extended reconcile: %s works at the venue after its terminal event "
                        "or a cancel; canceling it", client_id)
            try:
                await self._rest.cancel_external(client_id, paid=False)
                self.strays_canceled += 1
            except ExtendedVenueError as exc:  # refused: not open any more (or never was)
                log.info("extended reconcile: cancel of stray %s refused: %s", client_id, exc)
            except ExtendedError as exc:
                wanted += 1
                self._tracker.strays.add(client_id)  # the next run tries again
                log.warning("extended reconcile: cancel of stray %s failed: %s", client_id, exc)
        self.cancels_wanted = wanted

    async def _resolve(
        self, order: TrackedOrder, trades: list[AccountTradeModel], emit: Emit
    ) -> None:
        """An order we think is live that the open-orders list lacks: ask for it directly.
        ``trades``: the venue's latest fills, which name orders by venue id only; those of an
        order whose venue id is learned here are passed on now (before its verdict)."""
        rest = self._rest
        found: OpenOrderModel | None = None
        if order.venue_id:
            found = await rest.order_by_id(int(order.venue_id))
        else:
            found = await rest.order_by_external_id(order.client_id)
        now = self._clock()
        if found is None:
            if order.in_flight or order.state == DONE:
                return  # a call for it started meanwhile (another run settling it): its answer
                # decides; or the stream ended it while we looked
            if order.state == PENDING and order.cancel_wanted:
                # a CancelAll (or cancel) went out after its place: never sent again, even at
                # shutdown; a copy that lands later works as a stray and is canceled when seen
                emit(self._tracker.canceled(order, now, now, "reconcile: canceled before the "
                                            "venue listed it"))
                return
            settle = self.settle_place
            if order.state == PENDING and settle is not None and await settle(order):
                return  # sent again: the venue took it, has it, or refused it with a reason
            if order.state == PENDING:
                emit(
                    self._tracker.rejected(
                        order, now, now, "NOT_FOUND", "the venue has no order with this id"
                    )
                )
            else:
                emit(self._tracker.canceled(order, now, now, "reconcile: not found at venue"))
            return
        if not order.venue_id:
            self._tracker.learn_venue_id(order, str(found.id))
            venue_id = order.venue_id
            for t in trades:
                if str(t.order_id) == venue_id:
                    emit(self._tracker.on_trade(wire_trade(t), now, reread=True))
        emit(self._tracker.on_order(wire_order(found), now))

    def _give_up_ends(self, held_before: set[str] | None, emit: Emit) -> None:
        """The last resort for ends waiting for fills this run's trades did not have either:
        those held at least ``give_up_after_ns`` before the run read them (``held_before``;
        every one when None, in a one-shot run, or when it failed) are passed on, "fills not
        seen". Others wait for a later run (the adapter runs again while any waits)."""
        tracker = self._tracker
        for order in list(tracker.ends_held.values()):
            if held_before is not None and order.client_id not in held_before:
                continue
            end = order.end
            assert end is not None
            log.warning(
                "extended reconcile: %s %s at the venue with %d lots filled, only %d seen; "
                "fills not found, ending it",
                order.client_id, end.status, end.venue_filled, order.filled,
            )
            now = self._clock()
            emit(tracker.give_up_end(order, now))

    async def _account(self, symbols: list[str], emit: Emit, confirm: bool) -> None:
        self.positions_read_ns = self._clock()
        positions = await self._rest.positions(symbols)
        balance = await self._rest.balance()
        now = self._clock()
        found: dict[str, Position] = {}
        for p in positions:
            ev = self._norm.position(wire_position(p), now)
            if ev is not None:
                found[ev.inst] = ev
        out: list[Event] = []
        for sym in symbols:
            # a market the venue did not list is flat, at no venue time (0: the host's clock
            # cannot be compared with the venue's); against a held frame, a reconcile's
            # position counts by when it was read (``positions_read_ns``, ``PositionHold.offer``)
            ev = found.get(sym) or Position(sym, 0, now, 0)
            if confirm and not self._confirmed(ev):
                continue
            out.append(ev)
        if balance is not None:
            out.append(self._norm.balance(wire_balance(balance), now))
        emit(out)

    def _confirmed(self, ev: Position) -> bool:
        """True when ``ev`` may be passed on: it agrees with what the engine was told, or it
        disagreed at the last run too (then it is the venue's word, not a frame in flight)."""
        if self.told is None:
            return True
        engine = self.told(ev.inst)
        before = self.unconfirmed.pop(ev.inst, None)
        if engine == ev.size or before is not None:
            return True
        self.unconfirmed[ev.inst] = ev.size
        log.info(
            "extended reconcile: venue position %d on %s, the engine has %d; passed on if it "
            "still differs at the next run", ev.size, ev.inst, engine
        )
        return False
