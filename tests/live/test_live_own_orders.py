"""Our own quotes in the venue's public book, end to end: live runner, real adapter and x10 SDK,
and the Extended emulator publishing resting orders in its book as the real venue does.

The market is still, 40 ticks wide, and our quotes sit inside it, so they ARE the public touch.
With the engine taking our orders out of its book, the strategy prices off the others' touch and,
once skewed by a fill, its quotes stay put. Without it (the control), the engine's touch is its
own quotes: the strategy would price off itself, and each re-quote chase the last one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest

from adapters.emulator.random_walk import RandomWalkParams
from adapters.extended import ExtendedAdapter, ExtendedConfig
from adapters.extended.emulator import serve
from mmcore.cli.run_cmd import venue_table
from mmcore.config import parse_config
from mmcore.events import BUY, SELL, Trade
from mmcore.instrument import Instrument
from mmcore.live import LiveRunner
from replay.session import build_engine
from replay.verify import verify_log

SYM = "BTC-USD"
FEED_BID, FEED_ASK = 59_980, 60_020


class Seen(msgspec.Struct):
    public_touch: tuple[int, int]
    engine_touches: list[tuple[int, int]]  # the engine's best bid and ask, every 20 ms
    quotes_skewed: tuple[int, int]
    quotes_later: tuple[int, int]
    log_path: str


async def _session(
    log_path: Path,
    correct: bool,
    session_toml: Callable[..., str],
    wait_until: Callable[..., Awaitable[None]],
    instrument: Instrument,
) -> Seen:
    walk = RandomWalkParams(mid_ticks=60_000, spread_ticks=40, move_prob=0.0, trade_prob=0.0)
    h = await serve(seed=5, instruments=[instrument], walk=walk, tick_s=0.02)
    try:
        config = parse_config(session_toml(h.base_url))
        venue = venue_table(config, "test", ExtendedConfig)
        adapter = ExtendedAdapter(venue, time.time_ns, h.credentials[0].env(venue))
        if not correct:  # the control: an engine told the venue's book never holds our orders
            start = adapter.start

            async def start_without_flag(symbols: list[str]) -> list[Instrument]:
                return [
                    msgspec.structs.replace(i, own_orders_in_book=False)
                    for i in await start(symbols)
                ]

            adapter.start = start_without_flag  # type: ignore[method-assign]
        runner = LiveRunner(
            adapter, config, build_engine, log_path, clock=time.time_ns,
            handle_signals=False, shutdown_timeout_s=5.0,
        )
        task = asyncio.create_task(runner.run())
        account = h.account()

        def quotes() -> tuple[int, int]:
            orders = account.open_orders(SYM)
            bid = max((o.price for o in orders if o.side == BUY), default=0)
            ask = min((o.price for o in orders if o.side == SELL), default=0)
            return bid, ask

        await wait_until(lambda: task.done() or all(quotes()), "two-sided quotes")
        assert runner.engine is not None
        ledger = runner.engine.ledger
        for _ in range(50):  # the control's quotes chase themselves: one may be in flight
            bid, _ = quotes()
            if bid:
                h.exchange.inject(Trade(SYM, 0, 0, bid - 3, 10_000, SELL))  # through our bid
            await asyncio.sleep(0.1)
            if task.done() or ledger.position(SYM) > 0:
                break
        await wait_until(lambda: task.done() or ledger.position(SYM) > 0, "the fill")
        await asyncio.sleep(0.5)
        skewed = quotes()
        book = runner.engine.books[SYM]
        touches = []
        for _ in range(75):  # 1.5 s: three re-quote intervals
            await asyncio.sleep(0.02)
            touches.append((book.best_bid, book.best_ask))
        later = quotes()
        public = h.exchange.public[SYM]
        seen = Seen(
            public_touch=(public.best_bid(), public.best_ask()),
            engine_touches=touches,
            quotes_skewed=skewed,
            quotes_later=later,
            log_path=str(log_path),
        )
        runner.request_stop("test over")
        await asyncio.wait_for(task, 15)
        return seen
    finally:
        await h.close()


@pytest.mark.parametrize("correct", [True, False], ids=["own-orders-out", "control"])
def test_the_strategy_prices_off_the_market_without_its_own_quotes(
    tmp_path: Path,
    correct: bool,
    session_toml: Callable[..., str],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    inst = Instrument(venue="extended", symbol=SYM, tick_size="1", lot_size="0.00001",
                      min_size="0.0001")
    seen = asyncio.run(_session(tmp_path / "own.mmlog", correct, session_toml, wait_until, inst))
    if correct:
        assert seen.public_touch == seen.quotes_later  # our quotes are the venue's touch
        # the engine sees the others' touch all along
        assert set(seen.engine_touches) == {(FEED_BID, FEED_ASK)}
        assert seen.quotes_later == seen.quotes_skewed  # and its quotes stay put
        assert FEED_BID < seen.quotes_later[0] < seen.quotes_later[1] < FEED_ASK
    else:  # the engine's touch is its own quotes: it would price off itself
        assert set(seen.engine_touches) - {(FEED_BID, FEED_ASK)}
    assert verify_log(seen.log_path).ok
