"""The live runner's sender: emitted commands to ``adapter.execute``, several in flight at once.

``Sender.submit`` is called synchronously from the runner's sink (inside ``Runner.handle``); each
command that ``SendQueue`` lets start gets its own task calling ``execute``, and each task that
returns lets the queue start what was waiting behind it. ``execute`` must report failures as
events; whatever it raises anyway is the runner's to log (``execute`` here is the runner's
wrapper that does that).

The risk gate spends the venue's rate budget when a command is emitted, but the queue may hold a
command back (behind a slow cancel, say) and start it together with commands emitted a window
later: the venue would then see more requests in a window than it allows. Once ``pace``d (a
``RateBudget`` of the same limits, on the runner's clock) every start of a place or cancel
spends from it too, and a command it refuses waits (retried every ``PACE_RETRY_S``) while the
others that may start go. A ``CancelAll`` is never held: it is recorded as forced. A ``Resync``
(a socket reconnect, no order request; the risk gate never counts it) neither spends nor waits.

A held command has reached no venue, so it does not keep a ``CancelAll`` waiting: one that covers
every command held or waiting before it overtakes them (``mmcore.send_queue``, "Overtaking").
They are never sent: a held cancel is done by the ``CancelAll``; a held place, never at the
venue, is reported to ``on_dropped`` as ``OrderCanceled`` (canceled by the ``CancelAll`` before
it was sent; not a reject, which the risk gate would count as a venue failure), which the runner
hands to the engine like an adapter's event. Without ``on_dropped`` only cancels are
overtaken (a place the engine would never hear of again would stay pending in its ledger): a
``CancelAll`` behind a held place waits for it, as before.

This module is an I/O component: it uses asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from mmcore.commands import Cancel, CancelAll, Command, Place, Resync
from mmcore.events import OrderCanceled
from mmcore.ratelimit import RateBudget
from mmcore.send_queue import SendQueue

__all__ = ["OVERTAKEN_REASON", "PACE_RETRY_S", "Sender"]

log = logging.getLogger("mmcore.live")

PACE_RETRY_S = 0.005
"""How soon a start the pacer refused is tried again."""

OVERTAKEN_REASON = "held by the rate budget and overtaken by a CancelAll; never sent"
"""The reason of the ``OrderCanceled`` of a place the pacer held and a ``CancelAll`` overtook."""


class Sender:
    """Starts each command's ``execute`` as soon as ``SendQueue`` allows; see the module doc."""

    def __init__(
        self,
        execute: Callable[[Command], Awaitable[None]],
        max_in_flight: int,
        on_dropped: Callable[[OrderCanceled], None] | None = None,
    ) -> None:
        """``on_dropped``: told of each place a ``CancelAll`` overtook, as the ``OrderCanceled``
        the engine must see (module doc); the live runner hands it on like an adapter event."""
        self._execute = execute
        self._on_dropped = on_dropped
        self._queue = SendQueue(max_in_flight, overtake_places=on_dropped is not None)
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._pacer: RateBudget | None = None
        self._clock: Callable[[], int] | None = None
        self._paced: list[Command] = []  # let start by the queue, refused by the pacer so far
        self._retry: asyncio.TimerHandle | None = None
        self.paced = 0
        """Starts the pacer held back (each counted once)."""
        self.overtaken = 0
        """Held commands (and those waiting behind them) a ``CancelAll`` overtook: never sent."""

    @property
    def in_flight(self) -> int:
        return self._queue.in_flight

    @property
    def waiting(self) -> int:
        return self._queue.waiting

    @property
    def peak_in_flight(self) -> int:
        return self._queue.peak_in_flight

    @property
    def pacing(self) -> bool:
        """True once ``pace`` has given the sender a budget of its own."""
        return self._pacer is not None

    def pace(self, pacer: RateBudget, clock: Callable[[], int]) -> None:
        """From now on every start spends from ``pacer`` at ``clock``'s time (module doc)."""
        self._pacer = pacer
        self._clock = clock

    def submit(self, cmd: Command) -> None:
        """Queue ``cmd`` behind everything submitted before it; start what may start."""
        if self._closed:
            log.warning("live: %r submitted after the sender closed; not sent", cmd)
            return
        self._queue.push(cmd)
        self._idle.clear()
        self._start_ready()

    def drop_waiting(self) -> int:
        """Forget the commands not yet started (they will never be sent); returns how many."""
        n = self._queue.drop_waiting()
        for cmd in self._paced:
            self._queue.finished(cmd)
        n += len(self._paced)
        self._paced.clear()
        if self._queue.idle:
            self._idle.set()
        return n

    async def join(self, timeout_s: float) -> bool:
        """Wait until every submitted command has been carried out; False if time ran out."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    async def wait_in_flight(self, timeout_s: float) -> bool:
        """Wait for the calls in flight now; False if time ran out. Waiting commands may start
        as those finish: ``drop_waiting`` first to prevent that."""
        tasks = list(self._tasks)
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        return not pending

    async def close(self) -> None:
        """Stop: nothing more starts, calls still in flight are cancelled."""
        self._closed = True
        self.drop_waiting()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _start_ready(self) -> None:
        queue = self._queue
        pacer = self._pacer
        if pacer is None:
            for cmd in queue.pop_ready():
                self._start(cmd)
            return
        assert self._clock is not None
        now = self._clock()
        held = self._paced  # let start earlier, refused by the pacer so far
        paced: list[Command] = []
        self._paced = paced
        dropped: list[Command] = []
        while True:
            ready = queue.pop_ready()  # may overtake commands held (module doc)
            gone = queue.take_overtaken()
            if gone:
                dropped.extend(gone)
                out = {id(c) for c in gone}
                held = [c for c in held if id(c) not in out]
                paced[:] = [c for c in paced if id(c) not in out]
            for cmd in held:  # first: they were let start earlier
                if self._spend(pacer, now, cmd):
                    queue.release(cmd)
                    self._start(cmd)
                else:
                    paced.append(cmd)
            held = []
            fresh = False
            for cmd in ready:
                if self._spend(pacer, now, cmd):
                    self._start(cmd)
                else:
                    paced.append(cmd)
                    queue.hold(cmd)
                    self.paced += 1
                    fresh = True
            if not (fresh and queue.cancel_all_waiting):
                break  # else a CancelAll may overtake the commands just held: look again
        if paced and self._retry is None and not self._closed:
            self._retry = asyncio.get_running_loop().call_later(PACE_RETRY_S, self._retry_paced)
        if dropped:
            self._report(dropped)

    @staticmethod
    def _spend(pacer: RateBudget, now: int, cmd: Command) -> bool:
        """Whether ``cmd`` may start now; what starts is recorded in ``pacer``."""
        t = type(cmd)
        if t is CancelAll:
            pacer.force(now, True)
            return True
        if t is Resync:
            return True  # a socket reconnect: no order request, never held
        return pacer.try_spend(now, t is Cancel)

    def _report(self, dropped: list[Command]) -> None:
        """Commands a ``CancelAll`` overtook: a place's ``OrderCanceled`` to ``on_dropped``."""
        self.overtaken += len(dropped)
        on_dropped = self._on_dropped
        for cmd in dropped:
            if type(cmd) is Place and on_dropped is not None:
                place: Place = cmd
                log.warning("live: %s held by the rate budget and overtaken by a CancelAll; "
                            "never sent", place.client_id)
                assert self._clock is not None
                now = self._clock()
                on_dropped(OrderCanceled(place.inst, now, now, place.client_id, OVERTAKEN_REASON))
            else:
                log.info("live: %r held by the rate budget; the CancelAll after it does it", cmd)

    def _retry_paced(self) -> None:
        self._retry = None
        if not self._closed:
            self._start_ready()

    def _start(self, cmd: Command) -> None:
        task = asyncio.create_task(self._run(cmd), name=f"live-send-{type(cmd).__name__}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, cmd: Command) -> None:
        try:
            await self._execute(cmd)
        finally:
            queue = self._queue
            queue.finished(cmd)
            if not self._closed:
                self._start_ready()
            if queue.idle:
                self._idle.set()
