"""The event source of a backtest: recorded market data, the venue's responses and timers.

``SimSource`` is an iterator of events in receive-time (``ts_recv``) order, merging

- the recorded market events: one stream in the order given (which must be ``ts_recv`` order),
  or several (``MarketStreams``: one per data log and market, each in ``ts_recv`` order);
- the simulated venue's outbound account events (acks, rejects, cancels, fills, funding);
- ``Timer`` events at every multiple of ``timer_interval_ms`` of receive time (epoch aligned),
  from the first multiple after the first market event while market data lasts.

Ties in ``ts_recv`` go venue outbound first, then market, then timer; between streams, the one
given first goes first (``SimVenues``: between markets' answers, the market listed first).

The venue sees the market in exchange time, ahead of us. Before the source yields anything at
receive time ``t`` it lets the venue do, in exchange-time order, everything that happens at or
before ``t``: command arrivals and funding boundaries (``advance_to``) and the market events
whose exchange time ``ts`` is reached (``on_market``, in the data's order: the source reads ahead
while the next event's ``ts <= t``). So a market event is always fed to the venue before it is
yielded, a fill caused by it can reach us before the event itself does when the feed is slower
than the venue's response, and a command sent in reaction to an event yielded at ``t`` arrives
at the venue after everything the venue has done, so nothing is ever decided out of order.

Several streams. The venue sees them as one view in exchange-time order: of the streams' next
events not yet fed, the one with the smallest ``ts`` goes first (on a tie, the stream given
first), each stream read ahead from its head only, as one stream is, and only while that ``ts``
is reached (``ts <= t``). So a stream whose exchange time runs ahead never holds back another's
events, and a command's arrival waits for every stream's events before it; what is held is the
events fed but not yet received, per stream (memory stays flat). The engine gets the events
merged by ``ts_recv``, as recorded. On ``SimVenues`` (a session of several markets) each
market's venue runs on its own clock and sees its market's events and commands in the order it
would see them alone: a market's run does not depend on the other markets of the session (see
``adapters.sim.venues`` for the limits). One stream on a ``SimVenue`` takes a faster generator
(``_merge``), which decides as the general one (``_merge_streams``) does on one stream: the tests
run both on the same data and require the same events.

The source is lazy: the driver submits commands to the venue while handling an event, and the
next ``next()`` sees their consequences. When the market data runs out, pending commands are
still delivered and answered, then iteration stops (no trailing timers, no further funding: the
venue settles no funding boundary after ``end_of_data``, even one that falls before the arrival
of a pending command).
End of the data: once the market data is exhausted and its last event has been yielded (so the
driver has handled it and submitted the commands it caused), the source calls
``SimVenue.end_of_data``: the venue accepts no new command (a later submission is dropped,
never answered, and counted in ``SimStats.after_end``), while the commands submitted before are
still delivered and answered. So answering the venue's late responses cannot keep a backtest
going forever: the responses run out, then iteration stops. With no market data at all the venue
is closed at the first ``next()``.

Anything in ``market`` that is not market data (a recorded session's own timers or account
events) is skipped and counted in ``skipped``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from heapq import heapify, heappop, heapreplace
from typing import Any

from adapters.sim.times import NEVER
from adapters.sim.venue import SimVenue
from adapters.sim.venues import SimVenues
from mmcore.events import (
    BookDelta,
    BookSnapshot,
    Event,
    FundingRate,
    MarkPrice,
    Timer,
    Trade,
)

__all__ = ["MarketStreams", "SimSource"]

_MARKET_TYPES = frozenset({BookDelta, Trade, BookSnapshot, MarkPrice, FundingRate})


class MarketStreams:
    """Recorded market data in several streams, each in receive-time order (one per data log and
    market): ``SimSource`` feeds the venue from all of them in exchange-time order and yields
    their events in receive-time order (see the module doc); ties go to the stream given
    first."""

    __slots__ = ("streams",)

    def __init__(self, streams: Iterable[Iterable[Event]]) -> None:
        self.streams: tuple[Iterable[Event], ...] = tuple(streams)


class SimSource:
    """Iterator of the backtest's inbound events; see the module doc for the merge rules.

    ``iter(source)`` is a generator over the merge (the hot path: its state lives in one frame);
    ``next(source)`` advances the same generator. One stream of market data on a ``SimVenue``
    takes the fast generator, ``MarketStreams`` or ``SimVenues`` the general one.
    """

    __slots__ = ("_gen", "_interval", "_it", "_streams", "_venue", "skipped")

    def __init__(
        self,
        market: Iterable[Event] | MarketStreams,
        venue: SimVenue | SimVenues,
        timer_interval_ms: int,
    ) -> None:
        if isinstance(market, MarketStreams):
            streams, fast = market.streams, False
        else:
            streams, fast = (market,), isinstance(venue, SimVenue)
        self._streams: list[Iterator[Event]] = [iter(stream) for stream in streams]
        self._it: Iterator[Event] = self._streams[0] if self._streams else iter(())
        self._venue = venue
        self._interval = timer_interval_ms * 1_000_000
        self.skipped = 0
        """Non-market events found in ``market`` and dropped."""
        self._gen = self._merge() if fast else self._merge_streams()

    def __iter__(self) -> Iterator[Event]:
        return self._gen

    def __next__(self) -> Event:
        return next(self._gen)

    def _skip(self, ev: Event | None) -> Event | None:
        """Drop ``ev`` and what follows until a market event (or the end)."""
        it = self._it
        while ev is not None and type(ev) not in _MARKET_TYPES:
            self.skipped += 1
            ev = next(it, None)
        return ev

    def _skip_in(self, ev: Event | None, it: Iterator[Event]) -> Event | None:
        """``_skip`` on the stream ``it``: drop ``ev`` and what follows it until a market event."""
        while ev is not None and type(ev) not in _MARKET_TYPES:
            self.skipped += 1
            ev = next(it, None)
        return ev

    def _merge(self) -> Iterator[Event]:
        venue = self._venue
        assert isinstance(venue, SimVenue)
        outq = venue.outbound
        on_market = venue.on_market
        advance_to = venue.advance_to
        it = self._it
        interval = self._interval
        market_types = _MARKET_TYPES
        ahead: deque[Event] = deque()  # fed to the venue, not yet yielded
        nxt = self._skip(next(it, None))  # the next market event not yet fed
        ended = False  # whether the venue was told the market data is over
        timer = NEVER
        if interval and nxt is not None:
            timer = (nxt.ts_recv // interval + 1) * interval
        while True:
            # Fast path, for speed only: the full decision below would do the same. Nothing is on
            # its way back to us, and the next market event to yield (the first one fed ahead, or
            # else the next one) is received no later than the next timer and before anything the
            # venue has pending: feed the events whose exchange time has come by then and yield
            # it, unless feeding made something else due first (then decide in full).
            if not outq:
                head = ahead[0] if ahead else nxt
                if head is not None:
                    rt = head.ts_recv
                    if rt <= timer and rt < venue.next_due:
                        while nxt is not None and nxt.ts <= rt:
                            on_market(nxt)
                            ahead.append(nxt)
                            nxt = next(it, None)
                            if nxt is not None and type(nxt) not in market_types:
                                nxt = self._skip(nxt)
                            if outq or venue.next_due <= rt:
                                break
                        if ahead and not outq and rt < venue.next_due:
                            yield ahead.popleft()
                            continue
            if ahead:
                mk = ahead[0].ts_recv
            elif nxt is not None:
                mk = nxt.ts_recv
            else:
                mk = NEVER
            ob = outq[0].ts_recv if outq else NEVER
            t = mk if mk < ob else ob
            if timer < t and mk != NEVER:
                t = timer
            # let the venue act, in exchange time, up to the receive time t about to be yielded
            if nxt is None:
                if not ahead and not ended:
                    # every market event is yielded and the driver has handled the last one
                    # (this generator is resumed only after that): no command from now on
                    ended = True
                    venue.end_of_data()
                due = venue.next_arrival_ts()
                if due <= t and due != NEVER:
                    advance_to(due)
                    continue
            else:
                due = venue.next_due
                fx = nxt.ts
                if due <= fx:
                    if due <= t:
                        advance_to(due)
                        continue
                elif fx <= t:
                    while True:  # feed the market events whose exchange time has come
                        on_market(nxt)
                        ahead.append(nxt)
                        nxt = next(it, None)
                        if nxt is not None and type(nxt) not in market_types:
                            nxt = self._skip(nxt)
                        if nxt is None or (outq and outq[0].ts_recv <= t):
                            break
                        fx = nxt.ts
                        if fx > t or venue.next_due <= fx:
                            break
                    if nxt is None or (outq and outq[0].ts_recv <= t) or venue.next_due <= t:
                        continue  # something else may now come first: decide again
            # yield what is due at t
            if mk != NEVER and timer < mk and timer < ob:
                yield Timer(timer, timer)
                timer += interval
            elif ob <= mk:
                if ob == NEVER:
                    return
                yield from venue.pop_outbound(ob)
            elif ahead:
                yield ahead.popleft()
            else:  # only with an event stamped ts > ts_recv: feed it as it is yielded
                assert nxt is not None
                on_market(nxt)
                ev = nxt
                nxt = self._skip(next(it, None))
                yield ev

    def _merge_streams(self) -> Iterator[Event]:
        """``_merge`` over several streams: the next event to feed is the one of smallest ``ts``
        among the streams' heads not yet fed, the next market event to yield the one of smallest
        ``ts_recv`` among the streams' first not yet yielded (``(time, stream)`` heaps)."""
        venue = self._venue
        advance_to = venue.advance_to
        parts = venue.parts if isinstance(venue, SimVenues) else (venue,)
        queues = tuple(part.outbound for part in parts)
        feeders: dict[str, Callable[[Event], None]] = {}  # inst -> venue.feeder(inst)
        interval = self._interval
        streams = self._streams
        market_types = _MARKET_TYPES
        # per stream: the next event not yet fed (a market event: checked on the way in)
        nxt: list[Any] = [self._skip_in(next(it, None), it) for it in streams]
        ahead: list[deque[Event]] = [deque() for _ in streams]  # per stream: fed, not yielded
        feed = [(ev.ts, i) for i, ev in enumerate(nxt) if ev is not None]
        order = [(ev.ts_recv, i) for i, ev in enumerate(nxt) if ev is not None]
        heapify(feed)  # each stream's next event to feed, by ts
        heapify(order)  # each stream's next event to yield, by ts_recv
        # a market whose streams have all been yielded ends on its own venue, as when alone
        # (its funding stops), while the other markets' data goes on
        market_of = [ev.inst if ev is not None else "" for ev in nxt]
        streams_left = Counter(inst for inst in market_of if inst)
        end_market = venue.end_of_market if isinstance(venue, SimVenues) else None

        def stream_done(i: int) -> None:
            inst = market_of[i]
            streams_left[inst] -= 1
            if end_market is not None and not streams_left[inst]:
                end_market(inst)

        ended = False
        timer = NEVER
        if interval and order:
            timer = (order[0][0] // interval + 1) * interval
        while True:
            # Fast path, for speed only, as in _merge: nothing is on its way back to us and the
            # next market event to yield is received no later than the next timer and before
            # anything the venue has pending: feed, in ts order, the events whose exchange time
            # has come by then and yield it, unless something else came first (decide in full).
            if order and not any(queues):
                rt, i = order[0]
                due = venue.next_due
                if rt <= timer and rt < due:
                    quiet = True  # nothing on its way back to us
                    while feed:
                        fx, j = feed[0]
                        if fx > rt or due <= fx:
                            break
                        fed = nxt[j]
                        on_market = feeders.get(fed.inst)
                        if on_market is None:  # the first here: it may start the funding clock
                            venue.on_market(fed)
                            feeders[fed.inst] = venue.feeder(fed.inst)
                            due = venue.next_due
                        else:  # before its venue's next due, which it leaves as it was
                            on_market(fed)
                        ahead[j].append(fed)
                        it = streams[j]
                        new = nxt[j] = next(it, None)
                        if new is not None and type(new) not in market_types:
                            new = nxt[j] = self._skip_in(new, it)
                        if new is None:
                            heappop(feed)
                        else:
                            heapreplace(feed, (new.ts, j))
                        if any(queues):
                            quiet = False
                            break
                    waiting = ahead[i]
                    if waiting and rt < due and quiet:
                        ev = waiting.popleft()
                        head = waiting[0] if waiting else nxt[i]
                        if head is None:
                            heappop(order)
                            yield ev
                            stream_done(i)  # once its last event is handled, as _merge ends
                        else:
                            heapreplace(order, (head.ts_recv, i))
                            yield ev
                        continue
            mk = order[0][0] if order else NEVER
            ob = venue.next_outbound_ts() if any(queues) else NEVER
            t = mk if mk < ob else ob
            if timer < t and mk != NEVER:
                t = timer
            # let the venue act, in exchange time, up to the receive time t about to be yielded
            if not feed:
                if not order and not ended:  # every market event yielded and handled: _merge
                    ended = True
                    venue.end_of_data()
                due = venue.next_arrival_ts()
                if due <= t and due != NEVER:
                    advance_to(due)
                    continue
            else:
                fx, i = feed[0]
                due = venue.next_due
                if due <= fx:
                    if due <= t:
                        advance_to(due)
                        continue
                elif fx <= t:  # the earliest event not yet fed: its exchange time has come
                    fed = nxt[i]
                    venue.on_market(fed)
                    ahead[i].append(fed)
                    it = streams[i]
                    new = nxt[i] = self._skip_in(next(it, None), it)
                    if new is None:
                        heappop(feed)
                    else:
                        heapreplace(feed, (new.ts, i))
                    continue  # something else may now come first: decide again
            # yield what is due at t
            if mk != NEVER and timer < mk and timer < ob:
                yield Timer(timer, timer)
                timer += interval
            elif ob <= mk:
                if ob == NEVER:
                    return
                yield from venue.pop_outbound(ob)
            else:
                i = order[0][1]
                waiting = ahead[i]
                if waiting:
                    ev = waiting.popleft()
                else:  # only with an event stamped ts > ts_recv: feed it as it is yielded
                    ev = nxt[i]
                    venue.on_market(ev)
                    it = streams[i]
                    new = nxt[i] = self._skip_in(next(it, None), it)
                    at = next(j for j, (_, s) in enumerate(feed) if s == i)
                    if new is None:
                        feed[at] = feed[-1]
                        feed.pop()
                    else:
                        feed[at] = (new.ts, i)
                    heapify(feed)
                head = waiting[0] if waiting else nxt[i]
                if head is None:
                    heappop(order)
                    yield ev
                    stream_done(i)  # once its last event is handled, as _merge ends
                else:
                    heapreplace(order, (head.ts_recv, i))
                    yield ev
