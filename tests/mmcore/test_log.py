"""The event log: round trips, torn tails, flipped bits, gaps, policies and bounded memory."""

from __future__ import annotations

import errno
import logging
import os
import re
import struct
import tempfile
import tracemalloc
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mmcore import log_reader
from mmcore.commands import Place
from mmcore.errors import LogCorruptError, MMError
from mmcore.events import BUY, BookDelta, Fill, PriorDayPnl
from mmcore.instrument import Instrument
from mmcore.log import (
    FORMAT_VERSION,
    MAGIC,
    MAGIC_ZSTD,
    LogClosedError,
    LogExistsError,
    LogHeader,
    LogNotFoundError,
    LogRecordTooLargeError,
    LogWriter,
    open_log,
    read_header,
)
from mmcore.records import RECORD_TYPES, Record, decode, encode

FRAME = struct.Struct("<IIQ")
BLOCK = struct.Struct("<II")
MAGIC_LEN = 8
OFFSET_IN_MESSAGE = re.compile(r"byte \d+")
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# ---------------------------------------------------------------- factories


def make_instrument(symbol: str = "BTC-USD") -> Instrument:
    return Instrument(venue="sim", symbol=symbol, tick_size="0.1", lot_size="0.001")


def make_header(**overrides: Any) -> LogHeader:
    fields: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "code_version": "0.1.0+test",
        "instruments": [make_instrument()],
        "config": {"strategy": {"name": "as", "gamma": 0.1}, "venue": "sim"},
        "created_ns": 1_700_000_000_123_456_789,
        "meta": {"run": "test"},
    }
    fields.update(overrides)
    return LogHeader(**fields)


def make_delta(i: int) -> BookDelta:
    return BookDelta("BTC-USD", 1_700_000_000_000_000_000 + i, 1_700_000_000_000_000_500 + i,
                     i + 1, i, (100_000 + i % 13, 1 + i % 5), (100_010, 2))


def make_fill(i: int) -> Fill:
    return Fill("BTC-USD", 1_000 + i, 1_100 + i, f"c{i}", BUY, 100_000, 3, -20, True, f"t{i}")


def make_place(i: int) -> Place:
    return Place("BTC-USD", 1_100 + i, f"c{i}", BUY, 99_990, 5)


def make_records(n: int) -> list[Record]:
    makers = (make_delta, make_delta, make_fill, make_place)
    return [makers[i % len(makers)](i) for i in range(n)]


def write_log(
    path: Path, records: Sequence[Record], *, compress: bool | None = False, **kw: Any
) -> Path:
    with LogWriter(path, make_header(), compress=compress, **kw) as writer:
        writer.append_many(records)
    return path


def write_blocks(path: Path, groups: Sequence[Sequence[Record]]) -> Path:
    """A compressed log with one block per group (the writer cuts a block at every flush)."""
    with LogWriter(path, make_header(), compress=True) as writer:
        for group in groups:
            writer.append_many(group)
            writer.flush()
    return path


def frame_ends(path: Path) -> list[int]:
    """File offsets just past each frame of a plain log, the header frame first."""
    data = path.read_bytes()
    ends, pos = [], MAGIC_LEN
    while pos < len(data):
        pos += FRAME.size + FRAME.unpack_from(data, pos)[0]
        ends.append(pos)
    return ends


def block_ends(path: Path) -> list[int]:
    data = path.read_bytes()
    ends, pos = [], MAGIC_LEN
    while pos < len(data):
        pos += BLOCK.size + BLOCK.unpack_from(data, pos)[0]
        ends.append(pos)
    return ends


def make_frame(seq: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(struct.pack("<Q", seq)))
    return FRAME.pack(len(payload), crc, seq) + payload


def hand_made_log(path: Path, seqs: Sequence[int]) -> Path:
    """A plain log built frame by frame, so that tests can write what no writer would."""
    header = msgspec.msgpack.encode(make_header())
    body = b"".join(make_frame(seq, encode(make_delta(seq))) for seq in seqs)
    path.write_bytes(MAGIC + make_frame(0, header) + body)
    return path


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


# ---------------------------------------------------------------- strategies

