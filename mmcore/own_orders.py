"""Our own resting orders, taken out of a book whose venue publishes them.

A real venue's public book includes our orders. A strategy that prices off that book sees its own
quotes in the mid: quoting at the touch, every re-quote would chase its own previous quote (with
an inventory skew, the fair walks away by the skew at each re-quote), and the order-book
imbalance would count our own size. So, for an instrument with ``own_orders_in_book``, the engine
keeps its book as *the market without us*: after every book event and every change of our orders
it subtracts, at each price, the remaining size of our orders the venue has acknowledged (and not
yet confirmed gone), from the size the venue published there.

``OwnOrdersInBook`` remembers how much it took from each level, and forgets it when the venue
publishes that level again (the new size is the venue's, our order included or not). Market and
account data arrive on different streams, so the two disagree for a moment:

- an order canceled or filled (the account stream says so) is still in the published level until
  the book stream updates it: what was taken stays taken until then, rather than handing our old
  order back to the strategy as somebody else's liquidity (a re-quote's own cancel would then move
  the touch and cause the next re-quote). It stays taken for at most ``HOLD_NS`` of event time:
  when the book showed the order gone *before* the account stream said so, the level was taken
  from again meanwhile and must be given back;
- an order acknowledged before the book shows it: its size is taken at once, from the level as
  published (never below zero), so a level we join looks thinner until the book catches up.

A snapshot, or any update of the level, sets it right. A delta that sets none of the levels
where we rest or took something, with nothing held and no order changed since the last sync,
cannot change what is taken: ``on_delta`` says so and the engine skips the sync (most deltas of
a deep book).

Pure and deterministic: everything comes from the book and the ledger's orders, both folded from
events, so a replay takes out exactly the same sizes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from mmcore.book import Book
from mmcore.commands import GTC
from mmcore.events import BUY, SELL, BookDelta
from mmcore.instrument import Instrument
from mmcore.order_state import OPEN, PENDING_CANCEL
from mmcore.state import LiveOrder

__all__ = ["HOLD_NS", "OwnOrdersInBook", "resting_sizes", "simulated"]

HOLD_NS = 1_000_000_000
"""How long what was taken for an order that left stays taken without a venue update of its
level (event time)."""


def simulated(instruments: Mapping[str, Instrument]) -> dict[str, Instrument]:
    """``instruments`` for a simulated venue (a backtest, a dry run), whose matching never puts
    our orders in the book the engine reads: ``own_orders_in_book`` off."""
    return {
        sym: msgspec.structs.replace(i, own_orders_in_book=False) if i.own_orders_in_book else i
        for sym, i in instruments.items()
    }


def resting_sizes(orders: Iterable[LiveOrder]) -> dict[tuple[int, int], int]:
    """``(side, price) -> lots`` of our orders the venue holds in its book: acknowledged (or
    partly filled), not yet confirmed gone, good-till-cancel, with size remaining. A cancel on
    its way leaves the order there until it lands; one filled before any ack is open all the
    same (a venue may never ack it then)."""
    out: dict[tuple[int, int], int] = {}
    for o in orders:
        status = o.status
        if o.tif != GTC or not (
            status == OPEN or (status == PENDING_CANCEL and (o.ts_acked or o.filled))
        ):
            continue
        lots = o.remaining
        if lots:
            key = (o.side, o.price)
            out[key] = out.get(key, 0) + lots
    return out


class OwnOrdersInBook:
    """What was taken out of one market's book for our orders, and how to keep it right."""

    __slots__ = ("_dirty", "_keys", "_release", "_taken", "_watch_asks", "_watch_bids")

    def __init__(self) -> None:
        self._taken: dict[tuple[int, int], int] = {}  # (side, price) -> lots taken out
        self._release: dict[tuple[int, int], int] = {}  # held beyond our orders until this ts
        # prices where the last sync rested or took something: a delta elsewhere changes nothing
        self._keys: set[tuple[int, int]] = set()  # the (side, price) keys they come from
        self._watch_bids: set[int] = set()
        self._watch_asks: set[int] = set()
        self._dirty = True  # our orders may have changed since the last sync

    def orders_changed(self) -> None:
        """A command changed our orders outside an event (a cancel on its way): the next delta
        must sync."""
        self._dirty = True

    @property
    def taken(self) -> dict[tuple[int, int], int]:
        """``(side, price) -> lots`` currently taken out of the book (read only)."""
        return self._taken

    def on_snapshot(self) -> None:
        """The venue replaced the book: every level holds its own size again."""
        self._taken.clear()
        self._release.clear()
        self._dirty = True

    def on_delta(self, ev: BookDelta) -> bool:
        """The venue set the levels of ``ev``: those hold its size again. True when ``sync`` has
        work to do: the delta set a level where we rest or took something, something is held
        for an order gone (its hold may have run out), or our orders changed since the last
        sync. Otherwise a sync would change nothing (deltas never change our orders)."""
        bids = ev.bids
        asks = ev.asks
        # a C-level test first: the flat tuples hold sizes too, which can only add false hits
        hit = bool(bids and not self._watch_bids.isdisjoint(bids)) or bool(
            asks and not self._watch_asks.isdisjoint(asks)
        )
        taken = self._taken
        if hit and taken:
            release = self._release
            for side, flat in ((BUY, bids), (SELL, asks)):
                for i in range(0, len(flat), 2):
                    key = (side, flat[i])
                    taken.pop(key, None)
                    release.pop(key, None)
        return hit or self._dirty or bool(self._release)

    def sync(self, book: Book, orders: Iterable[LiveOrder], now: int) -> None:
        """Make the book hold the venue's size minus our resting ``orders`` at every level;
        ``now`` is the engine time (for ``HOLD_NS``)."""
        want = resting_sizes(orders)
        taken = self._taken
        if not want and not taken:
            if self._keys:
                self._keys = set()
                self._watch_bids = set()
                self._watch_asks = set()
            self._dirty = False
            return
        if book.stale:
            self._dirty = True
            return  # the next snapshot resets everything; sync runs again after it
        release = self._release
        bids: list[int] = []
        asks: list[int] = []
        keys = want.keys() | taken.keys()
        for key in sorted(keys):
            side, price = key
            had = taken.get(key, 0)
            venue = book.size_at(side, price) + had
            take = min(want.get(key, 0), venue)
            if take < had:  # our order left; the venue has not republished the level since
                until = release.setdefault(key, now + HOLD_NS)
                if now < until:
                    take = had
                else:
                    del release[key]
            elif release:
                release.pop(key, None)
            if take != had:
                (bids if side == BUY else asks).extend((price, venue - take))
            if take:
                taken[key] = take
            else:
                taken.pop(key, None)
        if bids or asks:
            book.set_levels(tuple(bids), tuple(asks))
        if keys != self._keys:  # (taken only ever holds keys of this union)
            self._keys = keys
            self._watch_bids = {price for side, price in keys if side == BUY}
            self._watch_asks = {price for side, price in keys if side == SELL}
        self._dirty = False
