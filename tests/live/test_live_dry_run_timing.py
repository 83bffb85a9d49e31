"""A dry run drives the simulated venue in exchange time, as a backtest does: a public trade the
venue stamped before our order arrived is applied before it (and fills nothing), however late
the feed delivers it, and the dry run fills exactly as a backtest of its own market data."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec

from adapters.sim import SimConfig, SimVenue
from mmcore.commands import Command
from mmcore.config import AppConfig, parse_config
from mmcore.events import SELL, BookSnapshot, Event, Fill, Trade
from mmcore.instrument import Instrument
from mmcore.live import LiveResult, LiveRunner
from mmcore.log import open_log
from mmcore.paper import PaperVenue
from replay.backtest import run_backtest
from replay.session import build_engine
from replay.verify import verify_log

SYM = "BTC-USD"
T0 = 1_700_000_000_000_000_000
MS = 1_000_000
FEED = 50 * MS  # the feed's latency: every market event is received 50 ms after its ts

CONFIG = """
[session]
venue = "extended"
network = "local"
markets = ["BTC-USD"]
seed = 3
timer_interval_ms = 0
status_interval_s = 0

[strategy]
name = "simple"
[strategy.params]
spread_bps = 2.0
requote_bps = 0.5
size_lots = 100

[orders]
replace_threshold_bps = 0.1
max_order_age_s = 30.0
max_open_orders = 4

[risk]
max_position_usd = 100000.0
max_open_orders = 4
price_band_bps = 100

