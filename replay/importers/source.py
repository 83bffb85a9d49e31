"""Opening input files: plain or gzipped (by the ``.gz`` suffix), streamed, never read whole.

Recorded venue captures are lines of ``<local receive ns> <raw message>``; ``recorded_lines``
yields them split, with the file name and line number for reports. Tables (CSV) are opened as
text with ``open_text``.

A ``.gz`` file that is not gzip, or is cut inside its 10-byte header, is refused when it is
opened (``ImportFormatError`` naming the file). Damage found while reading (``GZIP_DAMAGE``: a
zlib data error, a bad CRC, garbage after a member) is an ``ImportFormatError`` too when nothing
whole was read before it (``gzip_damage_error``); after whole lines it is counted as
``"corrupt"`` and the lines before it are kept, as a file cut short counts ``"truncated"``.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Union, cast

from replay.importers.errors import ImportFormatError
from replay.importers.report import ImportReport

__all__ = [
    "GZIP_DAMAGE",
    "PathLike",
    "Paths",
    "as_paths",
    "gzip_damage_error",
    "open_binary",
    "open_text",
    "recorded_lines",
]

PathLike = Union[str, Path]
Paths = Union[PathLike, Sequence[PathLike]]

# What gzip raises on damaged compressed data (an ``EOFError`` is a file cut short instead).
GZIP_DAMAGE: tuple[type[Exception], ...] = (gzip.BadGzipFile, zlib.error)
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_HEADER_SIZE = 10


def as_paths(path_or_paths: Paths) -> list[Path]:
    """One path or several, as a list of existing files; raises when one is missing."""
    raw = [path_or_paths] if isinstance(path_or_paths, (str, Path)) else list(path_or_paths)
    paths = [Path(p) for p in raw]
    if not paths:
        raise ImportFormatError("input files: expected at least one path, found none")
    for path in paths:
        if not path.is_file():
            raise ImportFormatError(f"input file {path}: expected an existing file, found none")
    return paths


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed on the fly when its name ends in ``.gz``."""
    if path.suffix == ".gz":
        _check_gzip_header(path)
        return cast(IO[bytes], io.BufferedReader(_GzipChunks(gzip.GzipFile(path, "rb")), 1 << 16))
    return path.open("rb")


def open_text(path: Path) -> IO[str]:
    """The file as UTF-8 text, without the byte order mark spreadsheets put first (which would
    otherwise stick to the first column's name); newline handling is left to the csv module."""
    if path.suffix == ".gz":
        _check_gzip_header(path)
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def gzip_damage_error(name: str, exc: Exception) -> ImportFormatError:
    """The error for compressed data damaged before anything whole could be read from it."""
    return ImportFormatError(
        f"{name}: expected gzip-compressed data, found it damaged before the first whole line "
        f"({type(exc).__name__}: {exc})"
    )


class _GzipChunks(io.RawIOBase):
    """A gzip file as raw reads of what one decompression step gives (``read1``), so that damage
    or a cut loses only that step's bytes, not a whole buffer fill of lines that were intact."""

    def __init__(self, gz: gzip.GzipFile) -> None:
        self._gz = gz

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._gz.read1(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._gz.close()
        super().close()


def _check_gzip_header(path: Path) -> None:
    """Refuse a ``.gz`` file that is not gzip or is cut inside its header (an empty file is an
    empty input, as gzip reads it)."""
    with path.open("rb") as f:
        head = f.read(_GZIP_HEADER_SIZE)
    if not head:
        return
    if head[:2] != _GZIP_MAGIC[: len(head)]:
        raise ImportFormatError(
            f"{path.name}: expected a gzip file (the name ends in .gz), found first bytes "
            f"{head[:2].hex(' ')} instead of the gzip magic 1f 8b"
        )
    if len(head) < _GZIP_HEADER_SIZE:
        raise ImportFormatError(
            f"{path.name}: expected a 10-byte gzip header, found the file cut inside it "
            f"after {len(head)} byte{'s' if len(head) > 1 else ''}"
        )


def recorded_lines(
    paths: list[Path], report: ImportReport
) -> Iterator[tuple[int, bytes, str, int]]:
    """``(local_ns, payload, file name, line number)`` for every ``<ns> <payload>`` line.

    Blank lines are ignored; a line without a leading integer is skipped as ``"malformed"``.
    ``report.lines_read`` counts every non-blank line. A ``.gz`` file cut short (a capture
    whose recorder was killed) is read up to its last whole line and the cut is counted as
    ``"truncated"``; one whose compressed data is damaged likewise, counted as ``"corrupt"``
    (or an ``ImportFormatError`` when the damage comes before the first whole line).
    """
    for path in paths:
        name = path.name
        lineno = 0
        with open_binary(path) as f:
            try:
                for lineno, line in enumerate(f, 1):
                    line = line.strip()
                    if not line:
                        continue
                    report.lines_read += 1
                    space = line.find(b" ")
                    try:
                        local_ns = int(line[:space]) if space > 0 else -1
                    except ValueError:
                        local_ns = -1
                    if local_ns < 0:
                        report.skip("malformed", f"{name}:{lineno}", "expected '<ns> <json>'")
                        continue
                    yield local_ns, line[space + 1 :], name, lineno
            except EOFError as exc:
                report.skip("truncated", f"{name}:{lineno + 1}", f"file cut short: {exc}")
            except GZIP_DAMAGE as exc:
                if not lineno:
                    raise gzip_damage_error(name, exc) from None
                report.skip("corrupt", f"{name}:{lineno + 1}", f"gzip data damaged: {exc}")
