"""Symmetric two-sided quoting for uptime rewards: a bid and an ask around mid or mark.

Each side rests ``half_spread_bps`` from the reference (``reference = "mid"``: the book's mid;
``"mark"``: the venue's mark, the book's mid until one is seen), a bid rounded down and an ask
up, never through the opposite best. It requotes when

- the reference drifts more than ``requote_bps`` from the one the quotes were priced at;
- the opposite best (the price that would fill a quote) comes within ``touch_guard_bps`` of
  it, or within a tick when the guard is 0; new quotes then keep at least that distance;
- the quotes are older than ``max_quote_age_s``: they are re-priced from the current
  reference (an unchanged price leaves the order alone; physically replacing old orders is the
  order manager's ``max_order_age_s``).

An ``UptimeTracker`` (``strategies.uptime``) measures, per UTC hour, the seconds with both sides
resting and with both within ``band_bps`` of mark, and reports each closed hour with the
highest of ``tier_minutes`` reached (StandX pays for two-sided quotes within 10 bps of mark for
at least 30 or 42 minutes an hour).
"""

from __future__ import annotations

import math
import random
from typing import Literal

import msgspec

from mmcore.commands import Output
from mmcore.events import (
    BookDelta,
    BookSnapshot,
    ConnectionState,
    Event,
    Fill,
    MarkPrice,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    Timer,
)
from mmcore.instrument import Instrument
from mmcore.intents import Intent, QuoteTarget
from mmcore.view import View
from strategies.inventory import InventoryParams
from strategies.notes import Notes
from strategies.quote_grid import ask_levels, bid_levels, notional_lots, offset_tops
from strategies.uptime import UptimeStats, UptimeTracker

__all__ = ["SymmetricUptimeParams", "SymmetricUptimeStats", "SymmetricUptimeStrategy"]

_ORDER_EVENTS = frozenset((OrderAccepted, OrderCanceled, OrderRejected, Fill))


class SymmetricUptimeParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Parameters of the uptime quoter (``name = "symmetric_uptime"``).

    half_spread_bps: distance of each quote from the reference, bps; default 5.
    reference: "mid" or "mark"; default "mid".
    requote_bps: reference drift, bps, that triggers a requote; default 2.
    touch_guard_bps: requote when a quote is within this distance of the opposite best, bps
        (below half_spread_bps); 0 = only when the book reaches a quote; default 2.
    max_quote_age_s: re-price quotes at least this often, seconds; default 30.
    size_lots: order size per side in lots when order_notional_usd is 0; default 1.
    order_notional_usd: order size per side in quote currency, whole lots at mid; 0 =
        size_lots; default 0.
    band_bps: uptime counts quotes within this distance of mark, bps; default 10.
    tier_minutes: in-band minutes per hour that earn a reward tier; default [30, 42].
    uptime_sample_ms: uptime is re-evaluated at least this often (and on every order
        event), ms; default 100.
    inventory: ``InventoryParams`` table; present = inventory state machine on; default absent.
    """

    half_spread_bps: float = 5.0
    reference: Literal["mid", "mark"] = "mid"
    requote_bps: float = 2.0
    touch_guard_bps: float = 2.0
    max_quote_age_s: float = 30.0
    size_lots: int = 1
    order_notional_usd: float = 0.0
    band_bps: float = 10.0
    tier_minutes: tuple[float, ...] = (30.0, 42.0)
    uptime_sample_ms: int = 100
    inventory: InventoryParams | None = None

    def __post_init__(self) -> None:
        for name in ("half_spread_bps", "max_quote_age_s", "band_bps"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name}: expected a finite number > 0, found {value}")
        for name in ("requote_bps", "touch_guard_bps", "order_notional_usd"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name}: expected a finite number >= 0, found {value}")
        if not self.half_spread_bps < 10000:  # at 10,000 bps the bid is at 0: never a bid
            raise ValueError(f"half_spread_bps: expected < 10000, found {self.half_spread_bps}")
        if self.touch_guard_bps >= self.half_spread_bps:
            raise ValueError(
                f"touch_guard_bps: expected < half_spread_bps ({self.half_spread_bps}), "
                f"found {self.touch_guard_bps}"
            )
        if self.size_lots < 1:
            raise ValueError(f"size_lots: expected >= 1, found {self.size_lots}")
        if not all(0 < t <= 60 for t in self.tier_minutes):
            raise ValueError(
                f"tier_minutes: expected minutes in (0, 60], found {list(self.tier_minutes)}"
            )
        if self.uptime_sample_ms < 1:
            raise ValueError(f"uptime_sample_ms: expected >= 1, found {self.uptime_sample_ms}")


class SymmetricUptimeStats(msgspec.Struct, frozen=True):
    """requotes: targets returned. drift_requotes / guard_requotes / age_requotes: why
    re-pricing was triggered. uptime: the tracker's hours."""

    requotes: int
    drift_requotes: int
    guard_requotes: int
    age_requotes: int
    uptime: UptimeStats


