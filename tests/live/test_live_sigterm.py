"""``mm run`` as a real process against the emulator: SIGTERM cancels everything and the log it
leaves replays exactly."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from adapters.extended.emulator import ExtendedEmulatorHandle
from mmcore.events import ConnectionState
from mmcore.log import open_log
from mmcore.session_control import SESSION_STREAM, STOPPING
from replay.verify import verify_log


async def run_until_sigterm(
    h: ExtendedEmulatorHandle,
    config: Path,
    log_path: Path,
    mm_command: Callable[..., list[str]],
    wait_until: Callable[..., Awaitable[None]],
    ready: tuple[Callable[[], bool], str] | None = None,
    settle_s: float = 0.0,
) -> tuple[int, str, str, list[str]]:
    """Start ``mm run``, wait for resting quotes (or ``ready``: a predicate and what it waits
    for) and ``settle_s`` more, SIGTERM it; returns its exit code, stdout, stderr and the client
    ids it had resting at the emulator."""
    env = {**os.environ, **h.credentials[0].env()}
    proc = await asyncio.create_subprocess_exec(
        *mm_command("run", "--config", str(config), "--out", str(log_path)),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    done, what = ready or (lambda: len(h.account().open_orders()) >= 2,
                           "resting quotes from the mm run process")
    try:
        await wait_until(lambda: done() or proc.returncode is not None, what, 30.0)
        await asyncio.sleep(settle_s)
        resting = sorted(o.client_id for o in h.account().open_orders())
        assert proc.returncode is None, f"mm run exited before {what}"
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30.0)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode(), resting


def test_sigterm_cancels_every_order_exits_0_and_leaves_a_log_that_replays(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    write_config: Callable[..., Path],
    mm_command: Callable[..., list[str]],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    log_path = tmp_path / "sigterm.mmlog"

    async def main() -> tuple[int, str, str, list[str], list[str]]:
        h = await make_emulator()
        try:
            code, out, err, resting = await run_until_sigterm(
                h, write_config(h.base_url), log_path, mm_command, wait_until
            )
            left = sorted(o.client_id for o in h.account().open_orders())
        finally:
            await h.close()
        return code, out, err, resting, left

    code, out, err, resting, left = asyncio.run(main())
    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert len(resting) >= 2
    assert left == []  # no dead man's switch in the config: the runner canceled them
    assert "stopped (SIGTERM)" in out
    verdict = verify_log(log_path)
    assert verdict.ok, verdict.divergence.describe() if verdict.divergence else verdict
    stops = [
        r
        for r in open_log(log_path, repair=False)
        if type(r) is ConnectionState and r.stream == SESSION_STREAM and r.state == STOPPING
    ]
    assert [s.reason for s in stops] == ["SIGTERM"]


def test_sigterm_during_start_up_stops_the_session_cleanly(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    write_config: Callable[..., Path],
    mm_command: Callable[..., list[str]],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    """SIGTERM while the start-up reconcile waits for the venue (its open-orders read held 3 s):
    the start-up finishes and the session stops the normal way, exit 0 with a log that replays.
    The runner's handler used to be installed only after the start-up, so the signal's default
    action killed the process (-15) in the middle of it."""
    log_path = tmp_path / "early.mmlog"

    async def main() -> tuple[int, str, str, list[str]]:
        h = await make_emulator()
        try:
            h.faults.delay_next(1, 3000, "/api/v1/user/orders")
            # the log is opened just before the start-up's CancelAll and reconcile; the signal
            # comes half a second into the held read
            code, out, err, _ = await run_until_sigterm(
                h, write_config(h.base_url), log_path, mm_command, wait_until,
                (log_path.exists, "the session's log"), settle_s=0.5,
            )
            left = sorted(o.client_id for o in h.account().open_orders())
            return code, out, err, left
        finally:
            await h.close()

    code, out, err, left = asyncio.run(main())
    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "stopped (SIGTERM)" in out
    assert left == []
    verdict = verify_log(log_path)
    assert verdict.ok, verdict.divergence.describe() if verdict.divergence else verdict
