"""One ``mm run`` per account: a second session on the same emulator account is refused before it
contacts the venue while the first runs, and starts once the first is gone, even killed with
``kill -9``; a dry run takes no lock."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from adapters.extended import ExtendedConfig
from adapters.extended.emulator import ExtendedEmulatorHandle
from mmcore.account_lock import AccountLock, AccountLockError, account_lock_path
from mmcore.cli.run_cmd import run_live, venue_table
from mmcore.config import parse_config

PIPE = asyncio.subprocess.PIPE


def emulator_lock(lock_dir: Path, h: ExtendedEmulatorHandle, vault: int) -> Path:
    """The lock file of ``vault`` at emulator ``h``: every emulator numbers its vaults from
    10001, so its address is part of the account."""
    account = f"{vault}@{urlsplit(h.base_url).netloc}"
    return account_lock_path(lock_dir, "extended", "local", account)


def resting(h: ExtendedEmulatorHandle) -> list[str]:
    return sorted(o.client_id for o in h.account().open_orders())


@dataclass
class Exited:
    """How an ``mm run`` process ended."""

    code: int | None
    out: str
    err: str


@dataclass
class TwoSessions:
    """What the first session's lock file said while it ran, and after it was killed; the
    second session's exit and the quotes resting before and after it; the third's exit and
    what it left at the venue."""

    first_pid: int = 0
    holder: str = ""
    second: Exited | None = None
    resting_before: list[str] = field(default_factory=list)
    resting_after: list[str] = field(default_factory=list)
    first_code: int | None = None
    stale: str = ""
    third: Exited | None = None
    left: list[str] = field(default_factory=list)


def test_a_second_mm_run_on_the_account_is_refused_while_the_first_runs_and_starts_after_a_kill(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    write_config: Callable[..., Path],
    mm_command: Callable[..., list[str]],
    wait_until: Callable[..., Awaitable[None]],
    lock_dir: Path,
) -> None:
    """The second session used to cancel the first one's quotes at start-up, and the two then
    canceled each other's orders at every reconcile. Now it stops with one line naming the lock
    file and the first one's pid, having touched nothing; once the first is killed (its lock
    file left behind, naming a dead pid) a third session starts and trades."""
    seen = TwoSessions()
    lock = Path()

    async def main() -> None:
        nonlocal lock
        h = await make_emulator()
        try:
            config = str(write_config(h.base_url))
            env = {**os.environ, **h.credentials[0].env()}
            lock = emulator_lock(lock_dir, h, h.credentials[0].vault)

            async def mm_run(name: str, *extra: str) -> asyncio.subprocess.Process:
                argv = mm_command("run", "--config", config, "--out", str(tmp_path / name), *extra)
                return await asyncio.create_subprocess_exec(
                    *argv, env=env, stdout=PIPE, stderr=PIPE
                )

            async def exited(proc: asyncio.subprocess.Process) -> Exited:
                out, err = await asyncio.wait_for(proc.communicate(), 40.0)
                return Exited(proc.returncode, out.decode(), err.decode())

            first = await mm_run("first.mmlog")
            try:
                await wait_until(
                    lambda: len(resting(h)) >= 2 or first.returncode is not None,
                    "resting quotes from the first mm run", 30.0,
                )
                assert first.returncode is None, "the first mm run exited before quoting"
                seen.first_pid, seen.holder = first.pid, lock.read_text()
                seen.resting_before = resting(h)
                seen.second = await exited(await mm_run("second.mmlog", "--duration", "5"))
                seen.resting_after = resting(h)
                first.send_signal(signal.SIGKILL)
                seen.first_code = await asyncio.wait_for(first.wait(), 10.0)
            finally:
                if first.returncode is None:
                    first.kill()
                    await first.wait()
            seen.stale = lock.read_text()
            seen.third = await exited(await mm_run("third.mmlog", "--duration", "2"))
            seen.left = resting(h)
        finally:
            await h.close()

    asyncio.run(main())
    assert f'"pid":{seen.first_pid}' in seen.holder
    second = seen.second
    assert second is not None and second.code == 2, second
    assert second.err.startswith("mm: error:") and len(second.err.splitlines()) == 1, second
    assert str(lock) in second.err and f"pid {seen.first_pid} " in second.err
    assert not (tmp_path / "second.mmlog").exists()  # nothing logged, nothing recorded
    assert seen.resting_before == seen.resting_after  # the first session's quotes untouched
    assert seen.first_code == -signal.SIGKILL
    assert f'"pid":{seen.first_pid}' in seen.stale  # left behind, but no longer locked
    third = seen.third
    assert third is not None and third.code == 0, third
    assert "stopped (duration" in third.out
    assert seen.left == []  # the first one's quotes canceled at start-up, its own at the end
    assert lock.read_bytes() == b""  # released cleanly: it names no session


def test_run_live_refuses_a_held_account_before_any_venue_call_but_not_another_or_a_dry_run(
    tmp_path: Path,
    make_emulator: Callable[..., Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    lock_dir: Path,
) -> None:
    async def main() -> tuple[str, int, list[str]]:
        h = await make_emulator(accounts=2)
        try:
            config = parse_config(session_toml(h.base_url))
            venue = venue_table(config, "test", ExtendedConfig)
            path = emulator_lock(lock_dir, h, h.credentials[0].vault)
            with AccountLock(path, "extended", "local", "held by this test"):
                with pytest.raises(AccountLockError) as err:
                    await run_live(config, tmp_path / "never.mmlog",
                                   environ=h.credentials[0].env(venue), handle_signals=False)
                calls = h.statistics().rest.calls
                stops = []
                for name, environ, dry_run in [
                    ("other.mmlog", h.credentials[1].env(venue), False),  # another account
                    ("dry.mmlog", {}, True),  # no account at all
                ]:
                    result = await run_live(
                        config, tmp_path / name, environ=environ, dry_run=dry_run,
                        handle_signals=False, duration_s=1.0, shutdown_timeout_s=5.0,
                    )
                    stops.append(result.stop_reason)
            return str(err.value), calls, stops
        finally:
            await h.close()

    message, calls, stops = asyncio.run(main())
    assert f"pid {os.getpid()} " in message
    assert calls == 0  # refused before the venue was contacted
    assert not (tmp_path / "never.mmlog").exists()
    assert all(stop.startswith("duration") for stop in stops), stops
