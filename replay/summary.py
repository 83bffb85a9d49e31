"""A session's outcome, folded again from its log: fills, volume, position and PnL by part.

The summary re-runs only the pure folds (books and ledger) over the recorded events; it never
re-runs the strategy, so it describes exactly what happened in the recorded session.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import msgspec

from mmcore.book import Book
from mmcore.events import BookDelta, BookSnapshot, Fill, FundingPayment, MarkPrice
from mmcore.instrument import Instrument
from mmcore.log import LogReader
from mmcore.pnl import PnlParts
from mmcore.records import Record, is_output
from mmcore.state import Ledger

__all__ = ["MarketSummary", "SessionSummary", "summarize"]


class MarketSummary(msgspec.Struct, frozen=True):
    """One market's result; money in quote currency, sizes in base units."""

    symbol: str
    fills: int
    maker_fills: int
    volume: float
    position: float
    pnl_total: float
    pnl_spread: float
    pnl_inventory: float
    pnl_fees: float
    pnl_funding: float


class SessionSummary(msgspec.Struct, frozen=True):
    """The whole session: per-market results and counts of what the engine emitted."""

    events: int
    outputs: Counter[str]
    markets: list[MarketSummary]

    def text(self) -> str:
        lines = [f"events: {self.events:,}"]
        emitted = ", ".join(f"{k} {v:,}" for k, v in sorted(self.outputs.items()))
        lines.append(f"outputs: {emitted or 'none'}")
        for m in self.markets:
            ratio = m.maker_fills / m.fills if m.fills else 0.0
            lines.append(
                f"{m.symbol}: fills {m.fills:,} (maker {ratio:.0%}), volume {m.volume:g}, "
                f"position {m.position:g}"
            )
            lines.append(
                f"  PnL {m.pnl_total:+.4f} = spread {m.pnl_spread:+.4f} "
                f"+ inventory {m.pnl_inventory:+.4f} - fees {m.pnl_fees:+.4f} "
                f"+ funding {m.pnl_funding:+.4f}"
            )
        return "\n".join(lines)


def summarize(reader: LogReader) -> SessionSummary:
    instruments = {i.symbol: i for i in reader.header.instruments}
    return fold_summary(reader, instruments)


def fold_summary(records: Iterable[Record], instruments: dict[str, Instrument]) -> SessionSummary:
    books = {s: Book(s) for s in instruments}
    ledger = Ledger(instruments)
    outputs: Counter[str] = Counter()
    events = 0
    for record in records:
        if is_output(record):
            outputs[type(record).__name__] += 1
            continue
        events += 1
        if isinstance(record, BookDelta):
            if record.inst in books:
                books[record.inst].apply_delta(record)
        elif isinstance(record, BookSnapshot):
            if record.inst in books:
                books[record.inst].apply_snapshot(record)
        elif isinstance(record, Fill):
            if record.inst in books:
                ledger.apply_fill(record, books[record.inst].mid_x2())
        elif isinstance(record, (FundingPayment, MarkPrice)):
            ledger.apply(record)
    markets = []
    for symbol, inst in instruments.items():
        mark_x2 = books[symbol].mid_x2()
        parts: PnlParts = ledger.pnl.parts(symbol, mark_x2)
        pos = ledger.pos(symbol)
        q = float(inst.lot)
        markets.append(
            MarketSummary(
                symbol=symbol,
                fills=pos.fills,
                maker_fills=pos.maker_fills,
                volume=pos.volume * q,
                position=pos.size * q,
                pnl_total=parts.total / 1e9,
                pnl_spread=parts.spread / 1e9,
                pnl_inventory=parts.inventory / 1e9,
                pnl_fees=parts.fees / 1e9,
                pnl_funding=parts.funding / 1e9,
            )
        )
    return SessionSummary(events=events, outputs=outputs, markets=markets)
