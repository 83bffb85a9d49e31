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

Representation (the hot path of the whole engine): each side keeps ``sizes``, a dict from price
to size holding every level (never a zero size), and ``keys``, a short ascending list of the
*near* levels only: the levels whose *key* is ``>= floor``, a per-side bound, where the key of a
bid is its price and the key of an ask is its negated price, so that on both sides a larger key
is a better level. Between calls, ``keys == sorted(key for key of every level if key >= floor)``
and ``keys`` is empty only if ``sizes`` is, so the best level of either side is ``keys[-1]``.

Real venues send deep deltas (Binance: ~70 level changes each, most of them thousands of ticks
from the touch, into books of ~5,000 levels a side). A change below the floor is only a dict
write; one above it also inserts into or deletes from the short list (the per-level loop pays a
list operation only for those). The near list holds between ``_NEAR_MIN`` and ``_NEAR_MAX``
levels: when it runs short while deeper levels exist, the floor is lowered until it holds
``_NEAR_LEVELS`` levels again, by looking up the prices just below it in the dict (the cost
follows the distance in ticks, not the depth of the book); when it grows past ``_NEAR_MAX``, the
floor rises to its ``_NEAR_LEVELS``-th best key. A query that needs levels below the floor
(``levels``, ``imbalance``, ``size_within``) lowers it first, so every answer is exact, and
``depth`` is ``len(sizes)``. (Applying a deep delta's far levels in bulk with ``dict.update`` was
measured no faster: checking the sizes and splitting the delta cost what the loop would.)

With ``max_levels > 0`` the floor stays at ``_NO_FLOOR``: every level is near, as trimming needs
the worst levels, which are dropped after every apply beyond that depth so that memory stays
flat; a dropped level comes back only if the venue updates it again. ``best_bid`` and
``best_ask`` are plain attributes refreshed on every apply.