INT64 = st.integers(-(2**63), 2**63 - 1)
FIELD_STRATEGIES: dict[Any, st.SearchStrategy[Any]] = {
    int: INT64,
    str: st.text(max_size=12),
    bool: st.booleans(),
    tuple[int, ...]: st.lists(INT64, max_size=6).map(tuple),
    tuple[tuple[int, int], ...]: st.lists(st.tuples(INT64, INT64), max_size=4).map(tuple),
    tuple[tuple[str, int, int], ...]: st.lists(
        st.tuples(st.text(max_size=8), INT64, INT64), max_size=3
    ).map(tuple),
}


def record_strategy(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    fields = msgspec.structs.fields(cls)
    return st.builds(cls, *[FIELD_STRATEGIES[f.type] for f in fields])


ANY_RECORD = st.one_of([record_strategy(cls) for cls in RECORD_TYPES])


# ---------------------------------------------------------------- round trips


@SETTINGS
@given(records=st.lists(ANY_RECORD, max_size=40), compress=st.booleans(),
       flush_every=st.integers(1, 8))
def test_every_event_and_command_type_reads_back_equal_and_in_order(
    records: list[Record], compress: bool, flush_every: int
) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = write_log(Path(d) / "r.log", records, compress=compress, flush_every=flush_every)
        reader = open_log(path, repair=True)
        assert list(reader) == records
        assert [type(r) for r in reader] == [type(r) for r in records]
        assert reader.truncated_bytes == 0


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda cls: cls.__name__)
def test_each_record_type_reads_back_equal_from_plain_and_compressed_logs(
    cls: type[msgspec.Struct],
) -> None:
    @settings(max_examples=8, deadline=None)
    @given(records=st.lists(record_strategy(cls), min_size=1, max_size=5))
    def round_trip(records: list[Record]) -> None:
        with tempfile.TemporaryDirectory() as d:
            for name in ("r.log", "r.log.zst"):
                path = write_log(Path(d) / name, records, compress=None)
                assert list(open_log(path, repair=True)) == records

    round_trip()


@pytest.mark.parametrize("compress", [False, True])
def test_the_header_reads_back_equal(workdir: Path, compress: bool) -> None:
    path = write_log(workdir / "h.log", make_records(3), compress=compress)
    assert read_header(path) == make_header()
    assert open_log(path, repair=True).header == make_header()


def test_a_zst_suffix_selects_compression_and_both_kinds_hold_the_same_records(
    workdir: Path,
) -> None:
    records = make_records(500)
    plain = write_log(workdir / "a.log", records, compress=None)
    packed = write_log(workdir / "a.log.zst", records, compress=None)
    assert open_log(packed, repair=True).compressed and not open_log(plain, repair=True).compressed
    assert packed.stat().st_size < plain.stat().st_size
    assert list(open_log(packed, repair=True)) == list(open_log(plain, repair=True)) == records


def test_append_returns_consecutive_seqs_after_the_header(workdir: Path) -> None:
    with LogWriter(workdir / "s.log", make_header()) as writer:
        assert writer.seq == 0
        seqs = [writer.append(r) for r in make_records(5)]
        assert writer.seq == 5
    assert seqs == [1, 2, 3, 4, 5]
    assert [seq for seq, _, _ in open_log(workdir / "s.log", repair=True).frames()] == seqs


@pytest.mark.parametrize("compress", [False, True])
def test_raw_frames_are_the_encoded_records_and_offsets_point_at_them(
    workdir: Path, compress: bool
) -> None:
    records = make_records(1200)
    path = write_log(workdir / "raw.log", records, compress=compress, flush_every=100)
    raw = list(open_log(path, repair=True).raw_frames())
    assert [payload for _, _, payload in raw] == [encode(r) for r in records]
    data = path.read_bytes()
    for seq, offset, payload in raw:
        if compress:
            assert data[offset + BLOCK.size : offset + BLOCK.size + 4] == b"\x28\xb5\x2f\xfd"
        else:
            assert FRAME.unpack_from(data, offset)[2] == seq
            assert data[offset + FRAME.size : offset + FRAME.size + len(payload)] == payload


def test_counts_are_by_type_tag(workdir: Path) -> None:
    path = write_log(workdir / "c.log.zst", make_records(10))
    assert open_log(path, repair=True).counts() == {"BookDelta": 6, "Fill": 2, "Place": 2}


# ---------------------------------------------------------------- torn tails


