"""Appending records to an event log: buffered, batched framing, optional zstd blocks.

``append`` only puts the record on a pending list and hands out its seq; every ``_BATCH`` records
(or at ``flush``) the pending records are framed together with C-level ``map`` calls, which is
what makes appending cheap enough for the hot path. See ``mmcore.log`` for the format.

Failures are found on the batch, flush and close paths, never checked per record. A record that
cannot be written (msgpack cannot encode it, or it is too large) is found when its batch is
framed, possibly by a later ``append``, or by ``flush`` or ``close``: the writer writes the records
before it, closes the log after them and raises an error naming its seq. A write that fails (disk
full) cuts the file back to its last whole write and closes the writer. Either way the file is a
valid log, every seq handed out is either in it or after its end, and a later ``append`` raises
``LogClosedError`` naming the cause.

Two failures leave a file whose contents are out of the writer's hands, so it says so and closes
(``LogWriteError``) instead of writing on. A failed fsync (or close): the system may have dropped
the pages it could not write, so the records after the last good fsync may be lost. The log file
removed or replaced while it is written (checked at every flush that writes, by ``fstat`` of the
descriptor and a look-up of its name in the folder it was created in, held open: renaming the
folder, or re-pointing a symlink on the way to it, leaves the log whole and is no alarm):
writing on would go to a file no name leads to, lost when it closes, and a live session would
trade on without an audit trail. A failed ``close`` still releases the file and its lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Literal, NoReturn

import msgspec
import zstandard

from mmcore.errors import MMError
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
    LogRecordEncodeError,
    LogRecordTooLargeError,
    LogWriteError,
    encode_header,
    frame_crc,
)
from mmcore.records import TAGS, Record, encoder

__all__ = ["FsyncPolicy", "LogWriter", "LogWriterStats"]

FsyncPolicy = Literal["never", "flush", "close"]
_FSYNC_POLICIES = ("never", "flush", "close")
_BATCH = 512
"""Pending records framed together; small enough to keep the pending list in cache."""
_ZSTD_LEVEL = 3
_GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ESTALE})
"""Errors of ``stat`` that mean no file is at the path (``ESTALE``: removed on the NFS server)."""
_DELETED = "it deleted"
"""What ``_displaced`` finds when no name leads to the file any more."""


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
    """Stands in for the pending list after ``close`` so that ``append`` fails without a check.

    ``why`` is what closed the writer when the caller did not (a record that could not be
    written, a failed write): the error a later ``append`` raises names it.
    """

    __slots__ = ("why",)

    def __init__(self, why: str = "") -> None:
        self.why = why

    def append(self, record: Record) -> None:
        why = f": {self.why}" if self.why else ""
        raise LogClosedError(
            f"expected an open log writer, found a closed one{why} (appending {_tag(record)})"
        )

    def __len__(self) -> int:
        return 0


class LogWriter:
    """Writes a new event log: the header frame at once, then records as they are appended.

    ``path`` must not exist or be empty (``LogExistsError`` otherwise); if the header cannot be
    written, no file is left behind (an empty file given is left empty). ``flush_every`` frames, or
    1 MiB of frames, are buffered before they are written; ``fsync`` says when the file is
    synced: ``"never"``, at every ``"flush"``, or at ``"close"``. ``compress`` writes zstd blocks
    (``None``: when the name ends in ``.zst``). The writer holds an exclusive ``flock`` on the file
    while open, so a reader knows not to repair a log that is still being written. A flush or close
    that finds the file removed or replaced, or fsync failing, raises ``LogWriteError`` and closes.
    """

    __slots__ = (
        "_cctx",
        "_chunks",
        "_dir_fd",
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
        "_synced_seq",
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
        self._synced_seq = -1  # the last seq a good fsync put on disk; -1: none yet
        self._frame_bytes = 0
        self._file_bytes = 0
        self._cctx = zstandard.ZstdCompressor(level=_ZSTD_LEVEL) if self.compressed else None
        # The header is encoded (and compressed) before the file is made: a header that cannot be
        # encoded must not leave a file behind that refuses the next run.
        payload = encode_header(header)
        frame = FRAME.pack(len(payload), frame_crc(0, payload), 0) + payload
        first = frame
        if self._cctx is not None:
            compressed = self._cctx.compress(frame)
            first = BLOCK.pack(len(compressed), zlib.crc32(compressed)) + compressed
        magic = MAGIC_ZSTD if self.compressed else MAGIC
        self._file, created = _create(self.path)
        try:
            _write_all(self._file, magic + first)
            if fsync == "flush":  # not _sync: a failure here leaves no file, as a failed write
                os.fsync(self._file.fileno())
                self._fsyncs, self._synced_seq = 1, 0
        except BaseException as exc:
            done = _abandon(self.path, self._file, created)
            if isinstance(exc, OSError):
                raise LogWriteError(
                    f"{self.path}: byte 0: expected to write the log's magic and header frame, "
                    f"found the write failing ({_strerror(exc)}); {done}"
                ) from exc
            raise
        self._file_bytes = len(magic) + len(first)
        self._frame_bytes = len(frame)
        self._flushes = 1
        # the folder the log was created in, held open: its name is looked up in that folder at
        # each flush, so renaming the folder (or re-pointing a symlink on the way to it) is no
        # false alarm, and the working directory may change meanwhile
        self._dir_fd = _open_dir(self.path.parent)

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
        """Write every buffered frame to the file (one block when compressed); fsync per policy;
        check that the path still leads to the file.

        If the write fails (``LogWriteError``; or anything else goes wrong on the way, which is
        raised as it is), the file is cut back to where it ended before it and the writer is
        closed: the records of this flush are lost, the log stays readable. A failed fsync, or
        the file found removed or replaced, closes the writer too (``LogWriteError``).
        """
        if self._pending:
            self._frame(flushing=True)
        if not self._chunks:
            return
        data = b"".join(self._chunks)
        frames, frame_bytes = self._unflushed_frames, len(data)
        self._chunks.clear()
        self._unflushed_frames = 0
        self._unflushed_bytes = 0
        try:
            if self._cctx is not None:
                compressed = self._cctx.compress(data)
                data = BLOCK.pack(len(compressed), zlib.crc32(compressed)) + compressed
            _write_all(self._file, data)
        except BaseException as exc:
            why = self._abort_flush(exc, frames, frame_bytes)
            if isinstance(exc, OSError):
                raise LogWriteError(why) from exc
            raise
        self._file_bytes += len(data)
        self._flushes += 1
        if self._fsync == "flush":
            self._sync()
        self._check_in_place()  # after the sync: a file moved elsewhere keeps this batch too

    def close(self) -> None:
        """Flush, fsync unless the policy is ``"never"``, check that the path still leads to the
        file, release the file. Idempotent.

        The file and its lock are released whatever fails on the way (``LogWriteError`` when it
        is the close itself); the error raised is the first one.
        """
        if self._file.closed:
            return
        done = False
        try:
            self.flush()
            if self._fsync != "never":
                self._sync()
            self._check_in_place()
            done = True
        finally:
            self._release(report=done)

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
        try:
            payloads = list(map(encoder.encode, pending))
        except Exception as exc:  # found here, per batch: append does no per-record check
            self._refuse_unencodable(first, exc)
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
                self._end_before(
                    i,
                    first,
                    LogRecordTooLargeError(
                        f"{self.path}: record seq {first + i} ({_tag(pending[i])}): expected a "
                        f"payload of at most {MAX_FRAME_BYTES} bytes, found {len(payload)}; the "
                        f"log was closed after seq {first + i - 1}"
                    ),
                )

    def _refuse_unencodable(self, first: int, exc: Exception) -> NoReturn:
        """The pending batch (seqs from ``first`` on) failed to encode: find the record that
        cannot be encoded, one by one (on this failure path only), and end the log before it."""
        pending = self._pending
        assert isinstance(pending, list)
        for i, record in enumerate(pending):
            try:
                encoder.encode(record)
            except Exception as error:
                self._end_before(
                    i,
                    first,
                    LogRecordEncodeError(
                        f"{self.path}: record seq {first + i} ({_tag(record)}): expected values "
                        f"msgpack can encode, found {type(error).__name__}: {error}; the log was "
                        f"closed after seq {first + i - 1}"
                    ),
                )
        raise exc  # no record fails alone (out of memory...): not a bad record, say what it was

    def _end_before(self, i: int, first: int, error: MMError) -> NoReturn:
        """End the log before pending record ``i`` (seq ``first + i``), which cannot be written:
        write the records before it and close, so that the file is a valid log and every seq
        handed out is either in it or after its end; then raise ``error``."""
        pending = self._pending
        assert isinstance(pending, list)
        del pending[i:]
        self._seq = first + i - 1
        self.close()
        self._pending = _Closed(str(error))
        self._push = self._pending.append
        raise error

    def _abort_flush(self, exc: BaseException, frames: int, frame_bytes: int) -> str:
        """A flush of ``frames`` frames failed, maybe part way (disk full, file size limit, I/O
        error); its frames are gone from the buffer.

        Cut the file back to its size before the write, so that it ends with a whole frame (or
        block) instead of a torn one, and close the writer: writing on would leave a gap of lost
        seqs, and a gap makes the whole log unreadable. Returns what happened, for the error.
        """
        good = self._file_bytes
        last = self._framed_seq - frames  # the last seq in the file
        try:
            os.ftruncate(self._file.fileno(), good)
            if self._fsync != "never":
                os.fsync(self._file.fileno())
            cut = f"the file was cut back to byte {good}"
        except OSError as also:
            cut = f"cutting the file back to byte {good} failed too ({_strerror(also)})"
        self._seq = self._framed_seq = last  # statistics: what the file holds
        self._frame_bytes -= frame_bytes
        failure = _strerror(exc) if isinstance(exc, OSError) else type(exc).__name__
        why = (
            f"{self.path}: byte {good}: expected to write seqs {last + 1} to {last + frames}, "
            f"found the write failing ({failure}); {cut} and the log closed after seq {last}"
        )
        self._shut(why)
        return why

    def _sync(self) -> None:
        """fsync the file. A failure closes the writer (``LogWriteError``): after a failed fsync
        the system may have dropped the pages it could not write and report the next fsync as
        good, so no later fsync could say the records are on disk."""
        try:
            os.fsync(self._file.fileno())
        except OSError as exc:
            why = (
                f"{self.path}: expected to sync the log to disk up to seq {self._seq}, found "
                f"fsync failing ({_strerror(exc)}); the log was closed after seq {self._seq}, "
                f"and {self._unsynced()}"
            )
            self._shut(why)
            raise LogWriteError(why) from exc
        self._fsyncs += 1
        self._synced_seq = self._seq  # called with nothing buffered: the file holds every seq

    def _check_in_place(self) -> None:
        """Raise ``LogWriteError`` and close if the path no longer leads to the file written:
        writing on would go to a file no name leads to (lost when it closes, if it was deleted),
        and the caller would carry on without a record. Two syscalls: per flush, never per
        record."""
        found = _displaced(self._file.fileno(), self._dir_fd, self.path.name)
        if found is None:
            return
        fate = (
            "every record in it is lost with it"
            if found == _DELETED
            else "its records are lost unless the file was moved elsewhere"
        )
        why = (
            f"{self.path}: expected the log file being written at this path, found {found}: the "
            f"log file was removed or replaced; the log was closed after seq {self._seq}, and "
            f"{fate}"
        )
        self._shut(why)
        raise LogWriteError(why)

    def _unsynced(self) -> str:
        """What a failed fsync or close leaves in doubt: every record after the last good fsync."""
        if self._synced_seq < 0:
            return "it was never synced: any of its records may be lost"
        return f"the records after seq {self._synced_seq}, the last synced, may be lost"

    def _shut(self, why: str) -> None:
        """Close the writer after a failure, saying ``why`` to a later ``append``; best effort,
        on an error path whose error is the one to report."""
        self._pending = _Closed(why)
        self._push = self._pending.append
        self._close_dir()
        with contextlib.suppress(OSError):
            self._file.close()

    def _close_dir(self) -> None:
        fd, self._dir_fd = self._dir_fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _release(self, *, report: bool) -> None:
        """Close the file, which releases its lock. ``close(2)`` frees the descriptor even when
        it fails (an I/O error reported late, as on NFS), so the lock goes either way; the
        failure is raised if ``report`` (no error is on its way already)."""
        if not isinstance(self._pending, _Closed):  # else closed already, saying why
            self._pending = _Closed()
            self._push = self._pending.append
        self._close_dir()
        try:
            self._file.close()
        except OSError as exc:
            why = (
                f"{self.path}: expected the log file to close, found closing it failing "
                f"({_strerror(exc)}); {self._unsynced()}"
            )
            self._pending = _Closed(why)
            self._push = self._pending.append
            if report:
                raise LogWriteError(why) from exc


def _tag(record: object) -> str:
    """The record's tag for an error message; the class name for an object that is no record."""
    return TAGS.get(type(record), type(record).__name__)