[sim]
entry_latency_ms = 1.0
response_latency_ms = 1.0
funding_interval_s = 0
"""


def make_config() -> AppConfig:
    return parse_config(CONFIG, "<test>")


def make_instrument() -> Instrument:
    return Instrument(
        venue="extended", symbol=SYM, tick_size="1", lot_size="0.00001", min_size="0.0001",
        maker_fee="0.0002", taker_fee="0.0005",
    )


def paper_factory(config: AppConfig) -> Callable[[Mapping[str, Instrument]], PaperVenue]:
    sim = msgspec.convert(config.sim, SimConfig)

    def make(instruments: Mapping[str, Instrument]) -> PaperVenue:
        return SimVenue(instruments, sim, random.Random(config.session.seed))

    return make


class ManualClock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        return self.t


class MarketFeed:
    """Public data only (a dry run): events are pushed with ``put`` (``attach``)."""

    venue = "extended"

    def __init__(self) -> None:
        self.put: Callable[[Event], None] | None = None
        self.executed: list[Command] = []

    def attach(self, put: Callable[[Event], None]) -> None:
        self.put = put

    async def start(self, symbols: list[str]) -> list[Instrument]:
        return [make_instrument()]

    async def reconcile(self) -> list[Event]:
        return []

    async def events(self) -> None:
        raise NotImplementedError

    async def execute(self, command: Command) -> None:
        self.executed.append(command)

    async def close(self) -> None:
        pass


async def _settle(clock: ManualClock, to: int) -> None:
    """Move the clock to ``to`` and give the paper pump (polling every 50 ms) time to run."""
    clock.t = to
    await asyncio.sleep(0.15)


async def dry_session(path: Path) -> tuple[LiveRunner, LiveResult]:
    config = make_config()
    clock = ManualClock()
    feed = MarketFeed()
    runner = LiveRunner(
        feed, config, build_engine, path, clock=clock, handle_signals=False,  # type: ignore[arg-type]
        timer_interval_ms=0, paper=paper_factory(config), shutdown_timeout_s=5.0,
    )
    task = asyncio.create_task(runner.run())
    for _ in range(500):
        if runner.runner is not None and runner._open:
            break
        await asyncio.sleep(0.01)
    put = feed.put
    assert put is not None
    # the book at exchange time T0+10ms, received at T0+60ms: the quotes leave at T0+60ms and
    # arrive at the venue at T0+61ms (entry latency 1 ms)
    ts = T0 + 10 * MS
    clock.t = ts + FEED
    put(BookSnapshot(SYM, ts, ts + FEED, 1, (59_990, 1_000), (60_010, 1_000)))
    bids = [o for o in runner.engine.ledger.orders.values() if o.side == 1]  # type: ignore[union-attr]
    assert [o.price for o in bids] == [59_994]
    await _settle(clock, ts + FEED + 3 * MS)  # past the arrival on the local clock
    # a sell far through our bid at T0+30ms (before the quotes arrived), received at T0+80ms
    tts = T0 + 30 * MS
    clock.t = tts + FEED
    put(Trade(SYM, tts, tts + FEED, 59_000, 100_000, SELL, "early"))
    await _settle(clock, tts + FEED + 5 * MS)
    # another one at T0+70ms (after they arrived), received at T0+120ms: this one fills the bid
    tts = T0 + 70 * MS
    clock.t = tts + FEED
    put(Trade(SYM, tts, tts + FEED, 59_000, 100_000, SELL, "late"))
    await _settle(clock, tts + FEED + 5 * MS)
    runner.request_stop("test over")
    while not task.done():  # the stop's CancelAll reaches the venue as the clock moves on
        clock.t += 10 * MS
        await asyncio.sleep(0.01)
    result = await task
    assert feed.executed == []  # nothing was sent to the venue
    return runner, result


def test_a_trade_stamped_before_the_order_arrived_does_not_fill_it_however_late_it_comes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dry.mmlog"
    _, result = asyncio.run(dry_session(path))
    fills = [r for r in open_log(path, repair=False) if type(r) is Fill]
    assert [(f.side, f.price, f.ts) for f in fills] == [(1, 59_994, T0 + 70 * MS)]
    assert result.open_orders == [] and result.dry_run
    verdict = verify_log(path)
    assert verdict.ok, verdict.divergence.describe() if verdict.divergence else verdict


def test_a_dry_run_fills_as_a_backtest_of_its_own_market_data_does(tmp_path: Path) -> None:
    path = tmp_path / "dry.mmlog"
    asyncio.run(dry_session(path))
    backtest = tmp_path / "bt.mmlog"
    run_backtest(make_config(), [path], backtest, progress=None)

    def fills(p: Path) -> list[tuple[int, int, int, int]]:
        return [(f.side, f.price, f.size, f.ts) for f in open_log(p, repair=False)
                if type(f) is Fill]

    assert fills(path) == fills(backtest) != []


def test_a_funding_rate_stamped_with_its_period_does_not_set_the_venues_clock_back(
    tmp_path: Path,
) -> None:
    """A funding event's ts is the time its rate applies from (up to an hour away): were it
    taken for the venue's clock, our quotes would not arrive until the next book event."""
    from mmcore.events import FundingRate

    async def main() -> dict[str, tuple[int, int, int, int]]:
        config = make_config()
        clock = ManualClock()
        feed = MarketFeed()
        runner = LiveRunner(
            feed, config, build_engine, tmp_path / "dry.mmlog", clock=clock,  # type: ignore[arg-type]
            handle_signals=False, timer_interval_ms=0, paper=paper_factory(config),
            shutdown_timeout_s=5.0,
        )
        task = asyncio.create_task(runner.run())
        for _ in range(500):
            if runner.runner is not None and runner._open:
                break
            await asyncio.sleep(0.01)
        assert feed.put is not None
        ts = T0 + 10 * MS
        clock.t = ts + FEED
        feed.put(BookSnapshot(SYM, ts, ts + FEED, 1, (59_990, 1_000), (60_010, 1_000)))
        feed.put(FundingRate(SYM, T0 - 3_600_000 * MS, ts + FEED, 100))
        # the quotes, sent at ts + FEED, arrive 1 ms later in exchange time, which the venue's
        # clock (the book's ts plus the local time since) reaches one feed latency later
        await _settle(clock, ts + 2 * FEED + 3 * MS)
        assert runner._paper is not None
        resting = runner._paper.venue.resting(SYM)  # type: ignore[attr-defined]
        runner.request_stop("test over")
        while not task.done():
            clock.t += 10 * MS
            await asyncio.sleep(0.01)
        await task
        return resting  # type: ignore[no-any-return]

    resting = asyncio.run(main())
    assert sorted((side, price) for side, price, _, _ in resting.values()) == [
        (-1, 60_006), (1, 59_994)
    ]
