"""Where a running session stands, as a few lines of text for the operator's log.

``status_lines(engine, in_flight)`` gives one line per market (mid, marked when the book is stale
or crossed, our best quotes, position, PnL
split into spread / inventory / fees / funding, open orders) and one for the session (total PnL,
fills, events, commands, calls in flight, halts). The live runner logs them every
``[session] status_interval_s``. Pure: it reads the engine's state and changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

from mmcore.engine import Engine
from mmcore.events import BUY
from mmcore.instrument import Instrument
from mmcore.pnl import PnlParts
from mmcore.risk import RiskGate

__all__ = ["status_lines"]

_MICRO = Decimal("0.000001")


def _money(nanos: int, sign: bool = True) -> str:
    """Nanos of quote as a decimal amount to 6 places (as the session summary prints it),
    signed unless ``sign`` is false."""
    q = (Decimal(nanos) / 1_000_000_000).quantize(_MICRO)
    return f"{q:+}" if sign else f"{q}"


def _parts(p: PnlParts) -> str:
    return (
        f"pnl {_money(p.total)} (spread {_money(p.spread)}, inventory {_money(p.inventory)}, "
        f"fees {_money(p.fees, sign=False)}, funding {_money(p.funding)})"
    )


def _market_line(engine: Engine, sym: str, inst: Instrument) -> tuple[str, int]:
    """The market's line, and its twice-mark in ticks (0 when it cannot be valued yet)."""
    view = engine.view
    ledger = engine.ledger
    book = engine.books[sym]
    mid_x2 = book.mid_x2()
    mid = "?" if not mid_x2 else str(inst.ticks_to_price(mid_x2) / 2)
    if book.stale:  # the last mid seen, not the market's now: waiting for a fresh snapshot
        mid += " (book stale)"
    elif book.crossed:
        mid += " (book crossed)"
    orders = ledger.open_orders(sym).values()
    bids = [o.price for o in orders if o.side == BUY]
    asks = [o.price for o in orders if o.side != BUY]
    bid = inst.price_str(max(bids)) if bids else "-"
    ask = inst.price_str(min(asks)) if asks else "-"
    lots = ledger.position(sym)
    position = f"{inst.lots_to_size(lots):+}" if lots else "0"
    mark_x2 = view.mark_x2(sym)
    pnl = _parts(ledger.pnl.parts(sym, mark_x2)) if mark_x2 or not lots else "pnl ? (no mark)"
    line = (
        f"{sym} mid {mid} | quotes {bid} / {ask} | position {position} | {pnl} | "
        f"{len(bids) + len(asks)} open"
    )
    return line, mark_x2


def status_lines(engine: Engine, in_flight: int = 0) -> list[str]:
    """One line per market, then the session's line."""
    lines: list[str] = []
    marks: dict[str, int] = {}
    for sym, inst in engine.instruments.items():
        line, mark_x2 = _market_line(engine, sym, inst)
        lines.append(line)
        if mark_x2 or not engine.ledger.position(sym):
            marks[sym] = mark_x2
    if len(marks) == len(engine.instruments):
        total = _money(engine.ledger.pnl.total_parts(marks).total)
    else:
        total = "? (a position without a mark)"
    risk = engine.risk
    if isinstance(risk, RiskGate):
        reasons = risk.statistics().reasons
        halted = f"halted: {', '.join(reasons)}" if reasons else "not halted"
    else:
        halted = "halts unknown"
    day = engine.risk.day_pnl()
    if day is not None:  # what counts toward the daily loss limit, earlier sessions included
        total += f" | day pnl {_money(day[1])}"
    stats = engine.statistics()
    lines.append(
        f"session pnl {total} | fills {engine.ledger.statistics().fills:,} | "
        f"events {stats.events:,} | commands {stats.commands:,} | in flight {in_flight} | "
        f"{halted}" + (" | stopping" if engine.stopping else "")
    )
    return lines
