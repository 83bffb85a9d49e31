"""Ping-pong: one order at a time, switching side after every fill.

The order rests ``offset_bps`` from mid on the current side (a bid rounded down, an ask rounded
up, never through the opposite best). Any fill of ours, partial included, switches the side to
the opposite of the fill (a buy fill → sell next). The first side comes from the position at
the first usable book: long → sell, short → buy, flat → ``initial_side``. The order is repriced
when mid moves more than ``reprice_bps`` from the mid it was priced at, or when the opposite best
reaches it.

Size is ``order_notional_usd`` at mid in whole lots (or ``size_lots``); when the order reduces
the position it is capped at the position, so a partial buy of 3 lots is answered by a sell of
3. A size below the instrument's minimum means no order. A position itself below the minimum
(dust, left by partial fills) cannot be closed by any order the venue takes: it does not cap
the order, which then has its full size and goes through flat (long 3 with a minimum of 10:
sell 10), rather than leaving the quoter with no order at all.
"""

from __future__ import annotations

import math
import random
from typing import Literal, cast

import msgspec

from mmcore.commands import Output
from mmcore.events import BUY, SELL, BookDelta, BookSnapshot, ConnectionState, Event, Fill
from mmcore.instrument import Instrument
from mmcore.intents import Intent, QuoteTarget
from mmcore.view import View
from strategies.inventory import InventoryParams
from strategies.notes import Notes
from strategies.quote_grid import ask_levels, bid_levels, notional_lots, offset_tops

__all__ = ["PingPongParams", "PingPongStats", "PingPongStrategy"]


class PingPongParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Parameters of the ping-pong quoter (``name = "ping_pong"``).

    size_lots: order size in lots when order_notional_usd is 0; default 1.
    order_notional_usd: order size in quote currency, whole lots at mid; 0 = size_lots;
        default 0.
    offset_bps: distance of the order from mid, bps, below 10,000; default 5.
    reprice_bps: mid drift, bps, that reprices the order; default 5.
    initial_side: "buy" or "sell", the first side when flat; default "buy".
    inventory: ``InventoryParams`` table; present = inventory state machine on; default absent.
    """

    size_lots: int = 1
    order_notional_usd: float = 0.0
    offset_bps: float = 5.0
    reprice_bps: float = 5.0
    initial_side: Literal["buy", "sell"] = "buy"
    inventory: InventoryParams | None = None

    def __post_init__(self) -> None:
        if self.size_lots < 1:
            raise ValueError(f"size_lots: expected >= 1, found {self.size_lots}")
        for name in ("order_notional_usd", "offset_bps", "reprice_bps"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name}: expected a finite number >= 0, found {value}")
        if not self.offset_bps < 10000:  # at 10,000 bps a bid is at 0: never an order
            raise ValueError(f"offset_bps: expected < 10000, found {self.offset_bps}")


class PingPongStats(msgspec.Struct, frozen=True):
    """side: current side (1 buy, -1 sell, 0 not chosen yet). switches: side changes after
    fills. requotes: targets returned."""

    side: int
    switches: int
    requotes: int


class PingPongStrategy:
    """One order at a time, alternating sides on fills."""

    def __init__(self, inst: Instrument, params: PingPongParams, rng: random.Random) -> None:
        self.inst = inst.symbol
        self.params = params
        self._rng = rng  # unused: the strategy is deterministic given its events
        self._unit = inst.nanos_per_tick_lot
        self._min_lots = inst.min_lots
        self._drift = params.reprice_bps * 1e-4
        self._initial = BUY if params.initial_side == "buy" else SELL
        self._notes = Notes(self.inst)
        self.side = 0
        self._quoted_mid_x2 = 0
        self._drift_x2 = 0.0
        self._bid = 0  # price of our bid, 0 when none
        self._ask = 1 << 62  # price of our ask, "infinity" when none
        self._dirty = True
        self._last: QuoteTarget | None = None
        self._switches = 0
        self._requotes = 0

    def step(self, view: View, event: Event) -> Intent | None:
        t = type(event)
        if t is BookDelta or t is BookSnapshot:
            if event.inst != self.inst:  # type: ignore[union-attr]
                return None
            if not self._dirty and self._quoted_mid_x2:
                # fast path: the order stands unless mid drifted or the book reached it
                book = view.books[self.inst]
                bb = book.best_bid
                ba = book.best_ask
                d = bb + ba - self._quoted_mid_x2
                if (
                    -self._drift_x2 <= d <= self._drift_x2
                    and self._bid < ba
                    and bb < self._ask
                    and not book.stale
                    and not book.crossed
                ):
                    return None
            return self._on_book(view)
        if t is Fill and event.inst == self.inst:  # type: ignore[union-attr]
            fill = cast(Fill, event)
            new_side = -fill.side
            if new_side != self.side:
                self._notes.add(
                    view.now,
                    "side_switch",
                    f"filled {fill.size} lots on side {fill.side}: next side {new_side}",
                )
                self.side = new_side
                self._switches += 1
            self._dirty = True
            return self._on_book(view)
        if t is ConnectionState and view.books[self.inst].stale:
            return self._on_book(view)  # a stream went down and left our book stale: pull
        return None

    def notes(self) -> list[Output]:
        notes = self._notes
        return notes.drain() if notes.items else []

    def statistics(self) -> PingPongStats:
        return PingPongStats(side=self.side, switches=self._switches, requotes=self._requotes)

    def _on_book(self, view: View) -> Intent | None:
        book = view.books[self.inst]
        bb = book.best_bid
        ba = book.best_ask
        if book.stale or book.crossed or not bb or not ba:
            if self._last is None or not (self._last.bids or self._last.asks):
                return None
            self._quoted_mid_x2 = 0
            return self._emit(QuoteTarget(self.inst))
        mid_x2 = bb + ba
        quoted = self._quoted_mid_x2
        if (
            not self._dirty
            and quoted
            and abs(mid_x2 - quoted) <= self._drift_x2
            and self._bid < ba
            and bb < self._ask
        ):
            return None
        pos = view.ledger.position(self.inst)
        if self.side == 0:
            self.side = SELL if pos > 0 else BUY if pos < 0 else self._initial
            self._notes.add(
                view.now, "initial_side", f"position {pos} lots: first side {self.side}"
            )
        self._dirty = False
        self._quoted_mid_x2 = mid_x2
        self._drift_x2 = mid_x2 * self._drift
        p = self.params
        if p.order_notional_usd:
            size = notional_lots(p.order_notional_usd, mid_x2, self._unit)
        else:
            size = p.size_lots
        if self.side * pos < 0 and -self.side * pos >= self._min_lots:
            size = min(size, abs(pos))
        if size < self._min_lots:
            size = 0
        bid_top, ask_top = offset_tops(mid_x2, p.offset_bps)
        self._bid = 0
        self._ask = 1 << 62
        if self.side == BUY:
            bids = bid_levels(bid_top, 0, size, 1, ba)
            if bids:
                self._bid = bids[0][0]
            return self._emit(QuoteTarget(self.inst, bids=bids))
        asks = ask_levels(ask_top, 0, size, 1, bb)
        if asks:
            self._ask = asks[0][0]
        return self._emit(QuoteTarget(self.inst, asks=asks))

    def _emit(self, target: QuoteTarget) -> Intent | None:
        if target == self._last:
            return None
        self._last = target
        self._requotes += 1
        return target
