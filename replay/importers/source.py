"""Opening input files: plain or gzipped (by the ``.gz`` suffix), streamed, never read whole.

Recorded venue captures are lines of ``<local receive ns> <raw message>``; ``recorded_lines``
yields them split, with the file name and line number for reports. Tables (CSV) are opened as
text with ``open_text``.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Union, cast

from replay.importers.errors import ImportFormatError
from replay.importers.report import ImportReport

__all__ = ["PathLike", "Paths", "as_paths", "open_binary", "open_text", "recorded_lines"]

PathLike = Union[str, Path]
Paths = Union[PathLike, Sequence[PathLike]]


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
        return cast(IO[bytes], io.BufferedReader(gzip.GzipFile(path, "rb"), 1 << 16))
    return path.open("rb")


def open_text(path: Path) -> IO[str]:
    """The file as UTF-8 text, without the byte order mark spreadsheets put first (which would
    otherwise stick to the first column's name); newline handling is left to the csv module."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def recorded_lines(
    paths: list[Path], report: ImportReport
) -> Iterator[tuple[int, bytes, str, int]]:
    """``(local_ns, payload, file name, line number)`` for every ``<ns> <payload>`` line.

    Blank lines are ignored; a line without a leading integer is skipped as ``"malformed"``.
    ``report.lines_read`` counts every non-blank line. A ``.gz`` file cut short (a capture
    whose recorder was killed) is read up to its last whole line and the cut is counted as
    ``"truncated"``.
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
