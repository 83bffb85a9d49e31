"""One live session per account: an exclusive lock ``mm run`` takes before it contacts the venue.

Two sessions on one account fight without knowing it: the second one's start-up cancel wipes
the first one's quotes, each reconcile cancels the other's orders as orders it did not place,
and each applies the position and open-order limits to its own orders only, so together they
pass them. Nothing at the venue says another session is trading, so the sessions must tell each
other: before it connects, ``mm run`` takes this lock, keyed by venue, network and account (the
adapter's ``account_id``: Extended's vault), and a second session on the same account stops
with a message naming the lock file and the holder's pid.

The lock is ``fcntl.flock`` on the file, held through one open descriptor for the life of the
session. The kernel drops it when that descriptor closes, which happens however the process
ends (``kill -9`` and a crash included), so a session never leaves a lock behind that blocks
the next one: the file may stay, but a file nobody holds is simply taken over. The descriptor is
not inherited by programs the session starts (Python opens it close-on-exec). The holder writes
its pid, the account and its start time into the file for the refusal message, and empties it
at a clean release; the file is never removed (removing a file another process may be about to
lock would let two sessions each hold a lock on a different file of the same name).

Where: ``default_lock_dir()``, one directory per user on the machine (not under the working
directory, so sessions started from two directories still see each other). The lock covers one
machine: sessions on other machines or in other containers on the same account are not seen.
"""

from __future__ import annotations

import datetime
import fcntl
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import msgspec

from mmcore.account import account_file_stem, account_label, state_dir
from mmcore.errors import MMError

__all__ = ["AccountLock", "AccountLockError", "LockHolder", "account_lock_path", "default_lock_dir"]

_ATTEMPTS = 3
"""How often ``acquire`` opens the file again when it was replaced between open and lock."""


class AccountLockError(MMError, RuntimeError):
    """The account's session lock is held by another session, or cannot be taken."""


class LockHolder(msgspec.Struct, frozen=True, kw_only=True):
    """What the lock file says about the session holding it (for people and for the refusal
    message; the lock itself is the ``flock``, not this content)."""

    pid: int
    account: str
    since: str
    """UTC time the lock was taken, ISO 8601."""


def default_lock_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``locks`` in the state directory (``mmcore.account.state_dir``:
    ``$XDG_STATE_HOME/mmengine/locks``, or ``~/.local/state/mmengine/locks``)."""
    return state_dir(environ) / "locks"


def account_lock_path(directory: Path, venue: str, network: str, account: str) -> Path:
    """The lock file of one account: ``<directory>/<venue>-<network>-<account>.lock``."""
    return Path(directory) / f"{account_file_stem(venue, network, account)}.lock"


class AccountLock:
    """The exclusive session lock of one account (see the module doc); a context manager."""

    def __init__(self, path: str | Path, venue: str, network: str, account: str) -> None:
        self.path = Path(path)
        self.label = account_label(venue, network, account)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise ``AccountLockError`` naming the file and the holder's pid
        when another session holds it (or naming the file and the reason when it cannot be
        made). Never waits."""
        if self._fd is not None:
            raise AccountLockError(f"{self.path}: the lock of {self.label} is held already")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = self._open_locked()
            holder = LockHolder(
                pid=os.getpid(),
                account=self.label,
                since=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            )
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, msgspec.json.encode(holder) + b"\n", 0)
            except OSError:
                os.close(fd)
                raise
        except OSError as exc:
            raise AccountLockError(
                f"{self.path}: cannot take the session lock of {self.label} "
                f"({exc.strerror or exc}); set XDG_STATE_HOME to a writable directory (the "
                "same for every session on the machine)"
            ) from None
        self._fd = fd

    def _open_locked(self) -> int:
        """The file, opened and ``flock``ed, and still the one at ``path`` (retried when it was
        replaced in between, which only someone removing it by hand does)."""
        for _ in range(_ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise AccountLockError(
                    f"{self.path}: expected no other session on {self.label}, found the lock "
                    f"held by {holder}; stop that session first (two sessions on one account "
                    "cancel each other's orders and together pass the risk limits)"
                ) from None
            except OSError:
                os.close(fd)
                raise
            if _same_file(fd, self.path):
                return fd
            os.close(fd)
        raise OSError(f"the file was replaced {_ATTEMPTS} times while it was being locked")

    def release(self) -> None:
        """Empty the file and drop the lock (a no-op when not held). The process's exit drops
        it too, however the process ends."""
        fd = self._fd
        if fd is None:
            return
        self._fd = None
        try:
            os.ftruncate(fd, 0)  # no pid left that could be taken for a running session's
        except OSError:
            pass  # closing drops the lock all the same
        finally:
            os.close(fd)

    def __enter__(self) -> AccountLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _holder(fd: int) -> str:
    """Who holds the lock, as the file says: ``pid N (since T)``, or why that is unknown."""
    try:
        raw = os.pread(fd, 4096, 0)
        holder = msgspec.json.decode(raw, type=LockHolder)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return "a session that has not written its pid (it is starting, or the file was edited)"
    return f"pid {holder.pid} (since {holder.since})"


def _same_file(fd: int, path: Path) -> bool:
    """True when ``path`` still names the file open on ``fd``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)
