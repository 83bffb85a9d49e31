"""The simplest useful quoter: one bid and one ask ``spread_bps`` around mid.

It requotes only when mid has drifted more than ``requote_bps`` from the mid it last quoted
around, and pulls its quotes (an empty target) while the book is stale or crossed. Quotes are
rounded away from mid (bid down, ask up) and never placed through the opposite best, so a
post-only order never crosses.
"""

from __future__ import annotations

import random

import msgspec

from mmcore.commands import Output
from mmcore.errors import ConfigError
from mmcore.events import BookDelta, BookSnapshot, ConnectionState, Event
from mmcore.instrument import Instrument
from mmcore.intents import Intent, QuoteTarget
from mmcore.view import View

__all__ = ["SimpleParams", "SimpleStrategy"]

_BOOK_EVENTS = (BookDelta, BookSnapshot)
_DENOM = 4_000_000
_NO_NOTES: list[Output] = []
"""Shared and never appended to: the engine only concatenates the lists strategies return."""


class SimpleParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Parameters of the symmetric quoter.

    spread_bps: full quoted spread in basis points of mid (half on each side), below 20,000
        (the bid above 0); default 10.
    requote_bps: mid drift, in basis points, that triggers new quotes; default 2.
    size_lots: order size in lots on each side, at least the instrument's minimum size (a
        smaller one stops start-up: it is never rounded up); default 1.
    """

    spread_bps: float = 10.0
    requote_bps: float = 2.0
    size_lots: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.spread_bps < 20000:  # at 20,000 bps the bid is at 0: never a quote
            raise ValueError(
                f"spread_bps: expected 0 < spread_bps < 20000, found {self.spread_bps}"
            )
        if self.requote_bps < 0:
            raise ValueError(f"requote_bps: expected >= 0, found {self.requote_bps}")
        if self.size_lots < 1:
            raise ValueError(f"size_lots: expected >= 1, found {self.size_lots}")


class SimpleStrategy:
    """Symmetric quotes around mid with a drift threshold."""

    __slots__ = (
        "_ask_num", "_bid_num", "_drift", "_hi", "_lo", "_pulled", "_size", "inst", "params",
    )

    def __init__(self, inst: Instrument, params: SimpleParams, rng: random.Random) -> None:
        if params.size_lots < inst.min_lots:  # never rounded up: the size is the user's
            raise ConfigError(
                f"strategy.params.size_lots: expected at least {inst.symbol}'s minimum size, "
                f"{inst.min_lots} lots ({inst.min_size}), found {params.size_lots}"
            )
        self.inst = inst.symbol
        self.params = params
        self._size = params.size_lots
        # integer arithmetic on mid_x2: bid = mid*(1 - s/2) with s in 1/100 bps: mid_x2*num/4e6
        self._bid_num = round((20000 - params.spread_bps) * 100)
        self._ask_num = round((20000 + params.spread_bps) * 100)
        self._drift = params.requote_bps / 10000.0
        # mid_x2 band that needs no requote; empty while pulled, so the next book requotes
        self._lo = 1
        self._hi = 0
        self._pulled = True

    def step(self, view: View, event: Event) -> Intent | None:
        if type(event) is ConnectionState:  # a stream went down: pull if it left our book stale
            if not view.books[self.inst].stale:
                return None
        elif type(event) not in _BOOK_EVENTS or event.inst != self.inst:  # type: ignore[union-attr]
            return None
        book = view.books[self.inst]
        bb = book.best_bid
        ba = book.best_ask
        if book.stale or book.crossed or not bb or not ba:
            if self._pulled:
                return None
            self._pulled = True
            self._lo, self._hi = 1, 0
            return QuoteTarget(self.inst)
        mid_x2 = bb + ba
        if self._lo <= mid_x2 <= self._hi:
            return None
        band = int(mid_x2 * self._drift)
        self._lo = mid_x2 - band
        self._hi = mid_x2 + band
        self._pulled = False
        bid = min((mid_x2 * self._bid_num) // _DENOM, ba - 1)
        ask = max(-((-mid_x2 * self._ask_num) // _DENOM), bb + 1)
        return QuoteTarget(self.inst, bids=((bid, self._size),), asks=((ask, self._size),))

    def notes(self) -> list[Output]:
        return _NO_NOTES
