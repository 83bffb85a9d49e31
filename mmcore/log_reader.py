"""Reading an event log: open (check, repair a torn tail), then stream records in constant memory.

``open_log`` scans the file once (``mmcore.log_scan``), checking every frame's crc (plain) or
every block's crc (compressed), and repairs a torn tail. Iterating reads the file again, in 1 MiB
chunks or block by block, up to the end the scan found. In a compressed log it checks each block's
crc again and every frame's seq (the scan checked only the blocks). In a plain log the scan checked
every frame's crc and seq, so the walk only follows the lengths, checks the seq of the first frame
of each batch and that the last frame ends where the scan's did (half the cost of reading);
instead the file's identity, size and mtime must show that since the scan it was at most appended
to.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import struct
import zlib
from collections.abc import Generator, Iterator
from itertools import chain
from pathlib import Path

import msgspec
import zstandard

from mmcore.errors import LogCorruptError
from mmcore.log_format import (
    BLOCK,
    CHUNK_BYTES,
    FRAME,
    MAGIC_LEN,
    LogHeader,
    LogNotFoundError,
    decode_header,
    frame_crc,
    read_magic,
)
from mmcore.log_scan import Scan, first_block_header, scan
from mmcore.records import Record, decoder

__all__ = ["LogReader", "LogReaderStats", "open_log", "read_header"]

logger = logging.getLogger("mmcore.log")

_STEP = 1 << 16
"""Bytes of frames per batch handed from the walk loop to the decoder."""


class LogReaderStats(msgspec.Struct, frozen=True, kw_only=True):
    """What opening one log found."""

    file_bytes: int
    """Size of the file when it was opened, before any repair."""
    valid_bytes: int
    """Bytes up to the end of the last good frame (plain) or block (compressed)."""
    truncated_bytes: int
    records: int
    """Record frames (the header not counted); -1 for a compressed log, known only once read."""
    blocks: int
    """Blocks of a compressed log; 0 for a plain one."""
    compressed: bool


class _Tag(msgspec.Struct, array_like=True):
    """The first element of any record frame: its tag. Decoding only this is cheap."""

    t: str


_tag_decoder = msgspec.msgpack.Decoder(_Tag)


class LogReader:
    """An opened, checked event log. Iterate it for its records; each pass rereads the file."""

    __slots__ = (
        "_scan",
        "_stat",
        "compressed",
        "header",
        "path",
        "repair_refused",
        "repaired",
        "truncated_bytes",
    )

    def __init__(
        self,
        path: Path,
        found: Scan,
        compressed: bool,
        truncated_bytes: int,
        stat: os.stat_result,
        *,
        repaired: bool = False,
        repair_refused: str = "",
    ) -> None:
        self.path = path
        self._stat = stat
        self.header: LogHeader = found.header
        self.compressed = compressed
        self.truncated_bytes = truncated_bytes
        """Bytes of torn tail dropped on open (or that would be, when not repaired)."""
        self.repaired = repaired
        """True when open cut the torn tail off the file; the file is then ``truncated_bytes``
        shorter. False when there was none, no repair was asked for, or it was refused."""
        self.repair_refused = repair_refused
        """Why a repair that was asked for was not done (a writer holds the file, no permission,
        a read-only file system...); empty otherwise. Callers that report a repair say this, not
        that the tail was cut."""
        self._scan = found

    def __iter__(self) -> Iterator[Record]:
        # Chaining decoded batches keeps the per-record step in C (no generator resumes).
        return chain.from_iterable(self._decoded_batches())

    def _decoded_batches(self) -> Iterator[list[Record]]:
        decode = decoder.decode
        for seq, offset, batch in self._batches():
            try:
                records = list(map(decode, batch))
            except (msgspec.DecodeError, msgspec.ValidationError):
                # hand on the records before the bad one first, as a record-by-record read would
                records = []
                for payload in batch:
                    try:
                        records.append(decode(payload))
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        break
                yield records
                raise self._undecodable(seq, offset, batch) from None
            yield records

    def frames(self) -> Iterator[tuple[int, int, Record]]:
        """``(seq, offset, record)``; ``offset`` is the frame's byte offset in a plain log, its
        block's byte offset in a compressed one."""
        decode = decoder.decode
        step = 0 if self.compressed else FRAME.size
        for seq, offset, batch in self._batches():
            try:
                records = list(map(decode, batch))
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise self._undecodable(seq, offset, batch) from None
            for record, payload in zip(records, batch):
                yield seq, offset, record
                seq += 1
                if step:
                    offset += step + len(payload)

    def raw_frames(self) -> Iterator[tuple[int, int, bytes]]:
        """``(seq, offset, payload)``: each record's msgpack bytes exactly as written."""
        step = 0 if self.compressed else FRAME.size
        for seq, offset, batch in self._batches():
            for payload in batch:
                yield seq, offset, payload
                seq += 1
                if step:
                    offset += step + len(payload)

    def counts(self) -> dict[str, int]:
        """Records by type tag, in order of first appearance."""
        counts: dict[str, int] = {}
        decode = _tag_decoder.decode
        for seq, offset, batch in self._batches():
            try:
                tags = [decode(payload).t for payload in batch]
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise self._undecodable(seq, offset, batch) from None
            for tag in tags:
                counts[tag] = counts.get(tag, 0) + 1
        return counts

    def statistics(self) -> LogReaderStats:
        s = self._scan
        return LogReaderStats(
            file_bytes=s.size,
            valid_bytes=s.end,
            truncated_bytes=self.truncated_bytes,
            records=s.records,
            blocks=s.blocks,
            compressed=self.compressed,
        )

    # ------------------------------------------------------------ streaming

    def _batches(self) -> Iterator[tuple[int, int, list[bytes]]]:
        """``(seq of the first, offset of the first, payloads)`` for runs of consecutive records.

        Batches keep the per-record work in the walk loop and C-level ``map`` calls; each holds
        at most ``_STEP`` bytes of frames, so memory stays small whatever the log's size.
        """
        return self._block_batches() if self.compressed else self._frame_batches()

    def _frame_batches(self) -> Iterator[tuple[int, int, list[bytes]]]:
        # Every frame's crc and seq was checked on open; here the walk follows the lengths and
        # checks one seq per batch, and the file's identity and mtime guard against it having
        # been rewritten since.
        end = self._scan.end
        with open(self.path, "rb") as f:
            self._check_unchanged(os.fstat(f.fileno()))
            base = self._scan.first  # file offset of data[0]
            f.seek(base)
            data = b""
            i = 0
            expected = 1
            while True:
                i, expected = yield from _walk_scanned(data, i, expected, base, self.path)
                n = len(data)
                left = end - base - n
                if left <= 0:
                    if i != n:
                        raise self._changed(base + i, "expected the last frame to be complete")
                    return
                need = CHUNK_BYTES
                if n - i >= FRAME.size:
                    need = max(need, FRAME.size + FRAME.unpack_from(data, i)[0] - (n - i))
                chunk = f.read(min(left, need))
                if not chunk:
                    raise self._changed(base + n, f"expected {left} more bytes")
                data = data[i:] + chunk
                base += i
                i = 0

    def _block_batches(self) -> Iterator[tuple[int, int, list[bytes]]]:
        # Each block's crc is checked again as it is read: it covers every frame inside.
        end = self._scan.end
        dctx = zstandard.ZstdDecompressor()
        expected = 0
        with open(self.path, "rb") as f:
            pos = self._scan.first
            f.seek(pos)
            while pos < end:
                head = f.read(BLOCK.size)
                block_len, block_crc = BLOCK.unpack(head) if len(head) == BLOCK.size else (0, -1)
                body = f.read(block_len)
                if len(body) != block_len or zlib.crc32(body) != block_crc:
                    raise self._changed(pos, "expected a block with a good crc")
                try:
                    data = dctx.decompress(body)
                except zstandard.ZstdError as exc:
                    raise self._changed(pos, f"expected a zstd frame, found {exc}") from None
                del body
                i = 0
                if expected == 0:  # the header frame opens the first block
                    i = FRAME.size + FRAME.unpack_from(data)[0]
                    expected = 1
                i, expected = yield from _walk(data, i, expected, -pos, self.path)
                if i != len(data):
                    raise LogCorruptError(
                        f"{self.path}: byte {pos}: expected whole frames in the block, found a "
                        f"damaged frame at byte {i} of its {len(data)} bytes (seq {expected})"
                    )
                pos += BLOCK.size + block_len

    # ------------------------------------------------------------ errors

    def _changed(self, offset: int, expected: str) -> LogCorruptError:
        return _changed(self.path, offset, expected)

    def _check_unchanged(self, now: os.stat_result) -> None:
        """Appending is fine (a live log grows); replacing or rewriting the file is not."""
        was = self._stat
        if (now.st_dev, now.st_ino) != (was.st_dev, was.st_ino) or now.st_size < self._scan.end:
            raise self._changed(self._scan.end, "expected the same file, at least as long")
        if now.st_size == was.st_size and now.st_mtime_ns != was.st_mtime_ns:
            raise self._changed(0, "expected an unmodified file")

    def _undecodable(self, seq: int, offset: int, batch: list[bytes]) -> LogCorruptError:
        """The error for the first payload in ``batch`` that is not a known record."""
        step = 0 if self.compressed else FRAME.size
        for payload in batch:
            try:
                decoder.decode(payload)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                return LogCorruptError(
                    f"{self.path}: byte {offset}: expected a known record in frame seq {seq}, "
                    f"found {exc}"
                )
            seq += 1
            offset += step + len(payload) if step else 0
        return LogCorruptError(f"{self.path}: byte {offset}: undecodable frame near seq {seq}")


