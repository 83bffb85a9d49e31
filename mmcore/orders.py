"""The order manager: turns a strategy's intent into the commands that move live orders to it.

``QuoteOrderManager.reconcile(intent, view)`` diffs the intent against the ledger's non-terminal
orders of the market and returns cancels first, then places. It keeps no copy of the orders: the
ledger (which sees every command that actually left the risk gate) is the truth, so a command the
risk gate dropped is simply tried again on the next reconcile.

Quote targets, per side:
- orders ``PENDING_CANCEL`` are on their way out: they never satisfy a level and are never
  cancelled twice, but they still take a slot of ``max_open_orders``;
- each target level, best first, keeps the live order (in flight or open, not reduce-only) that
  was placed for the same size, has a price within ``replace_threshold_bps`` of the level and an
  age of at most ``max_order_age_s``; among several, the closest in price. An order's age counts
  from the venue's first ack (``LiveOrder.ts_acked``), since the venue acknowledged it: one not
  acknowledged yet is not resting and never too old (counted from its ``Place``, a round trip
  longer than ``max_order_age_s`` would refresh every order before its ack, forever). "Placed
  for" is the size the target asked for, not what rests now: a Place the risk gate clamped still
  satisfies its level (re-placing it would only be clamped again: a livelock); a partly filled
  order does not, and is replaced to restore the level's size. Orders at exactly a level's price
  are matched to it first, so the order one reconcile places for a level is never taken by a
  neighbouring level on the next (which would replace a fitting order for nothing): the same
  target reconciled again sends nothing. An order is never kept where it would cross one of ours
  on the other side (a bid at or above the target's lowest ask, an ask at or below its highest
  bid or a bid kept): up to the threshold from its level, it could sit past the other side's new
  best, where a post-only order would be refused and any other would trade with us;
- left-over levels and left-over live orders pair up best first as *replaces*; with
  ``coalesce_ns`` a replace sooner than that after the previous replace of the same level keeps
  the old order instead (unless it is too old);
- left-over live orders are cancelled, left-over levels placed, best levels first, bid and ask
  alternating, while the market's non-terminal orders (cancelled ones included, until the venue
  confirms) stay within ``max_open_orders``.

``Flatten`` cancels every other order and keeps one reduce-only exit order for the whole position:
post-only at our side of the touch (passive) or IOC ``flatten_slippage_bps`` through the opposite
touch (aggressive); with no touch to price it from, the exit order it has is kept. ``Halt`` sends
one ``CancelAll`` while anything is live that is not already pending cancel. Client ids come from
a counter (``mmcore.client_ids``), so a replay reproduces them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from mmcore.bps import BpsRatio
from mmcore.client_ids import BadClientIdPrefix, ClientIds, check_prefix
from mmcore.commands import GTC, IOC, Cancel, CancelAll, Command, Place
from mmcore.errors import MMError
from mmcore.events import BUY, SELL
from mmcore.instrument import Instrument
from mmcore.intents import Flatten, Halt, Intent, QuoteTarget
from mmcore.order_state import PENDING_CANCEL
from mmcore.state import LiveOrder
from mmcore.view import View

__all__ = ["OrderManagerConfig", "OrdersStats", "QuoteOrderManager", "UnknownIntent"]

_NS = 1_000_000_000
_NONE: list[tuple[int, int]] = []  # "no level to place"; shared, so never mutated
_NO_PRICE = 1 << 62
"""Above every price: no bound."""
_NOTHING: tuple[list[tuple[int, int]], int] = (_NONE, 0)
"""A side with no level and no order: nothing to place, nothing kept."""


class UnknownIntent(MMError, TypeError):
    """``reconcile`` got something that is not a ``QuoteTarget``, ``Flatten`` or ``Halt``."""


class OrderManagerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the order manager moves live orders towards a target (table ``[orders]``).

    replace_threshold_bps: a live order whose price is within this many basis points of the target
        level (and that was placed for the level's size) is kept; default 1.0, >= 0.
    coalesce_ns: minimum time in ns between two replaces of the same level; 0 (default) is off.
    max_order_age_s: seconds after which a live order is refreshed (cancelled and placed again)
        even if it still matches, counted since the venue acknowledged it (an order not yet
        acknowledged is never too old); default 60.0, > 0.
    max_open_orders: per market, non-terminal orders counting in-flight and pending-cancel ones;
        default 10, >= 1.
    client_id_prefix: ids are ``f"{prefix}-{n}"``; the runner sets a per-session prefix; default
        "mm"; 1-24 characters of [A-Za-z0-9-_.].
    flatten_slippage_bps: an aggressive flatten's IOC limit price is this many basis points
        through the opposite best; default 50.0, >= 0.
    """

    replace_threshold_bps: float = 1.0
    coalesce_ns: int = 0
    max_order_age_s: float = 60.0
    max_open_orders: int = 10
    client_id_prefix: str = "mm"
    flatten_slippage_bps: float = 50.0

    def __post_init__(self) -> None:
        if not (self.replace_threshold_bps >= 0 and math.isfinite(self.replace_threshold_bps)):
            raise ValueError(
                f"replace_threshold_bps: expected a finite number >= 0, "
                f"found {self.replace_threshold_bps}"
            )
        if self.coalesce_ns < 0:
            raise ValueError(f"coalesce_ns: expected >= 0, found {self.coalesce_ns}")
        if not (self.max_order_age_s > 0 and math.isfinite(self.max_order_age_s)):
            raise ValueError(
                f"max_order_age_s: expected a finite number > 0, found {self.max_order_age_s}"
            )
        if self.max_open_orders < 1:
            raise ValueError(f"max_open_orders: expected >= 1, found {self.max_open_orders}")
        try:
            check_prefix(self.client_id_prefix, "client_id_prefix")
        except BadClientIdPrefix as exc:
            raise ValueError(str(exc)) from None
        if not (0 <= self.flatten_slippage_bps < 10_000):
            raise ValueError(
                f"flatten_slippage_bps: expected 0 <= bps < 10000, "
                f"found {self.flatten_slippage_bps}"
            )


