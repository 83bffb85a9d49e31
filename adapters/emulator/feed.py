"""Market data for the emulator: a recorded log or a generator, re-timed to the emulator's clock.

The source's first event is mapped to the moment the feed starts; later events keep their spacing
(scaled by ``speed``). Only market events (snapshots, deltas, trades, mark prices, funding rates)
for known instruments pass; everything else in a recorded log (our own orders, fills, control
events) is skipped. Tests can ``inject`` events to be delivered at the next ``due`` call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from mmcore.errors import MMError
from mmcore.events import BookDelta, BookSnapshot, Event, FundingRate, MarkPrice, Trade

__all__ = ["FeedStatistics", "MarketEventType", "MarketFeed", "NotMarketDataError"]

MarketEventType = (BookSnapshot, BookDelta, Trade, MarkPrice, FundingRate)
_MARKET = frozenset(MarketEventType)


class NotMarketDataError(MMError, TypeError):
    """Something other than a market event was injected into the feed."""


class FeedStatistics(msgspec.Struct, frozen=True):
    """Counters of a market feed."""

    delivered: int
    skipped: int
    injected: int
    exhausted: bool


class MarketFeed:
    """Hands out the source's market events whose (re-timed) time has come."""

    def __init__(
        self,
        source: Iterable[object],
        start_ns: int,
        symbols: Iterable[str],
        speed: float = 1.0,
    ) -> None:
        self._it: Iterator[object] = iter(source)
        self._start = start_ns
        self._symbols = frozenset(symbols)
        self._speed = speed
        self._origin = -1
        self._pending: Event | None = None
        self._pending_ts = 0
        self._injected: list[Event] = []
        self._exhausted = False
        self._delivered = 0
        self._skipped = 0
        self._n_injected = 0
        self._last_ts = start_ns

    def inject(self, ev: Event) -> None:
        """Deliver ``ev`` (re-timed to "now") at the next ``due`` call, before anything else."""
        if type(ev) not in _MARKET:
            raise NotMarketDataError(
                f"MarketFeed.inject: expected a market event, found {type(ev).__name__}"
            )
        self._injected.append(ev)
        self._n_injected += 1

    def due(self, now_ns: int) -> list[Event]:
        """Every event due at or before ``now_ns``, re-timed, in order."""
        out: list[Event] = []
        for ev in self._injected:
            out.append(_retime(ev, max(now_ns, self._last_ts)))
        self._injected.clear()
        while True:
            if self._pending is None and not self._pull():
                break
            if self._pending_ts > now_ns:
                break
            assert self._pending is not None
            self._last_ts = max(self._last_ts, self._pending_ts)
            out.append(_retime(self._pending, self._last_ts))
            self._pending = None
        self._delivered += len(out)
        return out

    def next_ts(self) -> int:
        """The re-timed time of the next source event, or -1 when the source is exhausted."""
        if self._pending is None and not self._pull():
            return -1
        return self._pending_ts

    def _pull(self) -> bool:
        if self._exhausted:
            return False
        for rec in self._it:
            if type(rec) not in _MARKET or rec.inst not in self._symbols:  # type: ignore[attr-defined]
                self._skipped += 1
                continue
            ev: Event = rec  # type: ignore[assignment]
            t = ev.ts_recv or ev.ts
            if self._origin < 0:
                self._origin = t
            self._pending = ev
            self._pending_ts = self._start + int((t - self._origin) / self._speed)
            return True
        self._exhausted = True
        return False

    def statistics(self) -> FeedStatistics:
        return FeedStatistics(
            delivered=self._delivered,
            skipped=self._skipped,
            injected=self._n_injected,
            exhausted=self._exhausted,
        )


def _retime(ev: Event, ts: int) -> Event:
    return msgspec.structs.replace(ev, ts=ts, ts_recv=ts)