_LENGTH = struct.Struct("<I")
"""The first field of ``FRAME``, the payload length: all the walk over checked frames reads."""


def _walk_scanned(
    data: bytes, i: int, expected: int, base: int, path: Path
) -> Generator[tuple[int, int, list[bytes]], None, tuple[int, int]]:
    """Yield batches of the whole frames in ``data`` (at file offset ``base``) from ``i`` on;
    return where it stopped and the seq expected next.

    For frames whose crc and seq the scan checked on open: the per-frame work is one length read
    and one slice (this loop runs once per record). The seq of each batch's first
    frame is still compared, so frames that moved since the scan are not read silently.
    """
    unpack_length = _LENGTH.unpack_from
    size = FRAME.size
    n = len(data)
    while True:
        last = min(n, i + _STEP) - size  # a frame header starting here still fits
        if i > last:
            return i, expected
        _, _, seq = FRAME.unpack_from(data, i)
        if seq != expected:
            raise _changed(path, base + i, f"expected a frame with seq {expected}, found {seq}")
        first_offset = base + i
        batch: list[bytes] = []
        add = batch.append
        while i <= last:
            start = i + size
            i = start + unpack_length(data, i)[0]
            if i > n:  # incomplete: left for the next chunk
                i = start - size
                break
            add(data[start:i])
        if not batch:
            return i, expected
        yield expected, first_offset, batch
        expected += len(batch)


