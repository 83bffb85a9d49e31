"""Bounded series for plots: whatever the session's length, each keeps at most ``max_points``.

- ``Envelope``: a value over time, bucketed by time. Each bucket keeps its lowest and highest
  value (with their times) and its last, so a downsampled line still shows every spike. When the
  buckets outgrow ``max_points // 2`` their width doubles and neighbours merge.
- ``Thinned``: rows kept at a stride (every 1st, then every 2nd, 4th...): when more than
  ``max_points`` are held, every other one is dropped and the stride doubles.
- ``Periodic``: rows taken at most once per interval of time; when more than ``max_points``
  are held, every other one is dropped and the interval doubles.

All three are deterministic and allocate one small tuple or a few list slots per kept point;
adding a value that falls into the current bucket (or is not due) allocates nothing.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mmcore.errors import MMError

__all__ = ["Envelope", "Periodic", "SeriesBoundsError", "SeriesStats", "Thinned"]


class SeriesBoundsError(MMError, ValueError):
    """A bounded series was given a point budget or an interval too small to work with."""


class SeriesStats(msgspec.Struct, frozen=True):
    """Counters of a bounded series: values offered, points held, times it was thinned."""

    offered: int
    held: int
    thinnings: int


class Envelope:
    """A time series as per-bucket (low, high, last) values, at most ``max_points`` points.

    ``mark_break`` ends the line after the current bucket (a quote was pulled, say); plots draw
    the buckets between breaks as one connected line.
    """

    __slots__ = (
        "_key",
        "_offered",
        "_thinnings",
        "breaks",
        "hi",
        "keys",
        "last",
        "lo",
        "max_buckets",
        "t_hi",
        "t_lo",
        "width",
    )

    def __init__(self, max_points: int = 2000, width_ns: int = 1_000_000_000) -> None:
        if max_points < 4 or width_ns < 1:
            raise SeriesBoundsError(
                f"Envelope: expected max_points >= 4 and width_ns >= 1, "
                f"found {max_points} and {width_ns}"
            )
        self.max_buckets = max_points // 2
        self.width = width_ns
        self.keys: list[int] = []
        self.lo: list[int] = []
        self.hi: list[int] = []
        self.t_lo: list[int] = []
        self.t_hi: list[int] = []
        self.last: list[int] = []
        self.breaks: list[bool] = []
        self._key = -1 << 62
        self._offered = 0
        self._thinnings = 0

    def add(self, t: int, value: int) -> None:
        self._offered += 1
        key = t // self.width
        if key == self._key:
            if value < self.lo[-1]:
                self.lo[-1] = value
                self.t_lo[-1] = t
            elif value > self.hi[-1]:
                self.hi[-1] = value
                self.t_hi[-1] = t
            self.last[-1] = value
            return
        self._key = key
        self.keys.append(key)
        self.lo.append(value)
        self.hi.append(value)
        self.t_lo.append(t)
        self.t_hi.append(t)
        self.last.append(value)
        self.breaks.append(False)
        if len(self.keys) > self.max_buckets:
            self._halve()

    def mark_break(self) -> None:
        """No value after the current bucket's is connected to it."""
        if self.breaks:
            self.breaks[-1] = True

    def __len__(self) -> int:
        return len(self.keys)

    def segments(self) -> list[list[tuple[int, int]]]:
        """Connected runs of ``(t, value)`` points in time order: low and high of each bucket in
        the order they happened, then its last value when that differs from both."""
        out: list[list[tuple[int, int]]] = []
        run: list[tuple[int, int]] = []
        for i in range(len(self.keys)):
            lo, hi, t_lo, t_hi = self.lo[i], self.hi[i], self.t_lo[i], self.t_hi[i]
            if t_lo <= t_hi:
                run.append((t_lo, lo))
                if t_hi != t_lo:
                    run.append((t_hi, hi))
            else:
                run.append((t_hi, hi))
                run.append((t_lo, lo))
            last = self.last[i]
            if last != run[-1][1]:
                run.append((max(t_lo, t_hi), last))
            if self.breaks[i]:
                out.append(run)
                run = []
        if run:
            out.append(run)
        return out

    def _halve(self) -> None:
        """Double the bucket width and merge buckets that now share a key."""
        self.width *= 2
        self._thinnings += 1
        keys: list[int] = []
        lo: list[int] = []
        hi: list[int] = []
        t_lo: list[int] = []
        t_hi: list[int] = []
        last: list[int] = []
        brk: list[bool] = []
        for i in range(len(self.keys)):
            key = self.keys[i] // 2
            if keys and keys[-1] == key:
                if self.lo[i] < lo[-1]:
                    lo[-1] = self.lo[i]
                    t_lo[-1] = self.t_lo[i]
                if self.hi[i] > hi[-1]:
                    hi[-1] = self.hi[i]
                    t_hi[-1] = self.t_hi[i]
                last[-1] = self.last[i]
                brk[-1] = self.breaks[i]
                continue
            keys.append(key)
            lo.append(self.lo[i])
            hi.append(self.hi[i])
            t_lo.append(self.t_lo[i])
            t_hi.append(self.t_hi[i])
            last.append(self.last[i])
            brk.append(self.breaks[i])
        self.keys, self.lo, self.hi = keys, lo, hi
        self.t_lo, self.t_hi, self.last, self.breaks = t_lo, t_hi, last, brk
        self._key = keys[-1]

    def statistics(self) -> SeriesStats:
        return SeriesStats(self._offered, 2 * len(self.keys), self._thinnings)


