"""Every strategy pulls its quotes when its market's book stream goes down, and quotes again once
the fresh snapshot arrives: quotes never stand on a book the engine no longer sees."""

from __future__ import annotations

import random

import pytest

from mmcore.commands import Cancel, Place
from mmcore.engine import Engine
from mmcore.events import BookSnapshot, ConnectionState, Event, Timer, book_stream
from mmcore.instrument import Instrument
from mmcore.orders import OrderManagerConfig, QuoteOrderManager
from mmcore.risk import RiskConfig, RiskGate
from strategies.registry import STRATEGIES, build_strategy

SYM = "BTC-USD"
OTHER = "ETH-USD"
T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def make_engine(name: str) -> Engine:
    insts = {
        sym: Instrument(venue="sim", symbol=sym, tick_size="0.1", lot_size="0.001")
        for sym in (SYM, OTHER)
    }
    strategies = {
        sym: build_strategy(name, {}, insts[sym], random.Random(1)) for sym in (SYM, OTHER)
    }
    return Engine(
        insts,
        strategies,
        QuoteOrderManager(OrderManagerConfig(), insts),
        RiskGate(RiskConfig(max_position_lots=10_000), insts),
    )


def snapshot(sym: str, seq: int, t: int) -> BookSnapshot:
    mid = 600_000 + (seq % 7)  # a little movement for the volatility estimators
    return BookSnapshot(sym, t, t, seq, (mid - 5, 40, mid - 6, 80), (mid + 5, 40, mid + 6, 80))


def warm_up(engine: Engine) -> int:
    """Books and timers until both markets quote; returns the time reached."""
    t = T0
    for seq in range(1, 3_000):
        t = T0 + seq * 100 * MS
        for ev in (snapshot(SYM, seq, t), snapshot(OTHER, seq, t), Timer(t, t)):
            engine.on_event(ev)
        if engine.ledger.open_orders(SYM) and engine.ledger.open_orders(OTHER):
            return t
    raise AssertionError("the strategy never quoted")


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_book_stream_down_pulls_that_markets_quotes_until_a_fresh_snapshot(name: str) -> None:
    engine = make_engine(name)
    t = warm_up(engine) + MS
    live = set(engine.ledger.open_orders(SYM))
    other = set(engine.ledger.open_orders(OTHER))
    down: Event = ConnectionState(t, t, book_stream(SYM), "down", "socket closed")
    out = engine.on_event(down)
    assert engine.books[SYM].stale and not engine.books[OTHER].stale
    assert {o.client_id for o in out if isinstance(o, Cancel)} == live
    assert not any(isinstance(o, Place) for o in out)
    assert set(engine.ledger.open_orders(OTHER)) == other  # the other market keeps quoting
    # deltas and timers while stale place nothing
    t += 100 * MS
    assert not any(isinstance(o, Place) for o in engine.on_event(Timer(t, t)))
    # the adapter's fresh snapshot: quoting resumes
    t += 100 * MS
    resumed = engine.on_event(snapshot(SYM, 10_000, t))
    for _ in range(50):  # strategies that requote on their timer get it here
        if any(isinstance(o, Place) and o.inst == SYM for o in resumed):
            break
        t += 100 * MS
        resumed = engine.on_event(Timer(t, t))
    assert any(isinstance(o, Place) and o.inst == SYM for o in resumed)


def test_a_stream_that_is_not_a_book_going_down_pulls_nothing() -> None:
    engine = make_engine("avellaneda_stoikov")
    t = warm_up(engine) + MS
    out = engine.on_event(ConnectionState(t, t, "account", "down", "socket closed"))
    assert not engine.books[SYM].stale
    assert not any(isinstance(o, Cancel) for o in out)
