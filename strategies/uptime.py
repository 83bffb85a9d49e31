"""Two-sided quoting uptime per UTC hour, as liquidity-reward programs measure it.

Each hour counts the seconds during which we had both a bid and an ask ``OPEN`` (acknowledged
and resting, from ``view.ledger.open_orders``), and the seconds during which both sides had an
``OPEN`` order within ``band_bps`` of the mark (``view.mark_x2``: the venue's mark, else the
book's mid). The condition is re-evaluated at every observation and held constant in between,
so the figures are exact when the caller observes on every own-order event and at least every
``sample_ms`` otherwise. At each hour boundary the hour is closed: the highest of
``tier_minutes`` reached by the in-band time is recorded and a ``StrategyEvent``
("uptime_hour") reports the figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from mmcore.events import BUY
from mmcore.order_state import OPEN
from strategies.notes import Notes
from strategies.trading_hours import HOUR_NS, utc_hour_label

if TYPE_CHECKING:
    from mmcore.view import View

__all__ = ["HourUptime", "UptimeStats", "UptimeTracker"]


class HourUptime(msgspec.Struct, frozen=True):
    """One UTC hour. hour_start_ns: its start. observed_s: seconds observed in it.
    two_sided_s: seconds with a bid and an ask OPEN. in_band_s: seconds with both within the
    band of mark. tier_minutes: highest tier reached by in_band_s (0 = none; current hour: so
    far)."""

    hour_start_ns: int
    observed_s: float
    two_sided_s: float
    in_band_s: float
    tier_minutes: float


class UptimeStats(msgspec.Struct, frozen=True):
    """current: the hour in progress, up to the last observation. completed: the latest closed
    hours, oldest first. hours_completed: all hours closed so far."""

    current: HourUptime
    completed: tuple[HourUptime, ...]
    hours_completed: int


class UptimeTracker:
    """Seconds of two-sided and in-band quoting per UTC hour for one market."""

    __slots__ = (
        "_band",
        "_band_ns",
        "_both",
        "_completed",
        "_hour_start",
        "_hours_completed",
        "_in_band",
        "_inst",
        "_keep",
        "_last_ts",
        "_notes",
        "_observed_ns",
        "_sample",
        "_tiers",
        "_two_sided_ns",
        "band_bps",
        "next_sample_ns",
    )

    def __init__(
        self,
        inst: str,
        notes: Notes,
        band_bps: float = 10.0,
        tier_minutes: tuple[float, ...] = (30.0, 42.0),
        sample_ms: int = 100,
        keep_hours: int = 48,
    ) -> None:
        self._inst = inst
        self._notes = notes
        self.band_bps = band_bps
        self._band = band_bps * 1e-4
        self._tiers = tuple(sorted(tier_minutes))
        self._sample = sample_ms * 1_000_000
        self._keep = keep_hours
        self._last_ts = -1
        self._hour_start = 0
        self._both = False
        self._in_band = False
        self._observed_ns = 0
        self._two_sided_ns = 0
        self._band_ns = 0
        self._completed: list[HourUptime] = []
        self._hours_completed = 0
        self.next_sample_ns = 0
        """Event time (ns) by which the next observation is due."""

    def observe(self, now: int, view: View) -> None:
        """Credit the time since the last observation, then re-read the condition at ``now``."""
        if self._last_ts < 0:
            self._last_ts = now
            self._hour_start = now // HOUR_NS * HOUR_NS
        elif now > self._last_ts:
            end = self._hour_start + HOUR_NS
            while now >= end:
                self._credit(end)
                self._close_hour(now)
                self._hour_start = end
                end += HOUR_NS
            self._credit(now)
        self._both, self._in_band = self._condition(view)
        self.next_sample_ns = now + self._sample

    def _credit(self, until: int) -> None:
        dt = until - self._last_ts
        self._last_ts = until
        self._observed_ns += dt
        if self._both:
            self._two_sided_ns += dt
            if self._in_band:
                self._band_ns += dt

    def _condition(self, view: View) -> tuple[bool, bool]:
        """(a bid and an ask OPEN, a bid and an ask OPEN within the band of mark)."""
        mark_x2 = view.mark_x2(self._inst)
        band = self._band * mark_x2
        bid = ask = bid_in = ask_in = False
        for order in view.ledger.open_orders(self._inst).values():
            if order.status != OPEN:
                continue
            near = mark_x2 > 0 and abs(2 * order.price - mark_x2) <= band
            if order.side == BUY:
                bid = True
                bid_in = bid_in or near
            else:
                ask = True
                ask_in = ask_in or near
        return bid and ask, bid_in and ask_in

    def _record(self) -> HourUptime:
        in_band_s = self._band_ns * 1e-9
        reached = 0.0
        for tier in self._tiers:
            if in_band_s >= tier * 60.0:
                reached = tier
        return HourUptime(
            hour_start_ns=self._hour_start,
            observed_s=self._observed_ns * 1e-9,
            two_sided_s=self._two_sided_ns * 1e-9,
            in_band_s=in_band_s,
            tier_minutes=reached,
        )

    def _close_hour(self, now: int) -> None:
        record = self._record()
        self._completed.append(record)
        if len(self._completed) > self._keep:
            del self._completed[0]
        self._hours_completed += 1
        self._observed_ns = self._two_sided_ns = self._band_ns = 0
        if record.tier_minutes:
            tier = f"tier {record.tier_minutes:g} min reached"
        else:
            tier = f"no tier reached (tiers {', '.join(f'{t:g}' for t in self._tiers)} min)"
        self._notes.add(
            now,
            "uptime_hour",
            f"hour {utc_hour_label(record.hour_start_ns)}: two-sided {record.two_sided_s:.0f}s, "
            f"within {self.band_bps:g} bps of mark {record.in_band_s:.0f}s of "
            f"{record.observed_s:.0f}s observed; {tier}",
        )

    def statistics(self) -> UptimeStats:
        return UptimeStats(
            current=self._record(),
            completed=tuple(self._completed),
            hours_completed=self._hours_completed,
        )