def _strerror(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _open_dir(folder: Path) -> int:
    """A descriptor of ``folder`` to look names up in (``O_PATH``: no read permission needed);
    -1 when it cannot be opened (then only a file with no name left is found)."""
    flags = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0)
    try:
        return os.open(folder, flags)
    except OSError:
        return -1


def _displaced(fd: int, dir_fd: int, name: str) -> str | None:
    """How the file open as ``fd`` is no longer the one named ``name`` in the folder open as
    ``dir_fd``, or None while it is.

    A name that cannot be looked at for another reason (no permission) is no finding: the
    records still reach the file, and a trading session is not stopped over it.
    """
    try:
        mine = os.fstat(fd)
        if mine.st_nlink == 0:
            return _DELETED
        if dir_fd < 0:
            return None
        here = os.stat(name, dir_fd=dir_fd)
    except OSError as exc:
        return "no file there" if exc.errno in _GONE else None
    if (here.st_dev, here.st_ino) != (mine.st_dev, mine.st_ino):
        return "another file there"
    return None


_CREATE_TRIES = 5


def _create(path: Path) -> tuple[io.FileIO, bool]:
    """Open ``path`` for writing if it is new or empty, and lock it; never clobber a log.

    Returns the file, unbuffered (``flush`` writes whole batches, and a failed write must leave
    nothing buffered behind to be written later), and whether this call created it. Whether the
    file is empty is decided only under the lock, by ``fstat``, and it is never truncated: another
    writer can take the file between this one's open and its lock, and must find its log intact.
    """
    for _ in range(_CREATE_TRIES):
        created = True
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            created = False
            try:
                fd = os.open(path, os.O_WRONLY)
            except FileNotFoundError:  # removed since: try again
                continue
            except PermissionError:
                _refuse_data(path, path.stat().st_size)  # a log we may not write: say so
                raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            st = os.fstat(fd)
        except BlockingIOError:
            os.close(fd)
            raise LogExistsError(
                f"{path}: expected an unused file, found another writer holding it"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if st.st_nlink == 0:  # a writer that failed to start removed it before we locked it
            os.close(fd)
            continue
        if st.st_size:
            os.close(fd)
            _refuse_data(path, st.st_size)
        return open(fd, "wb", buffering=0), created
    raise LogExistsError(f"{path}: expected a file that stays put, found it removed repeatedly")


def _refuse_data(path: Path, size: int) -> None:
    if size:
        raise LogExistsError(
            f"{path}: expected a new or empty file for the event log, found {size} bytes"
        )


def _write_all(file: io.FileIO, data: bytes) -> None:
    """Write all of ``data``. An unbuffered write can be short (the file reaches a size limit or
    the disk fills up part way); writing the rest then raises the ``OSError`` saying why."""
    written = file.write(data)
    if written == len(data):
        return
    view = memoryview(data)
    while written < len(data):
        n = file.write(view[written:])
        if not n:
            raise OSError(f"short write: {written} of {len(data)} bytes written")
        written += n


def _abandon(path: Path, file: io.FileIO, created: bool) -> str:
    """Undo ``_create`` after the header could not be written, so that a rerun is not refused:
    remove the file it made (or empty the empty file it was given) while still holding the lock,
    then close it. Best effort, on an error path whose error is the one to report; returns what
    was done."""
    done = "the file was left as is"
    try:
        fd = file.fileno()
        if not created:
            os.ftruncate(fd, 0)
            done = "the file was left empty"
        else:
            here, mine = os.stat(path), os.fstat(fd)
            if (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino):
                os.unlink(path)
                done = "the file was removed"
    except OSError:
        pass
    with contextlib.suppress(OSError):
        file.close()
    return done
