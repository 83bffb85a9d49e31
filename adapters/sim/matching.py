"""Matching of our orders against one market's recorded order flow, in exchange time.

``Market`` keeps its own ``mmcore.book.Book`` of the recorded market and our resting orders,
indexed ``price -> [orders in arrival order]`` per side. Our orders are virtual: the recorded book
never contains them and we never change it, so the rules below decide what the market *would*
have given us.

Arrival of a ``Place`` (``place``), in this order of checks (the venue has refused before it a
``client_id`` taken on any of its markets, ``"duplicate_client_id"``: ``adapters.sim.client_ids``):
- side not BUY/SELL → ``OrderRejected("invalid_side")``; price <= 0 → ``"invalid_price"``; size
  < the instrument's ``min_lots`` → ``"invalid_size"``; notional (limit price times size) below
  the instrument's ``min_notional``, unless reduce-only (as on Binance futures) →
  ``"invalid_notional"``; time in force not GTC/IOC → ``"invalid_tif"``;
- reduce-only that would not reduce (position flat or on the same side) → ``"reduce_only"``;
- post-only that would cross the recorded book (buy >= best ask, sell <= best bid) or one of our
  own resting orders (buy >= our best ask, sell <= our best bid) → ``"post_only_would_cross"``;
- any other order that would cross one of our own resting orders → ``"self_trade"``, refused
  whole, whatever recorded liquidity it would meet before ours (better prices, or the queue ahead
  of ours at our price), as the Extended emulator refuses it.
The last two are self-trade protection: our orders are not in the recorded book, so without them
an order of ours crossing our own would rest crossed with it and both would fill as makers (a
wash trade earning two rebates). Extended refuses both (post-only: ``POST_ONLY_FAILED``; others,
with ``selfTradeProtectionLevel`` ACCOUNT, its default: ``SELF_TRADE_PROTECTION``), and so does
its emulator, whose matching codes for the two are these (``emulator_rest._engine_refusal``;
``emulator_wire.status_reason`` turns them into Extended's). The checks cost O(1): they read our
best prices, which the hot path keeps anyway.
Otherwise ``OrderAccepted``; a crossing order then takes liquidity level by level up to its limit
(taker fills at the level prices); an IOC's remainder is canceled (``"ioc_remainder"``), a GTC's
remainder rests at the back of its level (``ahead`` = the level's visible size). An order leaving
the resting orders (filled, canceled) starts its id's window in ``ClientIds``.

Resting orders fill as maker, always at *our* price:
1. trade-through: a public trade strictly better than our price for the aggressor (a sell below
   our bid, a buy above our ask). Fills are capped by the trade's size, shared best price first,
   then in arrival order; the queue at a traded-through price is gone (``ahead = 0``);
2. at our price: the trade's size (after any trade-through fills) first consumes ``ahead``, then
   fills our orders in arrival order (the queue models keep ``ahead`` non-decreasing in arrival
   order at a price); the queue model advances ``ahead`` by the trade's size;
3. book through our price (best ask <= our bid, best bid >= our ask): we take the crossing
   visible liquidity, best level first, up to our size.

Liquidity we take (rules 3 and taker fills) stays in the recorded book, so the venue remembers it
per level (``taken_bids`` / ``taken_asks``): the next take sees only what is left, and the memory
shrinks to the level's size whenever the feed updates that level (it is forgotten with the level).
A trade-through or at-price fill uses only the trade's own size and leaves no memory.

Reduce-only orders never flip the position: each fill is capped at the position's size and an
order that can no longer reduce is canceled (``"reduce_only"``) when it would next fill: when a
trade reaching its price has size left for it (rules 1 and 2), or when the book through its price
has liquidity left to take at or better than it (rule 3). Never on a stale book, which gives
nothing, nor when our earlier orders used up what there was: a fill it would not get is no reason
to cancel it (the position may grow back before anything reaches it).

Stale book. The recorded book is stale before its first snapshot, after a sequence gap and after a
malformed ``BookSnapshot`` / ``BookDelta`` (which the ``Book`` refuses with ``BookDataError``:
``bad_data`` counts it in ``bad_market_data`` and the event is otherwise dropped, as the engine
drops it). A stale book ignores deltas until the next snapshot and keeps the levels it had (a
malformed delta: those applied before its bad level). Nothing is taken from it: a crossing order
takes nothing on arrival (an IOC's remainder is canceled, a GTC rests; a post-only one is still
checked against the stale best prices) and rule 3 is skipped (it fills nothing, and cancels no
reduce-only order), until the next snapshot, which matches what then crosses. Rules 1 and 2 go
on: they use the trades' own sizes, not the book.
"""