class Thinned:
    """Rows kept at a stride that doubles whenever more than ``max_points`` are held."""

    __slots__ = ("_n", "_thinnings", "max_points", "rows", "stride")

    def __init__(self, max_points: int = 2000) -> None:
        if max_points < 2:
            raise SeriesBoundsError(f"Thinned: expected max_points >= 2, found {max_points}")
        self.max_points = max_points
        self.rows: list[tuple[Any, ...]] = []
        self.stride = 1
        self._n = 0
        self._thinnings = 0

    def add(self, row: tuple[Any, ...]) -> None:
        n = self._n
        self._n = n + 1
        if n % self.stride:
            return
        self.rows.append(row)
        if len(self.rows) > self.max_points:
            del self.rows[1::2]
            self.stride *= 2
            self._thinnings += 1

    def statistics(self) -> SeriesStats:
        return SeriesStats(self._n, len(self.rows), self._thinnings)


class Periodic:
    """Rows taken at most once per ``interval`` ns; the interval doubles whenever more than
    ``max_points`` are held. Ask ``due(t)`` before building a row: building it is the cost."""

    __slots__ = ("_offered", "_thinnings", "interval", "max_points", "next_t", "rows")

    def __init__(self, max_points: int = 2000, interval_ns: int = 1_000_000_000) -> None:
        if max_points < 2 or interval_ns < 1:
            raise SeriesBoundsError(
                f"Periodic: expected max_points >= 2 and interval_ns >= 1, "
                f"found {max_points} and {interval_ns}"
            )
        self.max_points = max_points
        self.interval = interval_ns
        self.next_t = -1 << 62
        self.rows: list[tuple[Any, ...]] = []
        self._offered = 0
        self._thinnings = 0

    def due(self, t: int) -> bool:
        return t >= self.next_t

    def add(self, t: int, row: tuple[Any, ...]) -> None:
        """Keep ``row`` taken at ``t`` (callers check ``due(t)`` first, or force a final row)."""
        self._offered += 1
        self.rows.append(row)
        self.next_t = t + self.interval
        if len(self.rows) > self.max_points:
            del self.rows[1::2]
            self.interval *= 2
            self._thinnings += 1

    def statistics(self) -> SeriesStats:
        return SeriesStats(self._offered, len(self.rows), self._thinnings)