Mid history (``Book(..., mid_history=n)``, the engine's and the report fold's books; off for the
simulated venue's): every apply that changes the mid (``best_bid + best_ask``, both sides
present) keeps ``(ev.ts, mid_x2)`` in a ring of the last ``n`` changes, so that
``mid_x2_before(ts)`` can say what the mid was just before a venue time ``ts`` (our fill's),
whatever book events came in since. A delta that only resizes a level (the fast path) cannot move
the mid and pays nothing; the others pay a comparison, and a tuple when the mid moved. A
correction outside the venue's sequence (``set_levels``) is kept at the time of the latest mid
kept: it belongs with the event that caused it.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable
from operator import neg

import msgspec

from mmcore.errors import ConfigError, MMError
from mmcore.events import BUY, SELL, BookDelta, BookSnapshot

__all__ = [
    "APPLIED",
    "CROSSED",
    "GAP",
    "MID_HISTORY",
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


_NEAR_MIN = 8
"""Fewest near levels kept while deeper levels exist. The usual reads stay inside them (the
imbalance signal's top 5 levels, the simulated venue's first ``levels(side, 8)``); a deeper read
lowers the floor itself."""
_NEAR_LEVELS = 16
"""Near levels after the floor moves. Few on purpose: on Binance BTCUSDT the near list then spans
~70 ticks and ~11% of the level changes land in it (at 64 levels, ~180 ticks and ~27%), while
lowering the floor again (~230 times in 6,547 deltas) looks up only a few dozen prices."""
_NEAR_MAX = 32
"""Most near levels kept: past it (the best rose, or a query lowered the floor) the floor rises
to the ``_NEAR_LEVELS``-th best key."""
MID_HISTORY = 64
"""Mid changes the engine's book keeps (``Book(mid_history=...)``): our fills come a response
latency (ms) after the trade, and the mid of a deep market changes a few times in that."""
_NO_FLOOR = -(1 << 128)
"""The floor when every level is near: below any key (venue prices fit in 64 bits)."""
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


# The helpers below work on one side: ``sign`` is 1 for bids and -1 for asks (the values of
# ``BUY`` and ``SELL``), so that a level's key is ``price * sign``.


def _build_side(
    flat: tuple[int, ...], sign: int, cap: int, where: str
) -> tuple[list[int], dict[int, int], int]:
    """A fresh side (keys, sizes, floor) from a snapshot's flat levels, read like a delta: last
    wins, size 0 removes."""
    if len(flat) & 1:
        raise BookDataError(f"{where}: {_ODD.format(len(flat))}")
    sizes: dict[int, int] = {}
    it = iter(flat)
    for price, size in zip(it, it):
        if size > 0:
            if price <= 0:
                raise BookDataError(f"{where}: {_BAD_PRICE.format(price, size)}")
            sizes[price] = size
        elif size == 0:
            sizes.pop(price, 0)
        else:
            raise BookDataError(f"{where}: {_BAD_SIZE.format(price, size)}")
    keys = sorted(sizes) if sign > 0 else sorted(map(neg, sizes))
    floor = _NO_FLOOR
    if cap:
        if len(keys) > cap:
            _trim(keys, sizes, cap, sign)
    elif len(keys) > _NEAR_MAX:
        floor = _shrink(keys)
    return keys, sizes, floor


def _trim(keys: list[int], sizes: dict[int, int], cap: int, sign: int) -> None:
    """Drop the worst levels so that at most ``cap`` remain (``max_levels``: every key is near)."""
    excess = len(keys) - cap
    for key in keys[:excess]:
        del sizes[key * sign]
    del keys[:excess]


def _lower(keys: list[int], sizes: dict[int, int], floor: int, new_floor: int, sign: int) -> int:
    """Lower the floor to ``new_floor``, adding the keys in between to ``keys``; returns it.

    When the key range is no longer than the dict, each of its prices is looked up
    (``dict.keys() & range`` runs in C): the cost follows the distance, not the book's depth.
    Otherwise the dict is scanned once.
    """
    if floor - new_floor <= len(sizes):
        if sign > 0:
            found: Iterable[int] = sizes.keys() & range(new_floor, floor)
        else:
            found = sizes.keys() & range(1 - floor, 1 - new_floor)
    else:
        found = [price for price in sizes if new_floor <= price * sign < floor]
    keys[:0] = sorted(found) if sign > 0 else sorted(map(neg, found))
    return new_floor


def _deepen(keys: list[int], sizes: dict[int, int], floor: int, want: int, sign: int) -> int:
    """Lower the floor until ``keys`` holds at least ``want`` levels (all if fewer); returns it.

    Walks down from the floor in steps that double, starting from the fewest ticks that could
    hold the levels missing; a book too sparse for that is scanned whole once.
    """
    step = want - len(keys)
    while len(keys) < want and len(keys) < len(sizes):
        if step > len(sizes):
            return _lower(keys, sizes, floor, _NO_FLOOR, sign)
        floor = _lower(keys, sizes, floor, floor - step, sign)
        step *= 2
    return floor


def _shrink(keys: list[int]) -> int:
    """Raise the floor so that only the best ``_NEAR_LEVELS`` keys stay near; returns it."""
    del keys[:-_NEAR_LEVELS]
    return keys[0]


class Book:
    """The L2 book of one instrument, in integer ticks and lots."""

    __slots__ = (
        "_ask_floor",
        "_ask_keys",
        "_ask_sizes",
        "_bid_floor",
        "_bid_keys",
        "_bid_sizes",
        "_crossed_events",
        "_deltas",
        "_gaps",
        "_mid_last",
        "_mids",
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

    def __init__(self, inst: str, max_levels: int = 0, mid_history: int = 0) -> None:
        if max_levels < 0:
            raise ConfigError(f"Book({inst!r}): expected max_levels >= 0, found {max_levels}")
        if mid_history < 0:
            raise ConfigError(f"Book({inst!r}): expected mid_history >= 0, found {mid_history}")
        self.inst = inst
        self.max_levels = max_levels
        self.seq = -1
        self.stale = True
        self.crossed = False
        self.best_bid = 0
        self.best_ask = 0
        self._bid_keys: list[int] = []
        self._bid_sizes: dict[int, int] = {}
        self._bid_floor = _NO_FLOOR
        self._ask_keys: list[int] = []
        self._ask_sizes: dict[int, int] = {}
        self._ask_floor = _NO_FLOOR
        self._snapshots = 0
        self._deltas = 0
        self._gaps = 0
        self._stale_ignored = 0
        self._crossed_events = 0
        # (venue ts, mid_x2) of the last mid changes, oldest first; None: kept by none
        self._mids: deque[tuple[int, int]] | None = (
            deque(maxlen=mid_history) if mid_history else None
        )
        self._mid_last = 0  # the mid of the newest entry of _mids

    def __repr__(self) -> str:
        return (
            f"Book({self.inst!r}, seq={self.seq}, bid={self.best_bid}, ask={self.best_ask}, "
            f"depth={len(self._bid_sizes)}x{len(self._ask_sizes)}, stale={self.stale}, "
            f"crossed={self.crossed})"
        )

    # ------------------------------------------------------------ apply

    def apply_snapshot(self, ev: BookSnapshot) -> int:
        """Replace everything with ``ev``; clear ``stale``. Returns ``APPLIED`` or ``CROSSED``."""
        cap = self.max_levels
        try:
            bid_keys, bid_sizes, bid_floor = _build_side(ev.bids, 1, cap, "bids")
            ask_keys, ask_sizes, ask_floor = _build_side(ev.asks, -1, cap, "asks")
        except BookDataError as exc:
            self.stale = True
            raise BookDataError(f"{self.inst} BookSnapshot seq {ev.seq} {exc}") from None
        self._bid_keys = bid_keys
        self._bid_sizes = bid_sizes
        self._bid_floor = bid_floor
        self._ask_keys = ask_keys
        self._ask_sizes = ask_sizes
        self._ask_floor = ask_floor
        self.seq = ev.seq
        self.stale = False
        self._snapshots += 1
        bb = self.best_bid = bid_keys[-1] if bid_keys else 0
        ba = self.best_ask = -ask_keys[-1] if ask_keys else 0
        mids = self._mids
        if mids is not None and bb and ba and bb + ba != self._mid_last:
            self._mid_last = bb + ba
            mids.append((ev.ts, bb + ba))
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
        # changes and stays > 0. No level is added or removed, so the best prices, the depth,
        # the near lists and the crossed flag (kept in step with the best prices by every
        # apply) all stay as they were; only the size, the seq and the counters change.
        if not asks and len(bids) == 2:
            price, size = bids
            sizes = self._bid_sizes
            if size > 0 and price in sizes:
                sizes[price] = size
                self.seq = ev.seq
                self._deltas += 1
                if self.crossed:
                    self._crossed_events += 1
                    return CROSSED
                return APPLIED
        elif not bids and len(asks) == 2:
            price, size = asks
            sizes = self._ask_sizes
            if size > 0 and price in sizes:
                sizes[price] = size
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
            floor = self._bid_floor
            # Every level is a dict write; a level at or above the floor is also kept in keys.
            it = iter(bids)
            for price, size in zip(it, it):
                if size > 0:
                    if price in sizes:
                        sizes[price] = size
                    elif price > 0:
                        sizes[price] = size
                        if price >= floor:
                            insort(keys, price)
                    else:
                        raise self._malformed(ev, "bids", _BAD_PRICE.format(price, size))
                elif size == 0:
                    if sizes.pop(price, 0) and price >= floor:
                        del keys[bisect_left(keys, price)]
                else:
                    raise self._malformed(ev, "bids", _BAD_SIZE.format(price, size))
            # Trim to max_levels (every key is near then), or keep the near list's length
            # between _NEAR_MIN and _NEAR_MAX by moving the floor.
            count = len(keys)
            if cap:
                if count > cap:
                    _trim(keys, sizes, cap, 1)
            elif count < _NEAR_MIN:
                if len(sizes) > count:
                    self._bid_floor = _deepen(keys, sizes, floor, _NEAR_LEVELS, 1)
            elif count > _NEAR_MAX:
                self._bid_floor = _shrink(keys)
            self.best_bid = keys[-1] if keys else 0
        if asks:
            if len(asks) & 1:
                raise self._malformed(ev, "asks", _ODD.format(len(asks)))
            keys = self._ask_keys
            sizes = self._ask_sizes
            floor = self._ask_floor
            it = iter(asks)
            for price, size in zip(it, it):
                if size > 0:
                    if price in sizes:
                        sizes[price] = size
                    elif price > 0:
                        sizes[price] = size
                        if -price >= floor:
                            insort(keys, -price)
                    else:
                        raise self._malformed(ev, "asks", _BAD_PRICE.format(price, size))
                elif size == 0:
                    if sizes.pop(price, 0) and -price >= floor:
                        del keys[bisect_left(keys, -price)]
                else:
                    raise self._malformed(ev, "asks", _BAD_SIZE.format(price, size))
            count = len(keys)
            if cap:
                if count > cap:
                    _trim(keys, sizes, cap, -1)
            elif count < _NEAR_MIN:
                if len(sizes) > count:
                    self._ask_floor = _deepen(keys, sizes, floor, _NEAR_LEVELS, -1)
            elif count > _NEAR_MAX:
                self._ask_floor = _shrink(keys)
            self.best_ask = -keys[-1] if keys else 0
        self.seq = ev.seq
        self._deltas += 1
        bb = self.best_bid
        ba = self.best_ask
        mids = self._mids
        if mids is not None:  # (inline: a call here would cost as much as a level)
            mid_x2 = bb + ba
            if mid_x2 != self._mid_last and bb and ba:
                self._mid_last = mid_x2
                mids.append((ev.ts, mid_x2))
        if ba and bb >= ba:
            self.crossed = True
            self._crossed_events += 1
            return CROSSED
        self.crossed = False
        return APPLIED

    def set_levels(self, bids: tuple[int, ...], asks: tuple[int, ...]) -> int:
        """Set the sizes of some levels (flat ``price, size`` pairs; 0 removes) outside the
        venue's sequence: the engine's correction for our own orders in the venue's book
        (``mmcore.own_orders``). A stale book is left alone (``STALE_IGNORED``); otherwise the
        status of applying them (``APPLIED`` or ``CROSSED``). Not counted as a delta."""
        if self.stale:
            return STALE_IGNORED
        seq = self.seq
        mids = self._mids
        ts = mids[-1][0] if mids else 0  # a mid it moves is kept with the latest one's time
        status = self.apply_delta(BookDelta(self.inst, ts, ts, seq, seq, bids, asks))
        self._deltas -= 1
        return status

    def _malformed(self, ev: BookDelta, where: str, problem: str) -> BookDataError:
        """Mark the book stale (part of ``ev`` may be applied) and build the error to raise.

        The levels applied before the bad one stay; a near list left short is refilled as after
        any apply, so that the best prices and the queries stay exact on the stale book.
        """
        self.stale = True
        for side in (BUY, SELL):
            keys, sizes = self._side(side, where)
            if len(keys) < _NEAR_MIN and len(sizes) > len(keys):
                self._widen(side, _NEAR_LEVELS)
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

    def mid_x2_before(self, ts: int) -> int:
        """Twice the mid the market had just before venue time ``ts``: the newest mid kept from
        a book event stamped strictly before ``ts`` (so a change stamped ``ts`` itself, such as
        the depth update that printed a trade, does not count). ``mid_x2()`` when ``ts`` is 0,
        the book keeps no mid history, or no mid kept is that old (none was, or the ring of the
        last ``mid_history`` changes no longer reaches back to ``ts``)."""
        mids = self._mids
        if ts > 0 and mids:
            for t, mid_x2 in reversed(mids):
                if t < ts:
                    return mid_x2
        return self.mid_x2()

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
            return self._ask_sizes.get(price, 0)
        raise SideError(f"{self.inst} size_at: expected side BUY (1) or SELL (-1), found {side!r}")

    def levels(self, side: int, n: int) -> list[tuple[int, int]]:
        """The top ``n`` levels of ``side`` as ``(price, size)``, best first."""
        keys, sizes = self._side(side, "levels")
        if n <= 0:
            return []
        if n > len(keys) and len(sizes) > len(keys):
            self._widen(side, n)
        top = keys[-n:]
        top.reverse()
        if side == BUY:
            return [(key, sizes[key]) for key in top]
        return [(-key, sizes[-key]) for key in top]

    def size_within(self, side: int, distance: int) -> int:
        """Total size on ``side`` within ``distance`` ticks of that side's best, inclusive."""
        keys, sizes = self._side(side, "size_within")
        if not keys or distance < 0:
            return 0
        lowest = keys[-1] - distance
        if lowest < keys[0] and len(sizes) > len(keys):
            self._widen(side, 0, lowest)
        near = keys[bisect_left(keys, lowest) :]
        return sum(map(sizes.__getitem__, near if side == BUY else map(neg, near)))

    def imbalance(self, n: int) -> float:
        """``(bid_vol - ask_vol) / (bid_vol + ask_vol)`` over the top ``n`` levels of each side.

        In [-1, 1]; 0.0 when both are empty or ``n <= 0``.
        """
        if n <= 0:
            return 0.0
        bid_keys = self._bid_keys
        ask_keys = self._ask_keys
        if n > len(bid_keys) and len(self._bid_sizes) > len(bid_keys):
            self._widen(BUY, n)
        if n > len(ask_keys) and len(self._ask_sizes) > len(ask_keys):
            self._widen(SELL, n)
        bid_vol = sum(map(self._bid_sizes.__getitem__, bid_keys[-n:]))
        ask_vol = sum(map(self._ask_sizes.__getitem__, map(neg, ask_keys[-n:])))
        total = bid_vol + ask_vol
        return (bid_vol - ask_vol) / total if total else 0.0

    def depth(self, side: int) -> int:
        """Number of price levels on ``side``."""
        return len(self._side(side, "depth")[1])

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

    def _widen(self, side: int, levels: int, lowest: int | None = None) -> None:
        """Lower the floor of ``side`` (``BUY`` or ``SELL``) so that its near list holds at least
        its best ``levels`` levels (all if fewer) and every level with a key >= ``lowest``."""
        if side == BUY:
            keys, sizes, floor = self._bid_keys, self._bid_sizes, self._bid_floor
        else:
            keys, sizes, floor = self._ask_keys, self._ask_sizes, self._ask_floor
        if levels > len(keys):
            floor = _deepen(keys, sizes, floor, levels, side)
        if lowest is not None and lowest < floor:
            floor = _lower(keys, sizes, floor, lowest, side)
        if side == BUY:
            self._bid_floor = floor
        else:
            self._ask_floor = floor
