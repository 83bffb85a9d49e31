"""The emulated exchange: market data, matching (``adapters.sim``) and accounts, in one place.

Venue-neutral and synchronous. Each ``step()`` reads the emulator clock, delivers the market events
now due from the feed (to the public books, to every account's simulated venue and to listeners),
fires dead man's switches and order expiries, and folds what the simulated venues answer into the
accounts. A venue's emulator renders all of it in its own wire format through an
``ExchangeListener``.

Each account gets its own ``SimVenue`` with zero latency (the network adds the real delay), fed
the same market data. Public book sequence numbers are the exchange's own, counting from 1, so
injected events never break the sequence.

Two books per market: ``books`` is the feed (the market without the accounts: what matching runs
against), ``public`` is what the venue publishes, as on a real venue: the feed, less the liquidity
the accounts' matching took from it, plus every account's resting orders. The matching leaves what
it takes in its own copy of the feed and remembers the take per level until the feed updates that
level (``adapters.sim.matching``: ``taken_bids`` / ``taken_asks``); the public book hides exactly
what that memory holds, so an order that takes a level and rests the rest at its price never shows
a book locked against the level it bought. Listeners get the public book's snapshots and deltas:
one for each feed update, and one whenever resting orders or takes change a level.

Limits. Each account is matched against the feed alone: accounts never trade with each other (nor
an account with itself), so a venue must refuse an order that would cross a resting order before
it reaches matching (``refuse``), and two accounts can each take the same feed liquidity.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

from adapters.emulator.account import (
    DEAD_MAN_REASON,
    EXPIRED,
    EXPIRED_REASON,
    AccountUpdate,
    EmulatedAccount,
    EmulatedOrder,
)
from adapters.emulator.clock import EmulatorClock
from adapters.emulator.feed import MarketFeed
from adapters.emulator.levels import LevelBook
from adapters.sim import NEVER, SimConfig, SimVenue
from mmcore.commands import GTC, Cancel, CancelAll, Place
from mmcore.errors import MMError
from mmcore.events import (
    BUY,
    SELL,
    BookDelta,
    BookSnapshot,
    Event,
    FundingPayment,
    FundingRate,
    MarkPrice,
    OrderCanceled,
    Trade,
)
from mmcore.instrument import Instrument

__all__ = [
    "DEAD_MAN_REASON",
    "EXPIRED_REASON",
    "EmulatedExchange",
    "ExchangeListener",
    "ExchangeStatistics",
    "UnknownInstrumentError",
]

_RECENT_TRADES = 50


class UnknownInstrumentError(MMError, KeyError):
    """An order or event named an instrument the exchange does not list."""


class ExchangeListener(Protocol):
    """Receives what the exchange did, to render it for the venue's clients."""

    def on_market(self, ev: Event, old: tuple[tuple[int, ...], tuple[int, ...]] | None) -> None:
        """A market event was applied; for a delta, ``old`` holds the changed levels' old sizes."""
        ...

    def on_account(self, account: EmulatedAccount, update: AccountUpdate) -> None:
        """Orders, fills, positions or the balance of ``account`` changed."""
        ...


class ExchangeStatistics(msgspec.Struct, frozen=True):
    """Counters of the emulated exchange."""

    steps: int
    market_events: int
    accounts: int
    orders: int
    fills: int
    dead_man_fired: int
    expired: int


