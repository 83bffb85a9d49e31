"""A seeded random-walk market: book snapshots, deltas and trades for demos, tests and benchmarks.

The generator keeps ``levels`` price levels on each side around a mid that takes ±1 tick steps.
Each step emits one ``BookDelta`` (size changes near the touch, or the shift of the whole ladder
when mid moves) and sometimes a ``Trade`` at the touch followed by the delta it causes. Sequence
numbers are consecutive (``prev_seq = -1``). Everything comes from one ``random.Random(seed)``,
so the same arguments always give the same events.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator

import msgspec

from mmcore.events import BUY, SELL, BookDelta, BookSnapshot, Event, Trade

__all__ = ["MarketSpec", "generate_market"]


class MarketSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Shape of a generated market.

    inst: symbol of the events. start_mid: starting mid in ticks (bid = mid - 1 tick... the
    touch is ``start_mid - 1`` and ``start_mid + 1``). levels: price levels per side.
    step_ns: average time between messages. move_prob: chance a message moves mid by one tick.
    trade_prob: chance a message is a trade at the touch. max_size: largest level size in lots.
    latency_ns: receive time minus exchange time.
    """

    inst: str = "BTC-USD"
    start_mid: int = 600_000
    levels: int = 20
    step_ns: int = 2_000_000
    move_prob: float = 0.15
    trade_prob: float = 0.08
    max_size: int = 50
    latency_ns: int = 1_000_000
    start_ns: int = 1_700_000_000_000_000_000


def generate_market(spec: MarketSpec, count: int, seed: int) -> Iterator[Event]:
    """Yield ``count`` market events (one snapshot first) from the seeded random walk."""
    rng = random.Random(seed)
    rand = rng.random
    getrandbits = rng.getrandbits
    log = math.log

    # The loop below runs per event, so the draws are inlined, each giving exactly what the
    # ``random`` call named in its comment gives (the same generator state consumed too).
    def size_upto(top: int) -> int:
        """``rng.randint(1, top)`` for ``top >= 1``: CPython's rejection sampling on
        ``getrandbits``, without randint's argument checks."""
        k = top.bit_length()
        r = getrandbits(k)
        while r >= top:
            r = getrandbits(k)
        return 1 + r

    inst = spec.inst
    n = spec.levels
    mid = spec.start_mid
    max_size = spec.max_size
    step_ns = spec.step_ns
    trade_prob = spec.trade_prob
    move_below = spec.trade_prob + spec.move_prob
    bids = {mid - 1 - i: size_upto(max_size) for i in range(n)}
    asks = {mid + 1 + i: size_upto(max_size) for i in range(n)}
    ts = spec.start_ns
    lat = spec.latency_ns
    seq = 1
    yield BookSnapshot(
        inst,
        ts,
        ts + lat,
        seq,
        _flat(sorted(bids.items(), reverse=True)),
        _flat(sorted(asks.items())),
    )
    emitted = 1
    trade_id = 0
    while emitted < count:
        ts += 1 + int(-log(1.0 - rand()) * step_ns)  # rng.expovariate(1.0) * step_ns
        u = rand()
        if u < trade_prob:
            side = BUY if rand() < 0.5 else SELL
            book = asks if side == BUY else bids
            price = mid + 1 if side == BUY else mid - 1
            have = book[price]
            size = size_upto(have if have > 1 else 1)
            trade_id += 1
            yield Trade(inst, ts, ts + lat, price, size, side, str(trade_id))
            emitted += 1
            if emitted >= count:
                break
            left = have - size
            book[price] = left if left > 0 else size_upto(max_size)
            change = (price, book[price])
            seq += 1
            if side == BUY:
                yield BookDelta(inst, ts, ts + lat, seq, -1, (), change)
            else:
                yield BookDelta(inst, ts, ts + lat, seq, -1, change, ())
        elif u < move_below:
            step = 1 if rand() < 0.5 else -1
            mid += step
            seq += 1
            yield _shift(inst, ts, ts + lat, seq, mid, step, n, bids, asks, size_upto, max_size)
        else:
            side_book = bids if rand() < 0.5 else asks
            depth = int(-log(1.0 - rand()) / 0.5)  # int(rng.expovariate(0.5))
            if depth > n - 1:
                depth = n - 1
            price = (mid - 1 - depth) if side_book is bids else (mid + 1 + depth)
            size = size_upto(max_size)
            side_book[price] = size
            seq += 1
            if side_book is bids:
                yield BookDelta(inst, ts, ts + lat, seq, -1, (price, size), ())
            else:
                yield BookDelta(inst, ts, ts + lat, seq, -1, (), (price, size))
        emitted += 1


def _shift(
    inst: str,
    ts: int,
    ts_recv: int,
    seq: int,
    mid: int,
    step: int,
    n: int,
    bids: dict[int, int],
    asks: dict[int, int],
    size_upto: Callable[[int], int],
    max_size: int,
) -> BookDelta:
    """Move the ladder one tick: one level leaves/joins each side."""
    if step > 0:
        # the best ask is consumed and becomes the new best bid's neighbour
        gone_ask = mid
        del asks[gone_ask]
        new_ask = mid + n
        asks[new_ask] = size_upto(max_size)
        new_bid = mid - 1
        bids[new_bid] = size_upto(max_size)
        gone_bid = mid - 1 - n
        del bids[gone_bid]
        return BookDelta(
            inst, ts, ts_recv, seq, -1,
            (new_bid, bids[new_bid], gone_bid, 0),
            (gone_ask, 0, new_ask, asks[new_ask]),
        )
    gone_bid = mid
    del bids[gone_bid]
    new_bid = mid - n
    bids[new_bid] = size_upto(max_size)
    new_ask = mid + 1
    asks[new_ask] = size_upto(max_size)
    gone_ask = mid + 1 + n
    del asks[gone_ask]
    return BookDelta(
        inst, ts, ts_recv, seq, -1,
        (gone_bid, 0, new_bid, bids[new_bid]),
        (new_ask, asks[new_ask], gone_ask, 0),
    )


def _flat(pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(x for pair in pairs for x in pair)
