"""The emulated exchange's public book hides the feed liquidity its matching took; cancel reasons
stay with the account and order they were meant for; margin follows each market's leverage."""

from __future__ import annotations

from adapters.emulator.account import CANCELLED, FILLED, EmulatedAccount, EmulatedOrder
from adapters.emulator.clock import ManualClock
from adapters.emulator.exchange import EmulatedExchange
from adapters.emulator.feed import MarketFeed
from mmcore.events import BUY, SELL, BookDelta, BookSnapshot, Event, Trade
from mmcore.instrument import Instrument

START = 1_700_000_000_000_000_000
SEC = 1_000_000_000


def make_inst(symbol: str = "BTC-USD") -> Instrument:
    return Instrument(
        venue="extended",
        symbol=symbol,
        tick_size="1",
        lot_size="0.001",
        min_size="0.001",
        maker_fee="0.0002",
        taker_fee="0.0005",
    )


class Recorder:
    def __init__(self) -> None:
        self.market: list[Event] = []

    def on_market(self, ev: Event, old: object) -> None:
        self.market.append(ev)

    def on_account(self, account: EmulatedAccount, update: object) -> None:
        pass


def make_exchange() -> tuple[EmulatedExchange, ManualClock, EmulatedAccount, Recorder]:
    clock = ManualClock(START)
    book = BookSnapshot("BTC-USD", START, START, 1, (100, 10, 99, 10), (102, 10, 103, 10))
    feed = MarketFeed([book], START, ["BTC-USD"])
    ex = EmulatedExchange({"BTC-USD": make_inst()}, feed, clock, seed=1)
    account = ex.add_account(1, "key", 1000 * SEC)
    rec = Recorder()
    ex.listeners.append(rec)
    ex.step()
    return ex, clock, account, rec


def order(
    account: EmulatedAccount,
    cid: str,
    side: int,
    price: int,
    size: int,
    *,
    tif: str = "GTC",
    post_only: bool = False,
    expiry_ns: int = 0,
) -> EmulatedOrder:
    return account.new_order(
        cid, "BTC-USD", side, price, size, post_only, False, tif, START, expiry_ns
    )


def feed_delta(ex: EmulatedExchange, clock: ManualClock, asks: tuple[int, ...]) -> None:
    clock.advance(SEC)
    ex.inject(BookDelta("BTC-USD", 0, 0, 0, -1, (), asks))
    ex.step()


def uncrossed(ex: EmulatedExchange) -> bool:
    public = ex.public["BTC-USD"]
    return public.best_bid() < public.best_ask()


def test_liquidity_taken_from_a_feed_level_is_off_the_public_book_while_matching_holds_it() -> None:
    ex, clock, account, rec = make_exchange()
    public = ex.public["BTC-USD"]
    big = order(account, "big", BUY, 102, 15)
    ex.place(account, big)  # takes the 10 lots at 102, rests 5 there
    assert (big.filled, big.is_open) == (10, True)
    assert public.bids[102] == 5 and 102 not in public.asks and public.best_ask() == 103
    assert rec.market[-1].asks == (102, 0)  # type: ignore[union-attr]  # published as a delta
    # the feed shrinks the level: matching forgets what is no longer there; still nothing shown
    feed_delta(ex, clock, (102, 4))
    assert 102 not in public.asks and uncrossed(ex)
    # the feed grows it: the resting 5 take 5 of the new 8, the last 3 are public
    feed_delta(ex, clock, (102, 12))
    assert big.status == FILLED and public.asks[102] == 3 and 102 not in public.bids
    # the feed drops the level and brings it back: the take is forgotten with it
    feed_delta(ex, clock, (102, 0))
    feed_delta(ex, clock, (102, 10))
    assert public.asks[102] == 10
    seqs = [e.seq for e in rec.market if isinstance(e, (BookSnapshot, BookDelta))]
    assert seqs == list(range(1, len(seqs) + 1))


def test_an_ioc_take_and_a_later_feed_snapshot_keep_the_level_net_of_the_take() -> None:
    ex, clock, account, rec = make_exchange()
    public = ex.public["BTC-USD"]
    ex.place(account, order(account, "ioc", BUY, 103, 14, tif="IOC"))
    assert 102 not in public.asks and public.asks[103] == 6
    clock.advance(SEC)  # the same levels again: matching still counts them taken
    ex.inject(BookSnapshot("BTC-USD", 0, 0, 0, (100, 10, 99, 10), (102, 10, 103, 10)))
    ex.step()
    snap = rec.market[-1]
    assert type(snap) is BookSnapshot and snap.asks == (103, 6)


def test_an_expiry_cancel_that_finds_the_order_filled_leaves_no_reason_behind() -> None:
    ex, clock, a, _ = make_exchange()
    b = ex.add_account(2, "key2", 1000 * SEC)
    x = order(a, "x", BUY, 100, 2, post_only=True, expiry_ns=START + 10 * SEC)
    ex.place(a, x)
    clock.advance(10 * SEC)  # it expires in the very step a trade through it fills it
    ex.inject(Trade("BTC-USD", 0, 0, 99, 5, SELL))
    ex.step()
    assert x.status == FILLED
    assert ex.statistics().expired == 0
    # another account's order with the same external id, cancelled by hand, is CANCELLED
    y = order(b, "x", BUY, 99, 2, post_only=True)
    ex.place(b, y)
    ex.cancel(b, y)
    assert (y.status, y.reason) == (CANCELLED, "canceled")
    assert ex._pending_reasons == {}


def test_initial_margin_uses_each_markets_leverage() -> None:
    insts = {"BTC-USD": make_inst(), "ETH-USD": make_inst("ETH-USD")}
    account = EmulatedAccount(1, "k", insts, 0, 0)
    for inst, size in (("BTC-USD", 10), ("ETH-USD", -20)):
        account.position(inst, START).size = size
    marks = {"BTC-USD": 1000, "ETH-USD": 1000}
    unit = make_inst().nanos_per_tick_lot
    assert account.initial_margin_nanos(marks) == 30 * 1000 * unit // 10
    account.leverages["ETH-USD"] = 2
    assert account.leverage_of("BTC-USD") == 10 and account.leverage_of("ETH-USD") == 2
    assert account.initial_margin_nanos(marks) == 10 * 1000 * unit // 10 + 20 * 1000 * unit // 2
