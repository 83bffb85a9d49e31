"""Malformed recorded book data: the simulated venue copes with it as the engine does.

A ``BookSnapshot`` or ``BookDelta`` its ``Book`` refuses (``BookDataError``) is counted in
``SimStats.bad_market_data`` and leaves the venue's book stale until the next snapshot; nothing
is taken from a stale book, while trades still fill resting orders.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapters.sim import NEVER, SimConfig, SimVenue
from mmcore.commands import GTC, IOC, Command, Place
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
    Trade,
)
from mmcore.instrument import Instrument
from mmcore.log import open_log
from replay.backtest import run_session
from replay.session import load_session, resolve_instruments
from replay.verify import verify_log
from tests.example_spec import BTC_USD

INST = "BTC-PERP"
T0 = 1_000_000_000_000
ROOT = Path(__file__).resolve().parents[3]


def make_venue() -> SimVenue:
    inst = Instrument(venue="sim", symbol=INST, tick_size="0.1", lot_size="0.001")
    config = SimConfig(entry_latency_ms=0.0, response_latency_ms=0.0, funding_interval_s=0)
    return SimVenue({INST: inst}, config, random.Random(1))


def flat(levels: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(x for lv in levels for x in lv)


def snapshot(seq: int, ts: int, bids: tuple[int, ...], asks: tuple[int, ...]) -> BookSnapshot:
    return BookSnapshot(INST, ts, ts, seq, bids, asks)


def delta(seq: int, ts: int, bids: tuple[int, ...] = (), asks: tuple[int, ...] = ()) -> BookDelta:
    return BookDelta(INST, ts, ts, seq, -1, bids, asks)


QUIET = snapshot(1, T0, flat([(100, 5)]), flat([(102, 5)]))


def feed(venue: SimVenue, *events: Event) -> list[Any]:
    for ev in events:
        venue.on_market(ev)
    return venue.pop_outbound(NEVER)


def send(venue: SimVenue, cmd: Command, now: int) -> list[Any]:
    venue.submit(cmd, now)
    venue.advance_to(now)
    return venue.pop_outbound(NEVER)


def buy_ioc(cid: str, price: int, size: int) -> Place:
    return Place(INST, 0, cid, BUY, price, size, False, False, IOC)


def bid(cid: str, price: int, size: int) -> Place:
    return Place(INST, 0, cid, BUY, price, size, True, False, GTC)


def fills(events: list[Any]) -> list[tuple[str, int, int, bool]]:
    return [(e.client_id, e.price, e.size, e.maker) for e in events if type(e) is Fill]


def reasons(events: list[Any]) -> list[str]:
    return [e.reason for e in events if type(e) is OrderCanceled]


# ---------------------------------------------------------------- the venue


def test_a_malformed_delta_is_counted_and_the_book_stays_stale_until_the_next_snapshot() -> None:
    venue = make_venue()
    feed(venue, QUIET)
    assert feed(venue, delta(2, T0 + 1, bids=(99,))) == []  # odd length: refused, no raise
    assert venue.statistics().bad_market_data == 1
    # stale: the next deltas are ignored (an ask of 101 x 2 never shows) and nothing is taken
    feed(venue, delta(3, T0 + 2, asks=flat([(101, 2)])))
    out = send(venue, buy_ioc("t1", 102, 3), T0 + 3)
    assert fills(out) == [] and reasons(out) == ["ioc_remainder"]
    # the next snapshot makes the book whole again
    feed(venue, snapshot(4, T0 + 4, flat([(100, 5)]), flat([(101, 2), (102, 5)])))
    out = send(venue, buy_ioc("t2", 102, 3), T0 + 5)
    assert fills(out) == [("t2", 101, 2, False), ("t2", 102, 1, False)]
    assert venue.statistics().bad_market_data == 1


def test_a_malformed_delta_while_we_rest_is_counted_and_rule_3_waits_for_a_snapshot() -> None:
    venue = make_venue()
    feed(venue, QUIET)
    send(venue, bid("b1", 100, 3), T0 + 1)  # rests behind the 5 lots at 100
    # the first level applies, the negative size refuses the rest: the book is stale
    assert feed(venue, delta(2, T0 + 2, bids=(100, 8, 99, -1))) == []
    stats = venue.statistics()
    assert stats.bad_market_data == 1
    assert venue.resting(INST) == {"b1": (BUY, 100, 3, 5)}  # an increase adds behind us
    # a stale book gives nothing: the asks coming down through our bid fill nothing
    assert fills(feed(venue, delta(3, T0 + 3, asks=flat([(102, 0), (100, 2)])))) == []
    # trades still fill us (they bring their own size): a sell through our bid
    out = feed(venue, Trade(INST, T0 + 4, T0 + 4, 99, 1, SELL))
    assert fills(out) == [("b1", 100, 1, True)]
    # the next snapshot, crossing our bid, fills us from the book again
    out = feed(venue, snapshot(4, T0 + 5, flat([(99, 5)]), flat([(100, 1), (102, 5)])))
    assert fills(out) == [("b1", 100, 1, True)]


def test_a_malformed_snapshot_is_counted_and_nothing_is_taken_from_the_stale_book() -> None:
    venue = make_venue()
    feed(venue, QUIET)
    send(venue, bid("b1", 99, 1), T0 + 1)
    assert feed(venue, snapshot(2, T0 + 2, flat([(100, 5)]), (102, -5))) == []
    assert venue.statistics().bad_market_data == 1
    out = send(venue, buy_ioc("t1", 102, 1), T0 + 3)  # the stale book still shows 102 x 5
    assert fills(out) == [] and reasons(out) == ["ioc_remainder"]
    assert [type(e) for e in out] == [OrderAccepted, OrderCanceled]
    # a malformed snapshot with nothing of ours resting is counted too
    venue2 = make_venue()
    feed(venue2, QUIET, snapshot(2, T0 + 1, (0, 5), ()))
    assert venue2.statistics().bad_market_data == 1


def test_a_book_stale_after_a_sequence_gap_gives_nothing_until_the_next_snapshot() -> None:
    venue = make_venue()
    feed(venue, QUIET, delta(5, T0 + 1, asks=flat([(101, 1)])))  # seq 5 after 1: a gap
    out = send(venue, buy_ioc("t1", 102, 1), T0 + 2)
    assert fills(out) == [] and reasons(out) == ["ioc_remainder"]
    assert venue.statistics().bad_market_data == 0  # a gap is no malformed data
    feed(venue, snapshot(6, T0 + 3, flat([(100, 5)]), flat([(102, 5)])))
    assert fills(send(venue, buy_ioc("t2", 102, 1), T0 + 4)) == [("t2", 102, 1, False)]


def test_a_stale_book_through_a_reduce_only_order_that_cannot_reduce_does_not_cancel_it() -> None:
    venue = make_venue()
    feed(venue, snapshot(1, T0, flat([(99, 20)]), flat([(101, 20)])))
    send(venue, Place(INST, 0, "s", SELL, 99, 5, False, False, IOC), T0)  # short 5
    feed(venue, delta(3, T0 + 1))  # seq 3 after 1: a gap, the book is stale
    send(venue, Place(INST, 0, "p", BUY, 102, 5, False, False, GTC), T0 + 2)  # takes nothing
    send(venue, Place(INST, 0, "r", BUY, 101, 5, False, True, GTC), T0 + 2)  # reduce-only
    feed(venue, Trade(INST, T0 + 3, T0 + 3, 102, 5, SELL))  # fills "p": the position is flat
    assert venue.position(INST) == 0
    # the stale ask 101 is still through "r", but a stale book gives nothing: nothing to cancel
    assert feed(venue, delta(4, T0 + 4, bids=flat([(98, 1)]))) == []
    assert venue.resting(INST) == {"r": (BUY, 101, 5, 0)}
    # the next snapshot's ask at 101 would fill it: it cannot reduce, so it is canceled now
    out = feed(venue, snapshot(5, T0 + 5, flat([(99, 5)]), flat([(101, 5)])))
    assert fills(out) == [] and reasons(out) == ["reduce_only"]
    assert venue.resting(INST) == {}


# ---------------------------------------------------------------- a whole backtest


def test_a_backtest_over_data_with_a_malformed_delta_runs_to_the_end(tmp_path: Path) -> None:
    config = load_session(ROOT / "configs" / "strategy-simple.toml")
    instruments = resolve_instruments(config, {"BTC-USD": BTC_USD})  # as data gives it
    (name,) = instruments
    t = 1_700_000_000_000_000_000
    market: list[Event] = [
        BookSnapshot(name, t, t, 1, (999, 5), (1001, 5)),
        BookDelta(name, t + 1, t + 1, 2, -1, (998,), ()),  # malformed: odd length
        BookSnapshot(name, t + 2, t + 2, 3, (999, 5), (1001, 5)),
        Trade(name, t + 10**9, t + 10**9, 1000, 1, BUY),
    ]
    out = tmp_path / "bad.mmlog"
    result = run_session(config, instruments, market, out)
    assert result.sim.bad_market_data == 1
    assert result.sim.market_events == 4
    codes = [r.code for r in open_log(out) if type(r) is RiskEvent]
    assert "malformed_book_event" in codes  # the engine's own verdict, as without the venue
    assert verify_log(out).ok
