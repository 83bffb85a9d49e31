"""Our own resting orders, taken out of a book whose venue publishes them.

A real venue's public book includes our orders. A strategy that prices off that book sees its own
quotes in the mid: quoting at the touch, every re-quote would chase its own previous quote (with
an inventory skew, the fair walks away by the skew at each re-quote), and the order-book
imbalance would count our own size. So, for an instrument with ``own_orders_in_book``, the engine
keeps its book as *the market without us*: after every book event and every change of our orders
it subtracts, at each price, the remaining size of our orders the venue has acknowledged (and not
yet confirmed gone), from the size the venue published there.

``OwnOrdersInBook`` remembers how much it took from each level, so it can give it back when our
order leaves, and forgets it when the venue publishes that level again (the new size is the
venue's, our order included). Market and account data arrive on different streams, so for a
moment the two can disagree (the book not yet showing an order the venue has acknowledged, or
still showing one it has canceled); a level is never taken below zero, and the next update of
that level or of our order sets it right.

Pure and deterministic: everything comes from the book and the ledger's orders, both folded from
events, so a replay takes out exactly the same sizes.
"""

from __future__ import annotations

from collections.abc import Iterable

from mmcore.book import Book
from mmcore.commands import GTC
from mmcore.events import BUY, SELL, BookDelta
from mmcore.order_state import OPEN, PENDING_CANCEL
from mmcore.state import LiveOrder

__all__ = ["OwnOrdersInBook", "resting_sizes"]


def resting_sizes(orders: Iterable[LiveOrder]) -> dict[tuple[int, int], int]:
    """``(side, price) -> lots`` of our orders the venue holds in its book: acknowledged (or
    partly filled), not yet confirmed gone, good-till-cancel, with size remaining."""
    out: dict[tuple[int, int], int] = {}
    for o in orders:
        status = o.status
        if o.tif != GTC or not (status == OPEN or (status == PENDING_CANCEL and o.ts_acked)):
            continue
        lots = o.remaining
        if lots:
            key = (o.side, o.price)
            out[key] = out.get(key, 0) + lots
    return out


class OwnOrdersInBook:
    """What was taken out of one market's book for our orders, and how to keep it right."""

    __slots__ = ("_taken",)

    def __init__(self) -> None:
        self._taken: dict[tuple[int, int], int] = {}  # (side, price) -> lots taken out

    @property
    def taken(self) -> dict[tuple[int, int], int]:
        """``(side, price) -> lots`` currently taken out of the book (read only)."""
        return self._taken

    def on_snapshot(self) -> None:
        """The venue replaced the book: every level holds its own size again."""
        self._taken.clear()

    def on_delta(self, ev: BookDelta) -> None:
        """The venue set the levels of ``ev``: those hold its size again."""
        taken = self._taken
        if not taken:
            return
        for side, flat in ((BUY, ev.bids), (SELL, ev.asks)):
            for i in range(0, len(flat), 2):
                taken.pop((side, flat[i]), None)

    def sync(self, book: Book, orders: Iterable[LiveOrder]) -> None:
        """Make the book hold the venue's size minus our resting ``orders`` at every level."""
        want = resting_sizes(orders)
        taken = self._taken
        if not want and not taken:
            return
        if book.stale:
            return  # the next snapshot resets everything; sync runs again after it
        bids: list[int] = []
        asks: list[int] = []
        for key in sorted(want.keys() | taken.keys()):
            side, price = key
            had = taken.get(key, 0)
            venue = book.size_at(side, price) + had
            take = min(want.get(key, 0), venue)
            if take != had:
                (bids if side == BUY else asks).extend((price, venue - take))
            if take:
                taken[key] = take
            else:
                taken.pop(key, None)
        if bids or asks:
            book.set_levels(tuple(bids), tuple(asks))
