"""The emulated exchange: market data in, matching through adapters.sim, accounts folded."""

from __future__ import annotations

from adapters.emulator.account import (
    CANCELLED,
    EXPIRED,
    FILLED,
    NEW,
    REJECTED,
    AccountUpdate,
    EmulatedAccount,
    EmulatedOrder,
)
from adapters.emulator.clock import ManualClock
from adapters.emulator.exchange import EmulatedExchange
from adapters.emulator.feed import MarketFeed
from mmcore.events import BUY, SELL, BookSnapshot, Event, Fill, MarkPrice, Timer, Trade
from mmcore.instrument import Instrument

START = 1_700_000_000_000_000_000
SEC = 1_000_000_000


def make_inst() -> Instrument:
    return Instrument(
        venue="extended",
        symbol="BTC-USD",
        tick_size="1",
        lot_size="0.001",
        min_size="0.001",
        maker_fee="0.0002",
        taker_fee="0.0005",
    )


def make_book(ts: int = START, bid: int = 100, ask: int = 102) -> BookSnapshot:
    return BookSnapshot("BTC-USD", ts, ts, 1, (bid, 10, bid - 1, 10), (ask, 10, ask + 1, 10))


class Recorder:
    def __init__(self) -> None:
        self.market: list[Event] = []
        self.updates: list[AccountUpdate] = []

    def on_market(self, ev: Event, old: object) -> None:
        self.market.append(ev)

    def on_account(self, account: EmulatedAccount, update: AccountUpdate) -> None:
        self.updates.append(update)


def make_exchange(
    source: list[object] | None = None,
) -> tuple[EmulatedExchange, ManualClock, EmulatedAccount, Recorder]:
    clock = ManualClock(START)
    inst = make_inst()
    feed = MarketFeed(source if source is not None else [make_book()], START, ["BTC-USD"])
    ex = EmulatedExchange({"BTC-USD": inst}, feed, clock, seed=1)
    account = ex.add_account(1, "key", 1000 * SEC)
    rec = Recorder()
    ex.listeners.append(rec)
    ex.step()
    return ex, clock, account, rec


def make_order(
    account: EmulatedAccount, cid: str, side: int, price: int, size: int = 2, **kw: object
) -> EmulatedOrder:
    return account.new_order(
        cid,
        "BTC-USD",
        side,
        price,
        size,
        bool(kw.get("post_only", True)),
        bool(kw.get("reduce_only", False)),
        str(kw.get("tif", "GTC")),
        START,
        int(kw.get("expiry_ns", 0)),  # type: ignore[call-overload]
    )


def test_a_resting_order_is_accepted_and_a_trade_through_fills_it_as_maker() -> None:
    ex, clock, account, rec = make_exchange()
    order = make_order(account, "b1", BUY, 100)
    ex.place(account, order)
    assert order.status == NEW
    clock.advance(SEC)
    ex.inject(Trade("BTC-USD", 0, 0, 99, 5, SELL))
    ex.step()
    assert order.status == FILLED and order.filled == 2
    fill = account.fills[-1]
    assert (fill.price, fill.size, fill.maker) == (100, 2, True)
    assert fill.fee_nanos == 100 * 2 * make_inst().nanos_per_tick_lot * 2 // 10_000
    assert account.positions["BTC-USD"].size == 2
    assert any(u.fills for u in rec.updates)


def test_a_post_only_order_that_would_cross_is_rejected_with_the_sim_code() -> None:
    ex, _, account, _ = make_exchange()
    order = make_order(account, "x", BUY, 102)
    ex.place(account, order)
    assert order.status == REJECTED and order.reason == "post_only_would_cross"


def test_the_dead_mans_switch_cancels_everything_when_not_rearmed() -> None:
    ex, clock, account, _ = make_exchange()
    for i in range(3):
        ex.place(account, make_order(account, f"o{i}", BUY, 95 - i))
    account.dead_man.arm(5, clock())
    clock.advance(4 * SEC)
    ex.step()
    assert len(account.open_orders()) == 3
    clock.advance(2 * SEC)
    ex.step()
    assert account.open_orders() == []
    assert {o.status for o in account.orders.values()} == {CANCELLED}
    assert ex.statistics().dead_man_fired == 1


def test_orders_expire_at_their_expiry_time() -> None:
    ex, clock, account, _ = make_exchange()
    order = make_order(account, "e", SELL, 110, expiry_ns=START + 3 * SEC)
    ex.place(account, order)
    clock.advance(3 * SEC)
    ex.step()
    assert order.status == EXPIRED


def test_the_exchange_renumbers_book_sequences_so_injected_books_never_gap() -> None:
    ex, clock, _, rec = make_exchange()
    clock.advance(SEC)
    ex.inject(make_book(bid=200, ask=201))
    ex.step()
    snaps = [e for e in rec.market if type(e) is BookSnapshot]
    assert [s.seq for s in snaps] == [1, 2]
    assert ex.books["BTC-USD"].best_bid() == 200


def test_a_long_position_realises_pnl_when_sold_higher() -> None:
    ex, clock, account, _ = make_exchange()
    ex.place(account, make_order(account, "b", BUY, 100, post_only=False, size=3))
    ex.inject(Trade("BTC-USD", 0, 0, 99, 5, SELL))
    ex.step()
    clock.advance(SEC)
    ex.inject(make_book(bid=110, ask=112))
    ex.inject(MarkPrice("BTC-USD", 0, 0, 111))
    ex.step()
    sell = make_order(account, "s", SELL, 110, post_only=False, size=3, tif="IOC")
    ex.place(account, sell)
    pos = account.positions["BTC-USD"]
    unit = make_inst().nanos_per_tick_lot
    assert pos.size == 0
    assert pos.realized_nanos == 10 * 3 * unit
    assert account.statistics().fills == 2


def test_the_feed_retimes_the_source_and_skips_non_market_records() -> None:
    t0 = 5 * SEC
    source: list[object] = [
        make_book(t0),
        Timer(t0, t0),
        Trade("BTC-USD", t0 + SEC, t0 + SEC, 100, 1, SELL),
        Trade("ETH-USD", t0 + SEC, t0 + SEC, 100, 1, SELL),
    ]
    feed = MarketFeed(source, START, ["BTC-USD"])
    first = feed.due(START)
    assert [type(e) for e in first] == [BookSnapshot]
    assert first[0].ts == START
    assert feed.due(START + SEC - 1) == []
    later = feed.due(START + SEC)
    assert len(later) == 1 and later[0].ts == START + SEC
    stats = feed.statistics()
    assert stats.skipped == 2 and stats.delivered == 2


def test_fills_for_unknown_orders_are_ignored_by_the_account() -> None:
    _, _, account, _ = make_exchange()
    update = AccountUpdate()
    account.apply(Fill("BTC-USD", 0, 0, "nope", BUY, 1, 1, 0, True), START, update)
    assert not update
