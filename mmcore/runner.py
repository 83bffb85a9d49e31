"""The runner: the one loop that feeds events to the engine, records them and hands commands on.

``Runner.handle(event)`` is the single code path every mode shares — live trading, paper trading,
backtests and replays differ only in the *source* the events come from and the *sink* commands go
to. ``run_sync`` drives it from an iterator (a recorded log, a simulated venue); ``run`` drives it
from an async iterator (a live adapter). Every inbound event and every output is appended to the
log writer, event first, then the outputs it caused, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterable
from typing import Protocol

import msgspec

from mmcore.commands import Command, Output
from mmcore.engine import COMMAND_TYPES, Engine
from mmcore.events import Event
from mmcore.log import LogWriter

__all__ = ["NullSink", "RunStats", "Runner", "Sink"]


class Sink(Protocol):
    """Where commands go: a venue adapter, the simulated venue, or nowhere (replay)."""

    def submit(self, command: Command, now: int) -> None:
        """Take ``command``, decided at engine time ``now``; must not block."""
        ...


class NullSink:
    """Drops every command (replay and verification only look at what the engine emits)."""

    def submit(self, command: Command, now: int) -> None:
        return None


class RunStats(msgspec.Struct, frozen=True):
    """What one run did: events in, outputs out, commands sent."""

    events: int
    outputs: int
    commands: int


class Runner:
    """Feeds events to an engine, records everything, and passes commands to a sink."""

    def __init__(self, engine: Engine, sink: Sink, recorder: LogWriter | None = None) -> None:
        self.engine = engine
        self.sink = sink
        self.recorder = recorder
        self._events = 0
        self._outputs = 0
        self._commands = 0

    def handle(self, event: Event) -> list[Output]:
        """Run one event through the engine; record it and its outputs; send the commands."""
        outputs = self.engine.on_event(event)
        self._events += 1
        recorder = self.recorder
        if recorder is not None:
            recorder.append(event)
        if outputs:
            self._outputs += len(outputs)
            now = event.ts_recv
            submit = self.sink.submit
            for item in outputs:
                if recorder is not None:
                    recorder.append(item)
                if type(item) in COMMAND_TYPES:
                    self._commands += 1
                    submit(item, now)  # type: ignore[arg-type]
        return outputs

    def run_sync(self, source: Iterable[Event]) -> RunStats:
        """Drive from an iterator until it is exhausted."""
        handle = self.handle
        for event in source:
            handle(event)
        return self.statistics()

    async def run(self, source: AsyncIterable[Event]) -> RunStats:
        """Drive from an async iterator (a live adapter's merged streams) until it ends."""
        handle = self.handle
        async for event in source:
            handle(event)
            await asyncio.sleep(0)  # let the sink's tasks run between events
        return self.statistics()

    def statistics(self) -> RunStats:
        return RunStats(events=self._events, outputs=self._outputs, commands=self._commands)
