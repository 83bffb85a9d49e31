"""Damage after the last good frame that is no torn write: another log appended whole, or a frame
with an earlier seq. Opening such a file is ``LogCorruptError`` naming the offset; repair never
cuts it off, since what follows is good data."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from mmcore.errors import LogCorruptError
from mmcore.log import FORMAT_VERSION, MAGIC, MAGIC_ZSTD, LogHeader, LogWriter, open_log
from mmcore.records import encode
from tests.mmcore.test_log_writer_failures import make_records

FRAME = struct.Struct("<IIQ")
MAGIC_LEN = 8


def make_header() -> LogHeader:
    return LogHeader(format_version=FORMAT_VERSION, code_version="t", instruments=[], config={})


def write_log(path: Path, n: int, compress: bool) -> bytes:
    with LogWriter(path, make_header(), compress=compress) as writer:
        writer.append_many(make_records(n))
    return path.read_bytes()


def make_frame(seq: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(struct.pack("<Q", seq)))
    return FRAME.pack(len(payload), crc, seq) + payload


@pytest.mark.parametrize("first_compressed", [False, True])
@pytest.mark.parametrize("second_compressed", [False, True])
@pytest.mark.parametrize(("first_n", "second_n"), [(10, 3), (3, 10), (4, 0)])
def test_a_second_log_appended_to_the_first_is_corruption_never_cut_off(
    tmp_path: Path, first_compressed: bool, second_compressed: bool, first_n: int, second_n: int
) -> None:
    first = write_log(tmp_path / "a.log", first_n, first_compressed)
    second = write_log(tmp_path / "b.log", second_n, second_compressed)
    joined = tmp_path / "joined.log"
    joined.write_bytes(first + second)
    damage = rf"joined\.log: byte {len(first)}: .*follows at byte"
    with pytest.raises(LogCorruptError, match=damage):
        open_log(joined, repair=True)  # repair=True: it must not cut
    assert joined.read_bytes() == first + second
    with pytest.raises(LogCorruptError):
        open_log(joined, repair=False)


@pytest.mark.parametrize("magic", [MAGIC, MAGIC_ZSTD])
@pytest.mark.parametrize("compress", [False, True])
def test_a_tail_holding_a_logs_magic_is_corruption_naming_where(
    tmp_path: Path, magic: bytes, compress: bool
) -> None:
    # e.g. a log appended whose own writer died right after its magic: no crash of this log's
    # writer puts a magic there
    data = write_log(tmp_path / "m.log", 4, compress) + b"\x01\x02" + magic + b"\x03"
    path = tmp_path / "m.log"
    path.write_bytes(data)
    at = len(data) - len(magic) - 1
    damage = rf"the magic of another event log follows at byte {at}"
    with pytest.raises(LogCorruptError, match=damage):
        open_log(path, repair=True)
    assert path.read_bytes() == data


@pytest.mark.parametrize("seq", [0, 1, 3, 5])
def test_a_whole_frame_with_an_earlier_seq_after_a_torn_one_is_corruption_never_cut_off(
    tmp_path: Path, seq: int
) -> None:
    # Only a torn write may be cut, and a torn write holds frames from the failed seq (6) on.
    path = tmp_path / "e.log"
    good = write_log(path, 5, False)
    copy = make_frame(seq, encode(make_records(1)[0]))
    data = good + b"\x07\x00\x00" + copy
    path.write_bytes(data)
    with pytest.raises(
        LogCorruptError, match=rf"byte {len(good)}: .*a valid frame follows at byte {len(good) + 3}"
    ):
        open_log(path, repair=True)
    assert path.read_bytes() == data


def test_a_torn_frame_of_the_next_seq_is_still_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    good = write_log(path, 5, False)
    path.write_bytes(good + make_frame(6, encode(make_records(1)[0]))[:-2])
    reader = open_log(path, repair=True)
    assert list(reader) == make_records(5) and reader.repaired
    assert path.read_bytes() == good


def test_a_large_zero_filled_tail_is_dropped_without_a_check_per_byte(tmp_path: Path) -> None:
    # zeros hold seq 0 everywhere; a frame's length is never 0, which keeps them out of the
    # search for valid frames (else every byte of the tail would be read as a candidate)
    path = tmp_path / "z.log"
    good = write_log(path, 5, False)
    with open(path, "ab") as f:
        f.write(bytes(8 << 20))
    reader = open_log(path, repair=False)
    assert reader.truncated_bytes == 8 << 20
    assert list(reader) == make_records(5)
    assert len(good) + (8 << 20) == path.stat().st_size
