"""The append-only event log: every event into the engine and every output out of it.

Import the log's API from here; it lives in ``log_format`` (bytes and header), ``log_writer``,
``log_scan`` (checking on open) and ``log_reader``.

File format (all integers little-endian)::

    magic   8 bytes   b"MMLOG1\\n\\0" (plain) or b"MMLOG1\\nZ" (zstd blocks)
    frame   u32 payload length | u32 crc32(seq bytes + payload) | u64 seq | msgpack payload
    block   u32 compressed length | u32 crc32(compressed bytes) | one zstd frame of whole frames

A plain log is the magic followed by frames; a compressed log is the magic followed by blocks,
one per writer flush. Frame seqs start at 0 and go up by exactly 1. Frame 0 is the ``LogHeader``
(format and code version, instruments, config); every later frame holds one ``Record``
(``mmcore.records``), and ``LogWriter.append`` returns its seq.

Torn tails. A crash can leave the last frame (or block) half-written. On open, the reader checks
the file from the start and stops at the first frame that is incomplete, has an impossible length
or fails its crc (for compressed logs: the first such block). The rule that decides between a torn
tail and damage in the middle:

- a complete frame whose crc is good but whose seq is not the previous one + 1 is a gap, which no
  crash produces: ``LogCorruptError``;
- if a valid frame (good crc, any seq from 0 up to what the rest of the file could hold) — for
  compressed logs a block with a good crc — starts anywhere after the failed one, the damage is
  in the middle: ``LogCorruptError`` naming the file and the damaged byte offset. A later seq is
  good data after damage; an earlier one (a second log appended whole) is no torn write either;
- if the bytes after it hold a log's magic, another log was appended: ``LogCorruptError``;
- otherwise the bytes from the failed frame to the end are a torn tail: they are reported with a
  warning on the ``mmcore.log`` logger (path, offset, bytes dropped), counted in
  ``LogReader.truncated_bytes`` and, when ``repair`` is true and no writer holds the file's lock,
  cut off the file (``LogReader.repaired``; ``repair_refused`` says why not).

Writer failures (``mmcore.log_writer``) leave a valid log: a record that cannot be encoded or is
too large ends the log before it (``LogRecordEncodeError``, ``LogRecordTooLargeError``); a failed
write cuts the file back to its last whole write and closes the writer (``LogWriteError``); a
failed fsync or close, or the file found removed or replaced at a flush, closes the writer too
(``LogWriteError`` naming the last seq synced).

A flipped bit always fails a crc (or, in a seq field, the seq check), so it is either reported as
damage or, in the last frame, dropped with the tail: a changed record is never returned.
"""

from __future__ import annotations

from mmcore.errors import LogCorruptError
from mmcore.log_format import (
    FORMAT_VERSION,
    MAGIC,
    MAGIC_ZSTD,
    LogClosedError,
    LogExistsError,
    LogHeader,
    LogNotFoundError,
    LogRecordEncodeError,
    LogRecordTooLargeError,
    LogWriteError,
)
from mmcore.log_reader import LogReader, LogReaderStats, open_log, read_header
from mmcore.log_writer import FsyncPolicy, LogWriter, LogWriterStats

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAGIC_ZSTD",
    "FsyncPolicy",
    "LogClosedError",
    "LogCorruptError",
    "LogExistsError",
    "LogHeader",
    "LogNotFoundError",
    "LogReader",
    "LogReaderStats",
    "LogRecordEncodeError",
    "LogRecordTooLargeError",
    "LogWriteError",
    "LogWriter",
    "LogWriterStats",
    "open_log",
    "read_header",
]
