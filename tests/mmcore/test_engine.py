"""The engine: book → ledger → risk → strategy → order manager → risk, for every event."""

from __future__ import annotations

import random
from collections.abc import Iterator

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmcore.commands import Cancel, CancelAll, Output, Place, Resync
from mmcore.engine import Engine
from mmcore.events import (
    BUY,
    SELL,
    BookDelta,
    BookSnapshot,
    Event,
    Fill,
    OrderAccepted,
    OrderCanceled,
    RiskEvent,
    StrategyEvent,
    Timer,
    Trade,
)
from mmcore.instrument import Instrument
from mmcore.intents import Intent, QuoteTarget
from mmcore.order_state import PENDING_CANCEL
from mmcore.orders import OrderManagerConfig, QuoteOrderManager
from mmcore.ratelimit import RateLimitConfig
from mmcore.risk import RiskConfig, RiskGate
from mmcore.session_control import halt_event, resume_event, stop_event
from mmcore.view import View
from strategies.simple import SimpleParams, SimpleStrategy

SYM = "BTC-USD"
T0 = 1_700_000_000_000_000_000


def make_instrument() -> Instrument:
    return Instrument(venue="sim", symbol=SYM, tick_size="0.1", lot_size="0.001")


def make_engine(spread_bps: float = 2.0, max_position: int = 100) -> Engine:
    inst = make_instrument()
    insts = {SYM: inst}
    strategy = SimpleStrategy(inst, SimpleParams(spread_bps=spread_bps, requote_bps=1.0,
                                                 size_lots=5), random.Random(1))
    return Engine(
        insts,
        {SYM: strategy},
        QuoteOrderManager(OrderManagerConfig(), insts),
        RiskGate(RiskConfig(max_position_lots=max_position), insts),
    )


def make_snapshot(seq: int = 1, bid: int = 599_990, ask: int = 600_010, t: int = 0) -> BookSnapshot:
    return BookSnapshot(SYM, T0 + t, T0 + t, seq, (bid, 10, bid - 1, 20), (ask, 10, ask + 1, 20))


def make_delta(seq: int, bids: tuple[int, ...] = (), asks: tuple[int, ...] = (),
               t: int = 0) -> BookDelta:
    return BookDelta(SYM, T0 + t, T0 + t, seq, -1, bids, asks)


MOVE_ASKS_UP = (600_010, 0, 600_011, 0, 600_120, 5)
"""Asks of ``make_snapshot`` lifted to 600_120, so a bid at 600_100 leaves the book uncrossed."""


def places(outputs: list[object]) -> list[Place]:
    return [o for o in outputs if isinstance(o, Place)]


def test_a_snapshot_makes_the_first_two_sided_quotes() -> None:
    engine = make_engine()
    out = places(engine.on_event(make_snapshot()))
    assert sorted(p.side for p in out) == [SELL, BUY]
    bid = next(p for p in out if p.side == BUY)
    ask = next(p for p in out if p.side == SELL)
    assert bid.price < 600_000 < ask.price
    assert bid.size == ask.size == 5
    assert set(engine.ledger.open_orders(SYM)) == {bid.client_id, ask.client_id}


def test_small_moves_do_not_requote_and_large_ones_do() -> None:
    engine = make_engine()
    engine.on_event(make_snapshot())
    assert engine.on_event(make_delta(2, bids=(599_991, 3))) == []
    out = engine.on_event(make_delta(3, bids=(600_100, 5), asks=MOVE_ASKS_UP))
    assert any(isinstance(o, Cancel) for o in out)
    assert places(out)


def test_a_sequence_gap_asks_once_for_a_resync_and_pulls_quotes() -> None:
    engine = make_engine()
    engine.on_event(make_snapshot())
    out = engine.on_event(make_delta(5, bids=(599_991, 3)))
    resyncs = [o for o in out if isinstance(o, Resync)]
    assert len(resyncs) == 1 and resyncs[0].reason == "sequence_gap"
    assert engine.books[SYM].stale
    later = engine.on_event(make_delta(6, bids=(599_992, 3)))
    assert not any(isinstance(o, Resync) for o in later)
    # the strategy pulled its quotes: every live order is being canceled
    cancels = {o.client_id for o in out + later if isinstance(o, Cancel)}
    assert cancels == set(engine.ledger.open_orders(SYM))
    # a fresh snapshot clears the stale book and quoting resumes
    assert places(engine.on_event(make_snapshot(seq=10)))


