"""A live session whose event log fails mid-run: its directory removed, fsync failing. The session
must not trade on without its audit trail: it stops at the next flush (a timer tick), cancels
every order at the venue and says which file failed and how."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from fake_venue import SIMPLE_SESSION, InstantVenue, quoting

from mmcore import log_writer
from mmcore.commands import CancelAll
from mmcore.config import LogConfig, parse_config
from mmcore.live import LiveRunner
from mmcore.log import LogWriteError
from replay.session import build_engine


def eio(*args: Any) -> None:
    raise OSError(errno.EIO, os.strerror(errno.EIO))


async def fail_while_quoting(
    path: Path, venue: InstantVenue, fail: Any
) -> tuple[LiveRunner, LogWriteError]:
    """Run a session flushing its log on every 20 ms tick (synced at each flush), ``fail`` it
    once it quotes, and return the runner and the error ``run`` raised."""
    runner = LiveRunner(
        venue, parse_config(SIMPLE_SESSION, "<test>"), build_engine, path,  # type: ignore[arg-type]
        clock=time.time_ns, handle_signals=False, timer_interval_ms=20, shutdown_timeout_s=2.0,
        log_config=LogConfig(fsync="flush"),
    )
    task = await quoting(runner, venue)
    for _ in range(200):
        if len(venue.live) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(venue.live) == 2  # a bid and an ask working at the venue
    fail()
    with pytest.raises(LogWriteError) as err:
        await asyncio.wait_for(task, 5)
    return runner, err.value


@pytest.mark.parametrize("failure", ["dir_removed", "fsync_eio"])
def test_a_log_failing_mid_session_stops_it_and_cancels_every_order_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "out" / "s.mmlog"
    venue = InstantVenue()
    if failure == "dir_removed":
        fail, said = (lambda: shutil.rmtree(path.parent)), "the log file was removed or replaced"
    else:
        fail, said = (lambda: monkeypatch.setattr(log_writer.os, "fsync", eio)), "may be lost"

    with caplog.at_level("ERROR", logger="mmcore.live"):
        runner, error = asyncio.run(fail_while_quoting(path, venue, fail))
    assert str(error).startswith(f"{path}: ") and said in str(error), error
    said_live = [r.getMessage() for r in caplog.records if r.name == "mmcore.live"]
    assert any(m.startswith("live: the event log failed") for m in said_live), said_live
    assert not any("the engine failed" in m for m in said_live), said_live
    assert runner.stop_reason == f"fatal: LogWriteError: {error}"
    last = venue.executed[-1]
    assert type(last) is CancelAll and last.inst == ""  # every market, straight to the venue
    assert venue.live == set() and venue.closed


def _fragile(config: Any, instruments: Any) -> Any:
    """The session's engine, failing on its first timer tick (a bug)."""
    engine = build_engine(config, instruments)
    on_event = engine.on_event

    def failing(ev: Any) -> Any:
        if type(ev).__name__ == "Timer":
            raise RuntimeError("engine bug")
        return on_event(ev)

    engine.on_event = failing  # type: ignore[method-assign]
    return engine


@pytest.mark.parametrize("ending", ["engine_bug", "cancel"])
def test_a_log_that_fails_to_close_never_replaces_the_sessions_own_error_or_cancel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    """The session ends over an engine bug, or its task is cancelled, and then the log's close
    fails too (a full disk at the final fsync): the caller must get the bug, or the cancel, and
    the close failure is only logged."""
    close = log_writer.LogWriter.close

    def failing_close(self: Any) -> None:
        close(self)
        raise LogWriteError(f"{self.path}: expected to sync the log, found ENOSPC")

    monkeypatch.setattr(log_writer.LogWriter, "close", failing_close)

    async def main() -> BaseException | None:
        venue = InstantVenue()
        bug = ending == "engine_bug"
        runner = LiveRunner(venue, parse_config(SIMPLE_SESSION, "<test>"),
                            _fragile if bug else build_engine, tmp_path / "s.mmlog",
                            clock=time.time_ns, handle_signals=False,
                            timer_interval_ms=50 if bug else 0, shutdown_timeout_s=1.0)
        task = await quoting(runner, venue)
        if not bug:
            task.cancel()
        try:
            await asyncio.wait_for(task, 10)
        except BaseException as exc:
            return exc
        return None

    raised = asyncio.run(main())
    if ending == "cancel":
        assert isinstance(raised, asyncio.CancelledError), raised
    else:
        assert isinstance(raised, RuntimeError) and str(raised) == "engine bug", raised
