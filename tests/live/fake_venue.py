"""A venue adapter for live-runner tests that need no emulator: it acks every place and confirms
every cancel at once, through ``attach`` (the runner's direct queue), on one market ``SYM`` of the
``simple`` quoter's session ``SIMPLE_SESSION``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from mmcore.commands import Cancel, CancelAll, Command, Place
from mmcore.config import parse_config
from mmcore.events import BookSnapshot, Event, OrderAccepted, OrderCanceled
from mmcore.instrument import Instrument
from mmcore.live import LiveResult, LiveRunner
from replay.session import build_engine

SYM = "BTC-USD"

SIMPLE_SESSION = """
[session]
venue = "sim"
markets = ["BTC-USD"]
timer_interval_ms = 0
status_interval_s = 0

[strategy]
name = "simple"
[strategy.params]
spread_bps = 10.0
size_lots = 5

[risk]
max_position_lots = 100
"""


class InstantVenue:
    """Acks places and confirms cancels at once; ``on_start`` / ``on_close`` run inside
    ``start`` / ``close``, each followed by ``pause_s`` (for the loop to deliver signals sent
    meanwhile, say)."""

    venue = "fake"
    account_id = "fake-account"
    """What ``mm run`` keys its session lock by (``mmcore.venue``)."""

    def __init__(
        self,
        on_start: Callable[[], None] | None = None,
        on_close: Callable[[], None] | None = None,
        pause_s: float = 0.0,
    ) -> None:
        self.put: Callable[[Event], None] | None = None
        self.live: set[str] = set()
        self.executed: list[Command] = []
        self.on_start = on_start
        self.on_close = on_close
        self.pause_s = pause_s
        self.closed = False

    def attach(self, put: Callable[[Event], None]) -> None:
        self.put = put

    async def start(self, symbols: list[str]) -> list[Instrument]:
        if self.on_start is not None:
            self.on_start()
            await asyncio.sleep(self.pause_s)
        return [Instrument(venue="fake", symbol=SYM, tick_size="0.1", lot_size="0.001")]

    async def reconcile(self) -> list[Event]:
        return []

    async def events(self) -> None:
        raise NotImplementedError

    async def execute(self, cmd: Command) -> None:
        assert self.put is not None
        self.executed.append(cmd)
        now = time.time_ns()
        if type(cmd) is Place:
            self.live.add(cmd.client_id)
            self.put(OrderAccepted(SYM, now, now, cmd.client_id))
        elif type(cmd) in (Cancel, CancelAll):
            gone = [cmd.client_id] if type(cmd) is Cancel else sorted(self.live)
            for cid in gone:
                if cid in self.live:
                    self.live.discard(cid)
                    self.put(OrderCanceled(SYM, now, now, cid))

    async def close(self) -> None:
        if self.on_close is not None:
            self.on_close()
            await asyncio.sleep(self.pause_s)
        self.closed = True


async def quoting(runner: LiveRunner, venue: InstantVenue) -> asyncio.Task[LiveResult]:
    """Start ``runner`` on ``venue``, wait until it handles events and hand it a book (the simple
    quoter places a bid and an ask at once); returns the running ``run`` task."""
    task = asyncio.create_task(runner.run())
    for _ in range(500):
        if runner._open:
            break
        await asyncio.sleep(0.01)
    assert venue.put is not None
    now = time.time_ns()
    venue.put(BookSnapshot(SYM, now, now, 1, (600_000, 10), (600_010, 10)))
    return task


async def simple_session(
    path: Path, venue: InstantVenue, handle_signals: bool = True
) -> LiveResult:
    """``SIMPLE_SESSION`` on ``venue``, recorded to ``path``: quoting, then stopped."""
    runner = LiveRunner(
        venue, parse_config(SIMPLE_SESSION, "<test>"), build_engine, path,  # type: ignore[arg-type]
        clock=time.time_ns, handle_signals=handle_signals, timer_interval_ms=0,
        shutdown_timeout_s=2.0,
    )
    task = await quoting(runner, venue)
    await asyncio.sleep(0.1)
    runner.request_stop("test over")
    return await asyncio.wait_for(task, 10)
