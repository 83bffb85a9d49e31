"""Carrying out commands at Extended: place, cancel, cancel-all.

Failures come back as events, never as exceptions: a refusal of a place becomes
``OrderRejected(code=<venue code>, reason=<venue text>)``. A place is signed once per client id
and every retry resends that same body (kept until the venue has answered the place); the venue's
1134 (duplicate external id) therefore means "already placed" and is treated as an acceptance
still to be confirmed by the stream. When a place
or cancel keeps failing transiently its fate is unknown, so a reconciliation is requested.

The first request of a command the runner's sender started was paid for from its rate budget by
the sender; a place resent by ``settle`` is the adapter's own, paid for by the REST client when
paced (``adapters.extended.rest``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor as Executor_

import msgspec
from x10.errors import SdkError
from x10.models.market import MarketModel
from x10.models.order import NewOrderModel

from adapters.extended.credentials import redact_hex
from adapters.extended.errors import ExtendedUnavailableError, ExtendedVenueError
from adapters.extended.rest import ExtendedRest
from adapters.extended.signer import OrderSigner
from adapters.extended.tracker import DONE, PENDING, OrderTracker, TrackedOrder
from mmcore.commands import Cancel, CancelAll, Place
from mmcore.events import Event, OrderRejected
from mmcore.instrument import Instrument
from mmcore.venue import Clock

__all__ = ["DUPLICATE_ORDER", "ExecutionStatistics", "Executor"]

log = logging.getLogger(__name__)

DUPLICATE_ORDER = "1134"
"""Extended's code for "an order with this external id exists"."""


class ExecutionStatistics(msgspec.Struct, frozen=True):
    """Counters of command execution."""

    places: int
    place_retries_deduplicated: int
    rejects: int
    cancels: int
    cancel_alls: int
    unknown_outcomes: int


