"""Timestamps in tables: seconds, milliseconds, microseconds, nanoseconds or ISO 8601, to ns.

Numeric timestamps are converted exactly (``"1723161255.123"`` seconds is 1723161255123000000
ns, never through a float). ``"auto"`` picks the unit from the magnitude of the first value, which
works for any epoch time after 1973: below 1e11 it is seconds, below 1e14 milliseconds, below
1e17 microseconds, else nanoseconds. Text that is not a number is read as an ISO 8601 date-time
(UTC unless it names an offset; any number of fraction digits, to the nanosecond). A time outside
the int64 nanoseconds events hold (years 1677 to 2262) is an error, not an event no log can write.

``ColumnClock`` reads one column in one unit; each time column of a table gets its own, because
exports mix units (the exchange's time in ms, our receive time in ns).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from replay.importers.errors import ImportFormatError
from replay.importers.report import ImportReport

__all__ = ["TS_UNITS", "ColumnClock", "detect_unit", "to_ns"]

NS_PER = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
TS_UNITS = ("auto", "s", "ms", "us", "ns", "iso")
NS_MIN, NS_MAX = -(2**63), 2**63 - 1
"""The times an event can hold: int64 nanoseconds since the epoch."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FRACTION = re.compile(r"(?<=\d\d:\d\d:\d\d)[.,](\d+)")
"""The fraction of a second after ``hh:mm:ss``."""


def detect_unit(text: str) -> str:
    """The unit of the timestamp ``text`` judged by its magnitude (or ``"iso"``)."""
    try:
        value = abs(Decimal(text.strip()))
    except InvalidOperation:
        _iso_to_ns(text)
        return "iso"
    if not value.is_finite():
        raise ImportFormatError(f"expected a timestamp, found {text!r}")
    if value < 10**11:
        return "s"
    if value < 10**14:
        return "ms"
    if value < 10**17:
        return "us"
    return "ns"


def to_ns(text: str, unit: str) -> int:
    """``text`` in ``unit`` (one of ``s ms us ns iso``) as integer nanoseconds since the epoch."""
    ns = _iso_to_ns(text) if unit == "iso" else _number_to_ns(text, unit)
    if not NS_MIN <= ns <= NS_MAX:
        raise ImportFormatError(
            f"expected a timestamp in {unit} within the int64 nanoseconds an event holds "
            f"(years 1677 to 2262), found {text!r}"
        )
    return ns


class ColumnClock:
    """Times of one table column as ns, all in one unit: ``unit``, or with ``"auto"`` the unit
    judged from the column's first readable value (noted in ``report`` under ``note``).

    ``ns`` raises ``ImportFormatError`` naming the column for a value it cannot read.
    """

    __slots__ = ("column", "note", "report", "unit")

    def __init__(self, column: str, unit: str, report: ImportReport, note: str) -> None:
        self.column = column
        self.unit = None if unit == "auto" else unit
        self.report = report
        self.note = note

    def ns(self, text: str) -> int:
        try:
            unit = self.unit
            if unit is None:
                unit = detect_unit(text)
                self.unit = unit
                self.report.note(self.note, unit)
            return to_ns(text, unit)
        except ImportFormatError as exc:
            raise ImportFormatError(f"column {self.column!r}: {exc}") from None


def _number_to_ns(text: str, unit: str) -> int:
    mult = NS_PER[unit]
    try:
        return int(text) * mult
    except ValueError:
        pass
    try:
        value = Decimal(text.strip()) * mult
        return int(value.to_integral_value(ROUND_HALF_EVEN))
    except (InvalidOperation, ValueError, OverflowError):
        raise ImportFormatError(f"expected a timestamp in {unit}, found {text!r}") from None


def _iso_to_ns(text: str) -> int:
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes a fraction of exactly 3 or 6 digits only: read any
    # number of them here ("15.5", pandas' "15.123456789") and give it the whole seconds.
    fraction_ns = 0
    fraction = _FRACTION.search(raw)
    if fraction is not None:
        digits = fraction.group(1)
        if len(digits) <= 9:
            fraction_ns = int(digits.ljust(9, "0"))
        else:
            beyond = Decimal(f"{digits[:9]}.{digits[9:]}")
            fraction_ns = int(beyond.to_integral_value(ROUND_HALF_EVEN))
        raw = raw[: fraction.start()] + raw[fraction.end() :]
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise ImportFormatError(
            f"expected a number or an ISO 8601 date-time, found {text!r}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + fraction_ns
