"""The live runner: a venue adapter's streams and a timer, one queue, ``Runner.handle``, the venue.

``LiveRunner.run()`` is one session from start-up to a clean stop:

1. ``adapter.start(markets)`` gives the instruments; a per-session client id prefix (base 36 of
   the start time in ms, ``mmcore.session_ids``) goes into the config, which builds the engine
   and the log's header, so ids never repeat across restarts and a replay reproduces them;
2. start-up: ``CancelAll`` per market goes straight to the adapter (stale orders of an earlier
   run; not an engine output, so not in the log; spent from the sender's rate budget first, see
   below), then the PnL earlier sessions made today
   (``day_pnl``, read before connecting; a ``PriorDayPnl`` event, its marks put into the
   session's lots and ticks, ``day_pnl.carried_marks``) and the events of
   ``adapter.reconcile()`` (open orders, positions, balance) go through ``Runner.handle``
   first; the risk gate's day PnL is saved back on every timer tick where it changed and at
   teardown (``mmcore.day_pnl``), so a restart keeps the daily loss limit;
3. the adapter's events and a ``Timer`` every ``timer_interval_ms`` are merged into ONE ordered
   sequence by ``_dispatch``: an adapter with ``attach(put)`` calls it from its stream reader the
   moment a frame is normalised (any other is read through ``events()`` by a reader task), and
   it runs ``Runner.handle(event)`` — the code path a replay takes — right there, with no asyncio
   hop between the socket read and the engine. The event loop is single-threaded and ``handle``
   never awaits, so events are handled one at a time in arrival order; an event that arrives
   while another is being handled (or before start-up is done, or after a fatal error) waits in
   the ``_pending`` FIFO and is handled next, in order (an event stamped before one already
   handled gets that one's receive time: engine time never goes back). The runner's sink hands
   commands to the ``Sender`` (``mmcore.sender``), which calls ``adapter.execute`` for up to
   ``[session] max_in_flight`` of them at once under the rules of ``mmcore.send_queue``: one
   call per client id at a time and in emission order, no place overtaking the cancel of our
   own order it would trade with, a ``CancelAll`` alone and after everything emitted before it.
   The venue counts requests when they start: the sender spends a ``RateBudget`` of the risk
   gate's limits at each start (``Sender.pace``), and that same budget goes to an adapter with
   ``pace_requests(budget, clock)``, which spends it for the requests it makes of its own
   (retries, reconcile), and is spent (forced, as a cancel) by every ``CancelAll`` the runner
   sends straight to the adapter (start-up, last resort);
4. the operator may halt trading (SIGUSR2, ``request_halt``: every order canceled, only cancels
   and reduce-only orders leave) and resume it (SIGUSR1, ``request_resume``) without stopping;
   both are events of the one sequence (``mmcore.session_control``), so the log replays them.
   With ``handle_signals``, SIGUSR1/SIGUSR2 never terminate the process while ``run`` runs: from
   its start until the runner's handlers are installed, and from the teardown on, they are
   logged and ignored; their earlier disposition comes back only when ``run`` returns
   (``mmcore.session_signals``);
5. SIGINT/SIGTERM, ``duration_s`` or a fatal error stop the session the same way: the
   ``stop_event`` goes through ``Runner.handle`` (the engine answers ``CancelAll("")``), events are
   handled until the ledger holds no live order or ``shutdown_timeout_s`` passes (then a loud
   warning and one more ``CancelAll`` through the sender), the sender drains (when that times
   out too, the last resort below), on a stop without a fatal error the venue's account is
   reconciled once more (``adapter.reconcile()``, handled as events: the session ends on the
   venue's position even when fills the streams missed were found by a reconcile the teardown
   would cut short), the log's buffer is written out, the adapter closes and the log is
   synced and closed (also when that close is interrupted). A fatal error is re-raised after
   that.
   When the engine itself cannot run the shutdown (the runner task is cancelled, also during the
   shutdown that follows a fatal error, or the shutdown fails), commands not yet sent are
   dropped, the calls in flight are awaited (up to ``shutdown_timeout_s``) and a ``CancelAll``
   goes straight to the adapter.

Dry run (``paper`` given): market data still comes from the adapter (public streams only), but
commands go to the simulated venue through a ``mmcore.paper.PaperDesk``, the runner's sink,
which runs it in exchange time, as in a backtest, and hands its acks and fills back to
``_dispatch`` when due; ``Resync`` still goes to the adapter, which owns the book streams.

This module is an I/O component: it may use asyncio and read the clock it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec

from mmcore.commands import CancelAll, Command
from mmcore.config import AppConfig, LogConfig, config_to_dict
from mmcore.day_pnl import (
    DayPnlFile,
    DayPnlFileError,
    SavedDayPnl,
    carried_marks,
    saved_marks,
)
from mmcore.engine import Engine
from mmcore.events import (
    BookDelta,
    BookSnapshot,
    Event,
    Fill,
    FundingRate,
    MarkPrice,
    PriorDayPnl,
    Timer,
    Trade,
)
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriteError, LogWriter
from mmcore.own_orders import simulated
from mmcore.paper import PaperDesk, PaperFactory
from mmcore.ratelimit import RateBudget
from mmcore.risk_limits import LossCarry
from mmcore.runner import Runner
from mmcore.sender import Sender
from mmcore.session_control import halt_event, resume_event, stop_event
from mmcore.session_ids import session_log_path, session_prefix, with_client_prefix
from mmcore.session_signals import SessionSignals
from mmcore.status import status_lines
from mmcore.task_stop import stop_tasks
from mmcore.venue import Clock, VenueAdapter

__all__ = [
    "EngineFactory",
    "LiveResult",
    "LiveRunner",
    "LiveStats",
]

log = logging.getLogger("mmcore.live")

EngineFactory = Callable[[AppConfig, Mapping[str, Instrument]], Engine]
"""Builds the session's engine from its (prefixed) config and the venue's instruments."""

_MARKET = frozenset((BookSnapshot, BookDelta, Trade, MarkPrice, FundingRate))
"""The market events a dry run's simulated venue is given too."""


