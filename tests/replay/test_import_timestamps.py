"""Table timestamps: unit detection by magnitude and exact conversion to nanoseconds."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replay.importers import ImportFormatError
from replay.importers.timestamps import detect_unit, to_ns

NOW_NS = 1_723_161_255_123_456_789


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("1723161255", "s"),
        ("1723161255.123", "s"),
        ("1723161255123", "ms"),
        ("1723161255123456", "us"),
        ("1723161255123456789", "ns"),
        ("2024-08-08T23:54:15.123Z", "iso"),
    ],
)
def test_the_unit_is_judged_by_magnitude(text: str, unit: str) -> None:
    assert detect_unit(text) == unit


@settings(max_examples=200, deadline=None)
@given(ns=st.integers(10**17, 4 * 10**18))
def test_every_unit_converts_exactly_to_the_same_nanoseconds(ns: int) -> None:
    whole_us = ns - ns % 1000
    assert to_ns(str(ns), "ns") == ns
    assert to_ns(str(whole_us // 1000), "us") == whole_us
    assert to_ns(f"{ns // 10**9}.{ns % 10**9:09d}", "s") == ns
    assert to_ns(f"{ns // 10**6}.{ns % 10**6:06d}", "ms") == ns
    assert detect_unit(str(ns // 10**6)) == "ms"


def test_iso_date_times_are_utc_unless_they_name_an_offset() -> None:
    assert to_ns("2024-08-08T23:54:15.123456Z", "iso") == 1_723_161_255_123_456_000
    assert to_ns("2024-08-08 23:54:15.123456", "iso") == 1_723_161_255_123_456_000
    assert to_ns("2024-08-09T01:54:15.123456+02:00", "iso") == 1_723_161_255_123_456_000


@pytest.mark.parametrize(("text", "unit"), [("soon", "s"), ("12:00", "iso"), ("nan", "ms")])
def test_unreadable_timestamps_are_errors_saying_what_was_found(text: str, unit: str) -> None:
    with pytest.raises(ImportFormatError, match=f"found {text!r}"):
        to_ns(text, unit)


@settings(max_examples=200, deadline=None)
@given(
    ns=st.integers(0, 4 * 10**18),
    places=st.integers(0, 9),
    sep=st.sampled_from(["T", " "]),
    zone=st.sampled_from(["", "Z", "+00:00"]),
)
def test_iso_date_times_with_any_number_of_fraction_digits_convert_exactly(
    ns: int, places: int, sep: str, zone: str
) -> None:
    # pandas writes nanoseconds ("...15.123456789"); "15.5" is ISO 8601 too
    seconds, fraction = divmod(ns, 10**9)
    text = datetime.fromtimestamp(seconds, timezone.utc).strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    digits = f"{fraction:09d}"[:places]
    if places:
        text += "." + digits
    expected = seconds * 10**9 + int(digits.ljust(9, "0"))
    assert detect_unit(text + zone) == "iso"
    assert to_ns(text + zone, "iso") == expected


def test_an_iso_fraction_beyond_nanoseconds_rounds_half_even() -> None:
    assert to_ns("1970-01-01T00:00:01.0000000015Z", "iso") == 1_000_000_002
    assert to_ns("1970-01-01T00:00:01.0000000025Z", "iso") == 1_000_000_002


@pytest.mark.parametrize(
    ("text", "unit"),
    [("9223372036854775808", "ns"), ("-9223372036854775809", "ns"), ("9223372036855", "s"),
     ("1723161255030314667", "ms"), ("2263-01-01T00:00:00Z", "iso")],
)
def test_a_time_beyond_int64_nanoseconds_is_an_error_not_a_number(text: str, unit: str) -> None:
    # an event cannot hold it: writing the log would stop with an OverflowError traceback
    with pytest.raises(ImportFormatError, match=f"within the int64 nanoseconds.*found {text!r}"):
        to_ns(text, unit)


def test_the_int64_limits_themselves_are_times() -> None:
    assert to_ns(str(2**63 - 1), "ns") == 2**63 - 1
    assert to_ns(str(-(2**63)), "ns") == -(2**63)
