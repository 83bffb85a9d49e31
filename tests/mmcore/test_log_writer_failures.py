"""The log writer when something goes wrong: a record that cannot be encoded, a write that fails
(disk full), a second writer racing for the same file, a header that cannot be written, fsync or
close failing (I/O error), the file removed or replaced while it is written.

Whatever fails, the file is left a readable log (or not left at all, when not even its header
could be written), every seq handed out is either in the file or after its end, and the writer
says what happened instead of carrying on after a hole.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mmcore import log_writer
from mmcore.commands import Place
from mmcore.errors import MMError
from mmcore.events import BUY, BookDelta, Fill, Timer
from mmcore.log import (
    FORMAT_VERSION,
    LogClosedError,
    LogExistsError,
    LogHeader,
    LogRecordEncodeError,
    LogWriteError,
    LogWriter,
    open_log,
)
from mmcore.records import Record

ROOT = Path(__file__).resolve().parents[2]


def make_header(**overrides: Any) -> LogHeader:
    fields: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "code_version": "t",
        "instruments": [],
        "config": {"a": 1},
    }
    fields.update(overrides)
    return LogHeader(**fields)


def make_records(n: int, start: int = 0) -> list[Record]:
    out: list[Record] = []
    for i in range(start, start + n):
        k = i % 3
        if k == 0:
            out.append(BookDelta("BTC-USD", 10 + i, 20 + i, i + 1, i, (100 + i, 1), (110, 2)))
        elif k == 1:
            out.append(Fill("BTC-USD", 10 + i, 20 + i, f"c{i}", BUY, 100, 1, 0, True))
        else:
            out.append(Place("BTC-USD", 10 + i, f"c{i}", BUY, 99, 5))
    return out


def log_name(compress: bool) -> str:
    return "w.log.zst" if compress else "w.log"


# ---------------------------------------------------------------- unencodable records

UNENCODABLE = [2**64, -(2**63) - 1, object()]


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("bad", UNENCODABLE, ids=["above_u64", "below_i64", "object"])
def test_the_records_before_an_unencodable_one_are_kept_and_the_log_ends_before_it(
    tmp_path: Path, compress: bool, bad: object
) -> None:
    path = tmp_path / log_name(compress)
    good = make_records(5)
    writer = LogWriter(path, make_header())
    writer.append_many(good)
    assert writer.append(Timer(bad, 1)) == 6  # type: ignore[arg-type]  # queued: no check here
    named = r"w\.log(\.zst)?: record seq 6 \(Timer\)"
    with pytest.raises(LogRecordEncodeError, match=named) as err:
        writer.close()
    assert isinstance(err.value, MMError) and isinstance(err.value, ValueError)
    assert "the log was closed after seq 5" in str(err.value)
    reader = open_log(path, repair=False)
    assert list(reader) == good
    assert reader.truncated_bytes == 0  # a valid log, not a torn one
    assert writer.seq == 5 and writer.statistics().records == 5
    assert writer.statistics().file_bytes == path.stat().st_size
    with pytest.raises(LogClosedError, match=r"record seq 6 \(Timer\).*\(appending Place\)"):
        writer.append(make_records(1, start=2)[0])
    writer.close()  # closed already: nothing more to say


def test_an_unencodable_record_found_by_a_later_append_ends_the_log_before_it(
    tmp_path: Path,
) -> None:
    # Found when its batch is framed: by the append that fills the batch, long after its own.
    path = tmp_path / "w.log"
    records = make_records(1100)
    records[599] = Timer(2**64, 1)  # seq 600
    writer = LogWriter(path, make_header(), flush_every=10**6)
    with pytest.raises(LogRecordEncodeError, match=r"record seq 600 \(Timer\)"):
        writer.append_many(records)
    assert writer.seq == 599
    assert list(open_log(path)) == records[:599]
    with pytest.raises(LogClosedError, match="record seq 600"):
        writer.append(records[0])


def test_an_unencodable_record_in_a_with_block_is_an_error_leaving_a_valid_log(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.log"
    named = r"record seq 3 \(Timer\): expected values"
    with pytest.raises(LogRecordEncodeError, match=named), LogWriter(path, make_header()) as writer:
        writer.append_many(make_records(2))
        writer.append(Timer(1, 2, object()))  # type: ignore[arg-type]
        writer.append_many(make_records(2))  # handed seqs after the log's end
    assert list(open_log(path)) == make_records(2)


# ---------------------------------------------------------------- failed writes

CHILD = r"""
import json, resource, signal, sys
from pathlib import Path
from mmcore.events import Timer
from mmcore.log import FORMAT_VERSION, LogClosedError, LogHeader, LogWriteError, LogWriter

