"""The Extended venue adapter: ``mmcore.venue.VenueAdapter`` over the x10 SDK and aiohttp.

REST (markets, fees, orders, account) and order signing go through the SDK; the v1 streams are
read with our own aiohttp client (``stream.Subscription``) because the SDK's stream clients break
on websockets 15. Per market: ``orderbooks`` (gap-checked, resubscribed on a gap or a ``Resync``),
``publicTrades``, ``funding`` and ``prices/mark``; plus the private ``account`` stream (gap-checked
too: a lost frame may have held an order update or a fill, so a gap asks for a reconcile). Every
event is stamped with the runner's clock and queued for ``events()`` in arrival order. Besides the
streams, REST reads: the reconcile (``adapters.extended.reconcile``: orders, fills, positions and
balance the streams missed) and the account's funding payments, which no stream carries
(``adapters.extended.funding``: ``FundingPayment``), read at every reconcile.

``public_only=True`` needs no credentials: market streams only, no account stream, no dead man's
switch, no reconciliation, zero fee rates; a ``Place`` is refused with ``OrderRejected`` (code
``PUBLIC_ONLY``). ``mm run --dry-run`` uses it, with the simulated venue executing the commands.

``attach(put)`` makes the adapter hand its events straight to the live runner's merged queue
instead of through ``events()`` (one asyncio hop less per frame). ``pace_requests(budget, clock)``
gives it the runner's rate budget (the one the sender spends from): from then on every order
request the sender did not pay for (REST retries, the reconcile's cancels, resent places) spends
from it too (``adapters.extended.rest``), so the venue never sees more than the configured
limits. ``set_probe`` installs a
``LatencyProbe`` (benchmarks only): told of every socket read before the message is handled and of
every command as ``execute`` is entered; off, it costs one ``None`` check per frame and command.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import aiohttp
import msgspec
from x10.core.stark_account import StarkPerpetualAccount
from x10.models.market import MarketModel
from x10.utils.http import USER_AGENT

from adapters.extended.backoff import Backoff
from adapters.extended.book_feed import BookFeed
from adapters.extended.config import ExtendedConfig
from adapters.extended.credentials import Secret, account_id, load_credentials
from adapters.extended.dead_man import DeadMansSwitch
from adapters.extended.errors import ExtendedError, ExtendedMarketError
from adapters.extended.execution import ExecutionStatistics, Executor
from adapters.extended.funding import FundingReader, FundingStatistics
from adapters.extended.late_places import cancel_late_places
from adapters.extended.markets import VENUE, instrument_from_market, sdk_config
from adapters.extended.normalize import MS, MalformedMessageError, Normalizer
from adapters.extended.position_hold import PositionHold
from adapters.extended.reconcile import CONFIRM_AFTER_S, GIVE_UP_FLOOR_NS, Reconciler
from adapters.extended.rest import ExtendedRest, RestStatistics
from adapters.extended.signer import OrderSigner
from adapters.extended.stream import Subscription, SubscriptionStatistics
from adapters.extended.tracker import OrderTracker, TrackerStatistics
from mmcore.commands import Cancel, CancelAll, Command, Place, Resync
from mmcore.events import (
    BOOK_STREAM,
    ConnectionState,
    Event,
    Fill,
    OrderRejected,
    Position,
)
from mmcore.instrument import Instrument
from mmcore.ratelimit import RateBudget
from mmcore.task_stop import stop_tasks
from mmcore.venue import Clock

__all__ = ["PUBLIC_ONLY", "AdapterStatistics", "ExtendedAdapter", "LatencyProbe"]

log = logging.getLogger(__name__)

_CLOSED = object()

PUBLIC_ONLY = "PUBLIC_ONLY"
"""Reject code of a ``Place`` sent to an adapter started without credentials."""


class LatencyProbe(Protocol):
    """Benchmark instrumentation: socket reads and ``execute`` entries, as they happen."""

    def on_read(self, stream: str) -> None:
        """A text frame was read from ``stream``'s socket and is about to be handled."""
        ...

    def on_execute(self, command: Command) -> None:
        """``execute(command)`` was entered (before any signing or REST)."""
        ...


