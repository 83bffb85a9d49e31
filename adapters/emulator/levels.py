"""The emulator's own copy of each public order book, in integer ticks and lots.

It exists so the emulator can answer a REST snapshot or open a WebSocket stream with the book as
it stands, and so a venue's wire format can derive absolute and relative level changes. It is
deliberately small: a dict per side, sorted only when a snapshot is asked for.
"""

from __future__ import annotations

from mmcore.events import BookDelta, BookSnapshot

__all__ = ["LevelBook"]


class LevelBook:
    """Price (ticks) → size (lots) per side for one instrument."""

    __slots__ = ("asks", "bids", "seq")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.seq = 0

    def apply_snapshot(self, ev: BookSnapshot) -> None:
        self.bids = dict(zip(ev.bids[0::2], ev.bids[1::2]))
        self.asks = dict(zip(ev.asks[0::2], ev.asks[1::2]))
        self.seq = ev.seq

    def apply_delta(self, ev: BookDelta) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Apply ``ev``; return the old sizes of the changed levels, flat like the delta's."""
        old_bids = _apply(self.bids, ev.bids)
        old_asks = _apply(self.asks, ev.asks)
        self.seq = ev.seq
        return old_bids, old_asks

    def best_bid(self) -> int:
        """Highest bid in ticks, or 0 when the side is empty."""
        return max(self.bids) if self.bids else 0

    def best_ask(self) -> int:
        """Lowest ask in ticks, or 0 when the side is empty."""
        return min(self.asks) if self.asks else 0

    def mid_x2(self) -> int:
        """Twice the mid in ticks (exact), or 0 when either side is empty."""
        if not self.bids or not self.asks:
            return 0
        return self.best_bid() + self.best_ask()

    def depth(self, n: int = 0) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Flat ``(price, size, ...)`` per side, best first; ``n`` levels (0 = all)."""
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        if n:
            bids, asks = bids[:n], asks[:n]
        return tuple(x for lv in bids for x in lv), tuple(x for lv in asks for x in lv)


def _apply(side: dict[int, int], flat: tuple[int, ...]) -> tuple[int, ...]:
    old: list[int] = []
    for i in range(0, len(flat), 2):
        price, size = flat[i], flat[i + 1]
        old.append(price)
        old.append(side.get(price, 0))
        if size:
            side[price] = size
        else:
            side.pop(price, None)
    return tuple(old)
