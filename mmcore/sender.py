"""The live runner's sender: emitted commands to ``adapter.execute``, several in flight at once.

``Sender.submit`` is called synchronously from the runner's sink (inside ``Runner.handle``); each
command that ``SendQueue`` lets start gets its own task calling ``execute``, and each task that
returns lets the queue start what was waiting behind it. ``execute`` must report failures as
events; whatever it raises anyway is the runner's to log (``execute`` here is the runner's
wrapper that does that).

This module is an I/O component: it uses asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from mmcore.commands import Command
from mmcore.send_queue import SendQueue

__all__ = ["Sender"]

log = logging.getLogger("mmcore.live")


class Sender:
    """Starts each command's ``execute`` as soon as ``SendQueue`` allows; see the module doc."""

    def __init__(self, execute: Callable[[Command], Awaitable[None]], max_in_flight: int) -> None:
        self._execute = execute
        self._queue = SendQueue(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    @property
    def in_flight(self) -> int:
        return self._queue.in_flight

    @property
    def waiting(self) -> int:
        return self._queue.waiting

    @property
    def peak_in_flight(self) -> int:
        return self._queue.peak_in_flight

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
        self._queue.drop_waiting()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _start_ready(self) -> None:
        for cmd in self._queue.pop_ready():
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