from __future__ import annotations

from collections.abc import Iterator

from adapters.sim.client_ids import ClientIds
from adapters.sim.fees import FeeSchedule
from adapters.sim.order import SimOrder
from adapters.sim.outbox import Outbox
from adapters.sim.queue import QueueModel
from adapters.sim.stats import SimCounters
from adapters.sim.times import NEVER
from mmcore.book import Book, BookDataError
from mmcore.commands import IOC, TIME_IN_FORCE, Place
from mmcore.events import BUY, SELL, BookDelta, BookSnapshot, Trade
from mmcore.instrument import Instrument

__all__ = ["Market"]

_SIDE_NAME = {BUY: "buy", SELL: "sell"}


class Market:
    """Our orders on one instrument, matched against its recorded book and trades."""

    __slots__ = (
        "asks",
        "bids",
        "book",
        "busy",
        "counters",
        "fees",
        "ids",
        "inst",
        "min_lots",
        "min_notional",
        "order_seq",
        "orders",
        "outbox",
        "position",
        "queue",
        "taken_asks",
        "taken_bids",
        "top_ask",
        "top_bid",
        "unit",
        "watch_asks",
        "watch_bids",
    )

    def __init__(
        self,
        inst: str,
        instrument: Instrument,
        fees: FeeSchedule,
        queue: QueueModel,
        outbox: Outbox,
        counters: SimCounters,
        ids: ClientIds,
    ) -> None:
        self.inst = inst
        self.book = Book(inst)
        self.fees = fees
        self.queue = queue
        self.outbox = outbox
        self.counters = counters
        self.ids = ids  # shared by the venue's markets; an order leaving releases its id here
        self.unit = instrument.nanos_per_tick_lot
        self.min_lots = instrument.min_lots
        self.min_notional = instrument.quote_to_nanos(instrument.min_notional)
        self.orders: dict[str, SimOrder] = {}
        self.bids: dict[int, list[SimOrder]] = {}
        self.asks: dict[int, list[SimOrder]] = {}
        self.taken_bids: dict[int, int] = {}
        self.taken_asks: dict[int, int] = {}
        self.top_bid = 0  # our best bid, 0 when none
        self.top_ask = NEVER  # our best ask, NEVER when none
        self.watch_bids: frozenset[int] = frozenset()  # prices we rest at or took from
        self.watch_asks: frozenset[int] = frozenset()
        self.busy = False
        self.position = 0
        self.order_seq = 0

    # ------------------------------------------------------------ commands

    def place(self, cmd: Place, ts: int) -> None:
        """A ``Place`` arrives at exchange time ``ts``."""
        code, reason = self._check(cmd)
        if code:
            self.outbox.rejected(self.inst, ts, cmd.client_id, code, f"{reason} at ts {ts}")
            return
        side = cmd.side
        price = cmd.price
        book = self.book
        if side == BUY:
            best = book.best_ask
            crosses = best != 0 and price >= best
            ours = self.top_ask  # NEVER when none
            self_trade = price >= ours
        else:
            best = book.best_bid
            crosses = best != 0 and price <= best
            ours = self.top_bid  # 0 when none, and price > 0
            self_trade = price <= ours
        if self_trade or (crosses and cmd.post_only):  # see the module doc
            if cmd.post_only:
                code = "post_only_would_cross"
                what = f"a post-only {_SIDE_NAME[side]} that rests"
            else:
                code = "self_trade"
                what = f"a {_SIDE_NAME[side]} that does not trade with our own orders"
            if cmd.post_only and crosses:
                found = f"the best {_SIDE_NAME[-side]} {best}"
            else:
                found = f"our own resting {_SIDE_NAME[-side]} at {ours}"
            self.outbox.rejected(
                self.inst,
                ts,
                cmd.client_id,
                code,
                f"expected {what}, found price {price} crossing {found} at ts {ts}",
            )
            return
        self.order_seq += 1
        self.outbox.accepted(self.inst, ts, cmd.client_id, f"{self.inst}:{self.order_seq}")
        order = SimOrder(cmd.client_id, side, price, cmd.size, 0, cmd.reduce_only)
        if crosses:
            want = self._want(order)
            for level_price, qty in self._consume(-side, price, want):
                self._fill(order, level_price, qty, False, ts)
        if order.remaining:
            if cmd.tif == IOC:
                self.counters.ioc_remainders += 1
                self.outbox.canceled(self.inst, ts, order.client_id, "ioc_remainder")
            else:
                self._rest(order)

    def cancel(self, client_id: str, ts: int, reason: str) -> bool:
        """Cancel a resting order; False (and no event) when it is not resting."""
        order = self.orders.get(client_id)
        if order is None:
            return False
        self._remove(order, ts)
        self.outbox.canceled(self.inst, ts, client_id, reason)
        return True

    def cancel_all(self, ts: int, reason: str) -> int:
        """Cancel every resting order, in arrival order; returns how many."""
        orders = list(self.orders.values())
        for order in orders:
            self.cancel(order.client_id, ts, reason)
        return len(orders)

    def _check(self, cmd: Place) -> tuple[str, str]:
        """``(code, reason)`` of the first rule ``cmd`` breaks, ``("", "")`` when it is valid
        (its ``client_id`` is the venue's to check, across markets)."""
        if cmd.side != BUY and cmd.side != SELL:
            return "invalid_side", f"expected side 1 or -1, found {cmd.side!r}"
        if cmd.price <= 0:
            return "invalid_price", f"expected a price > 0 ticks, found {cmd.price}"
        if cmd.size < self.min_lots:
            return "invalid_size", f"expected a size >= {self.min_lots} lots, found {cmd.size}"
        notional = cmd.price * cmd.size * self.unit
        if notional < self.min_notional and not cmd.reduce_only:
            return (
                "invalid_notional",
                f"expected a notional >= {self.min_notional} nanos, found {notional}",
            )
        if cmd.tif not in TIME_IN_FORCE:
            return "invalid_tif", f"expected a tif in {TIME_IN_FORCE}, found {cmd.tif!r}"
        if cmd.reduce_only and cmd.side * self.position >= 0:
            return (
                "reduce_only",
                f"expected a reduce-only {_SIDE_NAME[cmd.side]} to reduce, "
                f"found position {self.position}",
            )
        return "", ""

    # ------------------------------------------------------------ market data

    def on_delta(self, ev: BookDelta, ts: int) -> None:
        """Apply a recorded delta; adjust our queues at levels it changes; match if crossed."""
        book = self.book
        if not self.busy:
            try:
                book.apply_delta(ev)
            except BookDataError:
                self.bad_data()
            return
        # a C-level test first (sizes may match a price: then the exact scan finds nothing);
        # a side the delta leaves alone (an empty tuple) skips even that call
        touched: list[tuple[int, int, int]] | None = None
        flat = ev.bids
        if flat and not self.watch_bids.isdisjoint(flat):
            watch = self.watch_bids
            touched = [(BUY, p, book.size_at(BUY, p)) for p in flat[::2] if p in watch]
        flat = ev.asks
        if flat and not self.watch_asks.isdisjoint(flat):
            watch = self.watch_asks
            more = [(SELL, p, book.size_at(SELL, p)) for p in flat[::2] if p in watch]
            touched = more if touched is None else touched + more
        try:
            book.apply_delta(ev)
        except BookDataError:  # the levels before the bad one are applied: follow them
            self.bad_data()
            if touched:
                self._depth_changed(touched)
            return
        if touched:
            self._depth_changed(touched)
        best = book.best_ask
        if best and best <= self.top_bid:
            self._fill_from_book(BUY, ts)
        if book.best_bid >= self.top_ask:
            self._fill_from_book(SELL, ts)

    def on_snapshot(self, ev: BookSnapshot, ts: int) -> None:
        """Replace the recorded book; every level we rest at or took from may have changed."""
        book = self.book
        if not self.busy:
            try:
                book.apply_snapshot(ev)
            except BookDataError:
                self.bad_data()
            return
        touched = [(BUY, p, book.size_at(BUY, p)) for p in {*self.bids, *self.taken_bids}]
        touched += [(SELL, p, book.size_at(SELL, p)) for p in {*self.asks, *self.taken_asks}]
        touched.sort()
        try:
            book.apply_snapshot(ev)
        except BookDataError:  # refused whole: the book keeps its levels, stale
            self.bad_data()
            return
        self._depth_changed(touched)
        self._match_crossed(ts)

    def bad_data(self) -> None:
        """The book refused a malformed event (``BookDataError``): count it and make sure the
        book is stale, so that it ignores deltas and gives nothing until the next snapshot."""
        self.book.stale = True
        self.counters.bad_market_data += 1

    def on_trade(self, ev: Trade, ts: int) -> None:
        """A public trade: fill resting orders it trades through or at (rules 1 and 2)."""
        side = ev.side
        if side == SELL:
            if ev.price <= self.top_bid:
                self._fill_from_trade(BUY, ev, ts)
        elif side == BUY:
            if ev.price >= self.top_ask:
                self._fill_from_trade(SELL, ev, ts)
        elif ev.price <= self.top_bid:  # aggressor unknown: it reached one of our sides at most
            self._fill_from_trade(BUY, ev, ts)
        elif ev.price >= self.top_ask:
            self._fill_from_trade(SELL, ev, ts)

    # ------------------------------------------------------------ matching

    def _depth_changed(self, touched: list[tuple[int, int, int]]) -> None:
        book = self.book
        queue = self.queue
        self.counters.matching_events += 1
        for side, price, old in touched:
            new = book.size_at(side, price)
            if new == old:
                continue
            level = (self.bids if side == BUY else self.asks).get(price)
            if level:
                queue.on_level_depth(level, old, new)
            taken = self.taken_bids if side == BUY else self.taken_asks
            used = taken.get(price)
            if used is not None and used > new:
                if new:
                    taken[price] = new
                else:
                    del taken[price]
        self._refresh()

    def _match_crossed(self, ts: int) -> None:
        """Rule 3: the recorded book reaches through our best resting price."""
        book = self.book
        best = book.best_ask
        if best and best <= self.top_bid:
            self._fill_from_book(BUY, ts)
        if book.best_bid >= self.top_ask:
            self._fill_from_book(SELL, ts)

    def _fill_from_book(self, side: int, ts: int) -> None:
        """Rule 3 for our orders on ``side``; skipped on a stale book, which gives nothing (its
        crossed prices are stale too: no reduce-only order is canceled on them)."""
        book = self.book
        if book.stale:
            return
        self.counters.matching_events += 1
        own = self.bids if side == BUY else self.asks
        for price in sorted(own, reverse=side == BUY):
            best = book.best_ask if side == BUY else book.best_bid
            if (price < best) if side == BUY else (price > best):
                break
            for order in list(own.get(price, ())):
                want = self._want(order)
                if want <= 0:
                    if self._takeable(-side, price):  # it would fill now: it cannot, so it goes
                        self._drop_reduce_only(order, ts)
                    continue
                got = sum(qty for _, qty in self._consume(-side, price, want))
                if not got:
                    return  # nothing left to take here, so nothing at worse prices either
                self._fill(order, price, got, True, ts)

    def _fill_from_trade(self, side: int, ev: Trade, ts: int) -> None:
        """Rules 1 and 2 for our orders on ``side`` (the passive side of ``ev``)."""
        self.counters.matching_events += 1
        own = self.bids if side == BUY else self.asks
        traded = ev.price
        if side == BUY:
            prices = sorted([p for p in own if p >= traded], reverse=True)
        else:
            prices = sorted([p for p in own if p <= traded])
        budget = ev.size
        queue = self.queue
        for price in prices:
            level = own.get(price)
            if not level:
                continue
            if price != traded:  # traded through: the queue here is gone
                for order in list(level):
                    order.ahead = 0
                    if budget <= 0:  # the trade is used up: it does not reach this order
                        continue
                    want = self._want(order)
                    if want <= 0:
                        self._drop_reduce_only(order, ts)
                        continue
                    qty = want if want < budget else budget
                    budget -= qty
                    self._fill(order, price, qty, True, ts)
                continue
            ours = 0  # what our earlier orders at this price already got from the trade
            for order in list(level):
                # arrival order holds because ``ahead`` never decreases along the level
                avail = budget - order.ahead - ours
                queue.on_trade(order, ev.size)
                if avail <= 0:
                    continue
                want = self._want(order)
                if want <= 0:
                    self._drop_reduce_only(order, ts)
                    continue
                qty = want if want < avail else avail
                ours += qty
                self._fill(order, price, qty, True, ts)

    def _consume(self, opp: int, limit: int, want: int) -> list[tuple[int, int]]:
        """Take up to ``want`` lots of recorded ``opp``-side liquidity priced at or better than
        ``limit`` (for the taker), net of what we took before; remember the take. Nothing from
        a stale book (see the module doc)."""
        taken = self.taken_asks if opp == SELL else self.taken_bids
        out: list[tuple[int, int]] = []
        if want > 0:
            for price, avail in self._available(opp, limit):
                qty = avail if avail < want else want
                taken[price] = taken.get(price, 0) + qty
                out.append((price, qty))
                want -= qty
                if not want:
                    break
        if out:
            self._refresh()
        return out

    def _takeable(self, opp: int, limit: int) -> bool:
        """Whether ``_consume(opp, limit, ...)`` would take anything now. Only asked for a
        reduce-only order that can no longer reduce, so its scan is off the hot path."""
        return next(self._available(opp, limit), None) is not None

    def _available(self, opp: int, limit: int) -> Iterator[tuple[int, int]]:
        """``(price, lots)`` of recorded ``opp``-side liquidity priced at or better than
        ``limit``, best first, net of what we took before, levels with something left only;
        none from a stale book. Reads the book's levels a page at a time (8, 32, 128, ...)."""
        book = self.book
        if book.stale:
            return
        taken = self.taken_asks if opp == SELL else self.taken_bids
        n = 8
        start = 0
        while True:
            levels = book.levels(opp, n)
            for price, size in levels[start:]:
                if (price > limit) if opp == SELL else (price < limit):
                    return
                avail = size - taken.get(price, 0)
                if avail > 0:
                    yield price, avail
            if len(levels) < n:
                return
            start = n
            n *= 4

    def _want(self, order: SimOrder) -> int:
        """How much of ``order`` may fill now (reduce-only orders never flip the position)."""
        remaining = order.remaining
        if order.reduce_only:
            cap = -order.side * self.position
            if cap < remaining:
                return cap if cap > 0 else 0
        return remaining

    def _fill(self, order: SimOrder, price: int, qty: int, maker: bool, ts: int) -> None:
        order.remaining -= qty
        order.filled += qty
        side = order.side
        self.position += side * qty
        fee = self.fees.fee(price, qty, maker)
        self.outbox.fill(
            self.inst, ts, order.client_id, side, price, qty, fee, maker, price * qty * self.unit
        )
        if not order.remaining and self.orders.get(order.client_id) is order:
            self._remove(order, ts)

    def _drop_reduce_only(self, order: SimOrder, ts: int) -> None:
        if order.reduce_only and self.orders.get(order.client_id) is order:
            self._remove(order, ts)
            self.outbox.canceled(self.inst, ts, order.client_id, "reduce_only")

    # ------------------------------------------------------------ resting orders

    def _rest(self, order: SimOrder) -> None:
        side = order.side
        price = order.price
        order.ahead = self.book.size_at(side, price)
        own = self.bids if side == BUY else self.asks
        level = own.get(price)
        if level is None:
            own[price] = [order]
        else:
            level.append(order)
        self.orders[order.client_id] = order
        self._refresh()

    def _remove(self, order: SimOrder, ts: int) -> None:
        """``order`` leaves at exchange time ``ts`` (filled, canceled): its id's window starts."""
        del self.orders[order.client_id]
        self.ids.release(order.client_id, ts)
        own = self.bids if order.side == BUY else self.asks
        level = own[order.price]
        level.remove(order)
        if not level:
            del own[order.price]
        self._refresh()

    def _refresh(self) -> None:
        """Recompute what the hot path reads after our orders or takes changed."""
        bids = self.bids
        asks = self.asks
        self.top_bid = max(bids) if bids else 0
        self.top_ask = min(asks) if asks else NEVER
        self.watch_bids = frozenset(bids).union(self.taken_bids)
        self.watch_asks = frozenset(asks).union(self.taken_asks)
        self.busy = bool(self.watch_bids or self.watch_asks)