def _walk(
    data: bytes, i: int, expected: int, base: int, path: Path
) -> Generator[tuple[int, int, list[bytes]], None, tuple[int, int]]:
    """Yield batches of the whole frames in ``data`` from ``i`` on; return where it stopped.

    Checks every frame's seq: for the frames of a compressed log, whose blocks the scan checked
    but not the frames inside them.

    ``base >= 0`` is the file offset of ``data[0]`` (plain logs); a negative ``base`` is minus
    the offset of the block ``data`` came from, which then stands for every frame in it.
    """
    unpack = FRAME.unpack_from
    n = len(data)
    while True:
        limit = min(n, i + _STEP)
        batch: list[bytes] = []
        add = batch.append
        first_seq = expected
        first_offset = base + i if base >= 0 else -base
        while i + 16 <= limit:
            length, _crc, seq = unpack(data, i)
            stop = i + 16 + length
            if stop > n:
                break
            if seq != expected:
                at = base + i if base >= 0 else -base
                raise _changed(path, at, f"expected a frame with seq {expected}, found {seq}")
            add(data[i + 16 : stop])
            expected += 1
            i = stop
        if not batch:
            return i, expected
        yield first_seq, first_offset, batch


def _changed(path: Path, offset: int, expected: str) -> LogCorruptError:
    return LogCorruptError(
        f"{path}: byte {offset}: {expected}, found different bytes than when the log was "
        f"opened (was it modified?)"
    )


