"""One pass over a session log, folded into the bounded series a report needs.

``TimelineFold`` re-runs only the pure folds (books, ledger) over the recorded records, like
``replay.summary``, and on the way keeps:

- per market: the mid, our best resting bid and ask, and inventory as ``Envelope`` series; our
  fills (thinned) for markers; the round trips' PnL; the two-sided quote edges; and a
  histogram of spread captured per fill in the market's half ticks,
  ``side * (mid_x2 - 2 * price)``: positive when we bought below the mid or sold above it.
  The mid is the one just before the fill's venue time (``Book.mid_x2_before``), as the
  ledger's spread part takes it, not the one in force when the fill's report came: by then the
  trade had moved the market;
- for the session: PnL by component sampled at most every ``interval`` (``Periodic``), total PnL
  at the close of each UTC minute that saw an event, and the exact max drawdown of total PnL.

Total PnL is marked to the book's mid (as in ``replay.summary``) and re-evaluated after every event
that can move it: a mid change while the market holds a position, a fill, funding, a venue
position correction, a mark that prices a position reported before any price (the value is the
ledger's ``total_pnl``). Before the market's first mid a position is valued at the last
``MarkPrice``, and with no price at all at its own cost (unrealized 0, as the ledger values an
unbased one): never at 0, which would count its whole cost as a loss in the curve (drawdown,
Sharpe, PnL by hour) of a restart whose reconciled position comes before market data. Such a
position, held before the session, adds to PnL only from the market's first valuation
(``mmcore.state``): what it made before, earlier sessions counted.

For an instrument with ``own_orders_in_book`` the fold keeps its book as the engine does (the
market without us, ``mmcore.own_orders``), so PnL is marked to the mid the engine attributed
against, not to one pulled toward our own quotes. That needs our open orders, so the fold's
ledger takes in our commands and order events as the engine's does, and the book goes stale
when the engine's did (a stream down).

Memory grows with minutes, fills and quote flips; never with market events.
Time is the engine's clock: the ``ts_recv`` of inbound events.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import Any

import msgspec

from mmcore.book import APPLIED, CROSSED, MID_HISTORY, Book
from mmcore.commands import Command, Place
from mmcore.engine import COMMAND_TYPES
from mmcore.errors import MMError
from mmcore.events import (
    BOOK_STREAM,
    BUY,
    BookDelta,
    BookSnapshot,
    ConnectionState,
    Fill,
    FundingPayment,
    MarkPrice,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    Position,
    Timer,
)
from mmcore.instrument import Instrument
from mmcore.log import LogReader
from mmcore.own_orders import OwnOrdersInBook
from mmcore.pnl import PnlParts
from mmcore.records import OUTPUT_TYPES, TAGS, Record
from mmcore.state import Ledger, PositionState
from replay.metrics import MINUTE_NS, running_drawdown
from replay.resting import RestingOrder, RestingQuotes, RestingStats
from replay.round_trips import RoundTrips, RoundTripStats
from replay.series import Envelope, Periodic, Thinned

__all__ = ["FoldStats", "MarketTimeline", "Timeline", "TimelineFold", "fold_log"]

_DRAWDOWN_CHUNK = 4096


class MarketTimeline(msgspec.Struct, frozen=True):
    """One market's series and counts. Prices in ticks (mid as ``mid_x2``), sizes in lots.

    ``buys`` / ``sells`` rows are ``(ts_recv, price, size, maker)``. ``capture`` counts the
    market's fills by spread captured in its half ticks (one histogram per market: ticks of
    different markets are different amounts).
    """

    inst: Instrument
    mid_x2: Envelope
    bid: Envelope
    ask: Envelope
    inventory: Envelope
    buys: Thinned
    sells: Thinned
    quote_edges: array[int]
    parts: PnlParts
    position: int
    fills: int
    maker_fills: int
    volume_lots: int
    notional: int
    capture: Counter[int]


class Timeline(msgspec.Struct, frozen=True):
    """A whole session folded: money in nanos of quote, times in ns since the epoch.

    ``pnl`` rows are ``(t, spread, inventory, fees, funding, total)`` where ``fees`` is the fees'
    contribution to PnL (negative when paid), so ``spread + inventory + fees + funding == total``.
    ``minutes`` / ``minute_close`` are the UTC minutes (since the epoch) that saw an event and the
    total PnL at their close. ``round_trips`` holds each closed round trip's PnL, in order
    (``replay.round_trips``).
    """

    start_ns: int
    end_ns: int
    events: int
    outputs: dict[str, int]
    markets: dict[str, MarketTimeline]
    parts: PnlParts
    pnl: Periodic
    minutes: array[int]
    minute_close: array[int]
    max_drawdown: int
    round_trips: array[int]


class FoldStats(msgspec.Struct, frozen=True):
    """Counters of a ``TimelineFold``."""

    events: int
    outputs: int
    fills: int
    resting: RestingStats
    round_trips: RoundTripStats


class _Mkt:
    """Per-market state of the fold."""

    __slots__ = ("ask", "bid", "book", "buys", "capture", "inventory", "mid", "mid_x2", "name",
                 "notional", "own", "pos", "sells", "total", "unit")

    def __init__(self, name: str, inst: Instrument, pos: PositionState, max_points: int) -> None:
        self.name = name
        self.book = Book(name, mid_history=MID_HISTORY)  # as the engine's: fills' mids
        # the venue's book holds our orders: keep it without them, as the engine's is
        self.own = OwnOrdersInBook() if inst.own_orders_in_book else None
        self.unit = inst.nanos_per_tick_lot
        self.pos = pos
        self.mid_x2 = 0
        self.total = 0
        self.notional = 0
        self.mid = Envelope(max_points)
        self.bid = Envelope(max_points)
        self.ask = Envelope(max_points)
        self.inventory = Envelope(max_points)
        self.buys = Thinned(max_points // 2)
        self.sells = Thinned(max_points // 2)
        self.capture: Counter[int] = Counter()


class TimelineFold:
    """Feed it a log's records (``feed``), any number of times in order; then ``finish``."""

    def __init__(self, instruments: Mapping[str, Instrument], max_points: int = 2000) -> None:
        self.instruments = dict(instruments)
        self.ledger = Ledger(instruments)
        self.quotes = RestingQuotes(instruments)
        self.trips = RoundTrips(instruments)
        self._m = {
            name: _Mkt(name, inst, self.ledger.pos(name), max_points)
            for name, inst in instruments.items()
        }
        self._own = [m for m in self._m.values() if m.own is not None]
        self._pnl = Periodic(max_points)
        self._outputs: Counter[type] = Counter()
        self._events = 0
        self._fills = 0
        self._start = 0
        self._end = 0
        self._total = 0
        self._minute = 0
        self._minutes: array[int] = array("q")
        self._closes: array[int] = array("q")
        self._curve: list[int] = [0]
        self._peak = float("-inf")
        self._worst = 0.0

    # ------------------------------------------------------------ the fold

    def feed(self, records: Iterable[Record]) -> None:
        markets = self._m
        quotes = self.quotes
        outputs = self._outputs
        pnl = self._pnl
        for record in records:
            tp = type(record)
            if tp in OUTPUT_TYPES:
                outputs[tp] += 1
                if tp in COMMAND_TYPES:
                    self._on_command(record)  # type: ignore[arg-type]
                continue
            ev: Any = record
            t = ev.ts_recv
            if not self._events:
                self._start = t
                self._minute = t // MINUTE_NS
            self._events += 1
            self._end = t
            if t // MINUTE_NS != self._minute:
                self._close_minute(t // MINUTE_NS)
            if tp is BookDelta:
                m = markets.get(ev.inst)
                if m is None:
                    continue
                book = m.book
                status = book.apply_delta(ev)
                own = m.own
                # as Engine._on_delta: the levels it set hold the venue's size, ours included
                if own is not None and status in (APPLIED, CROSSED) and own.on_delta(ev):
                    own.sync(book, self.ledger.open_orders(m.name).values(), t)
                mid_x2 = book.mid_x2()  # (inline: the hot path; most deltas leave it)
                if mid_x2 and mid_x2 != m.mid_x2:
                    self._new_mid(m, mid_x2, t)
            elif tp is BookSnapshot:
                m = markets.get(ev.inst)
                if m is None:
                    continue
                m.book.apply_snapshot(ev)
                if m.own is not None:
                    m.own.on_snapshot()
                self._sync_own(m, t)
            elif tp is Fill:
                self._on_fill(ev, t)
            elif tp is OrderAccepted:
                self._on_order(ev, t)
                self._requote(quotes.on_accepted(ev.client_id, t), t)
            elif tp is OrderCanceled:
                self._on_order(ev, t)
                self._requote(quotes.on_canceled(ev.client_id, t), t)
            elif tp is OrderRejected:
                self._on_order(ev, t)
                self._requote(quotes.on_rejected(ev.client_id, t), t)
            elif tp is FundingPayment or tp is Position:
                m = markets.get(ev.inst)
                if m is not None:
                    self._apply(ev)
                    if tp is Position:
                        m.inventory.add(t, m.pos.size)
                    self._sync_own(m, t)
                    self._revalue(m)
            elif tp is MarkPrice:
                # may price a position the venue reported (Position) or value one before any mid
                m = markets.get(ev.inst)
                if m is not None:
                    self._apply(ev)
                    self._sync_own(m, t)
                    if m.pos.size:
                        self._revalue(m)
            elif tp is Timer:
                for m in self._own:  # as Engine._on_timer: what is held for orders gone is freed
                    self._sync_own(m, t)
            elif tp is ConnectionState and ev.state == "down":
                self._stream_down(ev.stream)
            if t >= pnl.next_t:
                pnl.add(t, self._parts_row(t))

    def _on_command(self, cmd: Command) -> None:
        """One of our commands, in flight in the ledger as in the engine's (``Engine._admit``)."""
        if type(cmd) is Place:
            self.quotes.on_place(cmd)
        try:
            self.ledger.on_command(cmd)
        except MMError:
            return  # never in an engine's log: its ledger refused it and it was never sent
        for m in self._own:  # a cancel leaves the order resting, but its state changed
            m.own.orders_changed()  # type: ignore[union-attr]

    def _apply(self, ev: Any) -> None:
        """Fold an account event into the ledger; one it refuses is skipped, as by the engine."""
        with suppress(MMError):
            self.ledger.apply(ev)

    def _on_order(self, ev: OrderAccepted | OrderCanceled | OrderRejected, t: int) -> None:
        m = self._m.get(ev.inst)
        if m is not None:
            self._apply(ev)
            self._sync_own(m, t)

    def _sync_own(self, m: _Mkt, t: int) -> None:
        """Our orders or the book of ``m`` changed: take our orders out of a book that holds
        them (``Engine._sync_own``), then follow its mid."""
        own = m.own
        if own is not None:
            own.sync(m.book, self.ledger.open_orders(m.name).values(), t)
        self._on_mid(m, t)

    def _on_mid(self, m: _Mkt, t: int) -> None:
        """Sample the book's mid if it moved."""
        mid_x2 = m.book.mid_x2()
        if mid_x2 and mid_x2 != m.mid_x2:
            self._new_mid(m, mid_x2, t)

    def _new_mid(self, m: _Mkt, mid_x2: int, t: int) -> None:
        """The book's mid moved to ``mid_x2``: sample it; a position's value moves with it."""
        m.mid_x2 = mid_x2
        m.mid.add(t, mid_x2)
        if m.pos.size:
            self._revalue(m)

    def _stream_down(self, stream: str) -> None:
        """As ``Engine._on_connection``: without data the book is stale (deltas ignored, our
        orders not taken out) until the venue's fresh snapshot."""
        if stream.startswith(BOOK_STREAM):
            m = self._m.get(stream[len(BOOK_STREAM):])
            if m is not None:
                m.book.stale = True
        elif stream.startswith("market"):
            for m in self._m.values():
                m.book.stale = True

    def _on_fill(self, fill: Fill, t: int) -> None:
        m = self._m.get(fill.inst)
        if m is None:
            return
        self._fills += 1
        book = m.book
        mid_x2 = book.mid_x2()
        before_x2 = book.mid_x2_before(fill.ts)  # as Engine._on_fill: the spread's mid
        if before_x2:
            m.capture[fill.side * (before_x2 - 2 * fill.price)] += 1
        # round trips close against the ledger's position at its cost to the session, which a
        # venue correction (Position) may have re-based (at the venue's entry price when it
        # gave one); one reported before any price, or held before the session, gets it from
        # this fill's mid (else its price): the ledger's own rule
        pos = m.pos
        self.ledger.base_before_fill(fill, mid_x2)
        self.trips.rebase(fill.inst, pos.size, pos.session_cost())
        # one the ledger refuses fails in its order's state only (the position took the fill)
        with suppress(MMError):
            self.ledger.apply_fill(fill, mid_x2, before_x2)
        self.trips.on_fill(fill)
        m.notional += fill.price * fill.size * m.unit
        row = (t, fill.price, fill.size, fill.maker)
        (m.buys if fill.side == BUY else m.sells).add(row)
        m.inventory.add(t, m.pos.size)
        self._sync_own(m, t)
        self._revalue(m)
        self._requote(self.quotes.on_fill(fill), t)

    def _revalue(self, m: _Mkt) -> None:
        # the ledger's own valuation, so the curve is the total the parts add up to
        mark_x2 = self._mark_x2(m)
        if mark_x2:
            total = self.ledger.total_pnl(m.name, mark_x2)
        else:
            total = self.ledger.total_pnl(m.name, 0) + m.pos.session_cost()  # at its cost
        if total != m.total:
            self._total += total - m.total
            m.total = total
            curve = self._curve
            curve.append(self._total)
            if len(curve) >= _DRAWDOWN_CHUNK:
                self._peak, self._worst = running_drawdown(curve, self._peak, self._worst)
                curve.clear()

    def _requote(self, order: RestingOrder | None, t: int) -> None:
        """Sample our best price on the side of ``order`` after it started or stopped resting."""
        if order is None:
            return
        m = self._m[order.inst]
        series = m.bid if order.side == BUY else m.ask
        price = self.quotes.best(order.inst, order.side)
        if price:
            series.add(t, price)
        else:
            series.mark_break()

    def _close_minute(self, minute: int) -> None:
        self._minutes.append(self._minute)
        self._closes.append(self._total)
        self._minute = minute

    def _mark_x2(self, m: _Mkt) -> int:
        """Twice the price ``m``'s position is valued at: the book's mid, else the last
        ``MarkPrice``; 0 when neither came yet (the position is then valued at its cost)."""
        return m.mid_x2 or 2 * self.ledger.mark(m.name)

    def _parts(self, m: _Mkt) -> PnlParts:
        """``m``'s PnL parts at its valuation price (``_revalue``'s total)."""
        mark_x2 = self._mark_x2(m)
        parts = self.ledger.pnl.parts(m.name, mark_x2)
        return parts if mark_x2 else _plus_value(parts, m.pos.session_cost())

    def _total_parts(self) -> PnlParts:
        """The session's PnL parts: every market at its valuation price."""
        marks = {name: self._mark_x2(m) for name, m in self._m.items()}
        parts = self.ledger.pnl.total_parts(marks)
        unpriced = sum(m.pos.session_cost() for name, m in self._m.items() if not marks[name])
        return _plus_value(parts, unpriced)

    def _parts_row(self, t: int) -> tuple[int, int, int, int, int, int]:
        p = self._total_parts()
        return (t, p.spread, p.inventory, -p.fees, p.funding, p.total)

    # ------------------------------------------------------------ results

    def finish(self) -> Timeline:
        """The folded session; call once, after the last ``feed``."""
        if self._events:
            self._close_minute(self._minute)
            self._pnl.add(self._end, self._parts_row(self._end))
        _, worst = running_drawdown(self._curve, self._peak, self._worst)
        markets = {}
        for name, m in self._m.items():
            pos = m.pos
            markets[name] = MarketTimeline(
                inst=self.instruments[name],
                mid_x2=m.mid,
                bid=m.bid,
                ask=m.ask,
                inventory=m.inventory,
                buys=m.buys,
                sells=m.sells,
                quote_edges=self.quotes.edges(name),
                parts=self._parts(m),
                position=pos.size,
                fills=pos.fills,
                maker_fills=pos.maker_fills,
                volume_lots=pos.volume,
                notional=m.notional,
                capture=m.capture,
            )
        return Timeline(
            start_ns=self._start,
            end_ns=self._end,
            events=self._events,
            outputs={TAGS[tp]: n for tp, n in sorted(self._outputs.items(), key=_by_tag)},
            markets=markets,
            parts=self._total_parts(),
            pnl=self._pnl,
            minutes=self._minutes,
            minute_close=self._closes,
            max_drawdown=int(worst),
            round_trips=self.trips.pnl,
        )

    def statistics(self) -> FoldStats:
        return FoldStats(
            events=self._events,
            outputs=sum(self._outputs.values()),
            fills=self._fills,
            resting=self.quotes.statistics(),
            round_trips=self.trips.statistics(),
        )


def _plus_value(parts: PnlParts, value: int) -> PnlParts:
    """``parts`` with ``value`` nanos more of position value (valued at 0 there): inventory
    and total take it, so the parts still add up to the total."""
    if not value:
        return parts
    return msgspec.structs.replace(
        parts, inventory=parts.inventory + value, total=parts.total + value
    )


def _by_tag(item: tuple[type, int]) -> str:
    return TAGS[item[0]]


def fold_log(reader: LogReader, max_points: int = 2000) -> Timeline:
    """Fold a whole session log (its instruments from the header) into a ``Timeline``."""
    fold = TimelineFold({i.symbol: i for i in reader.header.instruments}, max_points)
    fold.feed(reader)
    return fold.finish()