path = Path(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
header = LogHeader(format_version=FORMAT_VERSION, code_version="t", instruments=[], config={})
out = {}
if sys.argv[2] == "header":
    resource.setrlimit(resource.RLIMIT_FSIZE, (4, hard))  # not even the magic fits
    try:
        LogWriter(path, header)
    except LogWriteError as exc:
        out["error"] = str(exc)
    print(json.dumps(out))
    sys.exit()
writer = LogWriter(path, header, flush_every=300)
for i in range(600):
    writer.append(Timer(i, i))
writer.flush()
good = path.stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (good + 10, hard))  # the disk fills up
try:
    for i in range(600, 900):
        writer.append(Timer(i, i))  # the 300th flushes: 10 bytes of it land
except LogWriteError as exc:
    out["error"], out["oserror"] = str(exc), isinstance(exc, OSError)
out["size_after"] = path.stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space freed again
try:
    writer.append(Timer(1, 1))
except LogClosedError as exc:
    out["later"] = str(exc)
writer.flush()
writer.close()
stats = writer.statistics()
out.update(good=good, records=stats.records, file_bytes=stats.file_bytes)
print(json.dumps(out))
"""


def run_child(path: Path, mode: str) -> dict[str, Any]:
    """Run ``CHILD`` in a process of its own: the file size limit and SIGXFSZ stay there."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), mode],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("compress", [False, True])
def test_a_failed_write_cuts_the_file_back_and_closes_the_writer(
    tmp_path: Path, compress: bool
) -> None:
    path = tmp_path / log_name(compress)
    out = run_child(path, "flush")
    good = out["good"]
    assert out["oserror"], out
    error = out["error"]
    assert str(path) in error and f"byte {good}" in error and "seqs 601 to 900" in error, error
    assert "File too large" in error and "closed after seq 600" in error, error
    assert out["size_after"] == good  # the 10 bytes that landed were cut off again
    assert "closed after seq 600" in out["later"] and "appending Timer" in out["later"]
    assert (out["records"], out["file_bytes"]) == (600, good)
    reader = open_log(path, repair=False)
    assert list(reader) == [Timer(i, i) for i in range(600)]
    assert reader.truncated_bytes == 0 and path.stat().st_size == good


def test_a_header_that_cannot_be_written_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "h.log"
    out = run_child(path, "header")
    assert str(path) in out["error"] and "the file was removed" in out["error"], out
    assert not path.exists()


# ---------------------------------------------------------------- creating the file


def hook_second_open(
    monkeypatch: pytest.MonkeyPatch, path: Path, meanwhile: Any
) -> None:
    """Run ``meanwhile`` when a writer opens the existing ``path`` (the open without
    ``O_EXCL``), just before that open: another process's writer taking the file then."""
    real_open = os.open
    ran: list[bool] = []

    def open_with_a_rival(file: Any, flags: int, *args: Any) -> int:
        if not ran and Path(file) == path and not flags & os.O_EXCL:
            ran.append(True)
            meanwhile()
        return real_open(file, flags, *args)

    monkeypatch.setattr(log_writer.os, "open", open_with_a_rival)


def test_a_writer_that_loses_the_race_for_an_empty_file_never_truncates_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.log"
    path.touch()  # an empty file: either writer may take it
    winner: list[LogWriter] = []
    hook_second_open(monkeypatch, path, lambda: winner.append(LogWriter(path, make_header())))
    with pytest.raises(LogExistsError, match="another writer holding it"):
        LogWriter(path, make_header())
    monkeypatch.undo()
    writer = winner[0]
    writer.append_many(make_records(3))
    writer.close()
    assert list(open_log(path, repair=False)) == make_records(3)


def test_a_log_written_and_closed_before_the_lock_is_taken_is_refused_not_truncated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.log"
    path.touch()

    def rival_writes_a_whole_log() -> None:
        with LogWriter(path, make_header()) as rival:
            rival.append_many(make_records(3))

    hook_second_open(monkeypatch, path, rival_writes_a_whole_log)
    with pytest.raises(LogExistsError, match="expected a new or empty file"):
        LogWriter(path, make_header())
    monkeypatch.undo()
    assert list(open_log(path, repair=False)) == make_records(3)


def test_a_header_that_fails_to_encode_leaves_no_file_behind(tmp_path: Path) -> None:
    path = tmp_path / "h.log"
    bad = make_header(config={"when": object()})
    with pytest.raises(TypeError):
        LogWriter(path, bad)
    assert not path.exists()
    with LogWriter(path, make_header()) as writer:  # a rerun is not refused
        writer.append_many(make_records(2))
    assert list(open_log(path)) == make_records(2)


