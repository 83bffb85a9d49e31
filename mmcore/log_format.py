"""The bytes of an event log: magic, frame and block layouts, the header record, and the errors.

See ``mmcore.log`` for the whole format and the torn-tail rule; this module only holds the
constants and small pieces both the writer and the reader need.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import msgspec

from mmcore.errors import LogCorruptError, MMError
from mmcore.instrument import Instrument

__all__ = [
    "BLOCK",
    "CHUNK_BYTES",
    "FLUSH_BYTES",
    "FORMAT_VERSION",
    "FRAME",
    "MAGIC",
    "MAGIC_LEN",
    "MAGIC_ZSTD",
    "MAX_FRAME_BYTES",
    "SEQ",
    "ZSTD_FRAME_MAGIC",
    "LogClosedError",
    "LogExistsError",
    "LogHeader",
    "LogNotFoundError",
    "LogRecordEncodeError",
    "LogRecordTooLargeError",
    "LogWriteError",
    "decode_header",
    "encode_header",
    "frame_crc",
    "read_magic",
]

FORMAT_VERSION = 1

MAGIC = b"MMLOG1\n\x00"
"""First 8 bytes of a plain log: frames follow directly."""
MAGIC_ZSTD = b"MMLOG1\nZ"
"""First 8 bytes of a compressed log: zstd blocks of frames follow."""
MAGIC_LEN = 8

FRAME = struct.Struct("<IIQ")
"""Frame header: payload length, crc32 of (8 seq bytes + payload), seq. The payload follows."""
SEQ = struct.Struct("<Q")
BLOCK = struct.Struct("<II")
"""Block header of a compressed log: compressed length, crc32 of the compressed bytes."""
ZSTD_FRAME_MAGIC = b"\x28\xb5\x2f\xfd"
"""Every zstd frame starts with these bytes; used to find a valid block after a damaged one."""

MAX_FRAME_BYTES = 1 << 26
"""Largest payload a writer accepts; a larger length field in a file is corruption."""
FLUSH_BYTES = 1 << 20
"""The writer flushes (and cuts a compressed block) once this many frame bytes are buffered."""
CHUNK_BYTES = 1 << 20
"""The reader reads the file in chunks of this size: its memory use does not grow with the log."""


class LogExistsError(MMError, FileExistsError):
    """A log writer was pointed at a file that already holds data; logs are never overwritten."""


class LogNotFoundError(MMError, FileNotFoundError):
    """The event log file to read does not exist."""


class LogClosedError(MMError, ValueError):
    """A record was appended to a log writer after it was closed."""


class LogRecordTooLargeError(MMError, ValueError):
    """A record's payload exceeds the largest frame the log format allows."""


class LogRecordEncodeError(MMError, ValueError):
    """A record holds a value msgpack cannot encode (an int outside its 64-bit range, an object
    of an unsupported type); the writer ended the log before it."""


class LogWriteError(MMError, OSError):
    """Writing to the log file failed, and the writer closed; the message names the file and the
    last seq it holds. A failed write (disk full, file too large, I/O error) cut the file back to
    its last whole write, so it stays a readable log; a failed fsync or close says after which seq
    records may be lost; a log file removed or replaced while written is no longer at its path."""


class LogHeader(msgspec.Struct, frozen=True, kw_only=True):
    """The first frame of every log (seq 0): what produced the records that follow.

    ``code_version`` names the code that wrote the log (``mmcore.version.code_version``: the
    package version and a hash of the source), ``config`` the secret-free config table the
    engine was built from (a session's with its defaults written out:
    ``replay.session.resolved_config``; logs written before that hold it as written),
    ``created_ns`` the writer's wall clock in nanoseconds (informational only: nothing replays
    from it; 0 in imports and backtests, so the same input gives the same bytes), ``meta``
    free-form labels.
    """

    format_version: int
    code_version: str
    instruments: list[Instrument]
    config: dict[str, Any]
    created_ns: int = 0
    meta: dict[str, str] = {}


_header_decoder = msgspec.msgpack.Decoder(LogHeader)


def encode_header(header: LogHeader) -> bytes:
    return msgspec.msgpack.encode(header)


def decode_header(payload: bytes | memoryview, path: str | Path, offset: int) -> LogHeader:
    """Decode and check the header frame's payload; ``LogCorruptError`` names file and offset."""
    try:
        header = _header_decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError, MMError) as exc:
        raise LogCorruptError(
            f"{path}: byte {offset}: expected a log header frame, found undecodable bytes ({exc})"
        ) from None
    if header.format_version != FORMAT_VERSION:
        raise LogCorruptError(
            f"{path}: byte {offset}: expected log format version {FORMAT_VERSION}, "
            f"found {header.format_version}"
        )
    return header


def frame_crc(seq: int, payload: bytes | memoryview) -> int:
    """crc32 of the frame's 8 little-endian seq bytes followed by its payload."""
    return zlib.crc32(payload, zlib.crc32(SEQ.pack(seq)))


def read_magic(path: str | Path, first: bytes) -> bool:
    """True for a compressed log, False for a plain one; ``LogCorruptError`` for anything else."""
    if first == MAGIC:
        return False
    if first == MAGIC_ZSTD:
        return True
    raise LogCorruptError(
        f"{path}: byte 0: not an mm event log: expected magic {MAGIC!r} or {MAGIC_ZSTD!r}, "
        f"found {first!r}"
    )