def test_a_malformed_delta_is_reported_and_does_not_stop_the_engine() -> None:
    engine = make_engine()
    engine.on_event(make_snapshot())
    out = engine.on_event(make_delta(2, bids=(599_991,)))  # odd-length level tuple
    assert any(isinstance(o, RiskEvent) and o.code == "malformed_book_event" for o in out)
    assert any(isinstance(o, Resync) for o in out)
    assert places(engine.on_event(make_snapshot(seq=3)))


def test_events_for_an_unknown_market_are_dropped_and_counted() -> None:
    engine = make_engine()
    assert engine.on_event(Trade("ETH-USD", T0, T0, 1, 1, BUY)) == []
    assert engine.statistics().unknown_market == 1


def test_a_fill_moves_the_position_and_the_order_is_replaced() -> None:
    engine = make_engine()
    out = places(engine.on_event(make_snapshot()))
    bid = next(p for p in out if p.side == BUY)
    engine.on_event(OrderAccepted(SYM, T0 + 1, T0 + 1, bid.client_id, "1"))
    after = engine.on_event(Fill(SYM, T0 + 2, T0 + 2, bid.client_id, BUY, bid.price, bid.size,
                                 -10, True))
    assert engine.ledger.position(SYM) == 5
    new_bids = [p for p in places(after) if p.side == BUY]
    assert len(new_bids) == 1 and new_bids[0].client_id != bid.client_id


def test_a_fills_spread_is_measured_against_the_mid_before_its_venue_time() -> None:
    engine = make_engine()
    bid = next(p for p in places(engine.on_event(make_snapshot())) if p.side == BUY)  # mid 600k
    engine.on_event(OrderAccepted(SYM, T0 + 1, T0 + 1, bid.client_id, "1"))
    traded = T0 + 10_000_000
    # the trade takes the market's bids: its depth update, stamped with the trade's venue time,
    # comes before our fill's report (5 ms later); so does a later one
    engine.on_event(BookDelta(SYM, traded, traded + 1_000_000, 2, -1,
                              (599_990, 0, 599_989, 0, 599_900, 5), ()))
    engine.on_event(BookDelta(SYM, traded + 1, traded + 2_000_000, 3, -1, (),
                              (600_010, 0, 600_011, 0, 600_000, 5)))
    engine.on_event(Fill(SYM, traded, traded + 5_000_000, bid.client_id, BUY, bid.price,
                         bid.size, 0, True))
    assert engine.books[SYM].mid_x2() == 599_900 + 600_000
    unit = make_instrument().nanos_per_tick_lot
    parts = engine.ledger.pnl.parts(SYM, engine.books[SYM].mid_x2())
    assert parts.spread == bid.size * (600_000 - bid.price) * unit  # (was against 599,950)
    assert parts.inventory == bid.size * -50 * unit  # the market's fall after the trade


def test_an_illegal_order_event_becomes_a_risk_event_not_a_crash() -> None:
    engine = make_engine()
    out = places(engine.on_event(make_snapshot()))
    cid = out[0].client_id
    engine.on_event(OrderCanceled(SYM, T0 + 1, T0 + 1, cid))
    # the order is gone; a late ack for it is ignored and counted, never a crash
    engine.on_event(OrderAccepted(SYM, T0 + 2, T0 + 2, cid, "9"))
    assert engine.statistics().events == 3


def test_the_stop_event_cancels_everything_and_ends_quoting() -> None:
    engine = make_engine()
    engine.on_event(make_snapshot())
    out = engine.on_event(stop_event(T0 + 5))
    assert out == [CancelAll("", T0 + 5, "shutdown")]
    assert engine.ledger.orders
    assert all(o.status == PENDING_CANCEL for o in engine.ledger.orders.values())
    moved = engine.on_event(make_delta(2, bids=(600_100, 5), asks=MOVE_ASKS_UP))
    assert places(moved) == []


