"""A dry run's simulated venue, run in exchange time behind the local clock.

In a dry run (``mm run --dry-run``) market data still comes from the venue adapter, but the
engine's commands go to a simulated venue (``adapters.sim.SimVenue`` fits ``PaperVenue``);
``Resync`` still goes to the adapter, which owns the book streams. ``PaperDesk`` stands between
the live runner and that venue:

- it is the runner's sink (``submit``): a command sent at engine time ``t`` arrives at the venue
  at ``t`` + entry latency, as in a backtest (``adapters.sim.source``);
- the runner hands it every market event it handles (``on_market``), applied by the venue at
  the event's ``ts``;
- ``pump`` runs the venue up to an estimate of its clock and hands what it answers to the
  runner (``dispatch``) when the local clock reaches its ``ts_recv``, restamped with the clock
  at delivery.

The venue's clock is estimated as the exchange time ``ts`` of the latest book or trade event
handled plus the local time elapsed since it was received (``ts_recv``; the local clock before
any market data). So the venue runs the feed's latency behind the local clock, and a trade that
happened before an order arrived but was received after the order was sent is still applied
first, as a backtest of the same data does (unless the feed delayed it more than the market
event handled last before it: then it may come after the arrival ran, and is applied when it
comes). A funding rate does not set the clock: its ``ts`` is the time it applies from, which
may be an hour away.

This module is an I/O component: it uses asyncio and reads the clock it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Protocol

import msgspec

from mmcore.commands import Command, Resync
from mmcore.events import BookDelta, BookSnapshot, Event, Trade
from mmcore.instrument import Instrument
from mmcore.venue import Clock

__all__ = ["PaperDesk", "PaperFactory", "PaperVenue"]

_POLL_S = 0.05
"""Longest wait between two runs of the venue, whatever it says is due next."""
_CLOCK_EVENTS = frozenset((BookSnapshot, BookDelta, Trade))
"""The market events whose exchange time sets the venue's clock."""


class PaperVenue(Protocol):
    """What a dry run needs of the simulated venue (``adapters.sim.SimVenue`` fits).

    Its time is exchange time: ``submit(command, now)`` arrives at ``now`` + entry latency,
    ``on_market(ev)`` applies ``ev`` at ``ev.ts`` after what was due before it, and the desk
    calls ``advance_to`` only up to its estimate of the venue's clock (the latest market event's
    ``ts`` plus the local time since it was received; see the module doc), never the local clock
    itself. ``next_due`` is in exchange time, ``next_outbound_ts`` and ``pop_outbound`` in
    receive (local) time.
    """

    next_due: int

    def submit(self, command: Command, now: int) -> None: ...

    def on_market(self, ev: Event) -> None: ...

    def advance_to(self, ts: int) -> None: ...

    def next_outbound_ts(self) -> int: ...

    def pop_outbound(self, until_recv_ts: int) -> list[Event]: ...


PaperFactory = Callable[[Mapping[str, Instrument]], PaperVenue]


class PaperDesk:
    """The runner's sink and market-data tap in a dry run; see the module doc.

    ``resync``: where a ``Resync`` goes (the sender, to the adapter). ``events``: answers of the
    venue handed to the runner so far.
    """

    __slots__ = ("_clock", "_offset", "_resync", "_stopped", "_wake", "events", "venue")

    def __init__(self, venue: PaperVenue, clock: Clock, resync: Callable[[Command], None]) -> None:
        self.venue = venue
        self.events = 0
        self._clock = clock
        self._resync = resync
        # exchange minus local time of the latest book or trade handled (the venue's clock is
        # estimated as the local clock plus this); None before any market data
        self._offset: int | None = None
        self._wake = asyncio.Event()
        self._stopped = False

    def submit(self, command: Command, now: int) -> None:
        """The runner's sink: the venue executes everything but ``Resync``."""
        if type(command) is Resync:
            self._resync(command)
            return
        self.venue.submit(command, now)
        self._wake.set()

    def on_market(self, ev: Event, recv: int) -> None:
        """A market event the runner is handling, received at local time ``recv`` (before any
        restamping by the runner)."""
        if type(ev) in _CLOCK_EVENTS and ev.ts > 0:
            self._offset = ev.ts - recv
        self.venue.on_market(ev)
        self._wake.set()

    def stop(self) -> None:
        """End ``pump`` at its next wake-up (woken now). A cancel alone may not: on 3.10
        ``asyncio.wait_for`` swallows a cancel that meets its inner wait completing."""
        self._stopped = True
        self._wake.set()

    async def pump(self, dispatch: Callable[[Event], None]) -> None:
        """Run the venue up to its estimated clock and ``dispatch`` its answers when the local
        clock reaches their ``ts_recv``; until cancelled or ``stop``."""
        venue = self.venue
        clock = self._clock
        wake = self._wake
        replace = msgspec.structs.replace
        while not self._stopped:
            now = clock()
            offset = self._offset
            if offset is None:  # no market data yet: the venue has no other clock
                offset = 0
            venue.advance_to(now + offset)
            for ev in venue.pop_outbound(now):
                self.events += 1
                dispatch(replace(ev, ts_recv=now))
            # local times at which the next arrival (or funding) and the next answer are due;
            # on_market may change the offset meanwhile, and wakes this loop when it does
            offset = self._offset or 0
            due = min(venue.next_due - offset, venue.next_outbound_ts())
            delay = min(_POLL_S, max(0.0, (due - clock()) / 1e9))
            wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)
