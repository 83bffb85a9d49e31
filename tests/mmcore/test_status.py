"""The operator's status lines: what they say about markets, PnL and halts."""

from __future__ import annotations

import random
import re

from mmcore.engine import Engine
from mmcore.events import (
    BUY,
    BookSnapshot,
    Fill,
    MarkPrice,
    OrderAccepted,
    Position,
    PriorDayPnl,
    Timer,
)
from mmcore.instrument import Instrument
from mmcore.orders import OrderManagerConfig, QuoteOrderManager
from mmcore.risk import RiskConfig, RiskGate
from mmcore.risk_limits import DAY_NS
from mmcore.session_control import halt_event
from mmcore.status import status_lines
from strategies.simple import SimpleParams, SimpleStrategy

SYM = "BTC-USD"
T0 = 1_700_000_000_000_000_000


def make_engine(**risk: float) -> Engine:
    inst = Instrument(venue="sim", symbol=SYM, tick_size="0.1", lot_size="0.001")
    insts = {SYM: inst}
    params = SimpleParams(spread_bps=2.0, requote_bps=1.0, size_lots=5)
    return Engine(
        insts,
        {SYM: SimpleStrategy(inst, params, random.Random(1))},
        QuoteOrderManager(OrderManagerConfig(), insts),
        RiskGate(RiskConfig(max_position_lots=100, **risk), insts),  # type: ignore[arg-type]
    )


def quoting_engine() -> Engine:
    engine = make_engine()
    engine.on_event(BookSnapshot(SYM, T0, T0, 1, (599_990, 10), (600_010, 10)))
    for cid in list(engine.ledger.orders):
        engine.on_event(OrderAccepted(SYM, T0 + 1, T0 + 1, cid, cid))
    return engine


def test_a_market_line_gives_mid_quotes_position_and_pnl_parts_that_add_up() -> None:
    engine = quoting_engine()
    bid = next(o for o in engine.ledger.orders.values() if o.side == BUY)
    engine.on_event(Fill(SYM, T0 + 2, T0 + 2, bid.client_id, BUY, bid.price, 2, 1_000_000, True))
    engine.on_event(MarkPrice(SYM, T0 + 3, T0 + 3, 600_100))
    market, session = status_lines(engine, in_flight=3)
    assert market.startswith(f"{SYM} mid 60000") and "position +0.002" in market
    assert f"quotes {bid.price / 10:.1f} /" in market
    m = re.search(
        r"pnl ([-+\d.]+) \(spread ([-+\d.]+), inventory ([-+\d.]+), fees ([-\d.]+), "
        r"funding ([-+\d.]+)\)", market
    )
    assert m is not None, market
    total, spread, inventory, fees, funding = (float(g) for g in m.groups())
    assert abs(total - (spread + inventory - fees + funding)) < 2e-6
    # bought 0.002 at ~59,988 and marked at 60,010: about +0.04, minus a 0.001 fee
    assert abs(total - ((600_100 - bid.price) * 0.1 * 0.002 - 0.001)) < 1e-9
    assert "fills 1" in session and "in flight 3" in session and "not halted" in session


def test_the_session_line_names_the_halt_reasons() -> None:
    engine = quoting_engine()
    engine.on_event(halt_event(T0 + 5, "SIGUSR2"))
    assert status_lines(engine)[-1].endswith("halted: operator_halt")


def test_a_position_that_cannot_be_valued_says_so_instead_of_guessing() -> None:
    engine = make_engine()  # no book, no mark
    engine.ledger.apply_fill(Fill(SYM, T0, T0, "ext", BUY, 600_000, 3, 0, True), 0)
    market, session = status_lines(engine)
    assert "pnl ? (no mark)" in market and "quotes - / -" in market and "mid ?" in market
    assert "session pnl ? " in session


def test_with_a_daily_loss_limit_the_session_line_gives_the_days_pnl_carried_included() -> None:
    engine = make_engine(max_loss_day_usd=50.0)
    engine.on_event(PriorDayPnl(T0, T0, T0 // DAY_NS, -12_500_000_000))
    engine.on_event(Timer(T0 + 1, T0 + 1))
    assert "| day pnl -12.500000 |" in status_lines(engine)[-1]
    assert "day pnl" not in status_lines(make_engine())[-1]  # no daily limit: not tracked


def test_a_stale_or_crossed_book_is_marked_beside_the_last_mid_it_gave() -> None:
    from mmcore.events import BookDelta

    engine = quoting_engine()
    assert status_lines(engine)[0].startswith(f"{SYM} mid 60000.0 |")
    engine.on_event(BookDelta(SYM, T0 + 5, T0 + 5, 3, 2, (), (600_020, 1)))  # seq 2 missed
    assert status_lines(engine)[0].startswith(f"{SYM} mid 60000.0 (book stale) |")
    engine.on_event(BookSnapshot(SYM, T0 + 6, T0 + 6, 10, (600_010, 10), (600_010, 10)))
    assert status_lines(engine)[0].startswith(f"{SYM} mid 60001.0 (book crossed) |")


def test_a_restarted_session_shows_only_the_pnl_it_made_itself() -> None:
    # it starts holding 7 lots an earlier session bought 1,000 ticks lower (the venue's entry
    # price): that gain was the earlier session's; this one sees the mark rise 10 ticks
    engine = make_engine(max_loss_day_usd=50.0)
    engine.on_event(Position(SYM, T0, T0, 7, entry_x2=2 * 599_000))
    engine.on_event(BookSnapshot(SYM, T0 + 1, T0 + 1, 1, (599_990, 10), (600_010, 10)))
    engine.on_event(MarkPrice(SYM, T0 + 2, T0 + 2, 600_000))
    engine.on_event(MarkPrice(SYM, T0 + 3, T0 + 3, 600_010))
    market, session = status_lines(engine)
    assert "position +0.007 | pnl +0.007000 (spread +0.000000, inventory +0.007000" in market
    # (was +0.707000); the risk gate's day PnL, by its own rule, says the same
    assert session.startswith("session pnl +0.007000 | day pnl +0.007000 |"), session
