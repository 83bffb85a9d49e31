"""A daily UTC trading window, read from engine time (``view.now``), never from a clock."""

from __future__ import annotations

__all__ = ["HOUR_NS", "TradingHours", "utc_hour_label"]

HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS


def utc_hour_label(now_ns: int) -> str:
    """``"YYYY-MM-DDTHH:00Z"`` of the UTC hour holding ``now_ns`` (proleptic Gregorian)."""
    days, rest = divmod(now_ns, DAY_NS)
    # civil date from days since 1970-01-01 (H. Hinnant's algorithm)
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return f"{year:04d}-{month:02d}-{day:02d}T{rest // HOUR_NS:02d}:00Z"


class TradingHours:
    """Open from ``start_hour`` (inclusive) to ``end_hour`` (exclusive), UTC.

    ``start_hour > end_hour`` wraps past midnight (22 → 6 is open 22:00–05:59); 0 → 24 is
    always open. Hours are whole: the answer changes only on an hour boundary, so callers ask
    again at ``next_change_ns(now)`` and not before.
    """

    __slots__ = ("always", "end_hour", "start_hour")

    def __init__(self, start_hour: int, end_hour: int) -> None:
        if not 0 <= start_hour <= 23:
            raise ValueError(f"trading start_hour: expected 0..23, found {start_hour}")
        if not 1 <= end_hour <= 24 or end_hour == start_hour:
            raise ValueError(
                f"trading end_hour: expected 1..24 and != start_hour {start_hour}, "
                f"found {end_hour}"
            )
        self.start_hour = start_hour
        self.end_hour = end_hour
        self.always = start_hour == 0 and end_hour == 24

    def is_open(self, now_ns: int) -> bool:
        """Whether ``now_ns`` (Unix ns, UTC) falls in the window."""
        if self.always:
            return True
        hour = (now_ns // HOUR_NS) % 24
        if self.start_hour < self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour

    def next_change_ns(self, now_ns: int) -> int:
        """The next hour boundary after ``now_ns``: the earliest time the answer can change."""
        return (now_ns // HOUR_NS + 1) * HOUR_NS
