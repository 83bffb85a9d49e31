"""The simulated venue of a session with several markets: one ``SimVenue`` per market.

A ``SimVenue`` lives in the exchange time of the data it is fed, one clock for all its markets.
Data logs recorded apart need not agree on the time: in the Binance capture every event's ``ts``
is about 1.27 s after its ``ts_recv`` (the recorder's clock ran behind the exchange's), while a
log recorded elsewhere may lag its exchange by a few milliseconds. On one clock the market ahead
would set the time of the others: their fills stamped with its time, their commands run before
their own earlier events, their answers held behind its answers on the one connection. So a
market's results would depend on which other markets are in the session.

``SimVenues`` gives each market its own ``SimVenue`` (own clock, command arrivals, funding
boundaries, outbound connection) and shares only what is venue-wide (``VenueWide``): the client
ids taken (a duplicate is refused across markets), the counters, and the fill numbering. The
seeded ``random.Random`` is shared too: with a random latency or queue model the markets' draws
interleave, so only with constant latency and the ``risk_averse`` queue is a market's run
exactly the same whatever other markets are in the session.

Commands go to their market's venue; a ``CancelAll`` of every market (``inst == ""``) goes to each
(counted once); a command for a market the venue does not list goes to a venue of no market, which
refuses it at its arrival. Market events go to their market's venue (another market's to the
venue of no market, which counts them in ``unknown_market``). Outbound events of different markets
are merged by ``ts_recv``; on a tie the market listed first goes first.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Mapping
from operator import attrgetter

from adapters.sim.config import SimConfig
from adapters.sim.stats import SimStats
from adapters.sim.times import NEVER
from adapters.sim.venue import SimVenue, VenueWide
from mmcore.commands import CancelAll, Command
from mmcore.events import Event
from mmcore.instrument import Instrument

__all__ = ["SimVenues", "make_venue"]

_RECV = attrgetter("ts_recv")
_DUE = attrgetter("next_due")


def make_venue(
    instruments: Mapping[str, Instrument], config: SimConfig, rng: random.Random
) -> SimVenue | SimVenues:
    """The simulated venue of a session of ``instruments``: one ``SimVenue`` for one market (the
    backtest's fast path), ``SimVenues`` for several."""
    if len(instruments) <= 1:
        return SimVenue(instruments, config, rng)
    return SimVenues(instruments, config, rng)


class SimVenues:
    """Several markets, each matched by its own ``SimVenue`` on its own clock; the same calls as
    ``SimVenue`` for the sink (``submit``), the source and the reports."""

    __slots__ = ("_all", "_by_inst", "_elsewhere", "_venues", "_wide", "config", "next_due")

    def __init__(
        self, instruments: Mapping[str, Instrument], config: SimConfig, rng: random.Random
    ) -> None:
        self.config = config
        wide = self._wide = VenueWide()
        self._by_inst = {
            name: SimVenue({name: inst}, config, rng, wide) for name, inst in instruments.items()
        }
        self._venues = tuple(self._by_inst.values())
        """The markets' venues, in the order of ``instruments``: the order of ties."""
        self._elsewhere = SimVenue({}, config, rng, wide)
        """The venue of no market: refuses commands for markets not listed, counts their data."""
        self._all = (*self._venues, self._elsewhere)
        self.next_due = NEVER
        """Exchange time of the earliest pending arrival or funding boundary of any market, as of
        the last call here (a venue's own ``on_market``, through ``feeder``, leaves it be)."""

    def _due(self) -> None:
        self.next_due = min(map(_DUE, self._all))

    def _venue(self, inst: str) -> SimVenue:
        return self._by_inst.get(inst, self._elsewhere)

    # ------------------------------------------------------------ the sink side

    def submit(self, cmd: Command, now: int) -> None:
        """Send ``cmd`` at engine time ``now`` to its market's venue (``SimVenue.submit``); a
        ``CancelAll`` of every market to each market's venue, counted once."""
        inst = getattr(cmd, "inst", "")
        if type(cmd) is not CancelAll or inst or not self._venues:
            self._venue(inst).submit(cmd, now)
        else:
            first, *rest = self._venues
            first.submit(cmd, now)
            if not first.ended:
                for venue in rest:
                    venue.deliver(cmd, now)
        self._due()

    def end_of_data(self) -> None:
        """``SimVenue.end_of_data`` of every market's venue."""
        for venue in self._all:
            venue.end_of_data()
        self._due()

    def end_of_market(self, inst: str) -> None:
        """The data of ``inst`` has ended (every event of it handled) while other markets' goes
        on: ``SimVenue.end_of_data`` of its venue alone, as when it runs alone (no funding
        boundary settled after it, new commands of it dropped)."""
        venue = self._by_inst.get(inst)
        if venue is not None:
            venue.end_of_data()
            self._due()

    @property
    def ended(self) -> bool:
        """Whether ``end_of_data`` was called: new commands are dropped."""
        return self._elsewhere.ended

    # ------------------------------------------------------------ exchange time

    def on_market(self, ev: Event) -> None:
        """Apply a recorded market event on its market's venue, at its market's clock."""
        self._venue(getattr(ev, "inst", "")).on_market(ev)
        self._due()

    def feeder(self, inst: str) -> Callable[[Event], None]:
        """What applies the market events of ``inst``: its market's venue's ``on_market`` (the
        venue of no market's for a market not listed). It leaves ``next_due`` be, so only for an
        event that leaves it as it was: one the venue gets before its ``next_due`` once its
        first event came through ``on_market`` (the source's fast path)."""
        return self._venue(inst).on_market

    def advance_to(self, ts: int) -> None:
        """Run what is due at or before exchange time ``ts`` on every market's venue."""
        for venue in self._all:
            if ts >= venue.next_due:
                venue.advance_to(ts)
        self._due()

    @property
    def parts(self) -> tuple[SimVenue, ...]:
        """Every ``SimVenue`` held: the markets' (in the order of ties), then the venue of no
        market. Read-only for callers (the source looks at their ``outbound``)."""
        return self._all

    def next_arrival_ts(self) -> int:
        """Exchange time at which the earliest pending command of any market arrives."""
        return min(venue.next_arrival_ts() for venue in self._all)

    # ------------------------------------------------------------ the outbound side

    def next_outbound_ts(self) -> int:
        """``ts_recv`` of the earliest event waiting to reach us, or ``NEVER``."""
        first = NEVER
        for venue in self._all:
            queue = venue.outbound
            if queue and queue[0].ts_recv < first:
                first = queue[0].ts_recv
        return first

    def pop_outbound(self, until_recv_ts: int) -> list[Event]:
        """Every waiting event with ``ts_recv <= until_recv_ts``, in ``ts_recv`` order; ties in
        the order of the markets, then in the order each market emitted them."""
        parts = [venue.pop_outbound(until_recv_ts) for venue in self._all]
        ready = [part for part in parts if part]
        if len(ready) == 1:
            return ready[0]
        return list(heapq.merge(*ready, key=_RECV))

    # ------------------------------------------------------------ introspection

    def position(self, inst: str) -> int:
        """The venue's view of our net position on ``inst`` in lots."""
        return self._by_inst[inst].position(inst)

    def resting(self, inst: str) -> dict[str, tuple[int, int, int, int]]:
        """Our resting orders on ``inst``: ``client_id -> (side, price, remaining, ahead)``."""
        return self._by_inst[inst].resting(inst)

    def taken(self, inst: str) -> tuple[Mapping[int, int], Mapping[int, int]]:
        """``SimVenue.taken`` of ``inst``'s venue (empty for a market the venue does not list)."""
        return self._venue(inst).taken(inst)

    def statistics(self) -> SimStats:
        """A frozen copy of the venue-wide counters, market events of every market counted."""
        counters = self._wide.counters
        counters.market_events = sum(venue.market_events for venue in self._all)
        return counters.freeze()
