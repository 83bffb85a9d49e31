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
from mmcore.events import BUY, SELL, BookDelta, BookSnapshot, Event, Fill, MarkPrice, Timer, Trade
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


def test_resting_orders_are_in_the_public_book_as_on_a_real_venue_but_not_in_the_feed() -> None:
    ex, clock, account, rec = make_exchange()
    other = ex.add_account(2, "key2", 1000 * SEC)
    ex.place(account, make_order(account, "b1", BUY, 100, 3))
    ex.place(other, make_order(other, "b2", BUY, 100, 4))
    ex.place(account, make_order(account, "a1", SELL, 105, 2))  # a price the feed lacks
    public = ex.public["BTC-USD"]
    assert public.bids[100] == 10 + 3 + 4 and public.asks[105] == 2
    assert ex.books["BTC-USD"].bids[100] == 10 and 105 not in ex.books["BTC-USD"].asks
    deltas = [e for e in rec.market if type(e) is BookDelta]
    assert [(d.bids, d.asks) for d in deltas] == [((100, 13), ()), ((100, 17), ()), ((), (105, 2))]
    # a feed update of a level we rest at keeps our size on top of it
    clock.advance(SEC)
    ex.inject(BookDelta("BTC-USD", 0, 0, 2, -1, (100, 6), ()))
    ex.step()
    assert rec.market[-1].bids == (100, 6 + 7)  # type: ignore[union-attr]
    # a partial fill and a cancel give the size back
    ex.inject(Trade("BTC-USD", 0, 0, 99, 2, SELL))  # through the level: fills b1 and b2
    ex.step()
    ex.cancel(account, account.by_client["a1"])
    assert public.bids[100] == 6 + ex.resting("BTC-USD", BUY, 100) and 105 not in public.asks
    # a fresh snapshot of the feed is published with the resting orders in it
    clock.advance(SEC)
    ex.inject(make_book(bid=100, ask=102))
    ex.step()
    snap = rec.market[-1]
    assert type(snap) is BookSnapshot
    assert snap.bids[:2] == (100, 10 + ex.resting("BTC-USD", BUY, 100))
    seqs = [s.seq for s in rec.market if type(s) in (BookSnapshot, BookDelta)]
    assert seqs == list(range(1, len(seqs) + 1))  # one public sequence, no gaps
