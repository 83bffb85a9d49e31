"""Tables of rows: CSV (plain or ``.gz``), or Parquet when pyarrow is installed.

``open_table(path, report)`` gives the header and a stream of ``(row number, cells)``. A CSV
cell is a string; a Parquet cell is a string too (numbers as their shortest ``repr``, so
``61800.2`` stays ``"61800.2"``; a timestamp-typed column as ISO 8601 UTC text exact to the
nanosecond, ``"2024-08-08T23:54:15.123456789Z"``) or a list of strings for list-typed columns.
A Parquet column pyarrow cannot convert, or damaged data, raises ``ImportFormatError`` naming
the file and the column (or row). ``list_cell`` reads the list columns of CSV files, written as
``[61800.2, 61800.1]``, ``["61800.2","61800.1"]`` or ``[61800.2 61800.1]`` (numpy style),
keeping each number's text exactly. pyarrow is not a dependency: opening a Parquet file without
it raises ``MissingDependencyError``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Union

from replay.importers.errors import ImportFormatError, MissingDependencyError
from replay.importers.report import ImportReport
from replay.importers.source import GZIP_DAMAGE, gzip_damage_error, open_text
from replay.importers.timestamps import NS_PER

__all__ = ["Cell", "Table", "list_cell", "open_table", "text_cell"]

Cell = Union[str, list[str]]

_EPOCH = datetime(1970, 1, 1)


class Table:
    """An open table: ``header`` (column names) and ``rows``, read once, in order."""

    __slots__ = ("header", "name", "rows")

    def __init__(
        self, name: str, header: list[str], rows: Iterator[tuple[int, Sequence[Cell]]]
    ) -> None:
        self.name = name
        self.header = header
        self.rows = rows

    def column(self, name: str) -> int:
        """Index of column ``name``; raises ``ImportFormatError`` naming the columns found."""
        try:
            return self.header.index(name)
        except ValueError:
            raise ImportFormatError(
                f"{self.name}: expected a column {name!r}, found columns {self.header}"
            ) from None


@contextmanager
def open_table(path: Path, report: ImportReport) -> Iterator[Table]:
    """Open a CSV (``.csv``, ``.csv.gz``, anything else) or Parquet (``.parquet``) table.

    A ``.gz`` CSV cut short is read up to its last whole row; the cut is counted in ``report``
    as ``"truncated"``, and damaged compressed data after the header row as ``"corrupt"``. A
    ``.gz`` that is not gzip, or is damaged or cut before its header row is whole, raises
    ``ImportFormatError``.
    """
    if path.suffix in (".parquet", ".pq"):
        yield _parquet(path)
        return
    with open_text(path) as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
        except GZIP_DAMAGE as exc:
            raise gzip_damage_error(path.name, exc) from None
        except UnicodeDecodeError as exc:
            raise _not_text(path, exc) from None
        except EOFError as exc:
            raise ImportFormatError(
                f"{path.name}: expected a header row, found the file cut short ({exc})"
            ) from None
        if header is None:
            raise ImportFormatError(f"{path.name}: expected a header row, found an empty file")
        header = [name.strip() for name in header]

        def rows() -> Iterator[tuple[int, Sequence[Cell]]]:
            try:
                for row in reader:
                    if row:
                        yield reader.line_num, row
            except EOFError as exc:
                where = f"{path.name}:{reader.line_num + 1}"
                report.skip("truncated", where, f"file cut short: {exc}")
            except GZIP_DAMAGE as exc:
                where = f"{path.name}:{reader.line_num + 1}"
                report.skip("corrupt", where, f"gzip data damaged: {exc}")
            except UnicodeDecodeError as exc:
                raise _not_text(path, exc, reader.line_num + 1) from None

        yield Table(path.name, header, rows())


def _not_text(path: Path, exc: UnicodeDecodeError, line: int = 1) -> ImportFormatError:
    return ImportFormatError(
        f"{path.name}:{line}: expected a UTF-8 text table, found bytes that are not text "
        f"({exc.reason})"
    )


def list_cell(cell: Cell) -> list[str]:
    """The numbers in a list-valued cell, as their exact text."""
    if isinstance(cell, list):
        return cell
    text = cell.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [item.strip("'\"") for item in text.replace(",", " ").split()]


def text_cell(cell: Cell) -> str:
    """A scalar cell's text; ``ImportFormatError`` for a list where one value was expected."""
    if not isinstance(cell, str):
        raise ImportFormatError(f"expected one value, found a list {cell!r}")
    return cell


def _parquet(path: Path) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError(
            f"{path.name}: reading Parquet needs pyarrow, which is not installed; "
            "install pyarrow (pip install pyarrow) or convert the table to CSV"
        ) from None
    try:
        source = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ImportFormatError(f"{path.name}: expected a Parquet file, found {exc}") from None
    header = [str(name) for name in source.schema_arrow.names]

    def rows() -> Iterator[tuple[int, Sequence[Cell]]]:
        number = 1
        batches = source.iter_batches(batch_size=65_536)
        while True:
            batch = _next_batch(path, batches, number)
            if batch is None:
                return
            columns = [
                _column_values(path.name, name, batch.column(i), number + 1)
                for i, name in enumerate(header)
            ]
            for values in zip(*columns):
                number += 1
                yield number, [_parquet_cell(v) for v in values]

    return Table(path.name, header, rows())


def _next_batch(path: Path, batches: Iterator[Any], number: int) -> Any:
    """The next record batch, or ``None`` at the end; damaged data is an ``ImportFormatError``."""
    import pyarrow as pa

    try:
        return next(batches, None)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ImportFormatError(
            f"{path.name}:{number + 1}: expected Parquet data, found it damaged ({exc})"
        ) from None


def _column_values(table: str, column: str, values: Any, first_row: int) -> list[Any]:
    """A column of a record batch as Python values.

    Timestamps are read as their raw integers: pyarrow turns them into ``datetime``, which has no
    nanoseconds and which it refuses (without pandas) for a ``timestamp[ns]`` that has any.
    """
    import pyarrow as pa

    try:
        if pa.types.is_timestamp(values.type):
            per = NS_PER[values.type.unit]
            raw = values.cast(pa.int64()).to_pylist()
            return [None if v is None else _iso_utc(v * per) for v in raw]
        return list(values.to_pylist())
    except (ValueError, TypeError, OverflowError, KeyError, pa.ArrowException) as exc:
        raise ImportFormatError(
            f"{table}: column {column!r} (rows from {first_row}): expected values of "
            f"{values.type} that Python can hold, found {exc}"
        ) from None


def _iso_utc(ns: int) -> str:
    """Nanoseconds since the epoch as ISO 8601 UTC text, exactly (``OverflowError`` beyond the
    years ``datetime`` holds)."""
    seconds, fraction = divmod(ns, 10**9)
    moment = _EPOCH + timedelta(seconds=seconds)
    return f"{moment.isoformat(timespec='seconds')}.{fraction:09d}Z"


def _parquet_cell(value: Any) -> Cell:
    if isinstance(value, list):
        return [_parquet_scalar(v) for v in value]
    return _parquet_scalar(value)


def _parquet_scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
