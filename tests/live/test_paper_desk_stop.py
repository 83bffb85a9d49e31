"""The dry run's paper desk ends when the session tears down, whatever the timing of the cancel:
on 3.10 ``asyncio.wait_for`` swallows a cancel that meets its inner wait completing, so a cancel
just after a market event woke the pump could leave it running and the teardown waiting on it."""

from __future__ import annotations

import asyncio
import time

import pytest

from mmcore.commands import Command
from mmcore.events import Event
from mmcore.paper import PaperDesk


class IdleVenue:
    """A simulated venue with nothing to do."""

    next_due = 1 << 62

    def submit(self, command: Command, now: int) -> None:
        pass

    def on_market(self, ev: Event) -> None:
        pass

    def advance_to(self, ts: int) -> None:
        pass

    def next_outbound_ts(self) -> int:
        return 1 << 62

    def pop_outbound(self, until_recv_ts: int) -> list[Event]:
        return []


@pytest.mark.parametrize("steps", range(4))
def test_the_pump_ends_on_stop_and_cancel_at_any_step_after_a_wake(steps: int) -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        desk = PaperDesk(IdleVenue(), time.time_ns, lambda c: None)
        task = asyncio.create_task(desk.pump(lambda ev: None))
        await asyncio.sleep(0.01)

        def cancel_after(n: int) -> None:
            if n:
                loop.call_soon(cancel_after, n - 1)
            else:
                desk.stop()  # what the live runner's teardown does, then the cancel
                task.cancel()

        desk._wake.set()  # a market event arrives ...
        cancel_after(steps)  # ... and the teardown comes this many loop steps later
        done, _ = await asyncio.wait({task}, timeout=2.0)
        ended = bool(done)
        while not task.done():  # (the old pump: do not leave it behind)
            task.cancel()
            await asyncio.sleep(0.01)
        return ended

    assert asyncio.run(main()), "the pump ran on after the teardown's stop and cancel"
