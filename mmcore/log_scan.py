"""Checking a whole event log on open: where its good part ends, and whether its tail is torn.

``scan`` reads the file once, sequentially, in ``CHUNK_BYTES`` pieces. For a plain log it checks
every frame's length, crc and seq; for a compressed log every block's length and crc (the frames
inside a block are checked when the block is read). The first frame (or block) that fails decides:

- a complete frame with a good crc but the wrong seq is a gap: ``LogCorruptError``;
- otherwise, if a valid frame (for a compressed log: a block with a good crc) starts anywhere
  after it, the damage is in the middle: ``LogCorruptError`` naming the damaged offset and the
  valid one after it. For a plain log, "valid" means a good crc and a seq from 0 up to what the
  rest of the file could hold: a later seq is good data after damage, an earlier one (a second
  log appended whole, its header frame seq 0) is no crash's work either;
- otherwise, if the rest holds a log's magic (``MAGIC`` or ``MAGIC_ZSTD``), another log was
  appended to this one: ``LogCorruptError`` naming where;
- otherwise it is a torn tail, and ``end`` is where the good part of the file stops.

A torn write holds the start of frames this log's writer was writing (seqs from the failed one's
on), or zeros, or garbage; none of what makes the rest damage. Damage is never cut off: a repair
would destroy the good data in it.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO

import zstandard

from mmcore.errors import LogCorruptError
from mmcore.log_format import (
    BLOCK,
    CHUNK_BYTES,
    FRAME,
    MAGIC,
    MAGIC_LEN,
    MAGIC_ZSTD,
    MAX_FRAME_BYTES,
    ZSTD_FRAME_MAGIC,
    LogHeader,
    decode_header,
)

__all__ = ["Scan", "first_block_header", "scan"]


class Scan:
    """What ``scan`` found: the header, where records start and where the good part ends."""

    __slots__ = ("blocks", "end", "first", "header", "records", "size", "tail_reason")

    def __init__(
        self,
        header: LogHeader,
        first: int,
        end: int,
        size: int,
        records: int,
        blocks: int,
        tail_reason: str,
    ) -> None:
        self.header = header
        self.first = first
        """Offset of the first record frame (plain) or of the first block (compressed)."""
        self.end = end
        """Offset just past the last good frame or block."""
        self.size = size
        self.records = records
        """Record frames before ``end`` (plain logs); -1 when unknown (compressed logs)."""
        self.blocks = blocks
        self.tail_reason = tail_reason
        """Why the bytes from ``end`` on were dropped; empty when there is no torn tail."""


def scan(path: str, f: BinaryIO, size: int, compressed: bool) -> Scan:
    """Check the log in ``f`` (its magic already read); raise ``LogCorruptError`` on damage that
    is not a torn tail, and on a log whose header frame is not complete."""
    return _scan_blocks(path, f, size) if compressed else _scan_frames(path, f, size)


# ---------------------------------------------------------------- plain logs


def _scan_frames(path: str, f: BinaryIO, size: int) -> Scan:
    f.seek(MAGIC_LEN)
    pos = base = MAGIC_LEN
    data = b""
    view = memoryview(data)
    expected = 0
    header: LogHeader | None = None
    first = MAGIC_LEN
    reason = ""
    while pos < size:
        i = pos - base
        if len(data) - i < FRAME.size:
            data = data[i:] + _read(f, CHUNK_BYTES, size)
            view = memoryview(data)
            base, i = pos, 0
            if len(data) < FRAME.size:
                reason = f"incomplete frame header: expected {FRAME.size} bytes, found {len(data)}"
                break
        length, crc, seq = FRAME.unpack_from(data, i)
        if length > MAX_FRAME_BYTES:
            reason = f"expected a frame length of at most {MAX_FRAME_BYTES}, found {length}"
            break
        stop = i + FRAME.size + length
        if stop > len(data):
            data = data[i:] + _read(f, max(CHUNK_BYTES, stop - len(data)), size)
            view = memoryview(data)
            base, i, stop = pos, 0, FRAME.size + length
            if stop > len(data):
                reason = f"incomplete frame: expected {stop} bytes, found {len(data)}"
                break
        if zlib.crc32(view[i + 8 : stop]) != crc:
            reason = f"frame crc mismatch (seq field {seq}, length field {length})"
            break
        if seq != expected:
            raise LogCorruptError(
                f"{path}: byte {pos}: seq gap: expected frame seq {expected}, found {seq}"
            )
        if header is None:
            header = decode_header(view[i + FRAME.size : stop], path, pos)
            first = pos + stop - i
        expected += 1
        pos += stop - i
    if reason:
        after = _find_frame(f, pos + 1, size, expected)
        if after is not None:
            raise LogCorruptError(
                f"{path}: byte {pos}: {reason}; a valid frame follows at byte {after}"
            )
        _refuse_appended_log(path, f, pos, size, reason)
        if header is None:
            raise LogCorruptError(f"{path}: byte {pos}: expected a complete header frame, {reason}")
    if header is None:
        raise LogCorruptError(f"{path}: byte {MAGIC_LEN}: expected a header frame, found none")
    return Scan(header, first, pos, size, expected - 1, 0, reason)


def _read(f: BinaryIO, n: int, size: int) -> bytes:
    """Up to ``n`` bytes, never past ``size``: a log that grows while it is scanned is cut there."""
    return f.read(max(0, min(n, size - f.tell())))


def _find_frame(f: BinaryIO, start: int, size: int, expected: int) -> int | None:
    """Offset of the first valid frame at or after ``start``, or None: a good crc and a seq from
    0 up to the failed frame's ``expected`` plus one per frame header's worth of bytes after it.

    However many frames the damage covers: a lost page of small frames hides hundreds, and the
    good frames after it must never be taken for a torn tail and cut off. Nor may a frame with a
    seq at or below ``expected`` be: a torn write only holds frames from ``expected`` on, so such
    a frame is another log's (two logs joined) or a copy, and cutting it off would destroy it.
    Candidate frame headers (a length from 1 to ``MAX_FRAME_BYTES``, as every frame has, and a
    seq in range) are picked out of each chunk with numpy (on this failure path only), then
    crc-checked.
    """
    import numpy as np

    highest = expected + 1 + (size - start) // FRAME.size
    pos = start
    while pos + FRAME.size <= size:
        f.seek(pos)
        chunk = f.read(CHUNK_BYTES)
        hits: list[int] = []
        for k in range(8):
            count = (len(chunk) - k) // 8
            if count > 1:
                # word j holds a frame's length (low half) and crc if one starts at k + 8 j; its
                # seq is then word j + 1
                words = np.frombuffer(chunk, dtype="<u8", count=count, offset=k)
                lengths = words[:-1] & 0xFFFF_FFFF
                seqs = words[1:]
                found = np.flatnonzero(
                    (seqs <= highest) & (lengths > 0) & (lengths <= MAX_FRAME_BYTES)
                )
                hits.extend((k + 8 * found).tolist())
        for k in sorted(hits):
            if _frame_ok(f, pos + k, size):
                return pos + k
        if pos + len(chunk) >= size:
            break
        pos += len(chunk) - (FRAME.size - 1)  # a header cut by the chunk's end is seen next
    return None


def _refuse_appended_log(path: str, f: BinaryIO, pos: int, size: int, reason: str) -> None:
    """``LogCorruptError`` when the bytes from ``pos`` on hold a log's magic: another log was
    appended to this one (``cat a.log b.log``), which no crash does and no repair may cut off."""
    at = _find_magic(f, pos, size)
    if at is not None:
        raise LogCorruptError(
            f"{path}: byte {pos}: {reason}; the magic of another event log follows at byte {at} "
            f"(were two logs joined?)"
        )


def _find_magic(f: BinaryIO, start: int, size: int) -> int | None:
    """Offset of the first ``MAGIC`` or ``MAGIC_ZSTD`` at or after ``start``, or None."""
    pos = start
    while pos + MAGIC_LEN <= size:
        f.seek(pos)
        chunk = f.read(CHUNK_BYTES)
        found = [k for k in (chunk.find(MAGIC), chunk.find(MAGIC_ZSTD)) if k >= 0]
        if found:
            return pos + min(found)
        if pos + len(chunk) >= size:
            break
        pos += len(chunk) - (MAGIC_LEN - 1)
    return None


def _frame_ok(f: BinaryIO, offset: int, size: int) -> bool:
    f.seek(offset)
    head = f.read(FRAME.size)
    if len(head) < FRAME.size:
        return False
    length, crc, _ = FRAME.unpack(head)
    if length > MAX_FRAME_BYTES or offset + FRAME.size + length > size:
        return False
    return zlib.crc32(f.read(length), zlib.crc32(head[8:])) == crc


# ---------------------------------------------------------------- compressed logs


def _scan_blocks(path: str, f: BinaryIO, size: int) -> Scan:
    pos = MAGIC_LEN
    blocks = 0
    header: LogHeader | None = None
    reason = ""
    while pos < size:
        reason = _block_problem(f, pos, size)
        if reason:
            break
        if header is None:
            header = _header_from_block(path, f, pos)
        blocks += 1
        f.seek(pos)
        pos += BLOCK.size + BLOCK.unpack(f.read(BLOCK.size))[0]
    if reason:
        after = _find_block(f, pos + 1, size)
        if after is not None:
            raise LogCorruptError(
                f"{path}: byte {pos}: {reason}; a valid block follows at byte {after}"
            )
        _refuse_appended_log(path, f, pos, size, reason)
        if header is None:
            raise LogCorruptError(f"{path}: byte {pos}: expected a complete header block, {reason}")
    if header is None:
        raise LogCorruptError(f"{path}: byte {MAGIC_LEN}: expected a header block, found none")
    return Scan(header, MAGIC_LEN, pos, size, -1, blocks, reason)


def _block_problem(f: BinaryIO, offset: int, size: int) -> str:
    """Why the block at ``offset`` is not valid, or "" when it is; reads it in chunks."""
    f.seek(offset)
    head = f.read(BLOCK.size)
    if len(head) < BLOCK.size:
        return f"incomplete block header: expected {BLOCK.size} bytes, found {len(head)}"
    length, crc = BLOCK.unpack(head)
    if length < len(ZSTD_FRAME_MAGIC):
        # a writer never cuts an empty block; 8 zero bytes (a zero-filled tail after a crash)
        # would otherwise pass as one, since the crc32 of nothing is 0
        return f"expected a block holding a zstd frame, found a length field of {length}"
    room = size - offset - BLOCK.size
    if length > room:
        return f"incomplete block: expected {length} bytes, found {room}"
    actual = 0
    left = length
    while left:
        piece = f.read(min(CHUNK_BYTES, left))
        actual = zlib.crc32(piece, actual)
        left -= len(piece)
    if actual != crc:
        return f"block crc mismatch (length field {length})"
    return ""


def _find_block(f: BinaryIO, start: int, size: int) -> int | None:
    """Offset of a block with a good crc at or after ``start``, or None."""
    pos = start + BLOCK.size
    while pos + len(ZSTD_FRAME_MAGIC) <= size:
        f.seek(pos)
        chunk = f.read(CHUNK_BYTES)
        k = chunk.find(ZSTD_FRAME_MAGIC)
        while k >= 0:
            if not _block_problem(f, pos + k - BLOCK.size, size):
                return pos + k - BLOCK.size
            k = chunk.find(ZSTD_FRAME_MAGIC, k + 1)
        if pos + len(chunk) >= size:
            break
        pos += len(chunk) - (len(ZSTD_FRAME_MAGIC) - 1)
    return None


def first_block_header(path: str, f: BinaryIO, size: int) -> LogHeader:
    """The header in the first block of a compressed log, without scanning the rest."""
    problem = _block_problem(f, MAGIC_LEN, size)
    if problem:
        raise LogCorruptError(f"{path}: byte {MAGIC_LEN}: expected a header block, {problem}")
    return _header_from_block(path, f, MAGIC_LEN)


def _decompress_block(path: str, f: BinaryIO, offset: int) -> bytes:
    """The frames in the block at ``offset``, whose crc the caller has checked."""
    f.seek(offset)
    length, _ = BLOCK.unpack(f.read(BLOCK.size))
    try:
        return zstandard.ZstdDecompressor().decompress(f.read(length))
    except zstandard.ZstdError as exc:
        raise LogCorruptError(
            f"{path}: byte {offset}: expected a zstd frame in the block, found {exc}"
        ) from None


def _header_from_block(path: str, f: BinaryIO, offset: int) -> LogHeader:
    data = _decompress_block(path, f, offset)
    if len(data) < FRAME.size:
        raise LogCorruptError(f"{path}: byte {offset}: expected a header frame in the first block")
    length, crc, seq = FRAME.unpack_from(data)
    payload = data[FRAME.size : FRAME.size + length]
    if len(payload) != length or zlib.crc32(data[8 : FRAME.size + length]) != crc or seq != 0:
        raise LogCorruptError(
            f"{path}: byte {offset}: expected a valid header frame (seq 0) in the first block, "
            f"found length {length}, seq {seq}"
        )
    return decode_header(payload, path, offset)