@SETTINGS
@given(n=st.integers(0, 30), cut=st.floats(0, 1))
def test_a_plain_log_cut_at_any_byte_opens_to_its_last_whole_frame(n: int, cut: float) -> None:
    records = make_records(n)
    with tempfile.TemporaryDirectory() as d:
        path = write_log(Path(d) / "cut.log", records)
        ends = frame_ends(path)
        size = ends[0] + round(cut * (ends[-1] - ends[0]))
        os.truncate(path, size)
        reader = open_log(path, repair=True)
        whole = [end for end in ends if end <= size]
        assert list(reader) == records[: len(whole) - 1]
        assert path.stat().st_size == whole[-1]
        assert reader.truncated_bytes == size - whole[-1]


@SETTINGS
@given(sizes=st.lists(st.integers(1, 6), max_size=6), cut=st.floats(0, 1))
def test_a_compressed_log_cut_at_any_byte_opens_to_its_last_whole_block(
    sizes: list[int], cut: float
) -> None:
    records = make_records(sum(sizes))
    groups = [records[sum(sizes[:k]) : sum(sizes[: k + 1])] for k in range(len(sizes))]
    with tempfile.TemporaryDirectory() as d:
        path = write_blocks(Path(d) / "cut.log.zst", groups)
        ends = block_ends(path)
        size = ends[0] + round(cut * (ends[-1] - ends[0]))
        os.truncate(path, size)
        reader = open_log(path, repair=True)
        whole_blocks = sum(1 for end in ends[1:] if end <= size)
        assert list(reader) == records[: sum(sizes[:whole_blocks])]
        assert path.stat().st_size == ends[whole_blocks]
        assert reader.truncated_bytes == size - ends[whole_blocks]


