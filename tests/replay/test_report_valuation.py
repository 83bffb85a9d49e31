"""What the report's fold (replay.timeline) marks PnL to: a position held before any book price,
and the book of a venue that publishes our own orders (the engine's "market without us")."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest

from mmcore.commands import Place
from mmcore.config import config_to_dict
from mmcore.engine import Engine
from mmcore.events import (
    BUY,
    SELL,
    BookDelta,
    BookSnapshot,
    ConnectionState,
    Event,
    Fill,
    MarkPrice,
    OrderAccepted,
    OrderCanceled,
    Position,
    Timer,
    book_stream,
)
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter, open_log
from mmcore.own_orders import HOLD_NS
from mmcore.pnl import PnlParts
from mmcore.records import Record
from mmcore.session_control import stop_event
from replay.demo import demo_config
from replay.metrics import MINUTES_PER_YEAR, max_drawdown
from replay.scorecard import Scorecard
from replay.session import build_engine
from replay.summary import summarize
from replay.timeline import Timeline, TimelineFold

INST = Instrument(venue="sim", symbol="X", tick_size="0.1", lot_size="0.001")
UNIT = INST.nanos_per_tick_lot  # 100_000 nanos: 0.0001 quote per tick-lot
MINUTE = 60_000_000_000
T0 = (1_700_006_400 - 60) * 1_000_000_000  # 2023-11-14 23:59:00 UTC: a minute before hour 0


def write_log(path: Path, records: list[Record]) -> Path:
    header = LogHeader(
        format_version=FORMAT_VERSION,
        code_version="test",
        instruments=[INST],
        config=config_to_dict(demo_config()),
        created_ns=0,
        meta={},
    )
    with LogWriter(path, header) as writer:
        for record in records:
            writer.append(record)
    return path


def summary(tmp_path: Path, records: list[Record]) -> Scorecard:
    return summarize(open_log(write_log(tmp_path / "s.mmlog", records), repair=False))


def fold(records: list[Record], instruments: dict[str, Instrument] | None = None) -> Timeline:
    f = TimelineFold(instruments or {"X": INST})
    f.feed(records)
    return f.finish()


def assert_rows_add_up(timeline: Timeline) -> None:
    for _, spread, inventory, fees, funding, total in timeline.pnl.rows:
        assert spread + inventory + fees + funding == total


# ---------------------------------------------------------------- a position before any price


def restart_records() -> list[Record]:
    """A live restart holding 3 lots bought at 100.0: the start-up reconcile's Position (with
    the venue's entry price) a minute before the first book, whose mid is 100.0; then the 3
    lots sold a tick above it. The true PnL curve is 0, 0, +3 tick-lots: it never falls."""
    return [
        Position("X", T0, T0, 3, entry_x2=2000),
        BookSnapshot("X", T0 + MINUTE, T0 + MINUTE, 1, (999, 5), (1001, 5)),
        Fill("X", T0 + 2 * MINUTE, T0 + 2 * MINUTE, "c", SELL, 1001, 3, 0, True),
    ]


def test_a_restart_holding_a_position_before_the_first_book_has_no_drawdown(
    tmp_path: Path,
) -> None:
    card = summary(tmp_path, restart_records())
    assert math.isclose(card.metrics.pnl_total, 3 * UNIT / 1e9, abs_tol=1e-12)
    assert card.metrics.max_drawdown == 0.0  # was the position's whole cost, 0.3
    assert_rows_add_up(fold(restart_records()))


def test_pnl_by_hour_and_sharpe_of_a_restart_see_no_loss_before_the_first_book(
    tmp_path: Path,
) -> None:
    card = summary(tmp_path, restart_records())
    # was {23: -0.3, 0: +0.3003}: the cost lost in the first minute, found again with the book
    assert math.isclose(card.pnl_by_hour[23], 0.0, abs_tol=1e-12), card.pnl_by_hour
    assert math.isclose(card.pnl_by_hour[0], 3 * UNIT / 1e9, abs_tol=1e-12), card.pnl_by_hour
    # per-minute changes 0, 0, c (were -0.3, +0.3, c): mean c/3 over a sample standard
    # deviation c/sqrt(3)
    assert math.isclose(
        card.metrics.sharpe, math.sqrt(MINUTES_PER_YEAR) / math.sqrt(3), rel_tol=1e-9
    ), card.metrics.sharpe


def restarted_sessions() -> tuple[list[Record], list[Record]]:
    """Session 1 buys 7 lots at 99.0 and ends with the mid at 100.1. Session 2 starts holding
    them (the venue's entry price: 99.0) and sells them at 100.2, the mid 100.1. The lots made
    7 x 12 ticks in all: 11 in session 1, 1 in session 2."""
    first: list[Record] = [
        BookSnapshot("X", T0, T0, 1, (989, 5), (991, 5)),
        Fill("X", T0 + 1, T0 + 1, "a", BUY, 990, 7, 0, True),
        BookSnapshot("X", T0 + MINUTE, T0 + MINUTE, 2, (1000, 5), (1002, 5)),
    ]
    t = T0 + 10 * MINUTE
    second: list[Record] = [
        Position("X", t, t, 7, entry_x2=2 * 990),
        BookSnapshot("X", t + 1, t + 1, 1, (1000, 5), (1002, 5)),
        Fill("X", t + 2, t + 2, "r", SELL, 1002, 7, 0, True),
    ]
    return first, second


def test_sessions_across_a_restart_count_each_lots_pnl_once(tmp_path: Path) -> None:
    first, second = restarted_sessions()
    one = summary(tmp_path, first).metrics
    (tmp_path / "s.mmlog").unlink()
    two = summary(tmp_path, second).metrics
    assert math.isclose(one.pnl_total, 77 * UNIT / 1e9, abs_tol=1e-12)
    # was 7 x 12 ticks: session 1's 11 ticks a lot counted again
    assert math.isclose(two.pnl_total, 7 * UNIT / 1e9, abs_tol=1e-12)
    assert math.isclose(two.pnl_spread, 7 * UNIT / 1e9, abs_tol=1e-12)
    assert two.pnl_inventory == 0.0
    assert math.isclose(one.pnl_total + two.pnl_total, 84 * UNIT / 1e9, abs_tol=1e-12)
    # the round trip that closed the lots made the session 1 tick a lot
    assert two.round_trips == 1 and math.isclose(two.expectancy, 7 * UNIT / 1e9, abs_tol=1e-12)
    timeline = fold(second)
    assert list(timeline.round_trips) == [7 * UNIT]
    assert timeline.parts == PnlParts(7 * UNIT, 0, 0, 0, 7 * UNIT)
    assert_rows_add_up(timeline)


def test_a_position_before_the_first_book_is_valued_at_the_last_mark() -> None:
    # no entry price: the first MarkPrice (100.0) bases the position, then values it until the
    # book, whose mid is a tick higher: the curve is 0, 0, then +3 tick-lots
    timeline = fold([
        Position("X", T0, T0, 3),
        MarkPrice("X", T0 + 1, T0 + 1, 1000),
        MarkPrice("X", T0 + 2, T0 + 2, 999),
        BookSnapshot("X", T0 + MINUTE, T0 + MINUTE, 1, (1000, 5), (1002, 5)),
    ])
    assert timeline.parts.total == 3 * UNIT
    assert list(timeline.minute_close) == [-3 * UNIT, 3 * UNIT]  # the mark fell a tick, first
    assert timeline.max_drawdown == 3 * UNIT  # (was the position's whole cost)
    assert_rows_add_up(timeline)


def test_a_market_that_never_gets_a_book_values_its_position_at_cost_or_mark() -> None:
    at_cost = fold([Position("X", T0, T0, 3, entry_x2=2000)])
    assert at_cost.parts == PnlParts(0, 0, 0, 0, 0)  # was total -0.3, all of it "inventory"
    assert at_cost.markets["X"].parts == at_cost.parts
    assert at_cost.max_drawdown == 0
    at_mark = fold([
        Position("X", T0, T0, 3, entry_x2=2000),
        MarkPrice("X", T0 + 1, T0 + 1, 1010),
        MarkPrice("X", T0 + 2, T0 + 2, 1012),
    ])
    # valued from the first mark: the 10 ticks a lot made before it are earlier sessions' PnL
    assert at_mark.parts == PnlParts(0, 6 * UNIT, 0, 0, 6 * UNIT)
    assert at_mark.markets["X"].parts == at_mark.parts
    assert_rows_add_up(at_mark)


def test_fills_before_the_first_book_are_valued_at_their_cost() -> None:
    # buy a lot at 10.0 and sell it at 10.2 a second later, before any book: PnL 0, then +2
    timeline = fold([
        Fill("X", T0, T0, "e", BUY, 100, 1, 0, True),
        Fill("X", T0 + 10**9, T0 + 10**9, "e", SELL, 102, 1, 0, True),
    ])
    assert timeline.parts.total == 2 * UNIT
    assert timeline.max_drawdown == 0  # was the lot's whole notional
    assert_rows_add_up(timeline)


# ---------------------------------------------------------------- our orders in the venue's book

T = 1_700_000_000 * 10**9
BASE = 600_000
MARKET_BIDS = {BASE - 50: 10, BASE - 60: 10}
MARKET_ASKS = {BASE + 50: 10, BASE + 60: 10}


def own_book_engine(own: bool = True) -> tuple[Engine, dict[str, Instrument]]:
    """The demo's engine on an instrument whose venue publishes our orders (as Extended);
    ``own=False``: one whose venue does not (the demo's own)."""
    config = demo_config()
    instruments = {
        sym: msgspec.structs.replace(inst, own_orders_in_book=own)
        for sym, inst in config.instrument_map().items()
    }
    return build_engine(config, instruments), instruments


def snapshot(sym: str, seq: int, t: int, bids: dict[int, int], asks: dict[int, int]
             ) -> BookSnapshot:
    flat_bids = tuple(x for p in sorted(bids, reverse=True) for x in (p, bids[p]))
    flat_asks = tuple(x for p in sorted(asks) for x in (p, asks[p]))
    return BookSnapshot(sym, t, t, seq, flat_bids, flat_asks)


class Session:
    """Runs an engine like the live runner (event, then its outputs, into the log) and keeps
    what the engine's ledger said PnL was after each event (at its book's mid)."""

    def __init__(self, own: bool = True) -> None:
        self.engine, self.instruments = own_book_engine(own)
        ((self.sym, _),) = self.instruments.items()
        self.records: list[Record] = []
        self.ends: list[int] = []  # len(records) after each event and its outputs
        self.parts: list[PnlParts] = []  # the engine's PnL then
        self.curve = [0]
        self.t = T

    def feed(self, ev: Event) -> list[Record]:
        out = self.engine.on_event(ev)
        self.records.append(ev)
        self.records.extend(out)
        self.ends.append(len(self.records))
        parts = self.engine.ledger.pnl.parts(self.sym, self.engine.books[self.sym].mid_x2())
        self.parts.append(parts)
        self.curve.append(parts.total)
        return list(out)

    def tick(self, ns: int = 1000) -> int:
        self.t += ns
        return self.t


def quote_at_the_touch() -> tuple[Session, Place, Place]:
    """Our bid and ask rest inside the market; the venue's book shows them; the bid is filled,
    the book stream drops it, the ask still rests there: the raw book's mid is pulled down to
    half way between the market's bid and OUR ask. Returns the session and our bid and ask."""
    s = Session()
    sym = s.sym
    out = s.feed(snapshot(sym, 1, s.t, MARKET_BIDS, MARKET_ASKS))
    places = [o for o in out if isinstance(o, Place)]
    bid = next(p for p in places if p.side == BUY)
    ask = next(p for p in places if p.side == SELL)
    for p in (bid, ask):
        s.feed(OrderAccepted(sym, s.tick(), s.t, p.client_id))
    ours_bid, ours_ask = {bid.price: bid.size}, {ask.price: ask.size}
    s.feed(snapshot(sym, 2, s.tick(), {**MARKET_BIDS, **ours_bid}, {**MARKET_ASKS, **ours_ask}))
    s.feed(Fill(sym, s.tick(), s.t, bid.client_id, BUY, bid.price, bid.size, 0, True))
    s.feed(snapshot(sym, 3, s.tick(), MARKET_BIDS, {**MARKET_ASKS, **ours_ask}))
    return s, bid, ask


def test_the_report_marks_to_the_book_without_our_orders_as_the_engine_does() -> None:
    s, _, _ = quote_at_the_touch()
    timeline = fold(s.records, s.instruments)
    assert s.parts[-1].inventory == 0  # the market's mid never moved
    assert s.parts[-1].spread > 0
    # was inventory -22 ticks x 10 lots: the long marked to a "mid" made of our own ask
    assert timeline.parts == s.parts[-1]
    assert timeline.markets[s.sym].parts == s.parts[-1]
    assert timeline.max_drawdown == max_drawdown(s.curve) == 0
    mids = timeline.markets[s.sym].mid_x2
    assert set(mids.lo) == set(mids.hi) == {2 * BASE}


def test_the_report_follows_the_engines_pnl_after_every_event_with_our_orders_in_the_book(
) -> None:
    # on from quote_at_the_touch (long, our ask resting in the venue's book):
    s, _, ask = quote_at_the_touch()
    sym = s.sym
    # part of our ask fills: the engine keeps its whole size out of the book for HOLD_NS from
    # the fill (the book stream has not shown the fill yet), then gives the filled part back
    s.feed(Fill(sym, s.tick(), s.t, ask.client_id, SELL, ask.price, 4, 0, True))
    s.feed(Timer(s.tick(HOLD_NS), s.t, "tick"))
    # the book stream goes down: the engine's book is stale and ignores deltas until the
    # venue's snapshot (which shows the rest of our ask)
    s.feed(ConnectionState(s.tick(), s.t, book_stream(sym), "down", "test"))
    s.feed(BookDelta(sym, s.tick(), s.t, 4, -1, (), (ask.price, 0)))
    s.feed(snapshot(sym, 10, s.tick(), MARKET_BIDS, {**MARKET_ASKS, ask.price: 6}))
    # the session stops (CancelAll); the cancel is confirmed while the book still shows our
    # ask: kept out for HOLD_NS (a far delta changes nothing), then given back by the timer,
    # until the delta that removes it
    s.feed(stop_event(s.tick()))
    s.feed(OrderCanceled(sym, s.tick(), s.t, ask.client_id))
    s.feed(BookDelta(sym, s.tick(), s.t, 11, -1, (BASE - 70, 3), ()))
    s.feed(Timer(s.tick(HOLD_NS), s.t, "tick"))
    s.feed(BookDelta(sym, s.tick(), s.t, 12, -1, (), (ask.price, 0)))
    assert len(set(s.curve)) > 3  # the engine's mark moved: there is something to follow
    for end, parts in zip(s.ends, s.parts):
        timeline = fold(s.records[:end], s.instruments)
        assert timeline.parts == parts, (end, timeline.parts, parts)
    assert fold(s.records, s.instruments).max_drawdown == max_drawdown(s.curve)


# ---------------------------------------------------------------- spread against the mid before


@pytest.mark.parametrize("own", [False, True], ids=["plain book", "our orders in the book"])
def test_spread_is_measured_against_the_mid_just_before_the_fill_by_engine_and_report(
    own: bool,
) -> None:
    # A seller hits our bid and the market's bids under the mid: the depth update the trade
    # caused (stamped with the trade's venue time) and one more come in before our fill's
    # report, 5 ms later. What the fill captured is its distance from the mid before the trade;
    # the fall after it is inventory (adverse selection), not spread lost.
    s = Session(own)
    sym = s.sym
    out = s.feed(snapshot(sym, 1, s.t, MARKET_BIDS, MARKET_ASKS))  # mid BASE
    bid = next(o for o in out if isinstance(o, Place) and o.side == BUY)
    s.feed(OrderAccepted(sym, s.tick(), s.t, bid.client_id))
    seq = 1
    if own:  # the venue's book shows our bid
        seq += 1
        s.feed(BookDelta(sym, s.tick(), s.t, seq, -1, (bid.price, bid.size), ()))
    traded = s.tick()
    ours = (bid.price, 0) if own else ()
    s.feed(BookDelta(sym, traded, s.tick(), seq + 1, -1,
                     (*ours, BASE - 50, 0, BASE - 60, 0, BASE - 300, 10), ()))
    s.feed(BookDelta(sym, s.tick(), s.t, seq + 2, -1, (), (BASE + 50, 0, BASE + 60, 0,
                                                           BASE + 40, 10)))
    s.feed(Fill(sym, traded, s.tick(5_000_000), bid.client_id, BUY, bid.price, bid.size, 0,
                True))
    assert s.engine.books[sym].mid_x2() == 2 * BASE - 260
    unit = s.instruments[sym].nanos_per_tick_lot
    captured = 2 * BASE - 2 * bid.price  # half ticks a lot
    assert s.parts[-1].spread == bid.size * captured * unit // 2 > 0
    # the mid's fall of 130 ticks after the trade is the inventory's (was all measured as
    # spread, against the mid the report found: a loss of 124 ticks a lot)
    assert s.parts[-1].inventory == -130 * bid.size * unit
    timeline = fold(s.records, s.instruments)
    assert timeline.parts == s.parts[-1]
    assert timeline.markets[sym].capture == {captured: 1}
