"""Output files of the offline tools (``mm import``, ``mm backtest``): written whole under a name
of their own, then given the name asked for, never over a file that must stay.

A log written straight to ``--out`` looks complete when its writer fails halfway (a full disk)
and is one that a second run to the same ``--out`` could delete or truncate. So each output is
written to a temporary file beside ``out`` (same folder: same filesystem, so the rename is
atomic) whose name carries the pid and a random part, created by this process (``O_EXCL``): it
is the only file a failed run removes. ``publish`` then gives it the name ``out`` with a hard
link, which fails rather than replace a file that appeared there meanwhile; only a file the
caller's ``check`` accepts is replaced, checked under the file's lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

from mmcore.log_format import LogWriteError

__all__ = [
    "Check",
    "check_existing",
    "discard",
    "not_written",
    "output_path",
    "publish",
    "temp_beside",
]

Check = Callable[[Path, bool], None]
"""``check(out, busy)``: raise if the file at ``out`` must not be replaced; ``busy`` says that
another process's writer holds it (its ``flock``). Called with that lock taken when it is free."""

_TRIES = 100
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def output_path(out: str | Path) -> Path:
    """The file an ``--out`` names: a symlink (dangling too) is followed to the file it points
    to, which is the one written, checked and replaced; the link stays as it was. (Published
    by name, the symlink itself would be replaced by the new file.)"""
    path = Path(out)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def temp_beside(out: Path) -> Path:
    """Create an empty file of this process's own beside ``out`` and return its path.

    Hidden, and named ``.<out name>.<pid>.<random>.partial``, so a file a killed run left
    says what it was and whose; ``O_EXCL`` makes sure no other run's file is taken over.
    Mode 0o644 less the umask, as the log writer gives a log it creates."""
    for _ in range(_TRIES):
        path = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(errno.EEXIST, "expected a free temporary name, found none", str(out))


def discard(temp: Path | None) -> None:
    """Remove a temporary file of ``temp_beside`` (already renamed or gone: nothing to do).
    Best effort, on a failure path whose error is the one to report."""
    if temp is not None:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)


def not_written(exc: LogWriteError, out: Path) -> LogWriteError:
    """The writer's error names the temporary file it was writing, and what became of it: say
    that this file is gone and ``out`` untouched, so no one looks for either."""
    return LogWriteError(f"{exc}; that temporary file is removed and {out} left as it was")


def check_existing(out: Path, check: Check) -> None:
    """Run ``check`` on a file at ``out`` now (no file: nothing to check): a run refuses an
    output it may not replace before its work, not only after."""
    with _locked(out) as busy:
        if busy is not None:
            check(out, busy)


def publish(temp: Path, out: Path, check: Check) -> None:
    """Give the finished file ``temp`` the name ``out``. A file already there (one that was
    there at the start, or appeared since: another run's) is replaced only if ``check`` accepts
    it; else ``check``'s error is raised and ``temp`` is left to the caller to discard."""
    for _ in range(_TRIES):
        if _link(temp, out):
            return
        with _locked(out) as busy:
            if busy is None:  # removed since the link failed: try again
                continue
            check(out, busy)
            os.replace(temp, out)  # under the lock: no writer can begin in the file meanwhile
            return
    raise FileExistsError(errno.EEXIST, "expected a file that stays put, found it changing",
                          str(out))


def _link(temp: Path, out: Path) -> bool:
    """Name ``temp`` ``out`` unless a file has that name; True when done. A hard link fails,
    where a rename would replace, if ``out`` appeared since it was last looked at."""
    try:
        os.link(temp, out)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # a filesystem without hard links: look, then rename (a short window between the two)
        if os.path.lexists(out):
            return False
        os.replace(temp, out)
        return True
    with contextlib.suppress(OSError):  # the output is whole under its name: a leftover is all
        temp.unlink()
    return True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bool | None]:
    """Hold ``path``'s ``flock`` (as the log writer takes it) if it is free; yield None when
    there is no file, else whether another process holds the lock (``busy``). A file that
    cannot be opened is not busy: the caller's check says what is wrong with it."""
    busy: bool | None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        fd, busy = -1, (None if isinstance(exc, FileNotFoundError) else False)
    else:
        busy = _lock_held_elsewhere(fd)
    try:
        yield busy
    finally:
        if fd >= 0:
            os.close(fd)  # (closing releases the lock)


def _lock_held_elsewhere(fd: int) -> bool:
    """Take the file's ``flock``; True if another writer holds it. A filesystem that cannot lock
    says nothing about writers: not held."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False
