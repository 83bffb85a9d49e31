"""A generated market: a seeded random-walk order book with trades, mark prices and funding.

Deterministic given the ``random.Random`` it is handed: the same seed yields the same events. The
events carry integer ticks and lots and nanosecond times starting at ``start_ns``; the emulator's
feed re-times them to its own clock anyway.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import msgspec

from mmcore.errors import MMError
from mmcore.events import BUY, SELL, BookDelta, BookSnapshot, Event, FundingRate, MarkPrice, Trade
from mmcore.instrument import Instrument

__all__ = ["BadWalkParamsError", "RandomWalkParams", "random_walk"]


class BadWalkParamsError(MMError, ValueError):
    """A random-walk parameter is out of range."""


class RandomWalkParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Shape of the generated market.

    mid_ticks: starting mid in ticks (the best bid is mid - spread_ticks // 2 - ...).
    spread_ticks: distance from best bid to best ask, in ticks; >= 1.
    levels: price levels per side.
    step_ms: time between book updates.
    move_prob: chance per step that the mid moves one tick up or down.
    max_level_lots: level sizes are drawn uniformly from min_lots .. this many lots.
    trade_prob: chance per step of a public trade at the best bid or ask.
    funding_every_steps: a FundingRate every so many steps (0 = never).
    """

    mid_ticks: int = 60_000
    spread_ticks: int = 2
    levels: int = 10
    step_ms: int = 100
    move_prob: float = 0.3
    max_level_lots: int = 500
    trade_prob: float = 0.2
    funding_every_steps: int = 600

    def __post_init__(self) -> None:
        if self.spread_ticks < 1 or self.levels < 1 or self.step_ms < 1:
            raise BadWalkParamsError(
                "RandomWalkParams: expected spread_ticks, levels, step_ms >= 1, found "
                f"{self.spread_ticks}, {self.levels}, {self.step_ms}"
            )
        if self.mid_ticks <= self.spread_ticks + self.levels:
            raise BadWalkParamsError(
                f"RandomWalkParams.mid_ticks: expected > spread+levels, found {self.mid_ticks}"
            )


def _side(
    rng: random.Random,
    best: int,
    step: int,
    params: RandomWalkParams,
    lo: int,
    old: dict[int, int],
) -> dict[int, int]:
    """Levels from ``best`` outwards; sizes persist from ``old`` except one redrawn level."""
    hi = max(lo, params.max_level_lots)
    new = {}
    for i in range(params.levels):
        price = best + step * i
        new[price] = old.get(price) or rng.randint(lo, hi)
    new[best + step * rng.randrange(params.levels)] = rng.randint(lo, hi)
    return new


def _flat(levels: dict[int, int], reverse: bool) -> tuple[int, ...]:
    return tuple(x for lv in sorted(levels.items(), reverse=reverse) for x in lv)


def _diff(old: dict[int, int], new: dict[int, int]) -> tuple[int, ...]:
    out: list[int] = []
    for price in sorted(old.keys() | new.keys()):
        size = new.get(price, 0)
        if old.get(price, 0) != size:
            out.append(price)
            out.append(size)
    return tuple(out)


def random_walk(
    inst: Instrument, rng: random.Random, start_ns: int, params: RandomWalkParams | None = None
) -> Iterator[Event]:
    """Endless events for ``inst``: a snapshot first, then a delta (and maybe more) per step."""
    p = params or RandomWalkParams()
    sym = inst.symbol
    lo = inst.min_lots
    step_ns = p.step_ms * 1_000_000
    bid0 = p.mid_ticks - p.spread_ticks // 2
    bids = _side(rng, bid0, -1, p, lo, {})
    asks = _side(rng, bid0 + p.spread_ticks, 1, p, lo, {})
    seq = 1
    ts = start_ns
    yield BookSnapshot(sym, ts, ts, seq, _flat(bids, True), _flat(asks, False))
    yield MarkPrice(sym, ts, ts, bid0 + p.spread_ticks // 2, bid0 + p.spread_ticks // 2)
    n = 0
    while True:
        n += 1
        ts = start_ns + n * step_ns
        u = rng.random()
        if u < p.move_prob / 2:
            bid0 -= 1
        elif u < p.move_prob:
            bid0 += 1
        new_bids = _side(rng, bid0, -1, p, lo, bids)
        new_asks = _side(rng, bid0 + p.spread_ticks, 1, p, lo, asks)
        seq += 1
        yield BookDelta(
            sym, ts, ts, seq, -1, _diff(bids, new_bids), _diff(asks, new_asks)
        )
        bids, asks = new_bids, new_asks
        if rng.random() < p.trade_prob:
            side = BUY if rng.random() < 0.5 else SELL
            price = bid0 + p.spread_ticks if side == BUY else bid0
            size = rng.randint(lo, max(lo, p.max_level_lots // 10))
            yield Trade(sym, ts, ts, price, size, side, f"w{n}")
        mid = bid0 + p.spread_ticks // 2
        yield MarkPrice(sym, ts, ts, mid, mid)
        if p.funding_every_steps and n % p.funding_every_steps == 0:
            rate = rng.randint(-20_000, 20_000)
            yield FundingRate(sym, ts, ts, rate, ts + p.funding_every_steps * step_ns)
