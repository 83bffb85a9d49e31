"""The emulator's clock: the wall clock when serving, a manual one in tests.

The emulator is an I/O component, so it may read the wall clock; everything it does with time goes
through one of these so that a test can hold time still and move it by hand.
"""

from __future__ import annotations

import time
from typing import Protocol

from mmcore.errors import MMError

__all__ = ["ClockWentBackwardsError", "EmulatorClock", "ManualClock", "WallClock"]


class ClockWentBackwardsError(MMError, ValueError):
    """A manual clock was asked to move to an earlier time."""


class EmulatorClock(Protocol):
    """Integer nanoseconds since the Unix epoch."""

    def now_ns(self) -> int: ...


class WallClock:
    """The host's real time."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.time_ns()

    def __call__(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that moves only when told to; callable, so it doubles as an adapter ``Clock``."""

    __slots__ = ("_now",)

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def __call__(self) -> int:
        return self._now

    def advance(self, ns: int) -> int:
        """Move forward by ``ns`` nanoseconds and return the new time."""
        if ns < 0:
            raise ClockWentBackwardsError(f"ManualClock.advance: expected ns >= 0, found {ns}")
        self._now += ns
        return self._now

    def set(self, ts: int) -> None:
        """Jump to ``ts``; never backwards."""
        if ts < self._now:
            raise ClockWentBackwardsError(
                f"ManualClock.set: expected ts >= {self._now}, found {ts}"
            )
        self._now = ts
