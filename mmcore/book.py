"""The L2 order book of one market: price levels per side, sequence checks, staleness.

The book folds ``BookSnapshot`` and ``BookDelta`` events (integer ticks and lots) and answers the
questions the strategy, risk gate and simulated venue ask of it. It never hides trouble:

- a delta whose sequence number does not follow the book's is a *gap*: it is not applied, the
  book turns ``stale`` and ignores every delta until the next snapshot;
- a book whose best bid reaches its best ask (crossed or locked) is applied as given and flagged
  ``crossed``; the engine asks the adapter to resync, the book does not "fix" it;
- a malformed event (odd-length level tuple, price <= 0 with a size, negative size) raises
  ``BookDataError`` and leaves the book stale.

Sequence rule: when ``ev.prev_seq >= 0`` (Binance ``pu``) it must equal ``book.seq``; otherwise
``ev.seq`` must equal ``book.seq + 1``. Snapshots set ``seq`` and are never checked. The caller
routes events by instrument; the book does not compare ``ev.inst``.

Representation (the hot path of the whole engine): each side keeps ``sizes``, a dict from *key*
to size, and ``keys``, the keys in ascending order, where the key of a bid is its price and the
key of an ask is its negated price. The best level of either side is therefore ``keys[-1]``, and
since most changes happen near the top of the book, inserts and deletions touch the tail of the
list, move little memory and are searched for among the top ``_WINDOW`` keys first.
``best_bid`` and ``best_ask`` are plain attributes refreshed on every apply. With
``max_levels > 0`` the worst levels beyond that depth are dropped after every apply, so memory
stays flat; a dropped level comes back only if the venue updates it again.
"""

from __future__ import annotations

from bisect import bisect_left

import msgspec

from mmcore.errors import ConfigError, MMError
from mmcore.events import BUY, SELL, BookDelta, BookSnapshot

__all__ = [
    "APPLIED",
    "CROSSED",
    "GAP",
    "STALE_IGNORED",
    "Book",
    "BookDataError",
    "BookStats",
    "SideError",
]

APPLIED = 0
"""The event was applied and the book is consistent."""
GAP = 1
"""The delta broke the sequence; it was not applied and the book is now stale."""
STALE_IGNORED = 2
"""The book is stale (no snapshot yet, or after a gap); the delta was ignored."""
CROSSED = 3
"""The event was applied and left the book crossed or locked (best bid >= best ask)."""


_WINDOW = 16
"""Levels nearest the top searched first: most inserts and deletes land there."""
_ODD = "expected an even-length (price, size, ...) tuple, found length {}"
_BAD_PRICE = "expected a price > 0, found price {} size {}"
_BAD_SIZE = "expected a size >= 0, found price {} size {}"


class BookDataError(MMError, ValueError):
    """A book event is malformed: odd-length level tuple, price <= 0 or negative size."""


class SideError(MMError, ValueError):
    """A side argument is neither ``BUY`` nor ``SELL``."""


class BookStats(msgspec.Struct, frozen=True):
    """Counters of one book since it was created.

    snapshots: snapshots applied. deltas: deltas applied (not gaps, not ignored).
    gaps: deltas refused for a broken sequence. stale_ignored: deltas ignored while stale.
    crossed_events: applied events that left the book crossed or locked.
    """

    snapshots: int
    deltas: int
    gaps: int
    stale_ignored: int
    crossed_events: int


def _build_side(
    flat: tuple[int, ...], sign: int, cap: int, where: str
) -> tuple[list[int], dict[int, int]]:
    """A fresh side from a snapshot's flat levels, read like a delta: last wins, size 0 removes."""
    if len(flat) & 1:
        raise BookDataError(f"{where}: {_ODD.format(len(flat))}")
    sizes: dict[int, int] = {}
    it = iter(flat)
    for price, size in zip(it, it):
        if size > 0:
            if price <= 0:
                raise BookDataError(f"{where}: {_BAD_PRICE.format(price, size)}")
            sizes[price * sign] = size
        elif size == 0:
            sizes.pop(price * sign, 0)
        else:
            raise BookDataError(f"{where}: {_BAD_SIZE.format(price, size)}")
    keys = sorted(sizes)
    if cap and len(keys) > cap:
        _trim(keys, sizes, cap)
    return keys, sizes


def _trim(keys: list[int], sizes: dict[int, int], cap: int) -> None:
    """Drop the worst levels so that at most ``cap`` remain."""
    excess = len(keys) - cap
    for key in keys[:excess]:
        del sizes[key]
    del keys[:excess]