def test_a_header_that_fails_to_encode_leaves_an_empty_file_given_empty(tmp_path: Path) -> None:
    path = tmp_path / "h.log"
    path.touch()
    with pytest.raises(TypeError):
        LogWriter(path, make_header(config={"when": object()}))
    assert path.exists() and path.stat().st_size == 0


# ---------------------------------------------------------------- failed fsync and close


def eio(*args: Any) -> None:
    """``os.fsync`` (or ``close``) of a disk that fails: the kernel reports EIO."""
    raise OSError(errno.EIO, os.strerror(errno.EIO))


def inode(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def assert_released(file: tuple[int, int], path: Path | None = None) -> None:
    """No descriptor of this process leads to ``file`` (device, inode) any more, deleted or not;
    and, if ``path`` still names it, its lock is free for another writer."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed meanwhile
            st = os.stat(f"/proc/self/fd/{fd}")
            if (st.st_dev, st.st_ino) == file:
                held.append(fd)
    assert held == [], f"descriptors still open on the log: {held}"
    if path is not None:
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if still held
        finally:
            os.close(fd)


@pytest.mark.parametrize("compress", [False, True])
def test_a_failed_fsync_at_a_flush_closes_the_writer_naming_the_file_and_the_last_synced_seq(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compress: bool
) -> None:
    path = tmp_path / log_name(compress)
    writer = LogWriter(path, make_header(), fsync="flush")
    writer.append_many(make_records(5))
    writer.flush()  # synced up to seq 5
    file = inode(path)
    monkeypatch.setattr(log_writer.os, "fsync", eio)
    writer.append_many(make_records(3, start=5))
    with pytest.raises(LogWriteError) as err:
        writer.flush()
    error = str(err.value)
    assert isinstance(err.value, MMError) and isinstance(err.value, OSError)
    assert error.startswith(f"{path}: ") and "fsync failing (Input/output error)" in error, error
    assert "closed after seq 8" in error, error
    assert "the records after seq 5, the last synced, may be lost" in error, error
    assert_released(file, path)
    with pytest.raises(LogClosedError, match=r"fsync failing.*\(appending BookDelta\)"):
        writer.append(make_records(1)[0])
    writer.flush()  # closed already: nothing more to say
    writer.close()
    monkeypatch.undo()
    assert list(open_log(path, repair=False)) == make_records(8)  # what was written is left
    assert writer.statistics().fsyncs == 2  # the header's and the first flush's


@pytest.mark.parametrize("policy", ["close", "flush"])
def test_a_failed_fsync_at_close_is_a_log_write_error_and_the_file_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str
) -> None:
    path = tmp_path / "w.log"
    writer = LogWriter(path, make_header(), fsync=policy)  # type: ignore[arg-type]
    writer.append_many(make_records(4))
    writer.flush()  # synced up to seq 4 under "flush"; not synced at all under "close"
    writer.append_many(make_records(2, start=4))
    file = inode(path)
    monkeypatch.setattr(log_writer.os, "fsync", eio)
    with pytest.raises(LogWriteError) as err:
        writer.close()
    error = str(err.value)
    lost = (
        "the records after seq 4, the last synced, may be lost"
        if policy == "flush"
        else "it was never synced: any of its records may be lost"
    )
    assert error.startswith(f"{path}: ") and "fsync failing (Input/output error)" in error, error
    assert "closed after seq 6" in error and lost in error, error
    assert_released(file, path)
    with pytest.raises(LogClosedError, match="fsync failing"):
        writer.append(make_records(1)[0])
    writer.close()  # closed already
    monkeypatch.undo()
    assert list(open_log(path, repair=False)) == make_records(6)


def test_a_failed_fsync_of_the_header_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.log"
    monkeypatch.setattr(log_writer.os, "fsync", eio)
    with pytest.raises(LogWriteError, match=r"h\.log: byte 0: .*\(Input/output error\)"):
        LogWriter(path, make_header(), fsync="flush")
    assert not path.exists()


class _CloseFails(io.FileIO):
    """A file whose ``close`` reports an I/O error after freeing the descriptor, as close(2) on
    NFS does for a write-back that failed."""

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        eio()


def test_a_close_that_fails_is_a_log_write_error_and_the_file_is_still_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.log"
    monkeypatch.setattr(
        log_writer, "open", lambda fd, mode, buffering: _CloseFails(fd, mode), raising=False
    )
    writer = LogWriter(path, make_header(), fsync="never")
    writer.append_many(make_records(3))
    file = inode(path)
    with pytest.raises(LogWriteError) as err:
        writer.close()
    error = str(err.value)
    assert error.startswith(f"{path}: ") and "closing it failing (Input/output error)" in error
    assert "never synced" in error, error
    assert_released(file, path)
    with pytest.raises(LogClosedError, match="closing it failing"):
        writer.append(make_records(1)[0])
    writer.close()  # closed already
    assert list(open_log(path, repair=False)) == make_records(3)


# ---------------------------------------------------------------- the file removed or replaced


def unlink(path: Path) -> None:
    path.unlink()


def remove_dir(path: Path) -> None:
    shutil.rmtree(path.parent)  # rm -rf out/


def replace(path: Path) -> None:
    other = path.with_name("other")
    other.write_bytes(b"not this log")
    os.replace(other, path)  # the log's name now leads to another file; the log is gone


def rotate(path: Path) -> None:
    os.rename(path, path.with_name("moved.log"))  # logrotate: moved away, a new file made
    path.write_bytes(b"not this log")


def move(path: Path) -> None:
    os.rename(path, path.with_name("moved.log"))


DISPLACEMENTS = {
    "unlinked": (unlink, "found it deleted"),
    "dir_removed": (remove_dir, "found it deleted"),
    "replaced": (replace, "found it deleted"),
    "rotated": (rotate, "found another file there"),
    "moved": (move, "found no file there"),
}


@pytest.mark.parametrize("at", ["flush", "close"])
@pytest.mark.parametrize("how", list(DISPLACEMENTS))
def test_a_log_removed_or_replaced_mid_run_is_a_log_write_error_at_the_next_flush_or_close(
    tmp_path: Path, how: str, at: str
) -> None:
    path = tmp_path / "out" / "w.log"
    path.parent.mkdir()
    displace, found = DISPLACEMENTS[how]
    writer = LogWriter(path, make_header())
    writer.append_many(make_records(5))
    writer.flush()
    file = inode(path)
    displace(path)
    if at == "flush":
        writer.append_many(make_records(3, start=5))
    with pytest.raises(LogWriteError) as err:
        writer.flush() if at == "flush" else writer.close()
    error = str(err.value)
    last = 8 if at == "flush" else 5
    assert error.startswith(f"{path}: ") and found in error, error
    assert "the log file was removed or replaced" in error, error
    assert f"the log was closed after seq {last}" in error, error
    assert_released(file)
    with pytest.raises(LogClosedError, match="removed or replaced"):
        writer.append(make_records(1)[0])
    writer.close()  # closed already
    if how in ("replaced", "rotated"):
        assert path.read_bytes() == b"not this log"  # the file now at the path is left alone
    if how in ("rotated", "moved"):  # the log moved elsewhere holds every record written
        assert list(open_log(path.with_name("moved.log"), repair=False)) == make_records(last)


def test_a_log_opened_by_a_relative_path_is_found_in_place_after_the_cwd_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    writer = LogWriter("w.log", make_header())
    writer.append_many(make_records(2))
    monkeypatch.chdir(tmp_path / "b")
    writer.flush()
    writer.close()
    assert list(open_log(tmp_path / "a" / "w.log")) == make_records(2)


def rename_dir(path: Path) -> Path:
    moved = path.parent.with_name("out.1")
    os.rename(path.parent, moved)  # mv out out.1: the log is whole, under the folder's new name
    return moved / path.name


def flip_symlink(path: Path) -> Path:
    """``current -> releases/1`` re-pointed to ``releases/2``: the log stays in releases/1."""
    link = path.parent.parent / "current"
    os.replace(_symlink_beside(link, path.parent.parent / "releases" / "2"), link)
    return path.parent.parent / "releases" / "1" / path.name


def _symlink_beside(link: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name("current.new")
    tmp.symlink_to(target)
    return tmp


@pytest.mark.parametrize("how", [rename_dir, flip_symlink], ids=["dir_renamed", "symlink_flipped"])
def test_a_log_whose_folder_is_renamed_or_reached_by_another_link_is_no_false_alarm(
    tmp_path: Path, how: Callable[[Path], Path]
) -> None:
    """The file is whole under another path: a live session must not stop over it."""
    if how is flip_symlink:
        (tmp_path / "releases" / "1").mkdir(parents=True)
        (tmp_path / "current").symlink_to(tmp_path / "releases" / "1")
        path = tmp_path / "current" / "w.log"
    else:
        path = tmp_path / "out" / "w.log"
        path.parent.mkdir()
    writer = LogWriter(path, make_header())
    writer.append_many(make_records(2))
    writer.flush()
    now_at = how(path)
    writer.append_many(make_records(3, start=2))
    writer.flush()
    writer.close()
    assert list(open_log(now_at, repair=False)) == make_records(5)


def test_the_writer_keeps_no_descriptor_open_after_close(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for i in range(5):
        with LogWriter(tmp_path / f"w{i}.log", make_header()) as writer:
            writer.append_many(make_records(2))
    assert len(os.listdir("/proc/self/fd")) == before