def test_the_operators_halt_pulls_the_quotes_until_the_operators_resume() -> None:
    engine = make_engine()
    engine.on_event(make_snapshot())
    for cid in list(engine.ledger.orders):
        engine.on_event(OrderAccepted(SYM, T0 + 1, T0 + 1, cid, cid))
    out = engine.on_event(halt_event(T0 + 5, "SIGUSR2"))
    assert [o.code for o in out if type(o) is RiskEvent] == ["operator_halt"]
    assert [o for o in out if type(o) is CancelAll] == [CancelAll("", T0 + 5, "operator_halt")]
    for cid in list(engine.ledger.orders):
        engine.on_event(OrderCanceled(SYM, T0 + 6, T0 + 6, cid))
    assert places(engine.on_event(Timer(T0 + 7, T0 + 7))) == []  # halted: nothing re-placed
    resumed = engine.on_event(resume_event(T0 + 8, "SIGUSR1"))
    assert [o.code for o in resumed if type(o) is RiskEvent] == ["resumed"]
    assert len(places(engine.on_event(Timer(T0 + 9, T0 + 9)))) == 2  # both quotes are back


def test_no_place_can_take_the_position_past_the_limit() -> None:
    engine = make_engine(max_position=7)
    out = places(engine.on_event(make_snapshot()))
    for p in out:
        assert p.size <= 7


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_events_always_give_the_same_outputs(seed: int) -> None:
    from replay.synthetic import MarketSpec, generate_market

    events: list[Event] = list(generate_market(MarketSpec(inst=SYM), 3000, seed))
    runs = []
    for _ in range(2):
        engine = make_engine(spread_bps=0.5)
        runs.append([o for ev in events for o in engine.on_event(ev)])
    assert runs[0] == runs[1]
    assert runs[0], f"seed {seed}: nothing was emitted"


def test_a_quote_clamped_by_the_position_limit_is_not_replaced_forever() -> None:
    """Risk clamps the bid; the order manager must keep it rather than re-place it on every ack."""
    engine = make_engine(max_position=7)
    engine.ledger.apply_fill(Fill(SYM, T0, T0, "old", BUY, 599_990, 4, 0, True), 0)
    out = places(engine.on_event(make_snapshot()))
    bid = next(p for p in out if p.side == BUY)
    assert bid.size == 3  # 4 held + 3 resting = the limit of 7
    ask = next(p for p in out if p.side == SELL)
    followups = []
    for i, p in enumerate((bid, ask)):
        followups += engine.on_event(OrderAccepted(SYM, T0 + 1 + i, T0 + 1 + i, p.client_id))
    for i in range(20):
        followups += engine.on_event(make_delta(2 + i, bids=(599_990, 10 + i), t=10 + i))
    assert not [o for o in followups if isinstance(o, (Place, Cancel))]


# ---------------------------------------------------------------- the delta fast path


class NotingStrategy:
    """Notes every step it takes and quotes around the mid whenever it moved (pulls when the book
    is stale), so that a step taken or skipped shows in the outputs."""

    def __init__(self, inst: str) -> None:
        self.inst = inst
        self.steps = 0
        self._mid_x2 = -1
        self._notes: list[Output] = []

    def step(self, view: View, event: Event) -> Intent | None:
        self.steps += 1
        now = view.now
        self._notes.append(StrategyEvent(now, now, self.inst, "step", type(event).__name__))
        book = view.books[self.inst]
        mid_x2 = 0 if book.stale else book.mid_x2()
        if mid_x2 == self._mid_x2:
            return None
        self._mid_x2 = mid_x2
        if not mid_x2:
            return QuoteTarget(self.inst)
        mid = mid_x2 // 2
        return QuoteTarget(self.inst, ((mid - 10, 5),), ((mid + 10, 5),))

    def notes(self) -> list[Output]:
        notes = self._notes
        self._notes = []
        return notes


def make_noting_engine(general_path: bool) -> Engine:
    """An engine quoting with ``NotingStrategy``; with ``general_path`` its risk gate watches
    deltas, so every delta takes ``Engine._on_delta`` instead of the flattened fast path."""
    inst = make_instrument()
    insts = {SYM: inst}
    risk = RiskGate(RiskConfig(max_position_lots=100), insts)
    if general_path:
        risk.watched = risk.watched | {BookDelta}  # on_event answers [] for a delta
    return Engine(insts, {SYM: NotingStrategy(SYM)},
                  QuoteOrderManager(OrderManagerConfig(), insts), risk)


_engine_step = st.tuples(
    st.sampled_from(
        ["delta"] * 6 + ["gap", "malformed", "snapshot", "timer", "stop", "ack", "fill", "cancel"]
    ),
    st.sampled_from([BUY, SELL]),
    st.integers(0, 9),
    st.integers(0, 6),
)


