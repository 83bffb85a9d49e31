"""Named factories for the strategy tests, and a small driver that feeds events like the engine.

Other test modules import from here (``from test_strategy_factories import ...``). The driver
folds each event into the book and ledger the way ``mmcore.engine`` does, sets ``view.now`` to
the event's ``ts_recv`` and then steps the strategy, collecting its intents and notes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mmcore.book import Book
from mmcore.commands import Output, Place
from mmcore.events import (
    BUY,
    SELL,
    BookSnapshot,
    Event,
    Fill,
    FundingRate,
    MarkPrice,
    OrderAccepted,
    StrategyEvent,
    Timer,
    Trade,
)
from mmcore.instrument import Instrument
from mmcore.intents import Intent
from mmcore.protocols import Strategy
from mmcore.state import Ledger
from mmcore.view import View

SYMBOL = "BTC-USD"
MS = 1_000_000
SECOND = 1_000_000_000
HOUR = 3600 * SECOND
T0 = 1_700_000_000 * SECOND  # 2023-11-14T22:13:20Z


def make_instrument(
    symbol: str = SYMBOL, tick: str = "0.1", lot: str = "0.001", min_size: str = "0.001"
) -> Instrument:
    return Instrument(
        venue="test", symbol=symbol, tick_size=tick, lot_size=lot, min_size=min_size
    )


def flat(levels: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(x for level in levels for x in level)


def make_snapshot(
    bids: Sequence[tuple[int, int]],
    asks: Sequence[tuple[int, int]],
    ts: int = T0,
    seq: int = 1,
    inst: str = SYMBOL,
) -> BookSnapshot:
    return BookSnapshot(inst, ts, ts, seq, flat(bids), flat(asks))


def make_top(bid: int, ask: int, ts: int = T0, size: int = 5, seq: int = 1) -> BookSnapshot:
    """A snapshot with three levels per side, one tick apart, best at ``bid`` / ``ask``."""
    bids = [(bid - i, size) for i in range(3)]
    asks = [(ask + i, size) for i in range(3)]
    return make_snapshot(bids, asks, ts, seq)


def make_book(
    bids: Sequence[tuple[int, int]] = ((999_990, 5),),
    asks: Sequence[tuple[int, int]] = ((1_000_010, 5),),
    inst: str = SYMBOL,
) -> Book:
    book = Book(inst)
    book.apply_snapshot(make_snapshot(bids, asks, inst=inst))
    return book


def make_view(inst: Instrument | None = None, now: int = T0) -> View:
    inst = inst or make_instrument()
    instruments = {inst.symbol: inst}
    view = View(instruments, {inst.symbol: Book(inst.symbol)}, Ledger(instruments))
    view.now = now
    return view


def make_fill(
    side: int,
    price: int,
    size: int,
    ts: int = T0,
    client_id: str = "c1",
    inst: str = SYMBOL,
) -> Fill:
    return Fill(inst, ts, ts, client_id, side, price, size, 0, True)


def make_trade(price: int, size: int, side: int, ts: int = T0, inst: str = SYMBOL) -> Trade:
    return Trade(inst, ts, ts, price, size, side)


def make_mark(price: int, ts: int = T0, inst: str = SYMBOL) -> MarkPrice:
    return MarkPrice(inst, ts, ts, price)


def make_funding(rate_ppb: int, ts: int = T0, inst: str = SYMBOL) -> FundingRate:
    return FundingRate(inst, ts, ts, rate_ppb)


def make_timer(ts: int) -> Timer:
    return Timer(ts, ts)


class Driver:
    """Feeds events to one strategy through a real book, ledger and view, like the engine."""

    def __init__(self, strategy: Strategy, inst: Instrument | None = None) -> None:
        self.inst = inst or make_instrument()
        self.view = make_view(self.inst)
        self.strategy = strategy
        self.intents: list[Intent] = []
        self.notes: list[Output] = []
        self._seq = 0

    @property
    def book(self) -> Book:
        return self.view.books[self.inst.symbol]

    @property
    def ledger(self) -> Ledger:
        return self.view.ledger

    def feed(self, event: Event) -> Intent | None:
        view = self.view
        view.now = event.ts_recv
        t = type(event)
        if t is BookSnapshot:
            self.book.apply_snapshot(event)  # type: ignore[arg-type]
        elif t is Fill:
            self.ledger.apply_fill(event, self.book.mid_x2())  # type: ignore[arg-type]
        else:
            self.ledger.apply(event)
        intent = self.strategy.step(view, event)
        self.notes.extend(self.strategy.notes())
        if intent is not None:
            self.intents.append(intent)
        return intent

    def feed_all(self, events: Iterable[Event]) -> list[Intent | None]:
        return [self.feed(ev) for ev in events]

    def top(self, bid: int, ask: int, ts: int, size: int = 5) -> Intent | None:
        """Feed a fresh three-level book with the given best bid and ask."""
        self._seq += 1
        return self.feed(make_top(bid, ask, ts, size, self._seq))

    def rest(self, client_id: str, side: int, price: int, size: int, ts: int) -> None:
        """Put an order of ours in the ledger and acknowledge it (it is then OPEN)."""
        self.ledger.on_command(Place(self.inst.symbol, ts, client_id, side, price, size))
        self.feed(OrderAccepted(self.inst.symbol, ts, ts, client_id))

    def codes(self) -> list[str]:
        return [n.code for n in self.notes if isinstance(n, StrategyEvent)]


# ---------------------------------------------------------------- the factories themselves


def test_make_book_puts_the_best_levels_on_top() -> None:
    book = make_book(bids=[(99, 1), (100, 2)], asks=[(102, 3), (101, 4)])
    assert (book.best_bid, book.best_ask) == (100, 101)


def test_make_top_builds_three_levels_per_side_one_tick_apart() -> None:
    book = Book(SYMBOL)
    book.apply_snapshot(make_top(1000, 1002))
    assert book.levels(BUY, 5) == [(1000, 5), (999, 5), (998, 5)]
    assert book.levels(SELL, 5) == [(1002, 5), (1003, 5), (1004, 5)]


class _Recorder:
    inst = SYMBOL

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def step(self, view: View, event: Event) -> Intent | None:
        self.seen.append((view.now, view.ledger.position(SYMBOL)))
        return None

    def notes(self) -> list[Output]:
        return []


def test_the_driver_folds_fills_into_the_ledger_before_stepping_the_strategy() -> None:
    recorder = _Recorder()
    driver = Driver(recorder)
    driver.top(1000, 1002, T0)
    driver.feed(make_fill(BUY, 1000, 3, ts=T0 + SECOND))
    assert recorder.seen == [(T0, 0), (T0 + SECOND, 3)]


def test_the_driver_rests_orders_as_open_in_the_ledger() -> None:
    driver = Driver(_Recorder())
    driver.rest("b1", BUY, 990, 2, T0)
    (order,) = driver.ledger.open_orders(SYMBOL).values()
    assert (order.status, order.side, order.price) == ("OPEN", BUY, 990)