class LiveResult(msgspec.Struct, frozen=True):
    """What a session did. ``open_orders``: client ids still live in the ledger at exit."""

    log_path: str
    client_id_prefix: str
    stop_reason: str
    events: int
    commands: int
    fills: int
    open_orders: list[str]
    dry_run: bool


class LiveStats(msgspec.Struct, frozen=True):
    """Counters of the live runner's own plumbing."""

    events: int
    fills: int
    timer_ticks: int
    commands_sent: int
    send_errors: int
    paper_events: int
    max_pending: int
    peak_in_flight: int
    paced: int = -1
    """Commands the sender held back to keep the venue's rate limits at their start (``Sender``);
    -1: not paced (a dry run, or a gate without a budget)."""


class _Stop:
    """Control marker: a stop was requested."""


class _Failure:
    """Control marker: a feeding task or the engine failed; ``_consume`` re-raises ``exc``."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_STOP = _Stop()


class _SendSink:
    """Live sink: commands go to the sender."""

    __slots__ = ("_put",)

    def __init__(self, sender: Sender) -> None:
        self._put = sender.submit

    def submit(self, command: Command, now: int) -> None:
        self._put(command)


class LiveRunner:
    """One live (or dry-run) session of ``config`` on ``adapter``; see the module doc.

    The log's header records ``config`` as given (with the session's client id prefix): the
    composition root hands in the config with its defaults written out
    (``replay.session.resolved_config``), so that a replay does not depend on the replaying
    code's defaults; ``mmcore`` cannot resolve them itself.
    """

    def __init__(
        self,
        adapter: VenueAdapter,
        config: AppConfig,
        engine_factory: EngineFactory,
        log_path: str | Path,
        *,
        clock: Clock,
        log_config: LogConfig | None = None,
        timer_interval_ms: int | None = None,
        shutdown_timeout_s: float = 10.0,
        duration_s: float | None = None,
        paper: PaperFactory | None = None,
        code_version: str = "dev",
        meta: Mapping[str, str] | None = None,
        handle_signals: bool = True,
        day_pnl: DayPnlFile | None = None,
    ) -> None:
        self.adapter = adapter
        self.config = config
        self._factory = engine_factory
        self._log_path = log_path
        self._clock = clock
        self._log_config = log_config or config.log
        interval = config.session.timer_interval_ms
        self._interval_ms = interval if timer_interval_ms is None else timer_interval_ms
        self._timeout_s = shutdown_timeout_s
        self._duration_s = duration_s
        self._paper_factory = paper
        self._code_version = code_version
        self._meta = dict(meta or {})
        self._signals = SessionSignals(handle_signals)
        # the day's PnL carried between sessions (never in a dry run: paper PnL is not the
        # account's); what was loaded at start-up, and the last (day, pnl) saved
        self._day_pnl = day_pnl if paper is None else None
        self._prior: SavedDayPnl | None = None
        self._saved_day_pnl: LossCarry | None = None
        self._day_pnl_error = ""  # the last save's failure, logged once until it changes
        self.engine: Engine | None = None
        self.runner: Runner | None = None
        self.prefix = ""
        self.stop_reason = ""
        self._control: asyncio.Queue[object] = asyncio.Queue()  # _STOP and _Failure only
        self._pending: deque[Event] = deque()  # events waiting for _dispatch, in arrival order
        self._open = False  # _dispatch handles events (start-up done, no fatal error)
        self._busy = False  # _dispatch is inside Runner.handle
        self._stopping = False
        self._handled = asyncio.Event()  # set after every event handled while stopping
        self._failure: BaseException | None = None  # the engine failed in _dispatch
        self._feed_failed = False
        # a place the rate pacer held and a CancelAll overtook comes back as its OrderCanceled
        self._sender = Sender(
            self._execute, config.session.max_in_flight, on_dropped=self._dispatch
        )
        self._paper: PaperDesk | None = None
        # the rate budget the sender paces with, shared with the adapter (live sessions only)
        self._budget: RateBudget | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._events = 0
        self._last_recv = 0  # receive time of the last event handled (engine time)
        self._fills = 0
        self._ticks = 0
        self._sent = 0
        self._send_errors = 0
        self._max_pending = 0

    # ------------------------------------------------------------ control

    def request_stop(self, reason: str) -> None:
        """Begin the shutdown (safe from signal handlers and other tasks); the first reason wins."""
        if self.stop_reason:
            log.info("live: already stopping (%s); %s ignored", self.stop_reason, reason)
            return
        self.stop_reason = reason
        log.info("live: stop requested: %s", reason)
        self._open = False  # what arrives from now on waits for the stop event to go first
        self._control.put_nowait(_STOP)

    def request_halt(self, reason: str) -> None:
        """The operator halts trading until ``request_resume`` (safe from signal handlers)."""
        self._operator(halt_event, "halt", reason)

    def request_resume(self, reason: str) -> None:
        """The operator lifts every halt of the risk gate (safe from signal handlers)."""
        self._operator(resume_event, "resume", reason)

    def _operator(self, make: Callable[[int, str], Event], what: str, reason: str) -> None:
        if self.stop_reason:
            log.warning("live: %s (%s) ignored: already stopping (%s)", what, reason,
                        self.stop_reason)
            return
        log.warning("live: operator %s: %s", what, reason)
        self._dispatch(make(self._clock(), reason))

    def statistics(self) -> LiveStats:
        return LiveStats(
            events=self._events,
            fills=self._fills,
            timer_ticks=self._ticks,
            commands_sent=self._sent,
            send_errors=self._send_errors,
            paper_events=self._paper.events if self._paper is not None else 0,
            max_pending=self._max_pending,
            peak_in_flight=self._sender.peak_in_flight,
            paced=self._sender.paced if self._sender.pacing else -1,
        )

    # ------------------------------------------------------------ the session

    async def run(self) -> LiveResult:
        """Run the session until it is stopped; see the module doc for the steps."""
        self._signals.hold(self.request_stop)
        try:
            return await self._run()
        finally:
            self._signals.restore()

    async def _run(self) -> LiveResult:
        adapter = self.adapter
        writer: LogWriter | None = None
        attach = getattr(adapter, "attach", None)
        if attach is not None:
            attach(self._dispatch)
        unwinding = True  # an error (or a cancel) is on its way out: the teardown keeps it
        try:
            if self._day_pnl is not None:  # before connecting: a bad file stops start-up
                self._prior = self._day_pnl.load()
            listed = await adapter.start(list(self.config.session.markets))
            instruments = {i.symbol: i for i in listed}
            if self._paper_factory is not None:
                # the venue's book never holds the paper orders: nothing to take out of it
                instruments = simulated(instruments)
                listed = list(instruments.values())
            start_ns = self._clock()
            self.prefix = session_prefix(start_ns)
            config = with_client_prefix(self.config, self.prefix)
            engine = self.engine = self._factory(config, instruments)
            budget = getattr(engine.risk, "budget", None)
            if self._paper_factory is None and isinstance(budget, RateBudget):
                # the venue counts requests when they start, which may be later than the gate
                # spent its budget: the sender spends the same limits again at each start, and
                # the adapter spends that one budget too for the requests it makes of its own
                pacer = self._budget = RateBudget(budget.config)
                self._sender.pace(pacer, self._clock)
                pace_requests = getattr(adapter, "pace_requests", None)
                if pace_requests is not None:
                    pace_requests(pacer, self._clock)
            path = session_log_path(self._log_path, self.prefix)
            writer = self._open_log(path, config, listed, start_ns)
            if self._paper_factory is not None:
                venue = self._paper_factory(instruments)
                desk = self._paper = PaperDesk(venue, self._clock, self._sender.submit)
                sink: _SendSink | PaperDesk = desk
            else:
                sink = _SendSink(self._sender)
            runner = self.runner = Runner(engine, sink, writer)
            await self._start_up(runner)
            self._spawn_tasks()
            try:
                await self._consume(runner)
            except asyncio.CancelledError:
                await self._cancel_all_at_venue("runner task cancelled")
                raise
            except Exception as exc:
                log.exception("live: fatal error; shutting down with every order canceled")
                if not self.stop_reason:
                    self.stop_reason = f"fatal: {type(exc).__name__}: {exc}"
                await self._shutdown_after_fatal(runner)
                raise
            try:
                await self._shutdown(runner)
                if self._paper is None and self._open:  # (not after the last resort)
                    await self._final_reconcile(self._timeout_s)
                    self._raise_failure()
                    if self.engine is not None and self.engine.ledger.orders:
                        # the venue's last word shows an order of ours still working
                        await self._cancel_all_at_venue(
                            "orders still open after the final reconcile"
                        )
                self._raise_failure()
            except asyncio.CancelledError:
                await self._cancel_all_at_venue("runner task cancelled during the shutdown")
                raise
            except Exception:
                log.exception("live: the shutdown failed; canceling at the venue directly")
                await self._cancel_all_at_venue("shutdown failed")
                raise
            unwinding = False
        finally:
            await self._teardown(writer, unwinding)
        # after the teardown: the result counts what arrived while the adapter closed, as the
        # log records it
        return self._result(path)

    def _open_log(
        self, path: Path, config: AppConfig, instruments: list[Instrument], start_ns: int
    ) -> LogWriter:
        meta = {
            "mode": "dry-run" if self._paper_factory is not None else "live",
            "venue": self.adapter.venue,
            "client_id_prefix": self.prefix,
            **self._meta,
        }
        header = LogHeader(
            format_version=FORMAT_VERSION,
            code_version=self._code_version,
            instruments=instruments,
            config=config_to_dict(config),
            created_ns=start_ns,
            meta=meta,
        )
        lc = self._log_config
        compress = True if lc.compress else None
        log.info("live: recording to %s (client ids mm%s-*)", path, self.prefix)
        return LogWriter(
            path, header, flush_every=lc.flush_every, fsync=lc.fsync, compress=compress
        )

    async def _start_up(self, runner: Runner) -> None:
        """Stale orders canceled at the venue, then the reconciled account through the engine."""
        if self._paper_factory is None:
            for sym in self.config.session.markets:
                log.info("live: start-up CancelAll on %s (stale orders of earlier sessions)", sym)
                stale = CancelAll(sym, self._clock(), "stale orders at start-up")
                await self._execute_direct(stale)
        prior = self._prior
        if prior is not None:
            log.info("live: earlier sessions' PnL on %s: %.6f USD", prior.date, prior.pnl_usd)
            now = self._clock()
            carried = PriorDayPnl(
                now, now, prior.day, prior.pnl, tuple(prior.hour_highs), self._carried_marks(prior)
            )
            self._handle(runner, carried)
        for ev in await self.adapter.reconcile():
            self._handle(runner, ev)

    def _carried_marks(self, prior: SavedDayPnl) -> tuple[tuple[str, int, int], ...]:
        """The last session's marks in this session's units (the venue may have changed a tick
        or lot size in between, ``mmcore.day_pnl.carried_marks``); each one left out is logged
        with its reason."""
        assert self._day_pnl is not None and self.engine is not None
        marks, dropped = carried_marks(prior.marks, self.engine.instruments)
        for why in dropped:
            log.warning("live: %s: %s", self._day_pnl.path, why)
        return marks

    def _spawn_tasks(self) -> None:
        spawn = self._spawn
        if getattr(self.adapter, "attach", None) is None:
            spawn(self._read_adapter(), "live-reader")
        if self._interval_ms > 0:
            spawn(self._tick(self._interval_ms), "live-timer")
        if self._paper is not None:
            spawn(self._paper.pump(self._dispatch), "live-paper")
        if self._duration_s is not None:
            spawn(self._stop_after(self._duration_s), "live-duration")
        status_s = self.config.session.status_interval_s
        if status_s > 0:
            spawn(self._status(status_s), "live-status")
        self._signals.install(self.request_halt, self.request_resume)

    def _spawn(self, coro: object, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))  # type: ignore[arg-type]

    # ------------------------------------------------------------ the one ordered sequence

    def _dispatch(self, ev: Event) -> None:
        """Every event enters here: handled at once when the runner is free, else it waits in
        ``_pending`` and is handled next, in arrival order (see the module doc)."""
        pending = self._pending
        pending.append(ev)
        if self._busy or not self._open:
            if len(pending) > self._max_pending:
                self._max_pending = len(pending)
            return
        self._drain()

    def _drain(self) -> None:
        """Handle the waiting events in order, inline, while the gate is open."""
        runner = self.runner
        assert runner is not None
        pending = self._pending
        self._busy = True
        try:
            while pending and self._open:
                self._handle(runner, pending.popleft())
        except LogWriteError as exc:  # the record cannot be kept: stop, every order canceled
            log.error("live: the event log failed (%s); stopping", exc)
            self._fail(exc)
        except Exception as exc:
            log.exception("live: the engine failed on an event; stopping")
            self._fail(exc)
        finally:
            self._busy = False
        if self._stopping:
            self._handled.set()

    def _fail(self, exc: BaseException) -> None:
        """A fatal error: no event is handled any more until the shutdown takes over."""
        self._open = False
        self._failure = exc
        self._control.put_nowait(_Failure(exc))
        self._handled.set()

    def _handle(self, runner: Runner, ev: Event) -> None:
        recv = ev.ts_recv
        if recv < self._last_recv:
            # stamped before an event already handled (one that waited while start-up ran,
            # say): handled now, so received now as far as the engine knows; engine time
            # never goes back. An event of our own making (a timer: ts == ts_recv) moves whole.
            last = self._last_recv
            if ev.ts == recv:
                ev = msgspec.structs.replace(ev, ts=last, ts_recv=last)
            else:
                ev = msgspec.structs.replace(ev, ts_recv=last)
        else:
            self._last_recv = recv
        t = type(ev)
        paper = self._paper
        if paper is not None and t in _MARKET:
            paper.on_market(ev, recv)  # recv: before any restamping above (the venue's clock)
        elif t is Fill:
            self._fills += 1
        self._events += 1
        runner.handle(ev)
        if t is Timer:
            if runner.recorder is not None:
                # a crash loses at most one timer interval of records: the buffer is written
                # out on every tick (and synced too under fsync = "flush")
                runner.recorder.flush()
            if self._day_pnl is not None:
                self._save_day_pnl()

    def _save_day_pnl(self) -> None:
        """Save the risk gate's day PnL for the next session when it changed; a failure is
        logged and trading goes on (the file keeps the last value saved). The same failure on
        every timer tick is logged once, and again when it changes or ends."""
        assert self._day_pnl is not None and self.engine is not None
        state = self.engine.risk.loss_carry()
        if state is None or state == self._saved_day_pnl:
            return
        try:
            marks = saved_marks(state.marks, self.engine.instruments)
            self._day_pnl.save(state.day, state.pnl, state.hour_highs, marks)
        except DayPnlFileError as exc:
            if str(exc) != self._day_pnl_error:
                self._day_pnl_error = str(exc)
                log.error("live: %s; a restart would not carry today's PnL (logged again "
                          "when this changes)", exc)
            return
        if self._day_pnl_error:
            self._day_pnl_error = ""
            log.warning("live: the day PnL is saved again (%s)", self._day_pnl.path)
        self._saved_day_pnl = state

    async def _consume(self, runner: Runner) -> None:
        """Open the gate to ``_dispatch`` and wait until a stop is requested; raise what a feeder
        or the engine raised."""
        if not self.stop_reason:
            self._open = True
            self._drain()
        item = await self._control.get()
        if isinstance(item, _Failure):
            raise item.exc

    # ------------------------------------------------------------ shutdown

    async def _shutdown(self, runner: Runner) -> None:
        """Stop event through the engine, then events until no order is live or time is up."""
        assert self.engine is not None
        self._open = False  # the stop event goes first, then what waited
        self._handle(runner, stop_event(self._clock(), self.stop_reason or "shutdown"))
        self._failure = None  # from here on, a failure ends the wait below
        self._feed_failed = False
        self._stopping = True
        self._open = True
        self._drain()
        ledger = self.engine.ledger
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        handled = self._handled
        while ledger.orders and self._failure is None and not self._feed_failed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            handled.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(handled.wait(), remaining)
        if self._failure is not None:
            raise self._failure
        if self._feed_failed:
            log.error("live: event feed failed during shutdown")
        if ledger.orders:
            log.warning(
                "live: SHUTDOWN TIMEOUT after %.1fs: %d order(s) still open: %s; "
                "sending one more CancelAll to the venue",
                self._timeout_s,
                len(ledger.orders),
                ", ".join(sorted(ledger.orders)),
            )
            if self._paper is None:
                self._sender.submit(CancelAll("", self._clock(), "shutdown timeout"))
        if not await self._drain_sender(max(1.0, deadline - loop.time())) and self._paper is None:
            # a CancelAll still waiting (behind places in flight at a slow venue) would be
            # dropped unsent by the teardown: send one straight to the venue instead
            await self._cancel_all_at_venue("the shutdown's CancelAll was not sent in time")

    def _raise_failure(self) -> None:
        """An engine failure while the shutdown fed it events (the drain, the final reconcile)
        is fatal all the same: raised, not only logged."""
        if self._failure is not None:
            raise self._failure

    async def _final_reconcile(self, timeout_s: float) -> None:
        """Read the venue's account once more and handle it, so the session (and its log) ends
        on the venue's position: a reconcile of the adapter's own that found fills the streams
        missed may have passed them on and not yet the position that includes them (the
        teardown would cut it short, or its read failed and the retry is still to come). Cut
        short by ``timeout_s``, it returns nothing: the adapter hands what it already found to
        ``_dispatch`` itself (``ExtendedAdapter.reconcile``), handled there as it comes."""
        try:
            events = await asyncio.wait_for(self.adapter.reconcile(), timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the venue unreachable: the ledger keeps what it had
            log.warning("live: the final reconcile failed (%s: %s); the ledger's position may "
                        "differ from the venue's", type(exc).__name__, exc)
            return
        for ev in events:
            self._dispatch(ev)

    async def _shutdown_after_fatal(self, runner: Runner) -> None:
        """The normal shutdown if the engine still works, else a CancelAll straight to the venue.
        A cancel of the runner task meanwhile gets that CancelAll too before it goes on: it
        arrives inside ``_run``'s ``except Exception``, out of reach of the sibling ``except
        asyncio.CancelledError`` that does so for a cancel during the normal shutdown, and the
        teardown would otherwise cut the stop's CancelAll short and leave the quotes working."""
        try:
            await self._shutdown(runner)
        except asyncio.CancelledError:
            await self._cancel_all_at_venue("runner task cancelled during the shutdown after a "
                                            "fatal error")
            raise
        except Exception:
            log.exception("live: shutdown after a fatal error failed")
            await self._cancel_all_at_venue("fatal error during shutdown")

    async def _cancel_all_at_venue(self, reason: str) -> None:
        """Last resort when the engine cannot run the shutdown: CancelAll straight to the venue."""
        self._open = False  # the engine takes no more events: nothing new can be emitted
        sender = self._sender
        sender.drop_waiting()  # commands not yet sent never will be: CancelAll follows
        if self._paper is not None:
            return
        log.warning("live: %s; sending CancelAll straight to the venue", reason)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            # a place still in flight could land after a CancelAll sent now: let it return first
            if not await sender.wait_in_flight(self._timeout_s):
                log.warning(
                    "live: %d call(s) still in flight after %.1fs; CancelAll goes anyway",
                    sender.in_flight,
                    self._timeout_s,
                )
            cmd = CancelAll("", self._clock(), reason)
            await asyncio.wait_for(self._execute_direct(cmd), self._timeout_s)

    async def _drain_sender(self, timeout_s: float) -> bool:
        """Let the sender carry out every command already emitted (the final CancelAll); False
        if time ran out first."""
        sender = self._sender
        if not await sender.join(timeout_s):
            log.warning(
                "live: %d command(s) not sent and %d still in flight %.1fs into the drain",
                sender.waiting,
                sender.in_flight,
                timeout_s,
            )
            return False
        return True

    async def _teardown(self, writer: LogWriter | None, unwinding: bool = False) -> None:
        """Save the day PnL, write the log's tail out, stop the tasks, close the sender and the
        adapter, close the log. A log that fails to close is raised only when nothing else
        failed (``unwinding``: the session's own error or cancel is on its way out, and stays
        the one raised; the close failure is logged)."""
        if self._day_pnl is not None and self.engine is not None:
            self._save_day_pnl()  # the session's last word on today's PnL, whatever ended it
        self._signals.release("the session is shutting down")
        if writer is not None:
            # the shutdown's records (the stop, its CancelAll, the venue's confirmations) go to
            # the file now: the adapter's close below waits on the venue, and a second signal
            # or a kill meanwhile must not take them with the process
            try:
                writer.flush()
            except Exception:
                log.exception("live: writing the log's tail failed")
        try:
            await self._stop_tasks()
            await self._sender.close()
            try:
                await self.adapter.close()
            except Exception:
                log.exception("live: closing the adapter failed")
        except BaseException:
            unwinding = True  # interrupted here (a second Ctrl-C): that is the error raised
            raise
        finally:
            if writer is not None:  # also when the close above is interrupted
                try:
                    writer.close()
                except Exception:
                    if not unwinding:
                        raise
                    log.exception("live: closing the log failed too")  # the first error wins

    async def _stop_tasks(self) -> None:
        """Cancel the feeding tasks and wait for them, at most ``shutdown_timeout_s``
        (``mmcore.task_stop``; the paper desk's pump also ends on ``stop``). Their failures
        were handled where they ran (``_feed_failed``)."""
        if self._paper is not None:
            self._paper.stop()
        _, running = await stop_tasks(self._tasks, self._timeout_s)
        if running:
            log.warning("live: %s still running %.1fs after being cancelled; tearing down "
                        "without them", ", ".join(running), self._timeout_s)

    def _result(self, path: Path) -> LiveResult:
        assert self.runner is not None and self.engine is not None
        stats = self.runner.statistics()
        return LiveResult(
            log_path=str(path),
            client_id_prefix=self.prefix,
            stop_reason=self.stop_reason,
            events=stats.events,
            commands=stats.commands,
            fills=self._fills,
            open_orders=sorted(self.engine.ledger.orders),
            dry_run=self._paper is not None,
        )

    # ------------------------------------------------------------ feeding tasks

    async def _read_adapter(self) -> None:
        dispatch = self._dispatch
        try:
            async for ev in self.adapter.events():
                dispatch(ev)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("live: the adapter's event stream failed")
            self._feed_failed = True
            self._control.put_nowait(_Failure(exc))
            self._handled.set()
            return
        self.request_stop("the adapter's event stream ended")

    async def _tick(self, interval_ms: int) -> None:
        loop = asyncio.get_running_loop()
        period = interval_ms / 1000.0
        dispatch = self._dispatch
        clock = self._clock
        due = loop.time() + period
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due += period
            if due < loop.time():  # fell behind (a stalled loop): skip the missed ticks
                due = loop.time() + period
            now = clock()
            self._ticks += 1
            dispatch(Timer(now, now, "tick"))

    async def _status(self, interval_s: float) -> None:
        """Log where the session stands every ``interval_s`` (``mmcore.status``)."""
        while True:
            await asyncio.sleep(interval_s)
            engine = self.engine
            if engine is None:
                continue
            try:
                for line in status_lines(engine, self._sender.in_flight):
                    log.info("status: %s", line)
            except Exception:  # a status line must never stop trading
                log.exception("live: the status line failed")

    async def _stop_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.request_stop(f"duration {seconds:g}s reached")

    async def _execute(self, cmd: Command) -> None:
        """``adapter.execute`` whose exceptions are logged and go no further (the adapter
        reports failures as events)."""
        try:
            await self.adapter.execute(cmd)
            self._sent += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            self._send_errors += 1
            log.exception("live: adapter.execute(%r) raised; continuing", cmd)

    async def _execute_direct(self, cmd: CancelAll) -> None:
        """A ``CancelAll`` straight to the adapter, past the sender: spent from the pacing
        budget first (forced, as the sender does for one), so the requests after it wait."""
        budget = self._budget
        if budget is not None:
            budget.force(self._clock(), True)
        await self._execute(cmd)
