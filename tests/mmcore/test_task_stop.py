"""``stop_tasks``: cancelled tasks are awaited for a bounded time; failures and stragglers named."""

from __future__ import annotations

import asyncio
from typing import Any

from mmcore.task_stop import stop_tasks


def test_tasks_are_cancelled_failures_returned_and_a_task_ignoring_its_cancel_named() -> None:
    async def main() -> tuple[list[tuple[str, BaseException]], list[str], list[Any]]:
        async def sleeper() -> None:
            await asyncio.sleep(60)

        async def failed() -> None:
            raise ValueError("boom")

        release = asyncio.Event()

        async def stubborn() -> None:  # swallows its cancel, as 3.10's wait_for can make a loop
            while not release.is_set():
                try:
                    await asyncio.sleep(60)
                except asyncio.CancelledError:
                    continue

        tasks = [asyncio.create_task(sleeper(), name="sleeper"),
                 asyncio.create_task(failed(), name="failed"),
                 asyncio.create_task(stubborn(), name="stubborn")]
        await asyncio.sleep(0)
        failures, running = await stop_tasks(tasks, 0.1)
        release.set()
        return failures, running, tasks

    failures, running, still = asyncio.run(main())
    assert [(name, type(exc)) for name, exc in failures] == [("failed", ValueError)]
    assert running == ["stubborn"]
    assert still == []  # the list is emptied
