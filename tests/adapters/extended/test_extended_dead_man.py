"""The dead man's switch at close, over a scripted REST client: a re-arm still at the venue is
waited for before the disarm, and one that does not come back in time leaves the switch armed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from adapters.extended.dead_man import DeadMansSwitch


class HeldRest:
    """Records every countdown sent; the one after ``hold()`` is answered only when ``gate``
    is set. No order works at the venue."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.gate = asyncio.Event()
        self._hold = False

    def hold(self) -> None:
        self._hold = True

    async def dead_man_switch(self, countdown_s: int) -> None:
        self.sent.append(countdown_s)
        if self._hold:
            self._hold = False
            await self.gate.wait()

    async def open_orders(self, symbols: list[str]) -> list[Any]:
        return []


async def _closing_during_a_held_re_arm(rest: HeldRest) -> tuple[DeadMansSwitch, Any]:
    """Arm, hold the next re-arm at the venue and cancel the re-arm loop, as the adapter's close
    does; returns the switch and the re-arm task."""
    switch = DeadMansSwitch(rest, 60, 0.01)  # type: ignore[arg-type]
    await switch.arm()
    rest.hold()
    loop = asyncio.create_task(switch.keep_armed())
    while len(rest.sent) < 2:  # the re-arm is out
        await asyncio.sleep(0.01)
    switch.stop_rearming()
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    return switch, switch._arming


def test_a_re_arm_in_flight_at_close_is_waited_for_and_then_the_switch_is_disarmed() -> None:
    async def main() -> list[int]:
        rest = HeldRest()
        switch, arming = await _closing_during_a_held_re_arm(rest)
        assert arming is not None and not arming.done()  # the loop's cancel spared it
        disarming = asyncio.create_task(switch.disarm_if_safe([], 30.0))
        for _ in range(5):
            await asyncio.sleep(0)
        assert rest.sent == [60, 60]  # no disarm while the re-arm is out
        rest.gate.set()
        await disarming
        return rest.sent

    assert asyncio.run(main()) == [60, 60, 0]  # the re-arm, then the disarm


def test_a_re_arm_still_out_when_the_wait_ends_leaves_the_switch_armed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> tuple[list[int], bool]:
        rest = HeldRest()
        switch, arming = await _closing_during_a_held_re_arm(rest)
        await switch.disarm_if_safe([], 0.05)
        await asyncio.sleep(0)
        return rest.sent, arming.cancelled()

    with caplog.at_level(logging.WARNING, logger="adapters.extended.dead_man"):
        sent, cancelled = asyncio.run(main())
    assert sent == [60, 60]  # never disarmed in a race with the re-arm
    assert cancelled  # and no retry of it after the close
    assert "left armed: a re-arm is still in flight" in caplog.text
