"""``mm log info --repair`` says what happened to a torn tail, not what was asked: a repair is
refused while a writer holds the file or when the file cannot be written."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import Any

import pytest

from mmcore import log_reader
from mmcore.events import BUY, BookDelta, Fill
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter, open_log
from mmcore.records import Record
from tests.mmcore.test_log_cli import run


def make_header() -> LogHeader:
    return LogHeader(format_version=FORMAT_VERSION, code_version="t", instruments=[], config={})


def make_records() -> list[Record]:
    return [
        BookDelta("BTC-USD", 10, 11, 7, 6, (100_000, 3), ()),
        Fill("BTC-USD", 20, 21, "c1", BUY, 99_990, 5, -10, True, "t1"),
    ]


def torn_log(path: Path) -> int:
    """A log with 9 bytes of torn tail; returns the file's size."""
    with LogWriter(path, make_header()) as writer:
        writer.append_many(make_records())
    with open(path, "ab") as f:
        f.write(b"\x30\x00\x00\x00partial")
    return path.stat().st_size


def test_info_repair_of_a_log_a_writer_holds_says_it_was_not_truncated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "live.log"
    with LogWriter(path, make_header(), flush_every=1) as writer:
        writer.append_many(make_records())
        writer.flush()
        with open(path, "ab") as f:
            f.write(b"\x30\x00\x00\x00partial")  # the writer's next frame, half written
        size = path.stat().st_size
        assert run("log", "info", "--repair", str(path)) == 0
        out = capsys.readouterr().out
        assert path.stat().st_size == size
        assert "torn tail: 11 bytes ignored, file left as is (not truncated: a writer holds the " \
            "file)\n" in out, out
        assert "bytes truncated" not in out


def test_info_repair_on_a_read_only_file_system_says_it_was_not_truncated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ro.log"
    size = torn_log(path)

    def read_only_open(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        if "+" in mode or "w" in mode or "a" in mode:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return open(file, mode, *args, **kw)

    monkeypatch.setattr(log_reader, "open", read_only_open, raising=False)
    run("log", "info", "--repair", str(path))
    out = capsys.readouterr().out
    assert "not truncated: cannot write it (Read-only file system)" in out, out
    assert "bytes truncated" not in out and path.stat().st_size == size


def test_info_repair_says_truncated_only_when_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "torn.log"
    size = torn_log(path)
    run("log", "info", "--repair", str(path))
    assert "torn tail: 11 bytes truncated\n" in capsys.readouterr().out
    assert path.stat().st_size == size - 11


def test_the_reader_says_whether_it_repaired_and_why_not(tmp_path: Path) -> None:
    path = tmp_path / "torn.log"
    torn_log(path)
    kept = open_log(path, repair=False)
    assert (kept.truncated_bytes, kept.repaired, kept.repair_refused) == (11, False, "")
    with open(path, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as a writer does
        refused = open_log(path, repair=True)
    assert (refused.repaired, refused.repair_refused) == (False, "a writer holds the file")
    done = open_log(path, repair=True)
    assert (done.truncated_bytes, done.repaired, done.repair_refused) == (11, True, "")
    clean = open_log(path, repair=True)
    assert (clean.truncated_bytes, clean.repaired, clean.repair_refused) == (0, False, "")
    assert list(clean) == make_records()
