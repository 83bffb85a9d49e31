"""The live session's clock never steps, whatever the wall clock does."""

from __future__ import annotations

import time

from mmcore.steady_clock import steady_ns, steady_wall_clock

S = 1_000_000_000


def test_the_clock_starts_at_the_wall_time_and_then_follows_the_steady_clock_only() -> None:
    wall = [1_700_000_000 * S]
    steady = [50 * S]
    clock = steady_wall_clock(lambda: wall[0], lambda: steady[0])
    assert clock() == 1_700_000_000 * S
    steady[0] += 2 * S
    wall[0] -= 3600 * S  # NTP steps the wall clock back an hour
    assert clock() == 1_700_000_002 * S  # two seconds on, not an hour back
    steady[0] += S
    wall[0] += 7200 * S  # and forward two hours
    assert clock() == 1_700_000_003 * S


def test_the_default_clock_is_near_the_wall_clock_and_never_goes_back() -> None:
    clock = steady_wall_clock()
    readings = [clock() for _ in range(1000)]
    assert readings == sorted(readings)
    assert abs(readings[-1] - time.time_ns()) < 5 * S
    assert steady_ns() > 0
