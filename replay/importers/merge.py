"""Merging separately recorded streams (book, trades) into one stream in receive-time order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from operator import attrgetter

from mmcore.events import Event

__all__ = ["merge_by_time"]


def merge_by_time(*streams: Iterable[Event]) -> Iterator[Event]:
    """Merge streams each ordered by ``ts_recv``; on equal times earlier streams go first.

    Lazy and constant-memory (one pending event per stream). A stream that is itself out of
    order stays out of order; ``ImportReport.time_regressions`` counts that on writing.
    """
    return heapq.merge(*streams, key=attrgetter("ts_recv"))