def test_a_torn_tail_is_reported_with_path_offset_and_bytes_dropped(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_log(workdir / "torn.log", make_records(4))
    good = path.stat().st_size
    with open(path, "ab") as f:
        f.write(make_frame(5, encode(make_delta(5)))[:-3])
    with caplog.at_level(logging.WARNING, logger="mmcore.log"):
        reader = open_log(path, repair=True)
    assert reader.truncated_bytes == FRAME.size + len(encode(make_delta(5))) - 3
    message = caplog.records[0].getMessage()
    assert str(path) in message and f"byte {good}" in message
    assert f"dropped {reader.truncated_bytes} bytes" in message
    assert path.stat().st_size == good


def test_without_repair_the_torn_file_is_left_as_is_but_read_to_its_last_whole_frame(
    workdir: Path,
) -> None:
    path = write_log(workdir / "torn.log", make_records(4))
    with open(path, "ab") as f:
        f.write(b"\x07" * 11)
    size = path.stat().st_size
    reader = open_log(path, repair=False)
    assert reader.truncated_bytes == 11
    assert path.stat().st_size == size
    assert list(reader) == make_records(4)


def test_a_log_still_being_written_is_not_truncated(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = workdir / "live.log"
    with LogWriter(path, make_header()) as writer:
        writer.append_many(make_records(3))
        writer.flush()
        flushed = path.stat().st_size
        with open(path, "ab") as f:  # as if a write were half done
            f.write(b"\x01\x02\x03")
        with caplog.at_level(logging.WARNING, logger="mmcore.log"):
            reader = open_log(path, repair=True)
        assert reader.truncated_bytes == 3
        assert path.stat().st_size == flushed + 3
        assert "a writer holds the file" in caplog.text
        assert list(reader) == make_records(3)


@SETTINGS
@given(
    n=st.integers(0, 8),
    # what a crash leaves after the last whole write: part of a write, garbage, or zeros
    tail=st.one_of(st.binary(max_size=64), st.integers(1, 64).map(bytes)),
    compress=st.booleans(),
)
def test_any_bytes_after_a_valid_log_are_a_torn_tail_cut_off_on_open(
    n: int, tail: bytes, compress: bool
) -> None:
    # but a log's magic, which no crash of this log's writer leaves: another log was appended
    # (test_log_damage.py)
    assume(MAGIC not in tail and MAGIC_ZSTD not in tail)
    records = make_records(n)
    with tempfile.TemporaryDirectory() as d:
        path = write_log(Path(d) / "t.log", records, compress=compress)
        good = path.stat().st_size
        with open(path, "ab") as f:
            f.write(tail)
        reader = open_log(path, repair=True)
        assert list(reader) == records
        assert reader.truncated_bytes == len(tail)
        assert path.stat().st_size == good


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("zeros", [8, 16, 4096])
def test_a_zero_filled_tail_left_by_a_crash_is_dropped_not_read_as_blocks(
    workdir: Path, compress: bool, zeros: int
) -> None:
    # A crash can leave the file longer than the data that reached the disk, the rest zeros.
    # Eight zero bytes look like a compressed block of length 0 with the crc of nothing (0).
    path = write_log(workdir / "z.log", make_records(5), compress=compress)
    good = path.stat().st_size
    with open(path, "ab") as f:
        f.write(bytes(zeros))
    reader = open_log(path, repair=True)
    assert reader.truncated_bytes == zeros
    assert list(reader) == make_records(5)
    assert path.stat().st_size == good


def test_zeros_between_compressed_blocks_are_corruption_found_on_open(workdir: Path) -> None:
    records = make_records(6)
    path = write_blocks(workdir / "z.log.zst", [records[:3], records[3:]])
    ends = block_ends(path)
    data = path.read_bytes()
    path.write_bytes(data[: ends[1]] + bytes(8) + data[ends[1] :])
    with pytest.raises(LogCorruptError, match=rf"byte {ends[1]}: .*a valid block follows"):
        open_log(path, repair=True)


def test_repair_never_cuts_bytes_appended_after_the_scan(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A live log is checked while its writer is half-way through a write; the writer then
    # finishes the write and closes (releasing its lock) before the reader repairs the tail.
    records = make_records(6)
    path = write_log(workdir / "live.log", records)
    whole = path.read_bytes()
    os.truncate(path, frame_ends(path)[-1] - 5)

    real_scan = log_reader.scan

    def scan_then_writer_finishes(*args: Any) -> Any:
        found = real_scan(*args)
        with open(path, "ab") as f:
            f.write(whole[path.stat().st_size :])
        return found

    monkeypatch.setattr(log_reader, "scan", scan_then_writer_finishes)
    open_log(path, repair=True)
    monkeypatch.undo()
    assert path.read_bytes() == whole
    assert list(open_log(path, repair=True)) == records


def test_a_torn_log_on_a_read_only_file_system_is_read_without_repair(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_log(workdir / "ro.log", make_records(3))
    with open(path, "ab") as f:
        f.write(b"\x05" * 7)
    size = path.stat().st_size

    def read_only_open(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        if "+" in mode or "w" in mode or "a" in mode:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return open(file, mode, *args, **kw)

    monkeypatch.setattr(log_reader, "open", read_only_open, raising=False)
    with caplog.at_level(logging.WARNING, logger="mmcore.log"):
        reader = open_log(path, repair=True)
    assert "not truncated" in caplog.text and "Read-only file system" in caplog.text
    assert reader.truncated_bytes == 7 and path.stat().st_size == size
    assert list(reader) == make_records(3)


# ---------------------------------------------------------------- damage


def flip(path: Path, position: int, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 1 << bit
    path.write_bytes(bytes(data))


@SETTINGS
@given(n=st.integers(0, 12), where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7),
       compress=st.booleans())
def test_a_flipped_bit_anywhere_is_detected_and_never_read_as_a_different_record(
    n: int, where: float, bit: int, compress: bool
) -> None:
    records = make_records(n)
    with tempfile.TemporaryDirectory() as d:
        if compress:
            path = write_blocks(Path(d) / "f.log.zst", [records[k : k + 3] for k in range(0, n, 3)])
        else:
            path = write_log(Path(d) / "f.log", records)
        size = path.stat().st_size
        flip(path, MAGIC_LEN + int(where * (size - MAGIC_LEN)), bit)
        try:
            reader = open_log(path, repair=True)
            got = list(reader)
        except LogCorruptError as exc:
            assert str(path) in str(exc) and OFFSET_IN_MESSAGE.search(str(exc)), str(exc)
            return
        assert reader.truncated_bytes > 0
        assert len(got) < len(records)
        assert got == records[: len(got)]


def test_a_damaged_frame_followed_by_valid_frames_is_corruption_naming_its_offset(
    workdir: Path,
) -> None:
    path = write_log(workdir / "mid.log", make_records(6))
    ends = frame_ends(path)
    flip(path, ends[2] + FRAME.size + 3, 0)  # payload of the third record
    with pytest.raises(LogCorruptError, match=rf"mid\.log: byte {ends[2]}: frame crc mismatch"):
        open_log(path, repair=True)


@SETTINGS
@given(start=st.floats(0, 1), length=st.integers(1, 6000), compress=st.booleans())
def test_a_damaged_run_of_any_length_before_whole_frames_is_corruption_never_cut_off(
    start: float, length: int, compress: bool
) -> None:
    # e.g. a lost 4 KiB page in an old log: the frames after it are good data, which a repair
    # must never cut off as if they were a torn tail
    records = make_records(300)
    with tempfile.TemporaryDirectory() as d:
        if compress:
            groups = [records[k : k + 40] for k in range(0, 300, 40)]
            path = write_blocks(Path(d) / "z.log.zst", groups)
            ends = block_ends(path)
        else:
            path = write_log(Path(d) / "z.log", records)
            ends = frame_ends(path)
        data = path.read_bytes()
        first = ends[0] + int(start * (ends[-2] - ends[0]))
        stop = min(first + length, ends[-2])
        damaged = data[:first] + bytes(stop - first) + data[stop:]
        assume(damaged != data)
        path.write_bytes(damaged)
        with pytest.raises(LogCorruptError, match=r"follows at byte \d+"):
            open_log(path, repair=True)
        assert path.read_bytes() == damaged


def test_a_bad_length_in_the_middle_is_corruption(workdir: Path) -> None:
    path = write_log(workdir / "len.log", make_records(6))
    ends = frame_ends(path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, ends[1], 0xFFFF_FFF0)
    path.write_bytes(bytes(data))
    with pytest.raises(LogCorruptError, match=rf"byte {ends[1]}: expected a frame length"):
        open_log(path, repair=True)


def test_a_damaged_block_followed_by_a_valid_block_is_corruption(workdir: Path) -> None:
    records = make_records(9)
    path = write_blocks(workdir / "mid.log.zst", [records[:3], records[3:6], records[6:]])
    ends = block_ends(path)
    flip(path, ends[1] + BLOCK.size + 5, 2)
    with pytest.raises(LogCorruptError, match=rf"byte {ends[1]}: block crc mismatch"):
        open_log(path, repair=True)


@pytest.mark.parametrize(
    ("seqs", "expected", "found"),
    [([1, 2, 4, 5], 3, 4), ([1, 2, 3, 3], 4, 3), ([2], 1, 2), ([1, 2, 9], 3, 9)],
)
def test_a_seq_gap_or_repeat_is_corruption_even_at_the_end(
    workdir: Path, seqs: list[int], expected: int, found: int
) -> None:
    path = hand_made_log(workdir / "gap.log", seqs)
    gap = f"seq gap: expected frame seq {expected}, found {found}"
    with pytest.raises(LogCorruptError, match=gap):
        open_log(path, repair=True)
    assert path.stat().st_size == sum(
        FRAME.size + len(p)
        for p in [msgspec.msgpack.encode(make_header())] + [encode(make_delta(s)) for s in seqs]
    ) + MAGIC_LEN


def test_a_hand_made_log_with_consecutive_seqs_reads_back(workdir: Path) -> None:
    path = hand_made_log(workdir / "ok.log", [1, 2, 3])
    assert list(open_log(path, repair=True)) == [make_delta(1), make_delta(2), make_delta(3)]


@pytest.mark.parametrize("content", [b"", b"MMLOG", b"hello world, not a log at all"])
def test_a_file_without_the_magic_is_not_an_event_log(workdir: Path, content: bytes) -> None:
    path = workdir / "x.log"
    path.write_bytes(content)
    with pytest.raises(LogCorruptError, match="not an mm event log"):
        open_log(path, repair=True)
    with pytest.raises(LogCorruptError, match="not an mm event log"):
        read_header(path)


def test_a_header_that_does_not_decode_is_corruption(workdir: Path) -> None:
    path = workdir / "h.log"
    path.write_bytes(MAGIC + make_frame(0, msgspec.msgpack.encode({"format_version": "one"})))
    with pytest.raises(LogCorruptError, match="byte 8: expected a log header frame"):
        open_log(path, repair=True)
    with pytest.raises(LogCorruptError, match="byte 8: expected a log header frame"):
        read_header(path)


def test_a_log_cut_inside_its_header_is_corruption(workdir: Path) -> None:
    path = write_log(workdir / "h.log", [])
    os.truncate(path, path.stat().st_size - 1)
    with pytest.raises(LogCorruptError, match="byte 8: expected a complete header frame"):
        open_log(path, repair=True)


def test_a_missing_log_is_an_error_naming_its_path(workdir: Path) -> None:
    with pytest.raises(LogNotFoundError, match=r"nope\.log: expected an event log file") as err:
        open_log(workdir / "nope.log", repair=True)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, MMError)


# ---------------------------------------------------------------- writer policies


def test_the_writer_refuses_to_clobber_an_existing_log(workdir: Path) -> None:
    path = write_log(workdir / "keep.log", make_records(2))
    before = path.read_bytes()
    with pytest.raises(LogExistsError, match="expected a new or empty file") as err:
        LogWriter(path, make_header())
    assert isinstance(err.value, FileExistsError) and isinstance(err.value, MMError)
    assert path.read_bytes() == before


def test_the_writer_accepts_an_existing_empty_file(workdir: Path) -> None:
    path = workdir / "empty.log"
    path.touch()
    write_log(path, make_records(2))
    assert list(open_log(path, repair=True)) == make_records(2)


def test_a_second_writer_on_the_same_file_is_refused(workdir: Path) -> None:
    path = workdir / "two.log"
    path.touch()
    with LogWriter(path, make_header(), flush_every=10**6):
        os.truncate(path, 0)  # make it look empty again: only the lock protects it now
        with pytest.raises(LogExistsError, match="another writer"):
            LogWriter(path, make_header())


@pytest.mark.parametrize("compress", [False, True])
def test_flush_writes_buffered_frames_so_a_reader_sees_them(workdir: Path, compress: bool) -> None:
    path = workdir / ("f.log.zst" if compress else "f.log")
    with LogWriter(path, make_header(), flush_every=10**6, fsync="flush") as writer:
        header_only = path.stat().st_size
        writer.append_many(make_records(700))
        assert list(open_log(path, repair=False)) == []
        writer.flush()
        assert path.stat().st_size > header_only
        assert list(open_log(path, repair=False)) == make_records(700)
        stats = writer.statistics()
        assert stats.records == 700 and stats.flushes == 2 and stats.fsyncs == 2
        assert stats.file_bytes == path.stat().st_size


def test_flush_every_bounds_the_frames_held_in_memory(workdir: Path) -> None:
    path = workdir / "n.log"
    with LogWriter(path, make_header(), flush_every=4) as writer:
        writer.append_many(make_records(9))
        assert len(list(open_log(path, repair=False))) == 8


def test_close_fsyncs_by_default_and_never_means_never(workdir: Path) -> None:
    with LogWriter(workdir / "a.log", make_header()) as a:
        a.append(make_fill(1))
    with LogWriter(workdir / "b.log", make_header(), fsync="never") as b:
        b.append(make_fill(1))
    assert a.statistics().fsyncs == 1
    assert b.statistics().fsyncs == 0


def test_appending_after_close_is_an_error_and_close_is_idempotent(workdir: Path) -> None:
    writer = LogWriter(workdir / "c.log", make_header())
    writer.append(make_place(1))
    writer.close()
    writer.close()
    with pytest.raises(LogClosedError, match="found a closed one"):
        writer.append(make_place(2))
    assert list(open_log(workdir / "c.log", repair=True)) == [make_place(1)]


def test_an_oversized_record_ends_the_log_after_the_records_before_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mmcore.log_writer.MAX_FRAME_BYTES", 80)
    big = BookDelta("BTC-USD", 1, 2, 3, 2, tuple(range(1000, 1100)), ())
    path = workdir / "big.log"
    writer = LogWriter(path, make_header(), flush_every=1)
    writer.append(make_place(1))
    with pytest.raises(LogRecordTooLargeError, match="record seq 2 \\(BookDelta\\)"):
        writer.append(big)
    assert list(open_log(path, repair=True)) == [make_place(1)]


def test_the_writer_rejects_an_unknown_fsync_policy(workdir: Path) -> None:
    with pytest.raises(ValueError, match="expected one of"):
        LogWriter(workdir / "p.log", make_header(), fsync="always")  # type: ignore[arg-type]


# ---------------------------------------------------------------- memory


@pytest.mark.parametrize("compress", [False, True])
def test_reading_a_large_log_uses_bounded_memory(workdir: Path, compress: bool) -> None:
    n = 200_000
    path = workdir / ("big.log.zst" if compress else "big.log")
    with LogWriter(path, make_header()) as writer:
        writer.append_many(map(make_delta, range(n)))
    assert path.stat().st_size > (2_000_000 if compress else 10_000_000)
    reader = open_log(path, repair=True)
    tracemalloc.start()
    try:
        last = deque(enumerate(reader, 1), maxlen=1)[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"peak traced memory reading {n} records ({'zstd' if compress else 'plain'}): {peak}")
    assert last == (n, make_delta(n - 1))
    assert peak < 6_000_000


# ---------------------------------------------------------------- after open


def test_a_log_rewritten_in_place_after_open_is_not_read_silently(workdir: Path) -> None:
    path = write_log(workdir / "w.log", make_records(4))
    reader = open_log(path, repair=True)
    stat = path.stat()
    flip(path, frame_ends(path)[1] + FRAME.size + 2, 1)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with pytest.raises(LogCorruptError, match="expected an unmodified file"):
        list(reader)


def test_a_log_appended_to_after_open_reads_up_to_where_it_ended_on_open(workdir: Path) -> None:
    path = write_log(workdir / "a.log", make_records(4))
    reader = open_log(path, repair=True)
    with open(path, "ab") as f:
        f.write(make_frame(5, encode(make_delta(5))))
    assert list(reader) == make_records(4)
    assert list(open_log(path, repair=True)) == [*make_records(4), make_delta(5)]


@pytest.mark.parametrize("compress", [False, True])
def test_statistics_count_what_was_written_and_what_open_found(
    workdir: Path, compress: bool
) -> None:
    path = workdir / ("s.log.zst" if compress else "s.log")
    with LogWriter(path, make_header(), flush_every=3) as writer:
        writer.append_many(make_records(7))
    written = writer.statistics()
    assert (written.records, written.flushes) == (7, 4)  # header, 3, 3, then 1 at close
    assert written.file_bytes == path.stat().st_size
    with open(path, "ab") as f:
        f.write(b"\x00\x00")
    found = open_log(path, repair=True).statistics()
    assert found.file_bytes == written.file_bytes + 2
    assert found.valid_bytes == written.file_bytes and found.truncated_bytes == 2
    assert found.compressed is compress
    assert found.records == (-1 if compress else 7)
    assert found.blocks == (4 if compress else 0)


def test_writer_statistics_count_each_frame_byte_once_flushed_or_not(tmp_path: Path) -> None:
    from mmcore.events import Timer

    path = tmp_path / "stats.mmlog"
    header = LogHeader(format_version=FORMAT_VERSION, code_version="t", instruments=[], config={})
    with LogWriter(path, header, flush_every=10**6) as writer:
        for i in range(1000):
            writer.append(Timer(i, i))
        writer.flush()
        flushed = writer.statistics().frame_bytes
        for i in range(1000, 1600):
            writer.append(Timer(i, i))  # the first 512 get framed in memory, none written
        unflushed = writer.statistics().frame_bytes
    final = path.stat().st_size - len(MAGIC)
    assert sum(1 for _ in open_log(path, repair=True)) == 1600
    assert writer.statistics().frame_bytes == final
    assert flushed < unflushed < final


def test_a_prior_day_pnl_recorded_before_the_hours_highs_were_kept_reads_as_none() -> None:
    old = msgspec.msgpack.encode(["PriorDayPnl", 5, 6, 20_429, -7])  # the record's first shape
    assert decode(old) == PriorDayPnl(5, 6, 20_429, -7, (), ())
    assert decode(encode(PriorDayPnl(5, 6, 20_429, -7, ((1, 2),)))).hour_highs == ((1, 2),)


def test_opening_a_log_never_changes_the_file_unless_asked_to_repair() -> None:
    """A reader (a report, a replay, a library user) must not cut someone's file by default."""
    records = make_records(5)
    with tempfile.TemporaryDirectory() as d:
        path = write_log(Path(d) / "torn.log", records)
        ends = frame_ends(path)
        os.truncate(path, ends[-1] - 3)
        size = path.stat().st_size
        reader = open_log(path)
        assert list(reader) == records[:-1]
        assert path.stat().st_size == size and not reader.repaired
        open_log(path, repair=True)
        assert path.stat().st_size == ends[-2]
