"""One pass over a session log, folded into the bounded series a report needs.

``TimelineFold`` re-runs only the pure folds (books, ledger) over the recorded records, like
``replay.summary``, and on the way keeps:

- per market: the mid, our best resting bid and ask, and inventory as ``Envelope`` series; our
  fills (thinned) for markers; the round trips' PnL; the two-sided quote edges;
- for the session: PnL by component sampled at most every ``interval`` (``Periodic``), total PnL
  at the close of each UTC minute that saw an event, the exact max drawdown of total PnL, and a
  histogram of spread captured per fill in half ticks, ``side * (mid_x2 - 2 * price)``: positive
  when we bought below the mid or sold above it (the mid just before the fill).

Total PnL is marked to the book's mid (as in ``replay.summary``) and re-evaluated after every event
that can move it: a mid change while the market holds a position, a fill, funding, a venue
position correction, a mark that prices a position reported before any price (the value is the
ledger's ``total_pnl``). Memory grows with minutes, fills and quote flips; never with market
events.
Time is the engine's clock: the ``ts_recv`` of inbound events.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from mmcore.book import Book
from mmcore.commands import Place
from mmcore.events import (
    BUY,
    BookDelta,
    BookSnapshot,
    Fill,
    FundingPayment,
    MarkPrice,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    Position,
)
from mmcore.instrument import Instrument
from mmcore.log import LogReader
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

    ``buys`` / ``sells`` rows are ``(ts_recv, price, size, maker)``.
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


class Timeline(msgspec.Struct, frozen=True):
    """A whole session folded: money in nanos of quote, times in ns since the epoch.

    ``pnl`` rows are ``(t, spread, inventory, fees, funding, total)`` where ``fees`` is the fees'
    contribution to PnL (negative when paid), so ``spread + inventory + fees + funding == total``.
    ``minutes`` / ``minute_close`` are the UTC minutes (since the epoch) that saw an event and the
    total PnL at their close. ``round_trips`` holds each closed round trip's PnL, in order
    (``replay.round_trips``). ``capture`` counts fills by spread captured in half ticks.
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
    capture: Counter[int]


class FoldStats(msgspec.Struct, frozen=True):
    """Counters of a ``TimelineFold``."""

    events: int
    outputs: int
    fills: int
    resting: RestingStats
    round_trips: RoundTripStats


class _Mkt:
    """Per-market state of the fold."""

    __slots__ = ("ask", "bid", "book", "buys", "inventory", "mid", "mid_x2", "name", "notional",
                 "pos", "sells", "total", "unit")

    def __init__(self, name: str, inst: Instrument, pos: PositionState, max_points: int) -> None:
        self.name = name
        self.book = Book(name)
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
        self._pnl = Periodic(max_points)
        self._capture: Counter[int] = Counter()
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
                if tp is Place:
                    quotes.on_place(record)  # type: ignore[arg-type]
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
            if tp is BookDelta or tp is BookSnapshot:
                m = markets.get(ev.inst)
                if m is None:
                    continue
                if tp is BookDelta:
                    m.book.apply_delta(ev)
                else:
                    m.book.apply_snapshot(ev)
                mid_x2 = m.book.mid_x2()
                if mid_x2 and mid_x2 != m.mid_x2:
                    m.mid_x2 = mid_x2
                    m.mid.add(t, mid_x2)
                    if m.pos.size:
                        self._revalue(m)
            elif tp is Fill:
                self._on_fill(ev, t)
            elif tp is OrderAccepted:
                self._requote(quotes.on_accepted(ev.client_id, t), t)
            elif tp is OrderCanceled:
                self._requote(quotes.on_canceled(ev.client_id, t), t)
            elif tp is OrderRejected:
                self._requote(quotes.on_rejected(ev.client_id, t), t)
            elif tp is FundingPayment or tp is Position:
                m = markets.get(ev.inst)
                if m is not None:
                    self.ledger.apply(ev)
                    if tp is Position:
                        m.inventory.add(t, m.pos.size)
                    self._revalue(m)
            elif tp is MarkPrice:
                self.ledger.apply(ev)  # may price a position the venue reported (Position)
                m = markets.get(ev.inst)
                if m is not None and m.pos.size:
                    self._revalue(m)
            if t >= pnl.next_t:
                pnl.add(t, self._parts_row(t))

    def _on_fill(self, fill: Fill, t: int) -> None:
        m = self._m.get(fill.inst)
        if m is None:
            return
        self._fills += 1
        mid_x2 = m.book.mid_x2()
        if mid_x2:
            self._capture[fill.side * (mid_x2 - 2 * fill.price)] += 1
        # round trips close against the ledger's position, which a venue correction (Position)
        # may have re-based (at the venue's entry price when it gave one); one reported before
        # any price gets its cost from this fill's mid (else its price): the ledger's own rule
        pos = m.pos
        self.ledger.base_before_fill(fill, mid_x2)
        self.trips.rebase(fill.inst, pos.size, pos.cost)
        self.ledger.apply_fill(fill, mid_x2)
        self.trips.on_fill(fill)
        m.notional += fill.price * fill.size * m.unit
        row = (t, fill.price, fill.size, fill.maker)
        (m.buys if fill.side == BUY else m.sells).add(row)
        m.inventory.add(t, m.pos.size)
        self._revalue(m)
        self._requote(self.quotes.on_fill(fill), t)

    def _revalue(self, m: _Mkt) -> None:
        # the ledger's own valuation, so the curve is the total the parts add up to
        total = self.ledger.total_pnl(m.name, m.mid_x2)
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

    def _parts_row(self, t: int) -> tuple[int, int, int, int, int, int]:
        marks = {name: m.mid_x2 for name, m in self._m.items()}
        p = self.ledger.pnl.total_parts(marks)
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
                parts=self.ledger.pnl.parts(name, m.mid_x2),
                position=pos.size,
                fills=pos.fills,
                maker_fills=pos.maker_fills,
                volume_lots=pos.volume,
                notional=m.notional,
            )
        return Timeline(
            start_ns=self._start,
            end_ns=self._end,
            events=self._events,
            outputs={TAGS[tp]: n for tp, n in sorted(self._outputs.items(), key=_by_tag)},
            markets=markets,
            parts=self.ledger.pnl.total_parts({n: m.mid_x2 for n, m in self._m.items()}),
            pnl=self._pnl,
            minutes=self._minutes,
            minute_close=self._closes,
            max_drawdown=int(worst),
            round_trips=self.trips.pnl,
            capture=self._capture,
        )

    def statistics(self) -> FoldStats:
        return FoldStats(
            events=self._events,
            outputs=sum(self._outputs.values()),
            fills=self._fills,
            resting=self.quotes.statistics(),
            round_trips=self.trips.statistics(),
        )


def _by_tag(item: tuple[type, int]) -> str:
    return TAGS[item[0]]


def fold_log(reader: LogReader, max_points: int = 2000) -> Timeline:
    """Fold a whole session log (its instruments from the header) into a ``Timeline``."""
    fold = TimelineFold({i.symbol: i for i in reader.header.instruments}, max_points)
    fold.feed(reader)
    return fold.finish()