class Book:
    """The L2 book of one instrument, in integer ticks and lots."""

    __slots__ = (
        "_ask_keys",
        "_ask_sizes",
        "_bid_keys",
        "_bid_sizes",
        "_crossed_events",
        "_deltas",
        "_gaps",
        "_snapshots",
        "_stale_ignored",
        "best_ask",
        "best_bid",
        "crossed",
        "inst",
        "max_levels",
        "seq",
        "stale",
    )

    def __init__(self, inst: str, max_levels: int = 0) -> None:
        if max_levels < 0:
            raise ConfigError(f"Book({inst!r}): expected max_levels >= 0, found {max_levels}")
        self.inst = inst
        self.max_levels = max_levels
        self.seq = -1
        self.stale = True
        self.crossed = False
        self.best_bid = 0
        self.best_ask = 0
        self._bid_keys: list[int] = []
        self._bid_sizes: dict[int, int] = {}
        self._ask_keys: list[int] = []
        self._ask_sizes: dict[int, int] = {}
        self._snapshots = 0
        self._deltas = 0
        self._gaps = 0
        self._stale_ignored = 0
        self._crossed_events = 0

    def __repr__(self) -> str:
        return (
            f"Book({self.inst!r}, seq={self.seq}, bid={self.best_bid}, ask={self.best_ask}, "
            f"depth={len(self._bid_keys)}x{len(self._ask_keys)}, stale={self.stale}, "
            f"crossed={self.crossed})"
        )

    # ------------------------------------------------------------ apply

    def apply_snapshot(self, ev: BookSnapshot) -> int:
        """Replace everything with ``ev``; clear ``stale``. Returns ``APPLIED`` or ``CROSSED``."""
        cap = self.max_levels
        try:
            bid_keys, bid_sizes = _build_side(ev.bids, 1, cap, "bids")
            ask_keys, ask_sizes = _build_side(ev.asks, -1, cap, "asks")
        except BookDataError as exc:
            self.stale = True
            raise BookDataError(f"{self.inst} BookSnapshot seq {ev.seq} {exc}") from None
        self._bid_keys = bid_keys
        self._bid_sizes = bid_sizes
        self._ask_keys = ask_keys
        self._ask_sizes = ask_sizes
        self.seq = ev.seq
        self.stale = False
        self._snapshots += 1
        bb = self.best_bid = bid_keys[-1] if bid_keys else 0
        ba = self.best_ask = -ask_keys[-1] if ask_keys else 0
        if ba and bb >= ba:
            self.crossed = True
            self._crossed_events += 1
            return CROSSED
        self.crossed = False
        return APPLIED

    def apply_delta(self, ev: BookDelta) -> int:
        """Apply ``ev`` if it follows the book's sequence; see the module doc for the statuses.

        This is the engine's hottest function, so both sides are inlined rather than sharing a
        helper: a Python call costs as much as applying a level. The two blocks differ only in
        the key (bid: price, ask: -price) and must be kept in step; the reference-model test in
        tests/mmcore/test_book.py exercises both sides identically.
        """
        if self.stale:
            self._stale_ignored += 1
            return STALE_IGNORED
        prev = ev.prev_seq
        if (prev != self.seq) if prev >= 0 else (ev.seq != self.seq + 1):
            self.stale = True
            self._gaps += 1
            return GAP
        bids = ev.bids
        asks = ev.asks
        # Fast path for the most common delta: the size of one existing level of one side
        # changes and stays > 0. No key is added or removed, so the best prices, the depth and
        # the crossed flag (kept in step with the best prices by every apply) all stay as they
        # were; only the size, the seq and the counters change.
        if not asks and len(bids) == 2:
            key, size = bids
            sizes = self._bid_sizes
            if size > 0 and key in sizes:
                sizes[key] = size
                self.seq = ev.seq
                self._deltas += 1
                if self.crossed:
                    self._crossed_events += 1
                    return CROSSED
                return APPLIED
        elif not bids and len(asks) == 2:
            price, size = asks
            sizes = self._ask_sizes
            if size > 0 and -price in sizes:
                sizes[-price] = size
                self.seq = ev.seq
                self._deltas += 1
                if self.crossed:
                    self._crossed_events += 1
                    return CROSSED
                return APPLIED
        cap = self.max_levels
        if bids:
            if len(bids) & 1:
                raise self._malformed(ev, "bids", _ODD.format(len(bids)))
            keys = self._bid_keys
            sizes = self._bid_sizes
            it = iter(bids)
            for key, size in zip(it, it):
                if size > 0:
                    if key in sizes:
                        sizes[key] = size
                    elif key > 0:
                        sizes[key] = size
                        if not keys or key > keys[-1]:
                            keys.append(key)
                        else:
                            lo = len(keys) - _WINDOW
                            if lo < 0 or keys[lo] > key:
                                lo = 0
                            keys.insert(bisect_left(keys, key, lo), key)
                    else:
                        raise self._malformed(ev, "bids", _BAD_PRICE.format(key, size))
                elif size == 0:
                    if sizes.pop(key, 0):
                        if key == keys[-1]:
                            keys.pop()
                        else:
                            lo = len(keys) - _WINDOW
                            if lo < 0 or keys[lo] > key:
                                lo = 0
                            del keys[bisect_left(keys, key, lo)]
                else:
                    raise self._malformed(ev, "bids", _BAD_SIZE.format(key, size))
            if cap and len(keys) > cap:
                _trim(keys, sizes, cap)
            self.best_bid = keys[-1] if keys else 0
        if asks:
            if len(asks) & 1:
                raise self._malformed(ev, "asks", _ODD.format(len(asks)))
            keys = self._ask_keys
            sizes = self._ask_sizes
            it = iter(asks)
            for price, size in zip(it, it):
                key = -price
                if size > 0:
                    if key in sizes:
                        sizes[key] = size
                    elif price > 0:
                        sizes[key] = size
                        if not keys or key > keys[-1]:
                            keys.append(key)
                        else:
                            lo = len(keys) - _WINDOW
                            if lo < 0 or keys[lo] > key:
                                lo = 0
                            keys.insert(bisect_left(keys, key, lo), key)
                    else:
                        raise self._malformed(ev, "asks", _BAD_PRICE.format(price, size))
                elif size == 0:
                    if sizes.pop(key, 0):
                        if key == keys[-1]:
                            keys.pop()
                        else:
                            lo = len(keys) - _WINDOW
                            if lo < 0 or keys[lo] > key:
                                lo = 0
                            del keys[bisect_left(keys, key, lo)]
                else:
                    raise self._malformed(ev, "asks", _BAD_SIZE.format(price, size))
            if cap and len(keys) > cap:
                _trim(keys, sizes, cap)
            self.best_ask = -keys[-1] if keys else 0
        self.seq = ev.seq
        self._deltas += 1
        ba = self.best_ask
        if ba and self.best_bid >= ba:
            self.crossed = True
            self._crossed_events += 1
            return CROSSED
        self.crossed = False
        return APPLIED

    def _malformed(self, ev: BookDelta, where: str, problem: str) -> BookDataError:
        """Mark the book stale (part of ``ev`` may be applied) and build the error to raise."""
        self.stale = True
        self.best_bid = self._bid_keys[-1] if self._bid_keys else 0
        self.best_ask = -self._ask_keys[-1] if self._ask_keys else 0
        self.crossed = bool(self.best_ask) and self.best_bid >= self.best_ask
        return BookDataError(f"{self.inst} BookDelta seq {ev.seq} {where}: {problem}")

    # ------------------------------------------------------------ queries

    def mid_x2(self) -> int:
        """``best_bid + best_ask`` (twice the mid, exact), 0 if either side is empty."""
        bb = self.best_bid
        ba = self.best_ask
        return bb + ba if bb and ba else 0

    def spread(self) -> int:
        """``best_ask - best_bid`` in ticks, 0 if either side is empty (negative if crossed)."""
        bb = self.best_bid
        ba = self.best_ask
        return ba - bb if bb and ba else 0

    def size_at(self, side: int, price: int) -> int:
        """Size resting at ``price`` on ``side`` (``BUY`` bids, ``SELL`` asks), 0 if no level."""
        if side == BUY:
            return self._bid_sizes.get(price, 0)
        if side == SELL:
            return self._ask_sizes.get(-price, 0)
        raise SideError(f"{self.inst} size_at: expected side BUY (1) or SELL (-1), found {side!r}")

    def levels(self, side: int, n: int) -> list[tuple[int, int]]:
        """The top ``n`` levels of ``side`` as ``(price, size)``, best first."""
        keys, sizes = self._side(side, "levels")
        if n <= 0:
            return []
        top = keys[-n:]
        top.reverse()
        if side == BUY:
            return [(key, sizes[key]) for key in top]
        return [(-key, sizes[key]) for key in top]

    def size_within(self, side: int, distance: int) -> int:
        """Total size on ``side`` within ``distance`` ticks of that side's best, inclusive."""
        keys, sizes = self._side(side, "size_within")
        if not keys or distance < 0:
            return 0
        start = bisect_left(keys, keys[-1] - distance)
        return sum(map(sizes.__getitem__, keys[start:]))

    def imbalance(self, n: int) -> float:
        """``(bid_vol - ask_vol) / (bid_vol + ask_vol)`` over the top ``n`` levels of each side.

        In [-1, 1]; 0.0 when both are empty or ``n <= 0``.
        """
        if n <= 0:
            return 0.0
        bid_vol = sum(map(self._bid_sizes.__getitem__, self._bid_keys[-n:]))
        ask_vol = sum(map(self._ask_sizes.__getitem__, self._ask_keys[-n:]))
        total = bid_vol + ask_vol
        return (bid_vol - ask_vol) / total if total else 0.0

    def depth(self, side: int) -> int:
        """Number of price levels on ``side``."""
        return len(self._side(side, "depth")[0])

    def statistics(self) -> BookStats:
        """A frozen copy of the counters."""
        return BookStats(
            snapshots=self._snapshots,
            deltas=self._deltas,
            gaps=self._gaps,
            stale_ignored=self._stale_ignored,
            crossed_events=self._crossed_events,
        )

    def _side(self, side: int, where: str) -> tuple[list[int], dict[int, int]]:
        if side == BUY:
            return self._bid_keys, self._bid_sizes
        if side == SELL:
            return self._ask_keys, self._ask_sizes
        raise SideError(f"{self.inst} {where}: expected side BUY (1) or SELL (-1), found {side!r}")
