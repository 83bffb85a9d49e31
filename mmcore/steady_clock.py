"""The live session's clock: wall-clock nanoseconds that never step.

The live runner stamps every event's receive time with its clock, and the rate budgets, loss
windows, order ages and timers all run on that time. The raw wall clock (``time.time_ns``) steps
when NTP corrects it or a VM resumes: a step back froze the session's time (the runner never lets
it go back), so its rate window stopped sliding and quoting stopped for as long as the step; a
step forward let a whole extra rate window out at once, and wiped the hourly drawdown.

``steady_wall_clock`` reads the wall clock once, at the start, and then moves with
``CLOCK_BOOTTIME`` (monotonic, and counting time suspended, so a resumed VM's clock is not
behind), or ``CLOCK_MONOTONIC`` where there is none. Both are slewed with the wall clock by NTP's
rate corrections, so the two stay within a step of each other. It follows no step either: a host
clock that is wrong when the session starts (NTP not synced yet, a VM restored from a snapshot)
stays wrong for the session, and orders are signed with expiries on it, so sync the clock before
starting (the Extended adapter logs how far the venue's clock is from the host's).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from mmcore.venue import Clock

__all__ = ["steady_ns", "steady_wall_clock"]

_STEADY = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


def steady_ns() -> int:
    """Nanoseconds of a clock that never steps (``CLOCK_BOOTTIME`` on Linux)."""
    return time.clock_gettime_ns(_STEADY)


def steady_wall_clock(
    wall: Clock = time.time_ns, steady: Callable[[], int] = steady_ns
) -> Clock:
    """A clock reading ``wall``'s time at the call, and from then on ``steady``'s progress."""
    offset = wall() - steady()

    def now() -> int:
        return steady() + offset

    return now