class OrdersStats(msgspec.Struct, frozen=True):
    """Counters of a ``QuoteOrderManager``.

    reconciles: calls. places / cancels / cancel_alls: commands returned. kept: live orders kept
    as matching a level. replaces: live orders cancelled to make way for a moved level.
    refreshes: cancels because an order was older than ``max_order_age_s`` (since its ack).
    coalesced: replaces put off by ``coalesce_ns``. capped: levels not placed for lack of an
    open-order slot. skipped_levels: target levels with price <= 0 or size below the
    instrument's minimum, and flatten exits smaller than that minimum.
    flattens: ``Flatten`` intents handled. no_price: exit orders not placed for lack of a touch.
    """

    reconciles: int
    places: int
    cancels: int
    cancel_alls: int
    kept: int
    replaces: int
    refreshes: int
    coalesced: int
    capped: int
    skipped_levels: int
    flattens: int
    no_price: int


_ASKED_PRUNE = 1024
"""Forget the asked sizes of finished orders once this many are remembered."""


def _best_bid_first(o: LiveOrder) -> int:
    return -o.price


def _best_ask_first(o: LiveOrder) -> int:
    return o.price


class QuoteOrderManager:
    """Reconciles intents with the ledger's live orders; implements ``protocols.OrderManager``."""

    def __init__(self, config: OrderManagerConfig, instruments: Mapping[str, Instrument]) -> None:
        self.config = config
        self.instruments = dict(instruments)
        self._min_lots = {name: i.min_lots for name, i in instruments.items()}
        self._ids = ClientIds(config.client_id_prefix)
        # client id -> the size the target asked for. Risk may clamp a Place and fills shrink an
        # order; comparing targets with what was asked (not with what rests) is what keeps a
        # clamped or partly filled quote from being cancelled and re-placed forever.
        self._asked: dict[str, int] = {}
        self._bps = config.replace_threshold_bps / 10_000.0
        self._slip = BpsRatio(config.flatten_slippage_bps)  # exact: the exit's price in integers
        self._max_age = round(config.max_order_age_s * _NS)
        self._coalesce = config.coalesce_ns
        self._max_open = config.max_open_orders
        # (inst, side) -> engine time of the last replace of each level index
        self._replaced: dict[tuple[str, int], list[int]] = {}
        self._reconciles = 0
        self._places = 0
        self._cancels = 0
        self._cancel_alls = 0
        self._kept = 0
        self._replaces = 0
        self._refreshes = 0
        self._coalesced = 0
        self._capped = 0
        self._skipped = 0
        self._flattens = 0
        self._no_price = 0

    # ------------------------------------------------------------ entry point

    def reconcile(self, intent: Intent, view: View) -> list[Command]:
        """Commands (cancels, then places) that move the live orders of the market to ``intent``."""
        self._reconciles += 1
        t = type(intent)
        if t is QuoteTarget:
            return self._quote(intent, view)  # type: ignore[arg-type]
        if t is Flatten:
            return self._flatten(intent, view)  # type: ignore[arg-type]
        if t is Halt:
            return self._halt(intent, view)  # type: ignore[arg-type]
        raise UnknownIntent(
            f"QuoteOrderManager.reconcile: expected QuoteTarget, Flatten or Halt, "
            f"found {t.__name__}"
        )

    # ------------------------------------------------------------ quotes

    def _quote(self, target: QuoteTarget, view: View) -> list[Command]:
        inst = target.inst
        live = view.ledger.open_orders(inst)
        asked = self._asked
        if len(asked) > _ASKED_PRUNE:
            orders = view.ledger.orders
            self._asked = asked = {cid: n for cid, n in asked.items() if cid in orders}
        bids: list[LiveOrder] = []
        asks: list[LiveOrder] = []
        for o in live.values():
            if o.status != PENDING_CANCEL:
                (bids if o.side == BUY else asks).append(o)
        if len(bids) > 1:
            bids.sort(key=_best_bid_first)
        if len(asks) > 1:
            asks.sort(key=_best_ask_first)
        now = view.now
        out: list[Command] = []
        # No order of ours may be kept where it crosses one of ours on the other side (a kept
        # order may sit up to the threshold from its level, past the other side's new best):
        # a bid is kept only below the lowest ask level, an ask only above the highest bid
        # level and every bid kept.
        levels = target.bids
        top_ask = min(target.asks)[0] if target.asks else _NO_PRICE
        want_bids, kept_bid = (
            self._side(inst, BUY, levels, bids, now, out, 0, top_ask) if levels or bids
            else _NOTHING
        )
        top_bid = max(levels)[0] if levels else 0
        floor = top_bid if top_bid > kept_bid else kept_bid
        levels = target.asks
        want_asks, _ = (
            self._side(inst, SELL, levels, asks, now, out, floor, _NO_PRICE)
            if levels or asks
            else _NOTHING
        )
        if not want_bids and not want_asks:
            return out
        room = self._max_open - len(live)
        post_only = target.post_only
        ids = self._ids
        nb = len(want_bids)
        na = len(want_asks)
        for k in range(2 * (nb if nb > na else na)):
            i = k >> 1
            if k & 1:
                if i >= na:
                    continue
                side = SELL
                price, size = want_asks[i]
            else:
                if i >= nb:
                    continue
                side = BUY
                price, size = want_bids[i]
            if room <= 0:
                self._capped += 1
                continue
            cid = ids.next()
            asked[cid] = size
            out.append(Place(inst, now, cid, side, price, size, post_only, False, GTC))
            self._places += 1
            room -= 1
        return out

    def _side(
        self,
        inst: str,
        side: int,
        levels: tuple[tuple[int, int], ...],
        live: list[LiveOrder],
        now: int,
        out: list[Command],
        lo: int,
        hi: int,
    ) -> tuple[list[tuple[int, int]], int]:
        """Append the cancels of one side to ``out``; return the levels still to place and the
        highest price of the orders kept (0: none). Only orders priced strictly between ``lo``
        and ``hi`` may be kept."""
        max_age = self._max_age
        bps = self._bps
        min_lots = self._min_lots.get(inst, 1)
        free = live  # the caller's fresh list: orders not (yet) kept
        wanted: list[tuple[int, int]] = []
        wanted_at: list[int] = []  # level index of each wanted level
        kept_high = 0
        # First the orders at exactly their level's price (those the last reconcile placed): a
        # neighbour within the threshold taking one would leave its own level to replace an
        # order that fits the unchanged target (a cancel and a place for nothing).
        near: list[int] = []  # indexes of the levels no order sits exactly at
        index = -1
        for price, size in levels:
            index += 1
            if price <= 0 or size < min_lots:
                self._skipped += 1
                continue
            for o in free:
                if o.price == price and lo < price < hi and self._fits(o, size, now):
                    free.remove(o)
                    self._kept += 1
                    if price > kept_high:
                        kept_high = price
                    break
            else:
                near.append(index)
        for index in near:
            wish = levels[index]
            price, size = wish
            high = price * bps
            low = -high
            best: LiveOrder | None = None
            best_diff = 0
            for o in free:
                diff = o.price - price
                if low <= diff <= high and lo < o.price < hi and self._fits(o, size, now):
                    if diff < 0:
                        diff = -diff
                    if best is None or diff < best_diff:
                        best = o
                        best_diff = diff
            if best is not None:
                free.remove(best)
                self._kept += 1
                if best.price > kept_high:
                    kept_high = best.price
            else:
                wanted.append(wish)
                wanted_at.append(index)
        if not free:
            return wanted, kept_high
        # left-over levels and left-over orders pair up best first: these are replaces
        coalesce = self._coalesce
        stamps = self._replaced.get((inst, side)) if coalesce else None
        if coalesce and stamps is None:
            stamps = self._replaced[(inst, side)] = []
        placed: list[tuple[int, int]] = []
        n = 0
        for o in free:
            acked = o.ts_acked  # age counts from the first ack; 0: not acknowledged, not old
            old = acked != 0 and now - acked > max_age
            if n < len(wanted):
                level = wanted_at[n]
                if stamps is not None:
                    while len(stamps) <= level:
                        stamps.append(-(2**62))
                    if not old and now - stamps[level] < coalesce:
                        self._coalesced += 1
                        n += 1
                        continue
                    stamps[level] = now
                placed.append(wanted[n])
                n += 1
                self._replaces += 1
            if old:
                self._refreshes += 1
            out.append(Cancel(inst, now, o.client_id))
            self._cancels += 1
        placed.extend(wanted[n:])
        return placed, kept_high

    def _fits(self, o: LiveOrder, size: int, now: int) -> bool:
        """Whether ``o`` may stay for a level of ``size`` lots: placed for that size (not what
        rests: risk may have clamped it) and unfilled, not older than ``max_order_age_s`` since
        the venue acknowledged it (never too old before its ack), and a quote (not a reduce-only
        exit)."""
        ask = self._asked.get(o.client_id)
        if ask is None:
            if o.size - o.filled != size:
                return False
        elif ask != size or o.filled:
            return False
        acked = o.ts_acked
        if acked and now - acked > self._max_age:
            return False
        return not o.reduce_only

    # ------------------------------------------------------------ flatten and halt

    def _flatten(self, intent: Flatten, view: View) -> list[Command]:
        self._flattens += 1
        inst = intent.inst
        now = view.now
        position = view.ledger.position(inst)
        live = view.ledger.open_orders(inst)
        exit_side = SELL if position > 0 else BUY
        qty = position if position > 0 else -position
        price = self._exit_price(inst, exit_side, intent.aggressive, view) if qty else 0
        tif = IOC if intent.aggressive else GTC
        keep: LiveOrder | None = None
        if qty:
            for o in live.values():
                if (
                    o.status != PENDING_CANCEL
                    and o.reduce_only
                    and o.side == exit_side
                    and (o.tif == tif or not price)
                    and o.size - o.filled == qty
                    and (intent.aggressive or o.price == price or not price)
                ):
                    # one exit order in flight (IOC) or at the touch (passive); with no touch to
                    # move to, the exit we have is kept rather than leaving none (a resting
                    # passive one too when an aggressive exit has no opposite side to take)
                    keep = o
                    break
        out: list[Command] = []
        for o in live.values():
            if o is not keep and o.status != PENDING_CANCEL:
                out.append(Cancel(inst, now, o.client_id))
                self._cancels += 1
        if not qty or keep is not None:
            return out
        if qty < self._min_lots.get(inst, 1):
            self._skipped += 1  # dust below the venue's minimum: no order can close it
            return out
        if not price:
            self._no_price += 1
            return out
        if len(live) >= self._max_open:
            self._capped += 1
            return out
        out.append(
            Place(
                inst, now, self._ids.next(), exit_side, price, qty,
                not intent.aggressive, True, tif,
            )
        )
        self._places += 1
        return out

    def _exit_price(self, inst: str, side: int, aggressive: bool, view: View) -> int:
        """Our side of the touch (passive) or through the opposite touch (aggressive); 0 if none."""
        book = view.books.get(inst)
        bid = book.best_bid if book is not None else 0
        ask = book.best_ask if book is not None else 0
        if not aggressive:
            return ask if side == SELL else bid
        if side == SELL:
            if not bid:
                return 0
            return max(1, bid - self._slip.of(bid))
        if not ask:
            return 0
        return ask + self._slip.of(ask)

    def _halt(self, intent: Halt, view: View) -> list[Command]:
        inst = intent.inst
        live = view.ledger.orders if inst == "" else view.ledger.open_orders(inst)
        for o in live.values():
            if o.status != PENDING_CANCEL:
                self._cancel_alls += 1
                return [CancelAll(inst, view.now, intent.reason)]
        return []

    # ------------------------------------------------------------ counters

    def statistics(self) -> OrdersStats:
        return OrdersStats(
            reconciles=self._reconciles,
            places=self._places,
            cancels=self._cancels,
            cancel_alls=self._cancel_alls,
            kept=self._kept,
            replaces=self._replaces,
            refreshes=self._refreshes,
            coalesced=self._coalesced,
            capped=self._capped,
            skipped_levels=self._skipped,
            flattens=self._flattens,
            no_price=self._no_price,
        )
