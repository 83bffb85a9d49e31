"""A venue adapter for live-runner tests that need no emulator: it acks every place and confirms
every cancel at once, through ``attach`` (the runner's direct queue), on one market ``SYM`` of the
``simple`` quoter's session ``SIMPLE_SESSION``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from mmcore.commands import Cancel, CancelAll, Command, Place
from mmcore.events import Event, OrderAccepted, OrderCanceled
from mmcore.instrument import Instrument

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
