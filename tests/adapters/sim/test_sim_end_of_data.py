"""The end of a backtest: once the market data is over, the simulated venue takes no new command.

Without that rule a driver that answers the venue's responses with new commands (the engine
re-sending an IOC whose remainder the venue canceled, refreshing an order the venue just
canceled, ...) keeps the source yielding forever after the data ended.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.sim import SimConfig, SimSource, SimVenue
from mmcore.commands import IOC, Cancel, Command, Place
from mmcore.config import AppConfig, config_to_dict
from mmcore.events import (
    BUY,
    SELL,
    BookDelta,
    BookSnapshot,
    Event,
    Fill,
    OrderAccepted,
    OrderCanceled,
    Trade,
)
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter
from mmcore.own_orders import simulated
from mmcore.runner import Runner
from replay.session import build_engine, load_session, resolve_instruments
from tests.example_spec import BTC_USD

INST = "BTC-PERP"
MS = 1_000_000
T0 = 50_000 * MS
CAP = 5_000  # far more events than any of these runs may yield
ROOT = Path(__file__).resolve().parents[3]


def make_venue(seed: int = 1, **config: object) -> SimVenue:
    inst = Instrument(venue="sim", symbol=INST, tick_size="0.1", lot_size="0.001")
    settings: dict[str, object] = {"funding_interval_s": 0}
    settings.update(config)
    return SimVenue({INST: inst}, SimConfig(**settings), random.Random(seed))  # type: ignore[arg-type]


def market() -> list[Event]:
    return [
        BookSnapshot(INST, T0, T0, 1, (100, 5), (102, 5)),
        Trade(INST, T0 + 50 * MS, T0 + 50 * MS, 102, 1, BUY),
        BookDelta(INST, T0 + 100 * MS, T0 + 100 * MS, 2, -1, (100, 6), ()),
    ]


def ioc(n: int) -> Place:
    """A sell IOC far above the book: accepted, then its whole size canceled (``ioc_remainder``)."""
    return Place(INST, 0, f"x{n}", SELL, 200, 1, False, False, IOC)


class Stubborn:
    """A driver that answers every answer of the venue with a new IOC, and the last market event
    with one too: like the engine re-sending an exit the venue keeps canceling."""

    def __init__(self, last_market: Event) -> None:
        self.last_market = last_market
        self.sent: list[Command] = []

    def __call__(self, ev: Event) -> list[Command]:
        if ev is self.last_market or type(ev) in (OrderAccepted, OrderCanceled):
            cmd = ioc(len(self.sent))
            self.sent.append(cmd)
            return [cmd]
        return []


def drive(events: Iterable[Event], venue: SimVenue, stubborn: Stubborn) -> list[Event]:
    out: list[Event] = []
    for ev in itertools.islice(events, CAP):
        out.append(ev)
        for cmd in stubborn(ev):
            venue.submit(cmd, ev.ts_recv)
    return out


# ---------------------------------------------------------------- the source and the venue


@pytest.mark.parametrize("entry_ms,response_ms", [(0.0, 0.0), (5.0, 5.0), (1.0, 300.0)])
def test_answering_every_response_after_the_data_ends_still_ends_the_iteration(
    entry_ms: float, response_ms: float
) -> None:
    venue = make_venue(entry_latency_ms=entry_ms, response_latency_ms=response_ms)
    data = market()
    stubborn = Stubborn(data[-1])
    out = drive(SimSource(data, venue, 0), venue, stubborn)
    assert len(out) < CAP
    stats = venue.statistics()
    # the IOC sent on the last market event is delivered and answered; its answers' IOCs are not
    assert [type(e).__name__ for e in out[-2:]] == ["OrderAccepted", "OrderCanceled"]
    assert [e.client_id for e in out[-2:] if isinstance(e, (OrderAccepted, OrderCanceled))] == [
        "x0",
        "x0",
    ]
    assert stats.orders == 1 and stats.accepted == 1 and stats.ioc_remainders == 1
    assert stats.after_end == 2  # one per answer, dropped
    assert stats.commands == 1  # dropped commands are counted in after_end only
    assert venue.ended


def test_commands_sent_before_the_last_market_event_is_handled_are_all_answered() -> None:
    venue = make_venue(entry_latency_ms=5.0, response_latency_ms=500.0)  # answers come late
    data = market()
    out: list[Event] = []
    source = SimSource(data, venue, 0)
    for ev in source:
        out.append(ev)
        if type(ev) in (BookSnapshot, Trade, BookDelta):  # one order per market event
            venue.submit(Place(INST, 0, f"b{len(out)}", BUY, 99, 1), ev.ts_recv)
        elif type(ev) is OrderAccepted and ev.client_id == "b1":
            venue.submit(Cancel(INST, 0, "b1"), ev.ts_recv)  # after the data ended: dropped
    acked = [e.client_id for e in out if type(e) is OrderAccepted]
    assert acked == ["b1", "b2", "b3"]  # b3: sent while handling the last market event
    assert not any(type(e) is OrderCanceled for e in out)
    stats = venue.statistics()
    assert (stats.orders, stats.cancels, stats.after_end) == (3, 0, 1)
    assert venue.resting(INST).keys() == {"b1", "b2", "b3"}


def test_the_venue_ends_only_after_the_driver_has_handled_the_last_market_event() -> None:
    venue = make_venue()
    data = market()
    source = SimSource(data, venue, 0)
    seen = [next(source) for _ in data]
    assert seen == data
    assert not venue.ended  # the driver is still handling the last event: it may still send
    venue.submit(Place(INST, 0, "late", BUY, 99, 1), data[-1].ts_recv)
    rest = list(source)
    assert venue.ended
    assert [type(e).__name__ for e in rest] == ["OrderAccepted"]
    assert venue.statistics().after_end == 0


def test_without_market_data_the_venue_is_ended_at_once() -> None:
    venue = make_venue()
    assert list(SimSource([], venue, 100)) == []
    assert venue.ended
    venue.submit(Place(INST, 0, "b1", BUY, 99, 1), T0)
    assert venue.statistics().after_end == 1
    assert venue.statistics().commands == 0


def test_a_venue_nobody_ends_takes_every_command() -> None:
    venue = make_venue()  # the paper-trading runner feeds the venue itself and never ends it
    venue.on_market(market()[0])
    venue.submit(Place(INST, 0, "b1", BUY, 99, 1), T0)
    assert not venue.ended
    assert venue.statistics().after_end == 0
    assert venue.statistics().orders == 1


# ---------------------------------------------------------------- a whole backtest

BTC = "BTC-USD"


def stuck_exit_config() -> AppConfig:
    """symmetric_uptime with the inventory guard: long 2 lots, it ends with an aggressive exit
    (a reduce-only IOC) that the venue cancels again and again (it took the only bid level)."""
    config = load_session(ROOT / "configs" / "strategy-symmetric_uptime.toml")
    params = {
        **config.strategy.params,
        "order_notional_usd": 0.0,
        "size_lots": 2,
        "half_spread_bps": 0.1,
        "reference": "mid",
        "touch_guard_bps": 0.0,
        "inventory": {"soft_timeout_s": 0.5, "hard_timeout_s": 1.0, "maker_exit_s": 0.2},
    }
    return msgspec.structs.replace(
        config,
        strategy=msgspec.structs.replace(config.strategy, params=params),
        session=msgspec.structs.replace(config.session, timer_interval_ms=0),
        risk=msgspec.structs.replace(config.risk, price_band_bps=0.0, max_loss_day_usd=0.0),
    )


def stuck_exit_market() -> list[Event]:
    t = 1_700_000_000_000 * MS
    return [
        BookSnapshot(BTC, t, t, 1, (999, 1), (1001, 5)),
        Trade(BTC, t + 100 * MS, t + 100 * MS, 990, 10, SELL),  # fills our bid: long 2
        BookDelta(BTC, t + 700 * MS, t + 700 * MS, 2, -1, (), (1002, 5)),  # soft timeout
        BookDelta(BTC, t + 1500 * MS, t + 1500 * MS, 3, -1, (), (1003, 5)),  # hard: maker exit
        BookDelta(BTC, t + 1800 * MS, t + 1800 * MS, 4, -1, (), (1004, 5)),  # IOC exit
    ]


def run_capped(config: AppConfig, data: list[Event], out: Path | None = None) -> tuple[Any, ...]:
    instruments = simulated(resolve_instruments(config, {"BTC-USD": BTC_USD}))  # as data gives it
    venue = SimVenue(
        instruments, msgspec.convert(config.sim, SimConfig), random.Random(config.session.seed)
    )
    engine = build_engine(config, instruments)
    events: Iterator[Event] = itertools.islice(SimSource(data, venue, 0), CAP)
    if out is None:
        stats = Runner(engine, venue).run_sync(events)
    else:
        header = LogHeader(
            format_version=FORMAT_VERSION,
            code_version="test",
            instruments=list(instruments.values()),
            config=config_to_dict(config),
            created_ns=0,
            meta={},
        )
        with LogWriter(out, header) as writer:
            stats = Runner(engine, venue, writer).run_sync(events)
    return stats, venue.statistics(), engine


def test_a_backtest_whose_engine_resends_a_canceled_exit_forever_ends() -> None:
    stats, sim, engine = run_capped(stuck_exit_config(), stuck_exit_market())
    assert stats.events < 50  # 16: the data, the answers, nothing after the last answer
    assert sim.after_end >= 1  # the exit re-sent on the last ioc_remainder: dropped
    assert sim.ioc_remainders == 1 and sim.taker_fills == 1
    assert engine.ledger.position(BTC) == 1  # the venue's only bid lot was taken once


def test_the_same_backtest_twice_gives_identical_logs_after_the_data_ends(
    tmp_path: Path,
) -> None:
    a, b = tmp_path / "a.mmlog", tmp_path / "b.mmlog"
    first = run_capped(stuck_exit_config(), stuck_exit_market(), a)
    second = run_capped(stuck_exit_config(), stuck_exit_market(), b)
    assert first[0] == second[0] and first[1] == second[1]
    assert first[0].events < CAP
    assert a.read_bytes() == b.read_bytes()


def test_fills_after_the_data_ended_still_reach_the_engine() -> None:
    """A fill of an order sent while handling the last market event is delivered: only the
    commands sent after that are dropped."""
    venue = make_venue(entry_latency_ms=5.0, response_latency_ms=5.0)
    data = market()
    out: list[Event] = []
    for ev in SimSource(data, venue, 0):
        out.append(ev)
        if ev is data[-1]:  # a buy crossing the ask 102: a taker fill at once
            venue.submit(Place(INST, 0, "t1", BUY, 102, 1, False, False, IOC), ev.ts_recv)
    fills = [e for e in out if type(e) is Fill]
    assert [(f.client_id, f.price, f.size) for f in fills] == [("t1", 102, 1)]
