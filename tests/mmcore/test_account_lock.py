"""The per-account session lock: a second holder is refused naming the file and the holder's
pid, a released lock (or one whose process was killed) is taken again, other accounts are not
blocked, and the default directory is one per user, not per working directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmcore.account_lock import AccountLock, AccountLockError, account_lock_path, default_lock_dir

ROOT = Path(__file__).resolve().parents[2]


def make_lock(directory: Path, account: str = "10001", network: str = "mainnet") -> AccountLock:
    return AccountLock(
        account_lock_path(directory, "extended", network, account), "extended", network, account
    )


def test_a_second_lock_on_the_same_account_is_refused_naming_the_file_and_the_holders_pid(
    tmp_path: Path,
) -> None:
    with make_lock(tmp_path) as first:
        second = make_lock(tmp_path)
        with pytest.raises(AccountLockError) as err:
            second.acquire()
        assert first.held and not second.held
    message = str(err.value)
    assert str(first.path) in message and f"pid {os.getpid()}" in message
    assert "extended/mainnet/10001" in message


def test_the_file_names_the_holder_while_held_and_is_emptied_at_release(tmp_path: Path) -> None:
    lock = make_lock(tmp_path)
    with lock:
        holder = json.loads(lock.path.read_text())
        assert holder["pid"] == os.getpid() and holder["account"] == "extended/mainnet/10001"
    assert lock.path.read_bytes() == b""  # kept (never removed), but names no session


def test_a_released_lock_is_taken_again(tmp_path: Path) -> None:
    with make_lock(tmp_path):
        pass
    with make_lock(tmp_path) as again:
        assert again.held


def test_other_accounts_and_networks_are_not_blocked(tmp_path: Path) -> None:
    with make_lock(tmp_path), make_lock(tmp_path, "10002"), make_lock(tmp_path, network="testnet"):
        pass


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    """``kill -9`` leaves the file, with the dead holder's pid in it, but no lock: the kernel
    drops a ``flock`` when its process dies."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from mmcore.account_lock import AccountLock
        lock = AccountLock(Path({str(make_lock(tmp_path).path)!r}), "extended", "mainnet", "10001")
        lock.acquire()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"locked\n"
        with pytest.raises(AccountLockError, match=f"pid {child.pid} "):
            make_lock(tmp_path).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert json.loads(make_lock(tmp_path).path.read_text())["pid"] == child.pid  # left behind
    with make_lock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_a_lock_file_that_cannot_be_made_is_an_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the lock directory should be")
    lock = make_lock(blocker)
    with pytest.raises(AccountLockError, match="cannot take the session lock") as err:
        lock.acquire()
    assert str(lock.path) in str(err.value)


def test_an_emulators_address_in_the_account_makes_a_plain_file_name(tmp_path: Path) -> None:
    path = account_lock_path(tmp_path, "extended", "local", "10001@127.0.0.1:8080")
    assert path == tmp_path / "extended-local-10001_127.0.0.1_8080.lock"


def test_the_default_directory_is_the_users_state_directory_whatever_the_working_directory(
    tmp_path: Path,
) -> None:
    home = Path.home() / ".local" / "state" / "mmengine" / "locks"
    assert default_lock_dir({}) == home
    assert default_lock_dir({"XDG_STATE_HOME": "relative/dir"}) == home  # ignored: not absolute
    assert default_lock_dir({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "mmengine" / "locks"