class AdapterStatistics(msgspec.Struct, frozen=True):
    """Everything the adapter counts, for the dashboard and reports."""

    events: int
    malformed: int
    book_gaps: int
    resyncs: int
    reconciles: int
    dead_man_arms: int
    account_gaps: int
    rest: RestStatistics
    execution: ExecutionStatistics
    tracker: TrackerStatistics
    streams: list[SubscriptionStatistics]
    reconcile_errors: int = 0
    """Reconcile runs that failed with an unexpected error (logged with its traceback)."""
    position_holds: int = 0
    """Times the venue's positions were held back after an account gap (``position_hold``)."""
    positions_released_late: int = 0
    """Holds that ended by ``position_hold_s`` running out, not by a reconcile."""
    funding_polls: int = 0
    """Reads of the funding payments (``adapters.extended.funding``)."""
    funding_payments: int = 0
    """Funding payments handed on as ``FundingPayment``."""
    funding_failures: int = 0
    """Market reads of the funding payments that failed (read again at the next poll)."""


class ExtendedAdapter:
    """Extended perpetuals through the x10 SDK (REST, signing) and aiohttp (streams)."""

    venue = VENUE

    def __init__(
        self,
        config: ExtendedConfig,
        clock: Clock,
        environ: Mapping[str, str] | None = None,
        *,
        public_only: bool = False,
    ) -> None:
        self.config = config
        self.public_only = public_only
        self.probe: LatencyProbe | None = None
        self._clock = clock
        self._rng = random.Random(config.seed)
        self._sdk = sdk_config(config)
        account: StarkPerpetualAccount | None = None
        self.account_id = ""
        """The account traded (``mmcore.venue``): its vault, ``credentials.account_id``;
        "" when public-only (no account)."""
        if public_only:
            self._api_key = Secret("")
        else:
            creds = load_credentials(config, environ)
            self.account_id = account_id(config, creds)
            self._api_key = creds.api_key
            account = StarkPerpetualAccount(
                vault=creds.vault,
                private_key=creds.stark_private_key.reveal(),
                public_key=creds.stark_public_key,
                api_key=creds.api_key.reveal(),
            )
        self.rest = ExtendedRest(
            self._sdk,
            account,
            self._api_key.reveal(),
            config.rest_retries,
            Backoff(config.rest_backoff_min_s, config.rest_backoff_max_s, self._rng),
            config.rest_timeout_s,
        )
        signer = None
        if account is not None:
            signer = OrderSigner(
                account,
                self._sdk.signing.starknet_domain,
                self._rng,
                config.order_expiry_s,
                config.self_trade_protection,
            )
        self._signer = signer
        self.instruments: dict[str, Instrument] = {}
        self._markets: dict[str, MarketModel] = {}
        self._norm = Normalizer(self.instruments)
        self.tracker = OrderTracker(self.instruments)
        self.tracker.on_held = self._request_reconcile  # an end waits for fills: find lost ones
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._put: Callable[[object], None] = self._queue.put_nowait
        self._reconciler = Reconciler(
            self.rest,
            self.tracker,
            self._norm,
            self.instruments,
            clock,
            config.cancel_unknown_orders,
        )
        self._executor: Executor | None = None
        self._sign_pool: ThreadPoolExecutor | None = None
        if signer is not None:
            # orders are signed off the event loop (see adapters.extended.signer), a few at once
            self._sign_pool = ThreadPoolExecutor(
                max_workers=min(4, os.cpu_count() or 2), thread_name_prefix="extended-sign"
            )
            self._executor = Executor(
                self.rest,
                signer,
                self.tracker,
                self.instruments,
                self._markets,
                clock,
                self._emit,
                self._request_reconcile,
                self._sign_pool,
                config.cancel_unknown_orders,
            )
            self._reconciler.settle_place = self._executor.settle
        self._session: aiohttp.ClientSession | None = None
        self._subs: dict[str, Subscription] = {}
        self._books: dict[str, BookFeed] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._reconcile_wanted = asyncio.Event()
        self._hold = PositionHold(config.position_hold_s)
        self._dead_man: DeadMansSwitch | None = None
        if not public_only and config.dead_man_switch_s:
            self._dead_man = DeadMansSwitch(
                self.rest, config.dead_man_switch_s, config.dead_man_rearm_s
            )
        self._funding: FundingReader | None = None
        if not public_only:
            self._funding = FundingReader(self.rest.funding_history, self._norm, clock)
        self._told: dict[str, int] = {}  # market -> position as the engine was told it
        self._reconciled = False  # the start-up reconcile has run
        self._reconciler.told = self._told_position
        # an order's end waits for its fills as long as a position waits after a gap, and at
        # least GIVE_UP_FLOOR_NS
        self._reconciler.give_up_after_ns = max(
            int(config.position_hold_s * 1e9), GIVE_UP_FLOOR_NS
        )
        self._hold_timer: asyncio.TimerHandle | None = None
        self._account_ups = 0
        self._account_seq = 0  # seq of the account socket's last frame; 0 = none yet
        self._closed = False
        self._settled_at_close: set[str] = set()  # late places found at the venue at close
        self._n_events = 0
        self._n_malformed = 0
        self._n_account_gaps = 0
        self._n_reconcile_errors = 0

    def __repr__(self) -> str:
        return (
            f"ExtendedAdapter(network={self.config.network!r}, "
            f"api={self._sdk.endpoints.api_base_url!r}, markets={sorted(self.instruments)})"
        )

    # ------------------------------------------------------------ VenueAdapter

    async def start(self, symbols: list[str]) -> list[Instrument]:
        if self._funding is not None:  # the session starts now: its funding is counted from here
            self._funding.begin(symbols, self._clock())
        markets = {m.name: m for m in await self.rest.markets(symbols)}
        missing = [s for s in symbols if s not in markets]
        if missing:
            raise ExtendedMarketError(
                f"start: expected markets {symbols}, found none named {missing} at the venue"
            )
        fees = {} if self.public_only else {f.market: f for f in await self.rest.fees(symbols)}
        unpriced = [s for s in symbols if not self.public_only and s not in fees]
        if unpriced:
            # not 0: the ledger would book no fees, and every IOC (the risk gate's exit
            # included) would be signed with a fee cap of 0, which the venue refuses
            raise ExtendedMarketError(
                f"start: expected the account's fee rates for {symbols} from /user/fees, found "
                f"none for {unpriced}"
            )
        for sym in symbols:
            self._markets[sym] = markets[sym]
            self.instruments[sym] = instrument_from_market(markets[sym], fees.get(sym))
        self._session = aiohttp.ClientSession()
        self._open_streams(symbols)
        if not self.public_only:
            if self._dead_man is not None:
                await self._dead_man.arm()
                self._spawn(self._dead_man.keep_armed(), "dead-man")
            self._spawn(self._reconcile_loop(), "reconcile")
        waits = [s.connected.wait() for s in self._subs.values()]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), self.config.rest_timeout_s)
        except asyncio.TimeoutError:
            log.warning("extended start: not every stream connected yet; they keep retrying")
        return [self.instruments[s] for s in symbols]

    async def reconcile(self) -> list[Event]:
        """The start-up and shutdown reconcile: its events are returned, for the caller to
        hand to the engine, the funding payments read since the last poll last (a failed read
        of them is logged, never raised: the next poll reads them again). Positions held since
        an account gap are passed on after its fills.
        A run that fails or is interrupted (the shutdown's timeout) returns nothing: what it
        found so far is emitted instead, as the streams' events are, and then the positions
        still held. The tracker has already marked those trades seen and those orders ended, so
        no later run would find them again (the session must not end without them)."""
        out: list[Event] = []
        self._reconciled = True
        if not self.public_only:

            def fills_passed() -> None:
                out.extend(self._restamped(self._hold.take_all()))

            try:
                await self._reconciler.run(out.extend, fills_passed)
                if self._funding is not None:
                    await self._funding.poll(out.extend)
            except BaseException:
                # in the order found: fills before the positions released after them
                out.extend(self._restamped(self._hold.take_all()))
                self._emit_account(out)
                raise
        for ev in out:
            self._tell(ev)
        return out

    async def events(self) -> AsyncIterator[Event]:
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            yield item  # type: ignore[misc]

    async def execute(self, command: Command) -> None:
        probe = self.probe
        if probe is not None:
            probe.on_execute(command)
        t = type(command)
        executor = self._executor
        if executor is None and t is not Resync:
            self._refuse(command)
        elif t is Place:
            await executor.place(command)  # type: ignore[union-attr, arg-type]
        elif t is Cancel:
            await executor.cancel(command)  # type: ignore[union-attr, arg-type]
        elif t is CancelAll:
            await executor.cancel_all(command)  # type: ignore[union-attr, arg-type]
        elif t is Resync:
            rs: Resync = command  # type: ignore[assignment]
            self._resync(rs.inst, rs.reason or "resync requested")
        else:
            log.error("extended execute: expected a Command, found %s", t.__name__)

    def _refuse(self, command: Command) -> None:
        """Without credentials no order can be sent: a place comes back rejected."""
        log.error("extended (public only): cannot execute %s", type(command).__name__)
        if type(command) is Place:
            place: Place = command
            now = self._clock()
            self._emit(
                [
                    OrderRejected(
                        place.inst, now, now, place.client_id, PUBLIC_ONLY,
                        "adapter started without credentials (public market data only)",
                    )
                ]
            )

    def set_probe(self, probe: LatencyProbe | None) -> None:
        """Install (or with None remove) latency instrumentation; see the module doc."""
        self.probe = probe
        on_read = probe.on_read if probe is not None else None
        for sub in self._subs.values():
            sub.on_read = on_read

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # the background loops end at their next wake-up
        if self._dead_man is not None:
            self._dead_man.stop_rearming()
        await self._stop_tasks()
        if self._hold_timer is not None:
            self._hold_timer.cancel()
        await self._settle_late_places()
        await self._disarm_dead_man()
        for sub in self._subs.values():
            await sub.close()
        if self._session is not None:
            await self._session.close()
        await self.rest.close()
        if self._sign_pool is not None:
            self._sign_pool.shutdown(wait=False, cancel_futures=True)
        self._queue.put_nowait(_CLOSED)

    async def _stop_tasks(self) -> None:
        """Cancel the background tasks and wait for them, at most ``rest_timeout_s``
        (``mmcore.task_stop``; the loops also end on ``_closed``)."""
        timeout = self.config.rest_timeout_s
        failures, running = await stop_tasks(self._tasks, timeout)
        for name, exc in failures:
            log.warning("extended close: task %s had failed", name, exc_info=exc)
        if running:
            log.warning("extended close: %s still running %.1fs after being cancelled; closing "
                        "without them", ", ".join(running), timeout)

    # ------------------------------------------------------------ streams

    def _open_streams(self, symbols: list[str]) -> None:
        assert self._session is not None
        cfg = self.config
        base = self._sdk.endpoints.stream_url
        headers = {"User-Agent": USER_AGENT}
        depth = "?depth=1" if cfg.book_depth == 1 else ""

        def sub(
            name: str,
            url: str,
            handler: Callable[[str], None],
            stale: float | None,
            extra: Mapping[str, str] | None = None,
        ) -> Subscription:
            assert self._session is not None
            s = Subscription(
                name,
                url,
                self._session,
                {**headers, **(extra or {})},
                handler,
                self._on_state,
                Backoff(cfg.reconnect_min_s, cfg.reconnect_max_s, self._rng),
                cfg.heartbeat_s,
                stale,
                connect_timeout_s=cfg.rest_timeout_s,
            )
            self._subs[name] = s
            return s

        for sym in symbols:
            feed = self._books[sym] = BookFeed(
                sym, self._norm, self._clock, self._emit, self._malformed
            )
            feed.sub = sub(
                feed.stream, f"{base}/orderbooks/{sym}{depth}", feed.on_message, cfg.stale_after_s
            )
            if cfg.subscribe_trades:
                sub(f"trades:{sym}", f"{base}/publicTrades/{sym}", self._on_trades, None)
            if cfg.subscribe_funding:
                sub(f"funding:{sym}", f"{base}/funding/{sym}", self._on_funding, None)
            if cfg.subscribe_mark:
                sub(f"mark:{sym}", f"{base}/prices/mark/{sym}", self._on_mark, None)
        if not self.public_only:
            sub(
                "account",
                f"{base}/account",
                self._on_account,
                None,
                {"X-Api-Key": self._api_key.reveal()},
            )
        on_read = self.probe.on_read if self.probe is not None else None
        for s in self._subs.values():
            s.on_read = on_read
            s.start()

    def pace_requests(self, budget: RateBudget, clock: Callable[[], int]) -> None:
        """Spend ``budget`` (the runner's sender's, on ``clock``) on every order request the
        sender did not pay for: retries, the reconcile's cancels, resent places (module doc).
        Without it nothing is spent or held here."""
        self.rest.pace(budget, clock)

    def attach(self, put: Callable[[Event], None]) -> None:
        """Hand every event to ``put`` (the live runner's merged queue) instead of ``events()``:
        one asyncio hop less between a socket read and the engine. Call before ``start``."""
        self._put = put  # type: ignore[assignment]

    def _emit(self, events: Sequence[Event]) -> None:
        put = self._put
        for ev in events:
            put(ev)
        self._n_events += len(events)

    def _emit_account(self, events: Sequence[Event]) -> None:
        """``_emit`` for the account's events (the only ones with fills and positions), told
        to ``_tell`` first; market data, the hot path, goes through ``_emit`` alone."""
        for ev in events:
            self._tell(ev)
        self._emit(events)

    def _tell(self, ev: Event) -> None:
        """Fold ``ev`` into the positions the engine has been told (its ledger's fold)."""
        t = type(ev)
        if t is Fill:
            fill: Fill = ev  # type: ignore[assignment]
            self._told[fill.inst] = self._told.get(fill.inst, 0) + fill.side * fill.size
        elif t is Position:
            self._told[ev.inst] = ev.size  # type: ignore[union-attr]

    def _malformed(self, stream: str, exc: MalformedMessageError) -> None:
        self._n_malformed += 1
        log.warning("extended %s: dropped malformed message: %s", stream, exc)

    def _on_state(self, state: str, name: str, reason: str) -> None:
        now = self._clock()
        self._emit([ConnectionState(now, now, name, state, reason)])
        if name.startswith(BOOK_STREAM) and state == "down":
            self._books[name[len(BOOK_STREAM):]].on_down()
        if name != "account":
            return
        if state == "down" and self._account_ups:
            self._hold.down(now)  # every frame until the socket is back is lost
        elif state == "up":
            self._account_seq = 0  # a new socket numbers its frames from 1 again
            self._account_ups += 1
            if self._account_ups > 1 or self._reconciled:
                # frames sent while the socket was down (or before it first connected, after
                # the start-up reconcile) are lost
                self._hold.up(now)
                self._arm_hold_timer()
                self._request_reconcile("account stream (re)connected")

    def _resync(self, inst: str, reason: str) -> None:
        for sym, feed in self._books.items():
            if not inst or inst == sym:
                feed.resync(reason)

    def _on_trades(self, data: str) -> None:
        try:
            self._emit(self._norm.trades(data, self._clock()))
        except MalformedMessageError as exc:
            self._malformed("trades", exc)

    def _on_funding(self, data: str) -> None:
        try:
            self._emit(self._norm.funding(data, self._clock()))
        except MalformedMessageError as exc:
            self._malformed("funding", exc)

    def _on_mark(self, data: str) -> None:
        try:
            self._emit(self._norm.mark(data, self._clock()))
        except MalformedMessageError as exc:
            self._malformed("mark", exc)

    def _on_account(self, data: str) -> None:
        now = self._clock()
        try:
            msg = self._norm.decode_account(data)
            if self._funding is not None:  # the venue's clock, for the session's start
                self._funding.saw_venue_time(msg.ts * MS, now)
            last = self._account_seq
            self._account_seq = msg.seq
            if last and msg.seq != last + 1:  # a frame was lost: orders or fills we never saw
                self._n_account_gaps += 1
                log.warning("extended account: sequence gap: expected %d, found %d", last + 1,
                            msg.seq)
                self._hold_positions(now)
                self._request_reconcile("account stream sequence gap")
            d = msg.data
            out: list[Event] = []
            for o in d.orders or ():
                self._emit_account(self.tracker.on_order(o, now))
            if d.orders and self.tracker.strays:  # working though they must not: cancel them
                self._request_reconcile(f"orders {sorted(self.tracker.strays)} work at the "
                                        "venue though they must not")
            for t in d.trades or ():
                fills = self.tracker.on_trade(t, now)
                if not fills and self.tracker.may_be_ours(t):
                    # a fill of a place not named yet: passed on by the reconcile asked for
                    # here, and until then the venue's positions (which include it) are held,
                    # as after a lost frame, so that it is never counted twice
                    log.info("extended account: trade %s of order %s matches no order of ours "
                             "yet; reconciling", t.id, t.order_id)
                    self._hold_positions(now)
                    self._request_reconcile(f"trade {t.id} of an order not named yet")
                self._emit_account(fills)
            for p in d.positions or ():
                ev = self._norm.position(p, now)
                if ev is not None:
                    out.extend(self._hold.offer(ev))
            if d.balance is not None:
                out.append(self._norm.balance(d.balance, now))
            self._emit_account(out)
        except MalformedMessageError as exc:
            self._malformed("account", exc)

    # ------------------------------------------------------------ background duties

    def _spawn(self, coro: object, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=f"extended-{name}"))  # type: ignore[arg-type]

    def _hold_positions(self, now: int) -> None:
        """Account frames may be lost: hold the venue's positions back until a reconcile has
        passed on the lost fills, or ``position_hold_s`` has passed (``position_hold``)."""
        self._hold.start(now)
        self._arm_hold_timer()

    def _arm_hold_timer(self) -> None:
        """Call ``_hold_expired`` when the hold is due (not while the socket is down: ``up``
        arms it again)."""
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        due = self._hold.due_ns
        if due and not self._closed:
            delay = max(0.0, (due - self._clock()) / 1e9)
            self._hold_timer = asyncio.get_running_loop().call_later(delay, self._hold_expired)

    def _hold_expired(self) -> None:
        self._hold_timer = None
        if self._closed:
            return
        late = self._hold.expire(self._clock())
        if self._hold.due_ns:  # the clock is not quite there yet: look again when it is
            self._arm_hold_timer()
            return
        if not late:
            return
        log.warning(
            "extended account: no reconcile passed on the fills of the account gap within "
            "%.1fs; passing on the venue's positions held since (a lost fill found later "
            "is counted twice until the next position)",
            self.config.position_hold_s,
        )
        self._emit_account(self._restamped(late))

    def _restamped(self, held: list[Position]) -> list[Position]:
        """Held positions as received now (the engine's time never goes back)."""
        now = self._clock()
        return [msgspec.structs.replace(ev, ts_recv=now) for ev in held]

    def _told_position(self, inst: str) -> int:
        return self._told.get(inst, 0)

    def _emit_reconciled(self, events: Sequence[Event]) -> None:
        """A background reconcile's events; its positions are held like the stream's while a
        hold lasts (a run that started before the gap read them after fills its trades read
        missed). A run started after the gap has released the hold before its positions."""
        hold = self._hold
        if hold.holding:
            passed: list[Event] = []
            read_ns = self._reconciler.positions_read_ns
            for ev in events:
                if type(ev) is Position:
                    passed.extend(hold.offer(ev, read_ns))
                else:
                    passed.append(ev)
            events = passed
        self._emit_account(events)

    def _release_positions(self, generation: int) -> None:
        """The reconcile started at ``generation`` passed on its fills: release what is held."""
        held = self._hold.release(generation)
        if held:
            log.info("extended account: reconcile done; passing on %d held position(s)",
                     len(held))
            self._emit_account(self._restamped(held))

    def _request_reconcile(self, reason: str) -> None:
        log.info("extended: reconcile requested (%s)", reason)
        self._reconcile_wanted.set()

    async def _reconcile_loop(self) -> None:
        """Reconcile, and read the funding payments (``adapters.extended.funding``), when asked
        and every ``reconcile_interval_s``, until ``close``: it ends at
        its first wake-up after ``close`` began, whether or not the cancel reached it (see
        ``_stop_tasks``). A run that fails, for whatever reason (the venue unreachable, or an
        answer we cannot use, or a bug), is logged and run again after a backoff
        (``reconnect_min_s`` doubling up to ``reconnect_max_s``, reset by a run that
        succeeds): failed cancels must keep being sent again, so this loop must never end on
        an error."""
        cfg = self.config
        interval = cfg.reconcile_interval_s or None
        backoff = Backoff(cfg.reconnect_min_s, cfg.reconnect_max_s, self._rng)
        while not self._closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._reconcile_wanted.wait(), interval)
            if self._closed:
                return
            self._reconcile_wanted.clear()
            delay = await self._reconcile_once(backoff)
            if self._funding is not None and not self._closed:
                await self._funding.poll(self._emit)  # never raises: a failure waits for the next
            if delay is not None and not self._closed:
                await asyncio.sleep(delay)
                self._reconcile_wanted.set()

    async def _reconcile_once(self, backoff: Backoff) -> float | None:
        """One background reconcile; returns how long to wait before running again, or None
        to wait until asked (or the period)."""
        cfg = self.config
        generation = self._hold.generation
        try:
            await self._reconciler.run(
                self._emit_reconciled,
                functools.partial(self._release_positions, generation),
                confirm=True,
            )
        except ExtendedError as exc:
            delay = backoff.next_delay()
            log.warning("extended reconcile failed: %s; retrying in %.2fs", exc, delay)
            return delay
        except Exception:  # e.g. a malformed REST value: logged, never the loop's end
            self._n_reconcile_errors += 1
            delay = backoff.next_delay()
            log.exception(
                "extended reconcile failed unexpectedly (run %d, %d failures so far); "
                "retrying in %.2fs",
                self._reconciler.runs,
                self._n_reconcile_errors,
                delay,
            )
            return delay
        backoff.reset()
        if self._reconciler.cancels_wanted:
            return cfg.rest_backoff_max_s  # a cancel failed again: retry soon
        if self._reconciler.unconfirmed or self.tracker.ends_held:
            return CONFIRM_AFTER_S  # a position to confirm, or fills an end waits for
        return None

    async def _settle_late_places(self) -> None:
        """At close: places of unknown outcome (``adapters.extended.late_places``) are looked
        for at the venue, and a copy that landed is canceled; those never found stay unsettled
        (the dead man's switch is then left armed)."""
        executor = self._executor
        watch_s = self.config.late_place_watch_s
        if self.public_only or executor is None or not watch_s:
            return
        watched = executor.unsettled()
        if not watched:
            return
        left = await cancel_late_places(self.rest, watched, watch_s)
        for client_id in watched:
            if client_id not in left:
                executor.forget(client_id)
                self._settled_at_close.add(client_id)

    async def _disarm_dead_man(self) -> None:
        """At close, with none of our orders left working (the shutdown canceled them all),
        switch the venue's countdown off (``adapters.extended.dead_man``). Orders of ours that
        may still work keep it armed: a cancel unconfirmed, a place of unknown outcome, never
        listed by the venue, that may still land, a stray or an orphan of an earlier session
        whose cancel failed; so does a re-arm still at the venue one ``rest_timeout_s`` on
        (its POST could land after the disarm)."""
        if self._dead_man is None:
            return
        settled = self._settled_at_close  # found at the venue at close: canceled or done
        left = [o.client_id for o in self.tracker.live() if o.client_id not in settled]
        # cancels that failed (a late place found at close was the stream's stray meanwhile)
        left += sorted((self.tracker.strays | self._reconciler.orphans_left) - settled)
        if self._executor is not None:
            left += self._executor.unsettled()  # places that may still land
        await self._dead_man.disarm_if_safe(left, self.config.rest_timeout_s)

    def statistics(self) -> AdapterStatistics:
        funding = (
            self._funding.statistics()
            if self._funding is not None
            else FundingStatistics(0, 0, 0, 0, 0)
        )
        return AdapterStatistics(
            events=self._n_events,
            malformed=self._n_malformed,
            book_gaps=sum(f.gaps for f in self._books.values()),
            resyncs=sum(f.resyncs for f in self._books.values()),
            reconciles=self._reconciler.runs,
            dead_man_arms=self._dead_man.arms if self._dead_man is not None else 0,
            account_gaps=self._n_account_gaps,
            rest=self.rest.statistics(),
            execution=(
                self._executor.statistics()
                if self._executor is not None
                else ExecutionStatistics(0, 0, 0, 0, 0, 0)
            ),
            tracker=self.tracker.statistics(),
            streams=[s.statistics() for s in self._subs.values()],
            reconcile_errors=self._n_reconcile_errors,
            position_holds=self._hold.holds,
            positions_released_late=self._hold.released_late,
            funding_polls=funding.polls,
            funding_payments=funding.payments,
            funding_failures=funding.failures,
        )
