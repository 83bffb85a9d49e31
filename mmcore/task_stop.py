"""Ending background tasks at a close: cancelled, then awaited for a bounded time.

A cancel alone may not end a task: on Python 3.10 ``asyncio.wait_for`` swallows a cancel that
meets its inner wait completing, so a loop around it runs on (the loops of the live runner and
the adapters also end on a closing flag for that). A close that awaited such a task without
bound would never let the session end, and with it the log's last records and the venue's
dead man's switch decision; so the wait is bounded and what still runs is named.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["stop_tasks"]


async def stop_tasks(
    tasks: list[asyncio.Task[Any]], timeout_s: float
) -> tuple[list[tuple[str, BaseException]], list[str]]:
    """Cancel ``tasks`` and wait for them, at most ``timeout_s``; empties the list. Returns the
    failures of those that ended (name, exception; retrieved, so asyncio reports none of them)
    and the names of those still running."""
    for task in tasks:
        task.cancel()
    failures: list[tuple[str, BaseException]] = []
    running: list[str] = []
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in done:
            exc = None if task.cancelled() else task.exception()
            if exc is not None:
                failures.append((task.get_name(), exc))
        running = sorted(t.get_name() for t in pending)
    tasks.clear()
    return failures, running