def engine_events(steps: list[tuple[str, int, int, int]], engine: Engine) -> Iterator[Event]:
    """The events of ``steps`` (kind, side, offset or order, size), one at a time: order events
    name a live order of ``engine``, read when the event is made."""
    seq = 1
    t = 0
    yield make_snapshot(seq)
    for kind, side, k, size in steps:
        t += 1_000_000
        if kind == "delta":
            seq += 1
            if side == BUY:
                yield make_delta(seq, bids=(599_990 - k % 4, size), t=t)
            else:
                yield make_delta(seq, asks=(600_010 + k % 4, size), t=t)
        elif kind == "gap":
            seq += 2
            yield make_delta(seq, bids=(599_980, 1), t=t)
        elif kind == "malformed":
            seq += 1
            yield make_delta(seq, bids=(599_980,), t=t)
        elif kind == "snapshot":
            seq += 1
            yield make_snapshot(seq, t=t)
        elif kind == "timer":
            yield Timer(T0 + t, T0 + t)
        elif kind == "stop":
            yield stop_event(T0 + t)
        else:
            live = list(engine.ledger.open_orders(SYM).values())
            if not live:
                continue
            o = live[k % len(live)]
            if kind == "ack":
                yield OrderAccepted(SYM, T0 + t, T0 + t, o.client_id, "v" + o.client_id)
            elif kind == "fill":
                yield Fill(SYM, T0 + t, T0 + t, o.client_id, o.side, o.price, 1, 0, True)
            else:
                yield OrderCanceled(SYM, T0 + t, T0 + t, o.client_id)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(_engine_step, max_size=40))
@example(steps=[("stop", BUY, 0, 0), ("delta", BUY, 0, 3)])  # stopped: no strategy steps
def test_the_delta_fast_path_gives_exactly_the_outputs_of_the_general_path(
    steps: list[tuple[str, int, int, int]],
) -> None:
    fast = make_noting_engine(general_path=False)
    general = make_noting_engine(general_path=True)
    for ev in engine_events(steps, fast):
        assert fast.on_event(ev) == general.on_event(ev), ev
    assert fast.statistics() == general.statistics()
    stepped, stepped_too = fast.strategies[SYM], general.strategies[SYM]
    assert isinstance(stepped, NotingStrategy) and isinstance(stepped_too, NotingStrategy)
    assert stepped.steps == stepped_too.steps


# ---------------------------------------------------------------- a strategy that raises


class _Fragile(SimpleStrategy):
    """The simple quoter, raising on the ``fail_on``-th event it is stepped with."""

    def __init__(self, inst: Instrument, fail_on: int) -> None:
        super().__init__(inst, SimpleParams(spread_bps=2.0, requote_bps=1.0, size_lots=5),
                         random.Random(1))
        self.fail_on = fail_on
        self.steps = 0

    def step(self, view: View, event: Event) -> Intent | None:
        self.steps += 1
        if self.steps == self.fail_on:
            raise ZeroDivisionError("a strategy bug")
        return super().step(view, event)


def two_market_engine(fail_on: int) -> tuple[Engine, _Fragile]:
    a, b = make_instrument(), msgspec.structs.replace(make_instrument(), symbol="ETH-USD")
    insts = {SYM: a, "ETH-USD": b}
    fragile = _Fragile(b, fail_on)
    strategies = {SYM: SimpleStrategy(a, SimpleParams(spread_bps=2.0, requote_bps=1.0,
                                                      size_lots=5), random.Random(1)),
                  "ETH-USD": fragile}
    engine = Engine(insts, strategies, QuoteOrderManager(OrderManagerConfig(), insts),
                    RiskGate(RiskConfig(max_position_lots=100), insts))
    return engine, fragile


def test_a_strategy_that_raises_stops_its_market_and_the_session_goes_on() -> None:
    engine, fragile = two_market_engine(fail_on=2)
    eth = msgspec.structs.replace(make_snapshot(), inst="ETH-USD")
    assert places(engine.on_event(eth))  # ETH quotes
    engine.on_event(make_snapshot())  # BTC quotes
    out = engine.on_event(msgspec.structs.replace(make_delta(2, bids=(600_100, 5),
                                                             asks=MOVE_ASKS_UP), inst="ETH-USD"))
    codes = [o.code for o in out if isinstance(o, RiskEvent)]
    assert codes == ["strategy_error"] and "ZeroDivisionError" in out[0].message  # type: ignore
    assert [o for o in out if isinstance(o, CancelAll)] == [
        CancelAll("ETH-USD", T0, "strategy_error")
    ]
    # never stepped again, on any path; BTC goes on quoting
    engine.on_event(msgspec.structs.replace(make_delta(3, bids=(600_101, 5)), inst="ETH-USD"))
    engine.on_event(Timer(T0 + 10**9, T0 + 10**9))
    assert fragile.steps == 2
    assert places(engine.on_event(make_delta(2, bids=(600_100, 5), asks=MOVE_ASKS_UP)))


