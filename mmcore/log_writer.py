"""Appending records to an event log: buffered, batched framing, optional zstd blocks.

``append`` only puts the record on a pending list and hands out its seq; every ``_BATCH`` records
(or at ``flush``) the pending records are framed together with C-level ``map`` calls, which is
what makes appending cheap enough for the hot path. See ``mmcore.log`` for the format.
"""

from __future__ import annotations

import fcntl
import io
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Literal

import msgspec
import zstandard

from mmcore.log_format import (
    BLOCK,
    FLUSH_BYTES,
    FRAME,
    MAGIC,
    MAGIC_ZSTD,
    MAX_FRAME_BYTES,
    SEQ,
    LogClosedError,
    LogExistsError,
    LogHeader,
    LogRecordTooLargeError,
    encode_header,
    frame_crc,
)
from mmcore.records import Record, encoder, tag_of

__all__ = ["FsyncPolicy", "LogWriter", "LogWriterStats"]

FsyncPolicy = Literal["never", "flush", "close"]
_FSYNC_POLICIES = ("never", "flush", "close")
_BATCH = 512
"""Pending records framed together; small enough to keep the pending list in cache."""
_ZSTD_LEVEL = 3


class LogWriterStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of one log writer."""

    records: int
    """Records appended (the header frame not counted)."""
    frame_bytes: int
    """Bytes of frames produced, before compression, header frame included."""
    file_bytes: int
    """Bytes written to the file, magic included."""
    flushes: int
    """Writes of buffered frames to the file (each one a block in a compressed log)."""
    fsyncs: int


class _Closed:
    """Stands in for the pending list after ``close`` so that ``append`` fails without a check."""

    __slots__ = ()

    def append(self, record: Record) -> None:
        raise LogClosedError(
            f"expected an open log writer, found a closed one (appending {tag_of(record)})"
        )

    def __len__(self) -> int:
        return 0


class LogWriter:
    """Writes a new event log: the header frame at once, then records as they are appended.

    ``path`` must not exist or be empty (``LogExistsError`` otherwise). ``flush_every`` frames, or
    1 MiB of frames, are buffered before they are written; ``fsync`` says when the file is
    synced: ``"never"``, at every ``"flush"``, or at ``"close"``. ``compress`` writes zstd blocks
    (``None``: when the name ends in ``.zst``). The writer holds an exclusive ``flock`` on the file
    while open, so a reader knows not to repair a log that is still being written.
    """

    __slots__ = (
        "_cctx",
        "_chunks",
        "_file",
        "_file_bytes",
        "_flush_every",
        "_flushes",
        "_frame_at",
        "_frame_bytes",
        "_framed_seq",
        "_fsync",
        "_fsyncs",
        "_pending",
        "_pending_limit",
        "_push",
        "_seq",
        "_unflushed_bytes",
        "_unflushed_frames",
        "compressed",
        "header",
        "path",
    )

    def __init__(
        self,
        path: str | Path,
        header: LogHeader,
        *,
        flush_every: int = 65536,
        fsync: FsyncPolicy = "close",
        compress: bool | None = None,
    ) -> None:
        if flush_every < 1:
            raise ValueError(f"LogWriter flush_every: expected >= 1, found {flush_every}")
        if fsync not in _FSYNC_POLICIES:
            raise ValueError(f"LogWriter fsync: expected one of {_FSYNC_POLICIES}, found {fsync!r}")
        self.path = Path(path)
        self.header = header
        self.compressed = self.path.suffix == ".zst" if compress is None else compress
        self._flush_every = flush_every
        self._fsync = fsync
        self._pending_limit = min(_BATCH, flush_every)
        self._pending: list[Record] | _Closed = []
        self._push = self._pending.append  # bound once: append runs per record
        self._chunks: list[bytes] = []
        self._unflushed_frames = 0
        self._unflushed_bytes = 0
        self._seq = 0
        self._framed_seq = 0
        self._frame_at = self._pending_limit  # the seq at which the pending list is full
        self._flushes = 0
        self._fsyncs = 0
        self._frame_bytes = 0
        self._cctx = zstandard.ZstdCompressor(level=_ZSTD_LEVEL) if self.compressed else None
        self._file = _create(self.path)
        magic = MAGIC_ZSTD if self.compressed else MAGIC
        self._file.write(magic)
        self._file_bytes = len(magic)
        payload = encode_header(header)
        self._chunks.append(FRAME.pack(len(payload), frame_crc(0, payload), 0) + payload)
        self._unflushed_bytes = self._frame_bytes = FRAME.size + len(payload)
        self._unflushed_frames = 1
        self.flush()

    # ------------------------------------------------------------ appending

    def append(self, record: Record) -> int:
        """Buffer ``record`` and return its seq (the header is 0, the first record 1)."""
        self._push(record)
        seq = self._seq = self._seq + 1
        if seq >= self._frame_at:  # the pending list holds _pending_limit records
            self._frame()
        return seq

    def append_many(self, records: Iterable[Record]) -> None:
        """Buffer many records; the same as ``append`` for each, in order."""
        append = self.append
        for record in records:
            append(record)

    @property
    def seq(self) -> int:
        """The seq of the last record appended (0 when only the header is written)."""
        return self._seq

    # ------------------------------------------------------------ writing

    def flush(self) -> None:
        """Write every buffered frame to the file (one block when compressed); fsync per policy."""
        if self._pending:
            self._frame(flushing=True)
        if not self._chunks:
            return
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._unflushed_frames = 0
        self._unflushed_bytes = 0
        if self._cctx is not None:
            compressed = self._cctx.compress(data)
            data = BLOCK.pack(len(compressed), zlib.crc32(compressed)) + compressed
        self._file.write(data)
        self._file.flush()
        self._file_bytes += len(data)
        self._flushes += 1
        if self._fsync == "flush":
            self._sync()

    def close(self) -> None:
        """Flush, fsync unless the policy is ``"never"``, release the file. Idempotent."""
        if self._file.closed:
            return
        try:
            self.flush()
            if self._fsync != "never":
                self._sync()
        finally:
            self._pending = _Closed()
            self._push = self._pending.append
            self._file.close()

    def statistics(self) -> LogWriterStats:
        return LogWriterStats(
            records=self._seq,
            frame_bytes=self._frame_bytes,
            file_bytes=self._file_bytes,
            flushes=self._flushes,
            fsyncs=self._fsyncs,
        )

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ internals

    def _frame(self, *, flushing: bool = False) -> None:
        """Turn the pending records into frames in one pass of C-level maps."""
        pending = self._pending
        assert isinstance(pending, list)
        first = self._framed_seq + 1
        payloads = list(map(encoder.encode, pending))
        lengths = list(map(len, payloads))
        if max(lengths) > MAX_FRAME_BYTES:
            self._refuse_oversized(payloads, first)
        seqs = range(first, first + len(payloads))
        crcs = map(zlib.crc32, payloads, map(zlib.crc32, map(SEQ.pack, seqs)))
        # header, payload, header, payload...: interleaved by slice assignment, cheaper than
        # chaining zipped pairs
        parts: list[bytes] = payloads + payloads
        parts[::2] = map(FRAME.pack, lengths, crcs, seqs)
        parts[1::2] = payloads
        chunk = b"".join(parts)
        self._chunks.append(chunk)
        self._framed_seq = first + len(payloads) - 1
        self._frame_at = self._framed_seq + self._pending_limit
        self._unflushed_frames += len(payloads)
        self._unflushed_bytes += len(chunk)
        self._frame_bytes += len(chunk)
        pending.clear()
        if not flushing and (
            self._unflushed_frames >= self._flush_every or self._unflushed_bytes >= FLUSH_BYTES
        ):
            self.flush()

    def _refuse_oversized(self, payloads: list[bytes], first: int) -> None:
        pending = self._pending
        assert isinstance(pending, list)
        for i, payload in enumerate(payloads):
            if len(payload) > MAX_FRAME_BYTES:
                bad = pending[i]
                # The log ends before the oversized record: write what came before it and close,
                # so that every seq handed out is either in the file or after its end.
                del pending[i:]
                self._seq = first + i - 1
                self.close()
                raise LogRecordTooLargeError(
                    f"{self.path}: record seq {first + i} ({tag_of(bad)}): expected a payload of "
                    f"at most {MAX_FRAME_BYTES} bytes, found {len(payload)}; the log was closed "
                    f"after seq {first + i - 1}"
                )

    def _sync(self) -> None:
        os.fsync(self._file.fileno())
        self._fsyncs += 1


def _create(path: Path) -> io.BufferedWriter:
    """Open ``path`` for writing if it is new or empty, and lock it; never clobber a log."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        size = path.stat().st_size
        if size:
            raise LogExistsError(
                f"{path}: expected a new or empty file for the event log, found {size} bytes"
            ) from None
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LogExistsError(
            f"{path}: expected an unused file, found another writer holding it"
        ) from None
    return open(fd, "wb")
