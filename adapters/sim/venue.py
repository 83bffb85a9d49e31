"""The simulated venue: the sink of a backtest, matching our commands against recorded data.

Time model. The venue lives in *exchange time*: market events are applied at their ``ts``, and a
command the engine sends at engine time ``now`` (the ``ts_recv`` of the event it reacted to)
arrives at ``now + entry latency``. Everything the venue emits is stamped ``ts`` = the venue time
it happened and ``ts_recv = ts + response latency``. Both directions are one connection each and
stay first-in first-out: an arrival (or a response) that a random latency draw would put before
the previous one is delayed to it, so a ``Cancel`` never overtakes its ``Place``.

Work happens in exchange-time order: ``on_market(ev)`` first runs everything due up to ``ev.ts``
(arrivals, funding boundaries), then applies ``ev``; ``advance_to(ts)`` runs what is due without a
market event. ``next_due`` is the earliest time at which something is due, so the hot path of
``on_market`` costs one comparison when nothing is.

One clock. The venue's clock is the exchange time of the data it is fed, one for all its
markets: right for one market, or for markets whose data agree on the time (the live feeds of the
emulator and of a dry run). A backtest of several markets runs each on a ``SimVenue`` of its own
(``adapters.sim.venues.SimVenues``), on its own data's clock: logs recorded apart need not agree
on the time (the recorder of the Binance capture ran 1.27 s behind the exchange), and a market's
fills must not depend on which other markets are in the session.

Client ids. A ``Place`` whose ``client_id`` is taken anywhere on the venue (``VenueWide``: also
across the venues of ``SimVenues``; an order of any market that is live, or finished less than
``CLIENT_ID_KEPT_NS``, 10 minutes of exchange time, ago) is refused at arrival, before any other
check: ``OrderRejected("duplicate_client_id")``. So one id is never live on two markets and a
retried ``Place`` never makes a second order (see ``adapters.sim.client_ids`` for the window). A
``Place`` for a market the venue does not list takes its id too (``"unknown_instrument"``, finished
at once).

End of the data. ``end_of_data()`` (called by ``SimSource`` once the last market event has been
handled) closes the venue to new commands: a command submitted after it is dropped, never
answered, and counted in ``SimStats.after_end`` only; the commands submitted before it still
arrive and are answered. Without it the engine would answer every late response with new
commands and a backtest might never end. It also stops funding: no boundary is settled after it
(not even one before the arrival of a command submitted earlier), as no market data tells the
position's value, or that the market still runs, past the data's end; the venue only delivers
the arrivals and their answers.

Malformed market data. A ``BookSnapshot`` or ``BookDelta`` the venue's book refuses
(``BookDataError``: odd-length levels, price <= 0, negative size) does not stop the venue, as it
does not stop the engine: it is counted in ``SimStats.bad_market_data`` and the book is left
stale, ignoring deltas until the next snapshot; nothing is taken from a stale book (see
``adapters.sim.matching``).

The venue is pure: no I/O, no clock, and its only randomness is the ``random.Random`` it is given
(latency draws, the probabilistic queue model).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from adapters.sim.client_ids import ClientIds
from adapters.sim.config import SimConfig
from adapters.sim.errors import NotACommandError, NotMarketDataError
from adapters.sim.fees import FeeSchedule
from adapters.sim.funding import FundingClock
from adapters.sim.latency import make_latency
from adapters.sim.matching import Market
from adapters.sim.outbox import Outbox
from adapters.sim.queue import make_queue_model
from adapters.sim.stats import SimCounters, SimStats
from adapters.sim.times import NEVER
from mmcore.book import BookDataError
from mmcore.commands import Cancel, CancelAll, Command, Place, Resync
from mmcore.events import (
    BookDelta,
    BookSnapshot,
    Event,
    FundingRate,
    MarkPrice,
    Trade,
)
from mmcore.instrument import Instrument

__all__ = ["SimVenue", "VenueWide"]

_NOTHING_TAKEN: Mapping[int, int] = MappingProxyType({})
_COMMAND_TYPES = frozenset({Place, Cancel, CancelAll, Resync})


def _not_a_command(kind: type, now: int) -> NotACommandError:
    return NotACommandError(
        f"SimVenue.submit: expected Place, Cancel, CancelAll or Resync, "
        f"found {kind.__name__} at engine time {now}"
    )


class VenueWide:
    """What the markets of one venue share, also when each runs on its own ``SimVenue``
    (``SimVenues``): the client ids taken (a ``duplicate_client_id`` is refused across markets),
    the counters (one ``SimStats``) and every market (where a taken id is live, which symbols
    the venue lists)."""

    __slots__ = ("counters", "ids", "markets")

    def __init__(self) -> None:
        self.ids = ClientIds()
        self.counters = SimCounters()
        self.markets: dict[str, Market] = {}


class SimVenue:
    """Matches commands against recorded market data with latency, queue position and fees."""

    __slots__ = (
        "_arrivals",
        "_client_ids",
        "_counters",
        "_ended",
        "_funding",
        "_gate",
        "_last_arrival",
        "_latency",
        "_market_events",
        "_markets",
        "_outbox",
        "_started",
        "_wide",
        "clock",
        "config",
        "next_due",
    )

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        config: SimConfig,
        rng: random.Random,
        wide: VenueWide | None = None,
    ) -> None:
        """``wide``: what this venue shares with the venues of a session's other markets
        (``SimVenues``); a venue of its own when left out."""
        self.config = config
        self._wide = wide = VenueWide() if wide is None else wide
        counters = self._counters = wide.counters
        self._latency = make_latency(config, rng)
        outbox = self._outbox = Outbox(self._latency, counters)
        queue = make_queue_model(config, rng)
        ids = self._client_ids = wide.ids
        self._markets: dict[str, Market] = {
            name: Market(
                name, inst, FeeSchedule.for_instrument(inst, config), queue, outbox, counters, ids
            )
            for name, inst in instruments.items()
        }
        wide.markets.update(self._markets)
        self._funding = FundingClock(config.funding_interval_s * 1_000_000_000)
        self._arrivals: deque[tuple[int, Command]] = deque()
        self._last_arrival = 0
        self._started = False
        self._gate = 0  # on_market takes its slow path from here (next_due once started)
        self._market_events = 0
        self._ended = False
        self.clock = 0
        """Exchange time of the last thing the venue did."""
        self.next_due = NEVER
        """Exchange time of the earliest pending arrival or funding boundary."""

    # ------------------------------------------------------------ the sink side

    def submit(self, cmd: Command, now: int) -> None:
        """Send ``cmd`` at engine time ``now``; it arrives after the entry latency.

        ``Resync`` is counted and ignored: the simulated venue's data has no gaps to heal (a
        malformed event leaves the venue's book stale until the data's next snapshot). After
        ``end_of_data`` every command is dropped and counted in ``after_end`` only.
        """
        kind = type(cmd)
        counters = self._counters
        if self._ended:
            if kind not in _COMMAND_TYPES:
                raise _not_a_command(kind, now)
            counters.after_end += 1
            return
        counters.commands += 1
        if kind is Place:
            counters.orders += 1
        elif kind is Cancel:
            counters.cancels += 1
        elif kind is CancelAll:
            counters.cancel_alls += 1
        elif kind is Resync:
            counters.resyncs += 1
            return
        else:
            raise _not_a_command(kind, now)
        self.deliver(cmd, now)

    def deliver(self, cmd: Command, now: int) -> None:
        """Send ``cmd`` (a ``Place``, ``Cancel`` or ``CancelAll``) at engine time ``now``
        without counting it: ``submit`` counts, then calls this; ``SimVenues`` also sends a
        ``CancelAll`` of every market to each market's venue this way (counted once)."""
        arrival = now + self._latency.entry(now)
        if arrival < self._last_arrival:
            arrival = self._last_arrival
        self._last_arrival = arrival
        self._arrivals.append((arrival, cmd))
        if arrival < self.next_due:
            self.next_due = arrival
            if self._started:
                self._gate = arrival

    def end_of_data(self) -> None:
        """The market data is over and the engine has handled its last event: accept no new
        command and settle no further funding boundary (see the module doc). The commands
        already submitted still arrive and are answered. Idempotent."""
        self._ended = True
        self._funding.stop()
        arrivals = self._arrivals
        self.next_due = arrivals[0][0] if arrivals else NEVER
        if self._started:
            self._gate = self.next_due

    @property
    def ended(self) -> bool:
        """Whether ``end_of_data`` was called: new commands are dropped."""
        return self._ended

    # ------------------------------------------------------------ exchange time

    def on_market(self, ev: Event) -> None:
        """Apply a recorded market event at its exchange time ``ev.ts``, after whatever was due
        before it; fill our orders it reaches."""
        ts = ev.ts
        if ts >= self._gate:
            if not self._started:  # the first market event: the first funding boundary after it
                self._started = True
                self._funding.start(ts)
                if self._funding.next_ts < self.next_due:
                    self.next_due = self._funding.next_ts
            self.advance_to(ts)
            self._gate = self.next_due
        clock = self.clock
        if ts > clock:
            self.clock = clock = ts
        self._market_events += 1
        kind = type(ev)
        e: Any = ev  # narrowed by the dispatch on ``kind`` below, which mypy cannot follow
        markets = self._markets
        if kind is BookDelta:  # the hot path: most market events are deltas
            market = markets.get(e.inst)
            if market is not None:
                if market.busy:
                    market.on_delta(e, clock)  # copes with malformed data itself
                else:  # none of our orders rests and we took nothing: only the book changes
                    try:
                        market.book.apply_delta(e)
                    except BookDataError:
                        market.bad_data()
                return
        elif kind is Trade:
            market = markets.get(e.inst)
            if market is not None:
                market.on_trade(e, clock)
                return
        elif kind is BookSnapshot:
            market = markets.get(e.inst)
            if market is not None:
                market.on_snapshot(e, clock)
                return
        elif kind is MarkPrice:
            if e.inst in markets:
                self._funding.on_mark(e)
                return
        elif kind is FundingRate:
            if e.inst in markets:
                self._funding.on_rate(e)
                return
        else:
            raise NotMarketDataError(
                f"SimVenue.on_market: expected BookSnapshot, BookDelta, Trade, MarkPrice or "
                f"FundingRate, found {kind.__name__} at ts {ts}"
            )
        self._counters.unknown_market += 1

    def feeder(self, inst: str) -> Callable[[Event], None]:
        """What applies the market events of ``inst``: ``on_market`` (``SimVenues.feeder``: that
        of the market's own venue)."""
        return self.on_market

    def advance_to(self, ts: int) -> None:
        """Run every arrival and funding boundary due at or before exchange time ``ts``, in time
        order (an arrival at a boundary's exact time goes first)."""
        if ts < self.next_due:
            return
        arrivals = self._arrivals
        funding = self._funding
        while True:
            boundary = funding.next_ts
            if arrivals and arrivals[0][0] <= ts and arrivals[0][0] <= boundary:
                arrival, cmd = arrivals.popleft()
                if arrival > self.clock:
                    self.clock = arrival
                self._execute(cmd, self.clock)
            elif boundary <= ts:
                if boundary > self.clock:
                    self.clock = boundary
                funding.settle(self._markets, self._outbox)
            else:
                break
        first = arrivals[0][0] if arrivals else NEVER
        self.next_due = first if first < funding.next_ts else funding.next_ts
        if self._started:
            self._gate = self.next_due

    def next_arrival_ts(self) -> int:
        """Exchange time at which the earliest pending command arrives, or ``NEVER``."""
        arrivals = self._arrivals
        return arrivals[0][0] if arrivals else NEVER

    def _execute(self, command: Command, ts: int) -> None:
        kind = type(command)
        cmd: Any = command  # narrowed by the dispatch on ``kind`` below
        market = self._markets.get(cmd.inst)
        if kind is Place:
            cid = cmd.client_id
            ids = self._client_ids
            if not ids.claim(cid, ts):  # venue-wide, before anything else (module doc)
                live = [m.inst for m in self._wide.markets.values() if cid in m.orders]
                where = (
                    f"live on {live[0]}"
                    if live
                    else f"finished less than {ids.kept_ns / 1e9:g} s before"
                )
                self._outbox.rejected(
                    cmd.inst,
                    ts,
                    cid,
                    "duplicate_client_id",
                    f"expected a client_id not taken on the venue, found {cid!r} {where} "
                    f"at ts {ts}",
                )
                return
            if market is None:
                self._outbox.rejected(
                    cmd.inst,
                    ts,
                    cid,
                    "unknown_instrument",
                    f"expected one of {sorted(self._wide.markets)}, found {cmd.inst!r} at ts {ts}",
                )
                ids.release(cid, ts)
                return
            market.place(cmd, ts)
            if cid not in market.orders:  # rejected, an IOC, or filled whole: finished now
                ids.release(cid, ts)
        elif kind is Cancel:
            if market is None or not market.cancel(cmd.client_id, ts, "canceled"):
                self._counters.cancel_misses += 1
        elif kind is CancelAll:
            reason = cmd.reason or "cancel_all"
            if cmd.inst:
                if market is not None:
                    market.cancel_all(ts, reason)
            else:
                for each in self._markets.values():
                    each.cancel_all(ts, reason)

    # ------------------------------------------------------------ the outbound side

    def next_outbound_ts(self) -> int:
        """``ts_recv`` of the earliest event waiting to reach us, or ``NEVER``."""
        queue = self._outbox.queue
        return queue[0].ts_recv if queue else NEVER

    @property
    def outbound(self) -> deque[Event]:
        """The waiting outbound events, earliest first; read-only for callers (the source)."""
        return self._outbox.queue

    def pop_outbound(self, until_recv_ts: int) -> list[Event]:
        """Every waiting event with ``ts_recv <= until_recv_ts``, in ``ts_recv`` order (ties in
        the order they were emitted)."""
        queue = self._outbox.queue
        out: list[Event] = []
        while queue and queue[0].ts_recv <= until_recv_ts:
            out.append(queue.popleft())
        return out

    # ------------------------------------------------------------ introspection

    def position(self, inst: str) -> int:
        """The venue's view of our net position on ``inst`` in lots."""
        return self._markets[inst].position

    def resting(self, inst: str) -> dict[str, tuple[int, int, int, int]]:
        """Our resting orders on ``inst``: ``client_id -> (side, price, remaining, ahead)``."""
        return {
            cid: (o.side, o.price, o.remaining, o.ahead)
            for cid, o in self._markets[inst].orders.items()
        }

    def taken(self, inst: str) -> tuple[Mapping[int, int], Mapping[int, int]]:
        """Liquidity our takes removed from the recorded book of ``inst`` and that matching
        still counts as gone (until the data updates the level): ``(bids, asks)``, each
        ``price -> lots``; empty for a market the venue does not know. Read-only views."""
        market = self._markets.get(inst)
        if market is None:
            return _NOTHING_TAKEN, _NOTHING_TAKEN
        return MappingProxyType(market.taken_bids), MappingProxyType(market.taken_asks)

    @property
    def market_events(self) -> int:
        """Market events fed so far (``on_market``)."""
        return self._market_events

    def statistics(self) -> SimStats:
        """A frozen copy of the venue's counters."""
        self._counters.market_events = self._market_events
        return self._counters.freeze()

