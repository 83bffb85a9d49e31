"""The UTC trading window, from engine time."""

from __future__ import annotations

import pytest
from test_strategy_factories import HOUR, T0

from strategies.trading_hours import TradingHours, utc_hour_label

MIDNIGHT = T0 // (24 * HOUR) * (24 * HOUR)


def at(hour: int, minute: int = 0) -> int:
    return MIDNIGHT + hour * HOUR + minute * 60 * 1_000_000_000


def test_a_day_window_is_open_from_start_inclusive_to_end_exclusive() -> None:
    hours = TradingHours(8, 20)
    assert not hours.is_open(at(7, 59))
    assert hours.is_open(at(8))
    assert hours.is_open(at(19, 59))
    assert not hours.is_open(at(20))


def test_a_window_past_midnight_wraps_around() -> None:
    hours = TradingHours(22, 6)
    assert hours.is_open(at(23)) and hours.is_open(at(0)) and hours.is_open(at(5, 59))
    assert not hours.is_open(at(6)) and not hours.is_open(at(12))


def test_zero_to_twenty_four_is_always_open() -> None:
    hours = TradingHours(0, 24)
    assert hours.always and all(hours.is_open(at(h, 30)) for h in range(24))


def test_the_answer_can_only_change_at_the_next_hour_boundary() -> None:
    assert TradingHours(8, 20).next_change_ns(at(9, 15)) == at(10)
    assert TradingHours(8, 20).next_change_ns(at(10)) == at(11)


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (24, 5), (3, 0), (3, 25), (5, 5)])
def test_out_of_range_or_empty_windows_are_refused(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="expected"):
        TradingHours(start, end)


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (0, "1970-01-01T00:00Z"),
        (1_700_000_000, "2023-11-14T22:00Z"),
        (951_782_400 + 3600 * 5 + 59, "2000-02-29T05:00Z"),  # a leap day of a century year
        (4_107_542_400, "2100-03-01T00:00Z"),  # 2100 is not a leap year
    ],
)
def test_hour_labels_are_utc_calendar_hours(seconds: int, label: str) -> None:
    assert utc_hour_label(seconds * 1_000_000_000) == label
