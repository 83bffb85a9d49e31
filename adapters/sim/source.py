"""The event source of a backtest: recorded market data, the venue's responses and timers.

``SimSource`` is an iterator of events in receive-time (``ts_recv``) order, merging

- the recorded market events, in the order given (which must be ``ts_recv`` order);
- the simulated venue's outbound account events (acks, rejects, cancels, fills, funding);
- ``Timer`` events at every multiple of ``timer_interval_ms`` of receive time (epoch aligned),
  from the first multiple after the first market event while market data lasts.

Ties in ``ts_recv`` go venue outbound first, then market, then timer.

The venue sees the market in exchange time, ahead of us. Before the source yields anything at
receive time ``t`` it lets the venue do, in exchange-time order, everything that happens at or
before ``t``: command arrivals and funding boundaries (``advance_to``) and the market events
whose exchange time ``ts`` is reached (``on_market``, in the data's order: the source reads ahead
while the next event's ``ts <= t``). So a market event is always fed to the venue before it is
yielded, a fill caused by it can reach us before the event itself does when the feed is slower
than the venue's response, and a command sent in reaction to an event yielded at ``t`` arrives
at the venue after everything the venue has done, so nothing is ever decided out of order.

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

from collections import deque
from collections.abc import Iterable, Iterator

from adapters.sim.times import NEVER
from adapters.sim.venue import SimVenue
from mmcore.events import BookDelta, BookSnapshot, Event, FundingRate, MarkPrice, Timer, Trade

__all__ = ["SimSource"]

_MARKET_TYPES = frozenset({BookDelta, Trade, BookSnapshot, MarkPrice, FundingRate})


class SimSource:
    """Iterator of the backtest's inbound events; see the module doc for the merge rules.

    ``iter(source)`` is a generator over the merge (the hot path: its state lives in one frame);
    ``next(source)`` advances the same generator.
    """

    __slots__ = ("_gen", "_interval", "_it", "_venue", "skipped")

    def __init__(self, market: Iterable[Event], venue: SimVenue, timer_interval_ms: int) -> None:
        self._it: Iterator[Event] = iter(market)
        self._venue = venue
        self._interval = timer_interval_ms * 1_000_000
        self.skipped = 0
        """Non-market events found in ``market`` and dropped."""
        self._gen = self._merge()

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

    def _merge(self) -> Iterator[Event]:
        venue = self._venue
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
