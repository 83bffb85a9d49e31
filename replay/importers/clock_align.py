"""Aligning the recorder's receive clock with the exchange's, as the data is imported.

Every event carries ``ts`` (exchange time) and ``ts_recv`` (the recorder's local receive time);
``ts_recv - ts`` is its *feed latency*. A recorder whose clock runs behind the exchange's gives
negative feed latencies (the Binance capture in shared/data: about -1.27 s). A backtest runs the
engine in receive time and the simulated venue in exchange time, and sends a command at
``ts_recv + entry latency``: with a clock 1.27 s behind, every command arrives 1.27 s "in the
past" of the venue, runs at the venue's current time and is answered 1.27 s late.

So an import, as hftbacktest's data preparation does, measures the smallest feed latency of the
events it writes (``FeedLatency``; an event with ``ts == 0``, exchange time unknown, does not
count) and, when it is below a floor (``min_feed_latency_ns``, by default
``DEFAULT_MIN_FEED_LATENCY_NS``), adds one constant to every ``ts_recv`` so that the smallest
becomes exactly the floor (``clock_shift``, ``shifted``; ``replay.importers.output`` does it).
A smallest latency at or above the floor is real information and is never changed. A constant
keeps every receive-time order and gap as recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from mmcore.events import Event

__all__ = [
    "CLOCK_SHIFT_NOTE",
    "DEFAULT_MIN_FEED_LATENCY_NS",
    "SMALLEST_LATENCY_NOTE",
    "FeedLatency",
    "clock_shift",
    "describe_shift",
    "shifted",
]

DEFAULT_MIN_FEED_LATENCY_NS = 1_000_000
"""The smallest feed latency an import leaves (1 ms) when the recorded one is below it."""
CLOCK_SHIFT_NOTE = "clock_shift_ns"
"""The import report's note (and the log header's ``meta`` key) of the shift, in ns."""
SMALLEST_LATENCY_NOTE = "smallest_feed_latency_ns"
"""The import report's note of the smallest feed latency recorded (before the shift), in ns."""


class FeedLatency:
    """The smallest ``ts_recv - ts`` of the events seen (``None`` until one with a ``ts``)."""

    __slots__ = ("smallest",)

    def __init__(self) -> None:
        self.smallest: int | None = None

    def see(self, event: Event) -> None:
        ts = event.ts
        if ts:
            latency = event.ts_recv - ts
            smallest = self.smallest
            if smallest is None or latency < smallest:
                self.smallest = latency


def clock_shift(smallest: int | None, floor_ns: int | None) -> int:
    """What to add to every ``ts_recv`` (ns) so that the smallest feed latency ``smallest`` is
    ``floor_ns``: 0 when it is already at or above it, when no event had an exchange time
    (``smallest`` ``None``) or when alignment is off (``floor_ns`` ``None``)."""
    if floor_ns is None or smallest is None or smallest >= floor_ns:
        return 0
    return floor_ns - smallest


def shifted(events: Iterable[Event], shift_ns: int) -> Iterator[Event]:
    """``events`` with ``shift_ns`` added to each ``ts_recv``."""
    replace = msgspec.structs.replace
    for event in events:
        yield replace(event, ts_recv=event.ts_recv + shift_ns)


def describe_shift(shift_ns: int, smallest_ns: int) -> str:
    """One line for the import report: the shift, and why."""
    why = (
        "the recorder's clock ran behind the exchange" if smallest_ns < 0
        else "the smallest feed latency was below the floor"
    )
    return (
        f"receive clock shifted {_duration(shift_ns)}: {why} (smallest feed latency "
        f"{_duration(smallest_ns)}, now {_duration(smallest_ns + shift_ns)})"
    )


def _duration(ns: int) -> str:
    """``ns`` signed, in s from 1 s up and in ms below, 3 decimals."""
    sign = "+" if ns >= 0 else "-"
    if abs(ns) >= 1_000_000_000:
        return f"{sign}{abs(ns) / 1e9:.3f} s"
    return f"{sign}{abs(ns) / 1e6:.3f} ms"