class SymmetricUptimeStrategy:
    """Symmetric quotes around mid or mark with drift, proximity and age triggers."""

    def __init__(
        self, inst: Instrument, params: SymmetricUptimeParams, rng: random.Random
    ) -> None:
        self.inst = inst.symbol
        self.params = params
        self._rng = rng  # unused: the strategy is deterministic given its events
        self._unit = inst.nanos_per_tick_lot
        self._min_lots = inst.min_lots
        self._drift = params.requote_bps * 1e-4
        self._guard = params.touch_guard_bps * 1e-4
        self._max_age = int(params.max_quote_age_s * 1e9)
        self._use_mark = params.reference == "mark"
        self._notes = Notes(self.inst)
        self.uptime = UptimeTracker(
            self.inst, self._notes, params.band_bps, params.tier_minutes, params.uptime_sample_ms
        )
        self._pulled = True
        self._ref_x2 = 0
        self._drift_x2 = 0.0
        self._ba_min = -1.0
        self._bb_max = math.inf
        self._bid = 0
        self._ask = 0
        self._due = 0
        self._last: QuoteTarget | None = None
        self._requotes = 0
        self._drift_requotes = 0
        self._guard_requotes = 0
        self._age_requotes = 0

    def step(self, view: View, event: Event) -> Intent | None:
        t = type(event)
        now = view.now
        if now >= self.uptime.next_sample_ns or t in _ORDER_EVENTS:
            self.uptime.observe(now, view)
        if t is BookDelta or t is BookSnapshot or (t is MarkPrice and self._use_mark):
            if event.inst != self.inst:  # type: ignore[union-attr]
                return None
            if not self._pulled and now < self._due:
                # fast path: quotes stand unless the reference drifted or the book came close
                book = view.books[self.inst]
                bb = book.best_bid
                ba = book.best_ask
                ref_x2 = bb + ba
                if self._use_mark:
                    mark = view.ledger.mark(self.inst)
                    if mark:
                        ref_x2 = 2 * mark
                d = ref_x2 - self._ref_x2
                if (
                    -self._drift_x2 <= d <= self._drift_x2
                    and bb  # a one-sided book pulls the quotes (_on_book)
                    and ba
                    and ba >= self._ba_min
                    and bb <= self._bb_max
                    and not book.stale
                    and not book.crossed
                ):
                    return None
            return self._on_book(view)
        if t is Timer and now >= self._due:
            return self._on_book(view)
        if t is ConnectionState and view.books[self.inst].stale:
            return self._on_book(view)  # a stream went down and left our book stale: pull
        return None

    def notes(self) -> list[Output]:
        notes = self._notes
        return notes.drain() if notes.items else []

    def statistics(self) -> SymmetricUptimeStats:
        return SymmetricUptimeStats(
            requotes=self._requotes,
            drift_requotes=self._drift_requotes,
            guard_requotes=self._guard_requotes,
            age_requotes=self._age_requotes,
            uptime=self.uptime.statistics(),
        )

    def _on_book(self, view: View) -> Intent | None:
        book = view.books[self.inst]
        bb = book.best_bid
        ba = book.best_ask
        if book.stale or book.crossed or not bb or not ba:
            if self._pulled:
                return None
            self._pulled = True
            self._bid = self._ask = 0
            return self._emit(QuoteTarget(self.inst))
        mid_x2 = bb + ba
        ref_x2 = mid_x2
        if self._use_mark:
            mark = view.ledger.mark(self.inst)
            if mark:
                ref_x2 = 2 * mark
        now = view.now
        if not self._pulled:
            if abs(ref_x2 - self._ref_x2) > self._drift_x2:
                self._drift_requotes += 1
            elif ba < self._ba_min or bb > self._bb_max:
                self._guard_requotes += 1
            elif now >= self._due:
                self._age_requotes += 1
            else:
                return None
        self._pulled = False
        self._ref_x2 = ref_x2
        self._drift_x2 = ref_x2 * self._drift
        self._due = now + self._max_age
        guard = self._guard * mid_x2 * 0.5  # ticks
        p = self.params
        if p.order_notional_usd:
            size = notional_lots(p.order_notional_usd, mid_x2, self._unit)
        else:
            size = p.size_lots
        if size < self._min_lots:
            size = 0
        bid_top, ask_top = offset_tops(ref_x2, p.half_spread_bps)
        if guard:
            g = math.ceil(guard)
            bid_top = min(bid_top, ba - g)
            ask_top = max(ask_top, bb + g)
        bids = bid_levels(bid_top, 0.0, size, 1, ba)
        asks = ask_levels(ask_top, 0.0, size, 1, bb)
        self._bid = bids[0][0] if bids else 0
        self._ask = asks[0][0] if asks else 0
        # requote when the opposite best comes within the guard (or one tick) of a quote
        near = guard if guard > 1.0 else 1.0
        self._ba_min = self._bid + near if bids else -1.0
        self._bb_max = self._ask - near if asks else math.inf
        return self._emit(QuoteTarget(self.inst, bids, asks))

    def _emit(self, target: QuoteTarget) -> Intent | None:
        if target == self._last:
            return None
        self._last = target
        self._requotes += 1
        return target