class _QuoteOnTimer(SimpleStrategy):
    """Quotes a fixed bid and ask on every timer (the simple quoter waits for book events)."""

    def step(self, view: View, event: Event) -> Intent | None:
        if type(event) is Timer:
            return QuoteTarget(self.inst, bids=((599_000, 5),), asks=((601_000, 5),))
        return None


def test_what_other_strategies_made_for_the_event_a_strategy_raised_on_still_leaves() -> None:
    """A timer steps every strategy: BTC's quotes are admitted to the ledger before ETH's
    strategy raises; they must be returned (recorded, sent), not held in the ledger unsent."""
    engine, _ = two_market_engine(fail_on=1)
    engine.strategies[SYM] = _QuoteOnTimer(
        make_instrument(), SimpleParams(size_lots=5), random.Random(1)
    )
    engine.books[SYM].apply_snapshot(make_snapshot())
    out = engine.on_event(Timer(T0, T0))
    sent = {p.client_id for p in places(out)}
    assert len(sent) == 2 and sent == set(engine.ledger.open_orders(SYM))
    assert [o.code for o in out if isinstance(o, RiskEvent)] == ["strategy_error"]


def test_a_strategy_error_replays_to_the_same_outputs() -> None:
    def run() -> list[Output]:
        engine, _ = two_market_engine(fail_on=3)
        out: list[Output] = []
        for seq, bid in enumerate((600_100, 600_200, 600_300), start=2):
            for ev in (msgspec.structs.replace(make_snapshot(seq=seq - 1), inst="ETH-USD"),
                       msgspec.structs.replace(make_delta(seq, bids=(bid, 5),
                                                          asks=MOVE_ASKS_UP), inst="ETH-USD")):
                out.extend(engine.on_event(ev))
        return out

    first = run()
    assert any(isinstance(o, RiskEvent) and o.code == "strategy_error" for o in first)
    assert run() == first


def test_the_engines_own_cancel_alls_spend_the_rate_budget() -> None:
    """A strategy's failure and the stop send a CancelAll outside the risk gate's check; the
    venue counts those requests all the same, so the gate's budget must too."""
    a, b = make_instrument(), msgspec.structs.replace(make_instrument(), symbol="ETH-USD")
    insts = {SYM: a, "ETH-USD": b}
    fragile = _Fragile(b, fail_on=2)
    params = SimpleParams(spread_bps=2.0, requote_bps=1.0, size_lots=5)
    strategies = {SYM: SimpleStrategy(a, params, random.Random(1)), "ETH-USD": fragile}
    limits = RateLimitConfig(windows=[(1.0, 3)], reserve_for_cancels=0.0)
    risk = RiskGate(RiskConfig(max_position_lots=100, rate_limit=limits), insts)
    engine = Engine(insts, strategies, QuoteOrderManager(OrderManagerConfig(), insts), risk)
    eth = msgspec.structs.replace(make_snapshot(), inst="ETH-USD")
    assert len(places(engine.on_event(eth))) == 2  # two of the window's three requests
    out = engine.on_event(msgspec.structs.replace(make_delta(2, bids=(600_100, 5),
                                                             asks=MOVE_ASKS_UP), inst="ETH-USD"))
    assert [o for o in out if isinstance(o, CancelAll)]  # the third request
    assert risk.budget.statistics().cancels_granted == 1
    # within the same second the window is full: BTC's quotes wait for budget
    assert places(engine.on_event(make_snapshot())) == []
    stop = engine.on_event(stop_event(T0 + 5))
    assert stop == [CancelAll("", T0 + 5, "shutdown")]  # leaves anyway, and is counted
    assert risk.budget.statistics().cancels_refused == 1  # over budget, recorded
    assert risk.statistics().forced == 2 and risk.statistics().forced_over_budget == 1
