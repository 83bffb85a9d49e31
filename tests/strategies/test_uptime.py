"""The uptime tracker: seconds two-sided and in band per UTC hour, tiers, hour reports."""

from __future__ import annotations

import pytest
from test_strategy_factories import HOUR, SECOND, SYMBOL, Driver, make_mark, make_timer

from mmcore.commands import Output, Place
from mmcore.events import BUY, SELL, Event, OrderCanceled
from mmcore.intents import Intent
from mmcore.view import View
from strategies.notes import Notes
from strategies.uptime import UptimeTracker

H0 = 1_700_000_000 * SECOND // HOUR * HOUR + 3 * HOUR  # the start of a UTC hour
MINUTE = 60 * SECOND


class Observer:
    """A strategy that only feeds the uptime tracker, on every event."""

    inst = SYMBOL

    def __init__(self, tiers: tuple[float, ...] = (30.0, 42.0)) -> None:
        self.notes_buffer = Notes(SYMBOL)
        self.tracker = UptimeTracker(SYMBOL, self.notes_buffer, 10.0, tiers, 100)

    def step(self, view: View, event: Event) -> Intent | None:
        self.tracker.observe(view.now, view)
        return None

    def notes(self) -> list[Output]:
        return self.notes_buffer.drain()


def make_tracking_driver(tiers: tuple[float, ...] = (30.0, 42.0)) -> tuple[Driver, UptimeTracker]:
    observer = Observer(tiers)
    driver = Driver(observer)
    driver.feed(make_mark(1_000_000, ts=H0))  # mark 100_000.0; 10 bps = 1000 ticks
    return driver, observer.tracker


def cancel(driver: Driver, client_id: str, ts: int) -> None:
    driver.feed(OrderCanceled(SYMBOL, ts, ts, client_id))


def test_seconds_two_sided_and_in_band_follow_a_scripted_sequence() -> None:
    driver, tracker = make_tracking_driver()
    driver.rest("b1", BUY, 999_500, 1, H0 + 10 * SECOND)  # 5 bps below mark
    driver.rest("a1", SELL, 1_000_500, 1, H0 + 20 * SECOND)  # two-sided, in band from 20 s
    driver.feed(make_mark(1_001_200, ts=H0 + 80 * SECOND))  # bid now 17 bps away: out of band
    driver.feed(make_mark(1_000_000, ts=H0 + 100 * SECOND))  # back in band
    cancel(driver, "a1", H0 + 130 * SECOND)  # one-sided from 130 s
    driver.feed(make_timer(H0 + 200 * SECOND))
    current = tracker.statistics().current
    assert current.hour_start_ns == H0
    assert current.observed_s == pytest.approx(200.0)
    assert current.two_sided_s == pytest.approx(110.0)  # 20 .. 130
    assert current.in_band_s == pytest.approx(90.0)  # 20 .. 80 and 100 .. 130


def test_pending_orders_do_not_count_as_resting() -> None:
    driver, tracker = make_tracking_driver()
    driver.rest("b1", BUY, 999_500, 1, H0)
    driver.ledger.on_command(Place(SYMBOL, H0, "a1", SELL, 1_000_500, 1))  # never acked
    driver.feed(make_timer(H0 + 60 * SECOND))
    assert tracker.statistics().current.two_sided_s == 0.0


def test_an_hour_boundary_closes_the_hour_and_reports_the_tier_reached() -> None:
    driver, tracker = make_tracking_driver()
    driver.rest("b1", BUY, 999_500, 1, H0)
    driver.rest("a1", SELL, 1_000_500, 1, H0)
    cancel(driver, "a1", H0 + 45 * MINUTE)
    driver.feed(make_timer(H0 + HOUR + 10 * SECOND))
    stats = tracker.statistics()
    assert stats.hours_completed == 1
    (hour,) = stats.completed
    assert hour.hour_start_ns == H0
    assert hour.in_band_s == pytest.approx(45 * 60.0) and hour.tier_minutes == 42.0
    assert stats.current.hour_start_ns == H0 + HOUR
    assert stats.current.observed_s == pytest.approx(10.0)
    notes = [n for n in driver.notes if getattr(n, "code", "") == "uptime_hour"]
    assert len(notes) == 1
    assert "tier 42 min reached" in notes[0].message  # type: ignore[union-attr]
    assert "two-sided 2700s" in notes[0].message  # type: ignore[union-attr]
    assert "hour 2023-11-15T01:00Z" in notes[0].message  # type: ignore[union-attr]


def test_an_hour_below_every_tier_says_none_was_reached() -> None:
    driver, tracker = make_tracking_driver()
    driver.rest("b1", BUY, 999_500, 1, H0)
    driver.rest("a1", SELL, 1_000_500, 1, H0)
    cancel(driver, "a1", H0 + 29 * MINUTE)
    driver.feed(make_timer(H0 + HOUR))
    assert tracker.statistics().completed[0].tier_minutes == 0.0
    assert any("no tier reached" in getattr(n, "message", "") for n in driver.notes)


def test_thirty_minutes_in_band_reach_the_lower_tier() -> None:
    driver, tracker = make_tracking_driver()
    driver.rest("b1", BUY, 999_500, 1, H0)
    driver.rest("a1", SELL, 1_000_500, 1, H0)
    cancel(driver, "a1", H0 + 35 * MINUTE)
    driver.feed(make_timer(H0 + HOUR))
    assert tracker.statistics().completed[0].tier_minutes == 30.0


def test_a_gap_of_several_hours_closes_each_of_them() -> None:
    driver, tracker = make_tracking_driver()
    driver.rest("b1", BUY, 999_500, 1, H0)
    driver.rest("a1", SELL, 1_000_500, 1, H0)
    driver.feed(make_timer(H0 + 3 * HOUR + SECOND))
    stats = tracker.statistics()
    assert stats.hours_completed == 3
    assert [h.in_band_s for h in stats.completed] == [3600.0, 3600.0, 3600.0]


def test_quotes_outside_the_band_count_as_two_sided_but_not_in_band() -> None:
    driver, tracker = make_tracking_driver()
    driver.rest("b1", BUY, 998_000, 1, H0)  # 20 bps below mark
    driver.rest("a1", SELL, 1_000_500, 1, H0)
    driver.feed(make_timer(H0 + 60 * SECOND))
    current = tracker.statistics().current
    assert current.two_sided_s == pytest.approx(60.0) and current.in_band_s == 0.0