class Executor:
    """Turns ``Place``, ``Cancel`` and ``CancelAll`` into REST calls, and outcomes into events."""

    def __init__(
        self,
        rest: ExtendedRest,
        signer: OrderSigner,
        tracker: OrderTracker,
        instruments: Mapping[str, Instrument],
        markets: Mapping[str, MarketModel],
        clock: Clock,
        emit: Callable[[list[Event]], None],
        request_reconcile: Callable[[str], None],
        pool: Executor_ | None = None,
        cancel_unknown: bool = True,
    ) -> None:
        self._rest = rest
        self._signer = signer
        self._tracker = tracker
        self._instruments = instruments
        self._markets = markets
        self._clock = clock
        self._emit = emit
        self._request_reconcile = request_reconcile
        self._pool = pool  # signs orders off the event loop; None = asyncio's default pool
        self._cancel_unknown = cancel_unknown
        self._signed: dict[str, NewOrderModel] = {}
        # a body kept for a resend (unknown outcome) goes once the venue names the order: its
        # outcome is known then, and the tracker may forget the order before the session ends
        tracker.on_listed = self.forget
        # and once the tracker forgets the order (ended a while ago): one the reconcile ended
        # before the venue ever listed it kept its body until the session ended (~6 KB each)
        tracker.on_forgotten = self.forget
        self._places = 0
        self._dups = 0
        self._rejects = 0
        self._cancels = 0
        self._cancel_alls = 0
        self._unknown = 0

    def _reject(self, cmd: Place | TrackedOrder, code: str, reason: str) -> None:
        now = self._clock()
        self._rejects += 1
        order = self._tracker.get(cmd.client_id)
        if order is None:
            self._emit([OrderRejected(cmd.inst, now, now, cmd.client_id, code, reason)])
        else:
            self._emit(self._tracker.rejected(order, now, now, code, reason))
        self._signed.pop(cmd.client_id, None)

    async def place(self, cmd: Place) -> None:
        inst = self._instruments.get(cmd.inst)
        market = self._markets.get(cmd.inst)
        if inst is None or market is None:
            self._reject(cmd, "UNKNOWN_MARKET", f"market {cmd.inst!r} was not started")
            return
        existing = self._tracker.get(cmd.client_id)
        if existing is not None and (existing.state != PENDING or existing.in_flight):
            log.info("extended place %s: already %s; not sent again", cmd.client_id, existing.state)
            return
        order = self._tracker.placing(cmd)
        order.in_flight = True  # until the call returns (or is cancelled): reconciles skip it
        try:
            await self._sign_and_send(cmd, inst, market, order)
        finally:
            order.in_flight = False

    async def _sign_and_send(
        self, cmd: Place, inst: Instrument, market: MarketModel, order: TrackedOrder
    ) -> None:
        signed = self._signed.get(cmd.client_id)
        if signed is None:
            try:
                prepared = self._signer.prepare(cmd, inst, market, self._clock())
                signed = await asyncio.get_running_loop().run_in_executor(self._pool, prepared)
            except (SdkError, ValueError, AssertionError) as exc:
                # the SDK's messages may quote the key it was given: hex runs are withheld
                self._reject(cmd, "SIGNING", f"{type(exc).__name__}: {redact_hex(str(exc))}")
                return
            self._signed[cmd.client_id] = signed
        await self._send(signed, order, True)

    async def _send(self, signed: NewOrderModel, order: TrackedOrder, paid: bool) -> None:
        """Post a signed place and act on the answer (a first send, or a resend by ``settle``);
        ``paid``: the sender paid for the request (not for a resend)."""
        client_id = order.client_id
        self._places += 1
        try:
            placed = await self._rest.place(signed, paid=paid)
        except ExtendedVenueError as exc:
            if exc.code == DUPLICATE_ORDER:
                self._dups += 1
                self._signed.pop(client_id, None)
                log.info("extended place %s: venue already has it (1134)", client_id)
            else:
                self._reject(order, exc.code, exc.message)
        except ExtendedUnavailableError as exc:
            # the signed body is kept: sent again, it can only be refused as a duplicate (1134)
            self._unknown += 1
            log.warning("extended place %s: outcome unknown (%s); reconciling", client_id, exc)
            self._request_reconcile(f"place {client_id} outcome unknown")
        else:
            # the venue has it: its body is never needed again (kept, ~6 KB a place would add
            # up over a session until the process runs out of memory)
            self._signed.pop(client_id, None)
            if placed is not None:
                self._tracker.learn_venue_id(order, str(placed.id))

    def unsettled(self) -> list[str]:
        """Client ids of places whose outcome is unknown: every attempt failed on the way (a
        timeout, a 5xx) and the venue has not listed them since (``forget`` drops a body when
        it does, or when the tracker forgets the order, ``done_kept_ns`` after it ended: a
        copy still on its way lands long before). A copy may still land."""
        return sorted(self._signed)

    def forget(self, client_id: str) -> None:
        """The venue listed ``client_id`` (its venue id learned, or found at close): its body
        is not needed any more."""
        self._signed.pop(client_id, None)

    async def settle(self, order: TrackedOrder) -> bool:
        """A place whose outcome is unknown and that the venue does not list: send its signed
        body again. The venue then takes it, or answers that it has it (1134), or refuses it
        with a reason; the order is never declared gone while a copy held on its way may still
        land (the engine would free its exposure and quote again beside it). False, and nothing
        sent, when ``order`` is not such a place (no body kept, or its call still running)."""
        signed = self._signed.get(order.client_id)
        if signed is None or order.in_flight:
            return False
        log.warning("extended place %s: not listed at the venue after an unknown outcome; "
                    "sending it again to settle it", order.client_id)
        order.in_flight = True
        try:
            await self._send(signed, order, False)
        finally:
            order.in_flight = False
        return True

    async def cancel(self, cmd: Cancel) -> None:
        order = self._tracker.get(cmd.client_id)
        if order is None or order.state == DONE or order.end is not None:
            # (an end held for its fills: the venue has ended the order already)
            log.debug("extended cancel %s: not live here; nothing to do", cmd.client_id)
            return
        self._cancels += 1
        try:
            await self._rest.cancel_external(cmd.client_id)
        except ExtendedVenueError as exc:
            log.info("extended cancel %s refused: %s %s", cmd.client_id, exc.code, exc.message)
            order.cancel_wanted = True
            self._request_reconcile(f"cancel {cmd.client_id} refused")
        except ExtendedUnavailableError as exc:
            self._unknown += 1
            log.warning("extended cancel %s: outcome unknown (%s)", cmd.client_id, exc)
            order.cancel_wanted = True
            self._request_reconcile(f"cancel {cmd.client_id} outcome unknown")

    async def cancel_all(self, cmd: CancelAll) -> None:
        """Cancel our orders on ``cmd.inst`` (on every market of the session when empty).

        With ``cancel_unknown_orders`` the session's markets are ours: one mass cancel of those
        markets. Without it, orders someone else placed there must stay: the mass cancel names
        our orders by external id instead. Never the whole account (the venue's ``cancelAll``):
        orders on other markets are not this session's."""
        self._cancel_alls += 1
        markets = [cmd.inst] if cmd.inst else sorted(self._instruments)
        signed = self._signed
        ours: list[str] = []
        for order in self._tracker.live():
            if cmd.inst and order.inst != cmd.inst:
                continue
            ours.append(order.client_id)
            # a place whose call is still running or ended with an unknown outcome may land
            # after the mass cancel: if it does, it is canceled when seen working. (One the venue
            # answered is covered by the mass cancel, even if its stream ack is still on the way.)
            if order.state == PENDING and (order.in_flight or order.client_id in signed):
                order.cancel_wanted = True
        try:
            if self._cancel_unknown and markets:
                await self._rest.mass_cancel(markets)
            elif ours:
                await self._rest.mass_cancel_external(ours)
        except (ExtendedVenueError, ExtendedUnavailableError) as exc:
            self._unknown += 1
            log.warning("extended cancel-all %s failed: %s; the reconcile cancels order by order",
                        cmd.inst or "(all)", exc)
            for order in self._tracker.live():
                if not cmd.inst or order.inst == cmd.inst:
                    order.cancel_wanted = True
            self._request_reconcile("cancel-all failed")

    def statistics(self) -> ExecutionStatistics:
        return ExecutionStatistics(
            places=self._places,
            place_retries_deduplicated=self._dups,
            rejects=self._rejects,
            cancels=self._cancels,
            cancel_alls=self._cancel_alls,
            unknown_outcomes=self._unknown,
        )