def open_log(path: str | Path, *, repair: bool = False) -> LogReader:
    """Open and check an event log.

    A torn tail (see ``mmcore.log``) is logged as a warning on ``mmcore.log`` and skipped; only
    with ``repair`` (never by default: reading must not change the file) is it cut off the file,
    and not while a writer still holds the file (``LogReader.repaired`` and ``repair_refused``
    say which happened). Damage anywhere else raises ``LogCorruptError``; a
    missing file ``LogNotFoundError``.
    """
    p = Path(path)
    with _open_existing(p) as f:
        scanned = os.fstat(f.fileno())
        size = scanned.st_size
        compressed = read_magic(p, f.read(MAGIC_LEN))
        found = scan(str(p), f, size, compressed)
    dropped = size - found.end
    refused = ""
    if dropped:
        where = f"{p}: torn tail at byte {found.end} ({found.tail_reason})"
        if not repair:
            logger.warning("%s: %d bytes ignored, file left as is", where, dropped)
        else:
            refused = _truncate(p, found.end, scanned)
            if refused:
                logger.warning("%s: %d bytes ignored, not truncated: %s", where, dropped, refused)
            else:
                logger.warning("%s: dropped %d bytes, truncated to %d", where, dropped, found.end)
    repaired = bool(dropped) and repair and not refused
    return LogReader(
        p, found, compressed, dropped, p.stat(), repaired=repaired, repair_refused=refused
    )


def read_header(path: str | Path) -> LogHeader:
    """The header of a log, reading only its first frame (or block); no scan, no repair."""
    p = Path(path)
    with _open_existing(p) as f:
        size = os.fstat(f.fileno()).st_size
        if read_magic(p, f.read(MAGIC_LEN)):
            return first_block_header(str(p), f, size)
        head = f.read(FRAME.size)
        length, crc, seq = FRAME.unpack(head) if len(head) == FRAME.size else (0, -1, -1)
        payload = f.read(length) if length <= size else b""
        if len(payload) != length or seq != 0 or frame_crc(0, payload) != crc:
            raise LogCorruptError(
                f"{p}: byte {MAGIC_LEN}: expected a complete header frame with seq 0 and a good "
                f"crc, found {len(head) + len(payload)} bytes"
            )
        return decode_header(payload, p, MAGIC_LEN)


def _open_existing(p: Path) -> io.BufferedReader:
    try:
        return open(p, "rb")
    except FileNotFoundError:
        raise LogNotFoundError(f"{p}: expected an event log file, found no such file") from None


def _truncate(p: Path, end: int, scanned: os.stat_result) -> str:
    """Cut the file at ``end``; return why not (and do nothing) when that is not possible.

    ``scanned`` is the file as the scan saw it: a file that grew since (its writer finished
    the torn write and closed) or was replaced is left alone, or the cut would drop good frames.
    """
    try:
        with open(p, "r+b") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return "a writer holds the file"
            now = os.fstat(f.fileno())
            if (now.st_dev, now.st_ino, now.st_size) != (
                scanned.st_dev,
                scanned.st_ino,
                scanned.st_size,
            ):
                return "the file changed since it was checked"
            f.truncate(end)
            os.fsync(f.fileno())
            return ""
    except PermissionError as exc:
        return f"no permission to write it ({exc.strerror})"
    except OSError as exc:  # a read-only file system (EROFS), ...: the log is still readable
        return f"cannot write it ({exc.strerror})"