class EmulatedExchange:
    """Books, marks and accounts of one emulated venue."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        feed: MarketFeed,
        clock: EmulatorClock,
        sim_config: SimConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.instruments = dict(instruments)
        self.feed = feed
        self.clock = clock
        self.sim_config = msgspec.structs.replace(
            sim_config or SimConfig(), entry_latency_ms=0.0, response_latency_ms=0.0,
            latency_model="constant",
        )
        self._rng = random.Random(seed)
        self.books: dict[str, LevelBook] = {s: LevelBook() for s in instruments}
        self.public: dict[str, LevelBook] = {s: LevelBook() for s in instruments}
        self.marks: dict[str, int] = {}
        self.index: dict[str, int] = {}
        self.funding: dict[str, FundingRate] = {}
        self.trades: dict[str, deque[Trade]] = {
            s: deque(maxlen=_RECENT_TRADES) for s in instruments
        }
        self.accounts: dict[int, EmulatedAccount] = {}
        self._by_key: dict[str, EmulatedAccount] = {}
        self._sims: dict[int, SimVenue] = {}
        self.listeners: list[ExchangeListener] = []
        self._pending_reasons: dict[tuple[int, str], str] = {}
        self._taken: dict[str, dict[tuple[int, int], int]] = {s: {} for s in instruments}
        self._steps = 0
        self._market_events = 0
        self._expired = 0

    # ------------------------------------------------------------ accounts

    def add_account(
        self, account_id: int, api_key: str, collateral_nanos: int
    ) -> EmulatedAccount:
        id_base = 1_900_000_000_000_000_000 + account_id * 1_000_000_000
        account = EmulatedAccount(
            account_id, api_key, self.instruments, collateral_nanos, id_base
        )
        self.accounts[account_id] = account
        self._by_key[api_key] = account
        sim = SimVenue(self.instruments, self.sim_config, random.Random(self._rng.random()))
        self._sims[account_id] = sim
        # bring the new venue up to the current market
        now = self.clock.now_ns()
        for sym, book in self.books.items():
            if book.seq:
                bids, asks = book.depth()
                sim.on_market(BookSnapshot(sym, now, now, book.seq, bids, asks))
        return account

    def account_by_key(self, api_key: str) -> EmulatedAccount | None:
        return self._by_key.get(api_key)

    def mark_x2(self, inst: str) -> int:
        """Twice the valuation price: the last mark, else the book's mid; 0 when unknown."""
        mark = self.marks.get(inst)
        return 2 * mark if mark else self.books[inst].mid_x2()

    def _rate_ppb(self, inst: str) -> int:
        """The last funding rate of ``inst``; 0 when none came. The simulated venue settles
        with the rate and mark it last saw (``adapters.sim.funding``): these, unless one came
        in the same step after the settlement's time."""
        rate = self.funding.get(inst)
        return rate.rate_ppb if rate is not None else 0

    def valuation_marks(self) -> dict[str, int]:
        return {s: self.mark_x2(s) // 2 for s in self.instruments}

    # ------------------------------------------------------------ orders

    def place(self, account: EmulatedAccount, order: EmulatedOrder) -> None:
        """Send an order (recorded with ``account.new_order``) to matching, now."""
        if order.inst not in self.instruments:
            raise UnknownInstrumentError(
                f"place: expected one of {sorted(self.instruments)}, found {order.inst!r}"
            )
        now = self.clock.now_ns()
        self._sims[account.account_id].submit(
            Place(
                order.inst,
                now,
                order.client_id,
                order.side,
                order.price,
                order.size,
                order.post_only,
                order.reduce_only,
                order.tif,
            ),
            now,
        )
        self._pump(now)

    def refuse(self, account: EmulatedAccount, order: EmulatedOrder, reason: str) -> None:
        """The venue's engine rejects an order (recorded with ``account.new_order``) before it
        reaches matching: e.g. a post-only order crossing another account's resting order, which
        the per-account matching (against the feed only) cannot see. Listeners get the REJECTED
        order as an account update, as they would from matching."""
        now = self.clock.now_ns()
        account.reject(order, reason, now)
        update = AccountUpdate()
        update.touch_order(order)
        for listener in self.listeners:
            listener.on_account(account, update)

    def cancel(self, account: EmulatedAccount, order: EmulatedOrder, reason: str = "") -> None:
        """Cancel ``order`` now; ``reason`` labels the cancel when it finds the order resting
        (matching has zero latency here, so the cancel is done when this returns)."""
        now = self.clock.now_ns()
        self._sims[account.account_id].submit(Cancel(order.inst, now, order.client_id), now)
        key = (account.account_id, order.client_id)
        if reason:
            self._pending_reasons[key] = reason
        self._pump(now)
        self._pending_reasons.pop(key, None)  # the cancel found no resting order (it filled)

    def cancel_all(self, account: EmulatedAccount, inst: str = "", reason: str = "") -> int:
        """Cancel the account's open orders on ``inst`` (all markets when empty)."""
        now = self.clock.now_ns()
        n = len(account.open_orders(inst))
        self._sims[account.account_id].submit(CancelAll(inst, now, reason), now)
        self._pump(now)
        return n

    # ------------------------------------------------------------ time

    def inject(self, ev: Event) -> None:
        """Deliver a market event at the next ``step`` (tests drive the market with this)."""
        self.feed.inject(ev)

    def step(self) -> None:
        """Do everything due at the clock's current time."""
        now = self.clock.now_ns()
        self._steps += 1
        for ev in self.feed.due(now):
            self._market(ev)
        for account in self.accounts.values():
            if account.dead_man.expired(now):
                self.cancel_all(account, "", DEAD_MAN_REASON)
            for order in account.open_orders():
                if order.expiry_ns and order.expiry_ns <= now:
                    self.cancel(account, order, EXPIRED_REASON)
                    if order.status == EXPIRED:  # not when it filled in this same step
                        self._expired += 1
        self._pump(now)

    def _market(self, event: Event) -> None:
        t = type(event)
        ev: Any = event  # narrowed by the dispatch on ``t`` below
        inst = ev.inst
        book = self.books.get(inst)
        if book is None:
            return
        self._market_events += 1
        if t is BookSnapshot:
            ev = msgspec.structs.replace(ev, seq=book.seq + 1)
            book.apply_snapshot(ev)
        elif t is BookDelta:
            ev = msgspec.structs.replace(ev, seq=book.seq + 1, prev_seq=-1)
            book.apply_delta(ev)
        elif t is Trade:
            self.trades[inst].append(ev)
        elif t is MarkPrice:
            self.marks[inst] = ev.price
            if ev.index_price:
                self.index[inst] = ev.index_price
        elif t is FundingRate:
            self.funding[inst] = ev
        for sim in self._sims.values():
            sim.on_market(ev)
        # the public book after matching saw the event: its takes are the ones now remembered
        old: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        public: Event = ev
        if t is BookSnapshot:
            public = self._public_snapshot(inst, ev.ts, ev.ts_recv)
        elif t is BookDelta:
            resting = self._resting_levels(inst)
            taken = self._taken_levels(inst)
            bids = _public_flat(BUY, ev.bids, resting, taken)
            asks = _public_flat(SELL, ev.asks, resting, taken)
            public, old = self._public_delta(inst, ev.ts, ev.ts_recv, bids, asks)
        for listener in self.listeners:
            listener.on_market(public, old)

    # ------------------------------------------------------------ the public book

    def resting(self, inst: str, side: int, price: int) -> int:
        """Lots of every account's orders resting at ``price`` on ``side`` of ``inst``."""
        return self._resting_levels(inst).get((side, price), 0)

    def _resting_levels(self, inst: str) -> dict[tuple[int, int], int]:
        """``(side, price) -> lots`` of every account's orders resting on ``inst``."""
        levels: dict[tuple[int, int], int] = {}
        for a in self.accounts.values():
            for o in a.open_orders(inst):
                if o.tif == GTC:
                    key = (o.side, o.price)
                    levels[key] = levels.get(key, 0) + o.size - o.filled
        return levels

    def _taken_levels(self, inst: str) -> dict[tuple[int, int], int]:
        """``(side, price) -> lots`` of feed liquidity on ``inst`` that the accounts' matching
        took and still counts as taken, summed over accounts."""
        levels: dict[tuple[int, int], int] = {}
        for sim in self._sims.values():
            bids, asks = sim.taken(inst)
            for side, taken in ((BUY, bids), (SELL, asks)):
                for price, lots in taken.items():
                    key = (side, price)
                    levels[key] = levels.get(key, 0) + lots
        return levels

    def _taken_changes(self) -> set[tuple[str, int, int]]:
        """``(inst, side, price)`` of every level whose taken liquidity changed since the last
        call; each such public level may need republishing."""
        changed: set[tuple[str, int, int]] = set()
        for inst, seen in self._taken.items():
            taken = self._taken_levels(inst)
            if taken != seen:
                changed.update(
                    (inst, side, price)
                    for side, price in taken.keys() | seen.keys()
                    if taken.get((side, price)) != seen.get((side, price))
                )
                self._taken[inst] = taken
        return changed

    def _public_snapshot(self, inst: str, ts: int, ts_recv: int) -> BookSnapshot:
        levels = self._resting_levels(inst)
        taken = self._taken_levels(inst)
        feed = self.books[inst]
        for side, sizes in ((BUY, feed.bids), (SELL, feed.asks)):
            for price, size in sizes.items():
                key = (side, price)
                levels[key] = levels.get(key, 0) + max(0, size - taken.get(key, 0))
        bids = sorted(((p, q) for (sd, p), q in levels.items() if sd == BUY and q), reverse=True)
        asks = sorted((p, q) for (sd, p), q in levels.items() if sd == SELL and q)
        book = self.public[inst]
        ev = BookSnapshot(
            inst, ts, ts_recv, book.seq + 1,
            tuple(x for lv in bids for x in lv), tuple(x for lv in asks for x in lv),
        )
        book.apply_snapshot(ev)
        return ev

    def _public_delta(
        self, inst: str, ts: int, ts_recv: int, bids: tuple[int, ...], asks: tuple[int, ...]
    ) -> tuple[BookDelta, tuple[tuple[int, ...], tuple[int, ...]]]:
        book = self.public[inst]
        ev = BookDelta(inst, ts, ts_recv, book.seq + 1, -1, bids, asks)
        return ev, book.apply_delta(ev)

    def _republish(self, changed: set[tuple[str, int, int]], now: int) -> None:
        """Resting orders or takes changed at ``(inst, side, price)``: publish those public
        levels that differ from what was published."""
        by_inst: dict[str, tuple[list[int], list[int]]] = {}
        resting: dict[str, dict[tuple[int, int], int]] = {}
        taken: dict[str, dict[tuple[int, int], int]] = {}
        for inst, side, price in sorted(changed):
            if inst not in resting:
                resting[inst] = self._resting_levels(inst)
                taken[inst] = self._taken_levels(inst)
            feed = self.books[inst]
            key = (side, price)
            size = (feed.bids if side == BUY else feed.asks).get(price, 0)
            size = max(0, size - taken[inst].get(key, 0)) + resting[inst].get(key, 0)
            public = self.public[inst]
            if (public.bids if side == BUY else public.asks).get(price, 0) == size:
                continue
            bids, asks = by_inst.setdefault(inst, ([], []))
            (bids if side == BUY else asks).extend((price, size))
        for inst, (bids, asks) in by_inst.items():
            ev, old = self._public_delta(inst, now, now, tuple(bids), tuple(asks))
            for listener in self.listeners:
                listener.on_market(ev, old)

    def _pump(self, now: int) -> None:
        changed: set[tuple[str, int, int]] = set()  # (inst, side, price) of resting orders
        reasons = self._pending_reasons
        for account_id, sim in self._sims.items():
            sim.advance_to(now)
            events = sim.pop_outbound(NEVER)
            if not events:
                continue
            account = self.accounts[account_id]
            update = AccountUpdate()
            for ev in events:
                if reasons and type(ev) is OrderCanceled:
                    canceled: Any = ev
                    reason = reasons.pop((account_id, canceled.client_id), "")
                    if reason:
                        ev = msgspec.structs.replace(canceled, reason=reason)
                if type(ev) is FundingPayment:
                    paid: Any = ev
                    account.settle_funding(
                        paid, self.mark_x2(paid.inst), self._rate_ppb(paid.inst), now, update
                    )
                else:
                    account.apply(ev, now, update)
            if update:
                for listener in self.listeners:
                    listener.on_account(account, update)
                changed.update((o.inst, o.side, o.price) for o in update.orders)
        changed |= self._taken_changes()
        if changed:
            self._republish(changed, now)

    def statistics(self) -> ExchangeStatistics:
        return ExchangeStatistics(
            steps=self._steps,
            market_events=self._market_events,
            accounts=len(self.accounts),
            orders=sum(len(a.orders) for a in self.accounts.values()),
            fills=sum(len(a.fills) for a in self.accounts.values()),
            dead_man_fired=sum(a.dead_man.fired for a in self.accounts.values()),
            expired=self._expired,
        )


def _public_flat(
    side: int,
    flat: tuple[int, ...],
    resting: dict[tuple[int, int], int],
    taken: dict[tuple[int, int], int],
) -> tuple[int, ...]:
    """Feed levels ``flat`` as published: less what matching took, plus the resting orders."""
    out: list[int] = []
    for i in range(0, len(flat), 2):
        key = (side, flat[i])
        out.append(flat[i])
        out.append(max(0, flat[i + 1] - taken.get(key, 0)) + resting.get(key, 0))
    return tuple(out)
