"""The result table of a sweep: ordering, writing (CSV or Parquet) and a text preview.

A table is a list of rows (dicts) with the same columns: ``run``, one column per grid key,
``data``, then every metric of ``replay.scorecard.SessionMetrics`` (``None`` for a failed run,
whose row also has an ``error``). Rows are sorted by one metric (NaN or none last whichever the
direction); ties are broken by the parameter values, in grid key order and ascending, then by
``data``, so the order never depends on which run finished first.
"""

from __future__ import annotations

import csv
import importlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmcore.errors import MMError

__all__ = [
    "MissingDependencyError",
    "TableFormatError",
    "check_table_path",
    "format_table",
    "sort_rows",
    "write_table",
]

FORMATS = (".csv", ".parquet")


class TableFormatError(MMError, ValueError):
    """The sweep's output path does not end in a table format we write."""


class MissingDependencyError(MMError, ImportError):
    """An optional package the requested feature needs is not installed."""


def check_table_path(path: str | Path) -> str:
    """The table format of ``path`` (".csv" or ".parquet"); checks Parquet support is there."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise TableFormatError(
            f"sweep --out: expected a path ending in .csv or .parquet, found {str(path)!r}"
        )
    if suffix == ".parquet":
        _pyarrow()
    return suffix


def sort_rows(
    rows: list[dict[str, Any]], metric: str, keys: Sequence[str], descending: bool = True
) -> list[dict[str, Any]]:
    """Rows ordered by ``metric`` (NaN, or none for a failed run, last), ties by ``keys``
    values then ``data``."""

    def order(row: dict[str, Any]) -> tuple[Any, ...]:
        value = math.nan if row[metric] is None else float(row[metric])
        nan = math.isnan(value)
        primary = 0.0 if nan else (-value if descending else value)
        ties = tuple(_comparable(row[k]) for k in keys)
        return (nan, primary, ties, str(row.get("data", "")))

    return sorted(rows, key=order)


def _comparable(value: Any) -> tuple[int, Any]:
    if isinstance(value, (bool, int, float)):
        return (0, float(value))
    if isinstance(value, str):
        return (1, value)
    return (2, repr(value))


def write_table(rows: list[dict[str, Any]], columns: Sequence[str], path: str | Path) -> None:
    suffix = check_table_path(path)
    out = Path(path)
    if out.parent != Path():
        out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        with out.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(columns))
            writer.writeheader()
            for row in rows:
                writer.writerow({c: _cell(row[c]) for c in columns})
        return
    pa = _pyarrow()
    pq = importlib.import_module("pyarrow.parquet")
    table = pa.Table.from_pylist([{c: _parquet_cell(row[c]) for c in columns} for row in rows])
    pq.write_table(table, str(out))


def format_table(rows: list[dict[str, Any]], columns: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` rows as aligned text columns."""
    shown = [[str(c) for c in columns]]
    for row in rows[:limit]:
        shown.append([_text(row[c]) for c in columns])
    widths = [max(len(r[i]) for r in shown) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in shown]
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more rows")
    return "\n".join(lines)


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return repr(value)
    return value


def _parquet_cell(value: Any) -> Any:
    return repr(value) if isinstance(value, (list, dict)) else value


def _text(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.6g}"
    return str(value)


def _pyarrow() -> Any:
    try:
        return importlib.import_module("pyarrow")
    except ImportError:
        raise MissingDependencyError(
            "sweep --out *.parquet needs pyarrow, which is not installed: install pyarrow "
            "(pip install pyarrow) or write a .csv table"
        ) from None
