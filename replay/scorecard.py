"""A session's scorecard: the report's metrics computed from a folded ``Timeline``, and its text.

``SessionMetrics`` is flat (one number per field) so a parameter sweep can put one per row of a
table. Money is in quote currency (floats, for presentation only: the fold is exact in nanos),
and the PnL parts are *contributions*: ``pnl_fees`` is negative when fees were paid and positive
for a net rebate, so ``pnl_spread + pnl_inventory + pnl_fees + pnl_funding == pnl_total``.
Markets are assumed to share one quote currency.

Sharpe is of per-minute PnL changes, annualised by ``sqrt(525_600)`` (minutes per year, markets
that never close); see ``replay.metrics`` for every definition, including round trips.
"""

from __future__ import annotations

import math

import msgspec

from replay.metrics import (
    MINUTES_PER_YEAR,
    changes,
    expectancy,
    longest_losing_streak,
    pnl_by_hour,
    profit_factor,
    sharpe,
    two_sided_uptime,
    win_rate,
)
from replay.timeline import Timeline

__all__ = ["METRIC_NAMES", "MarketLine", "Scorecard", "SessionMetrics", "score"]



class SessionMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """The session's numbers. NaN where a metric is undefined (no round trips, one minute...).

    duration_s: first to last inbound event, seconds. volume_quote: notional traded.
    maker_ratio: maker fills / fills. max_drawdown: largest fall of total PnL (quote, >= 0).
    sharpe: per-minute PnL changes, mean/std x sqrt(525600). uptime: two-sided quote time as a
    fraction of session time, averaged over markets.
    """

    pnl_total: float
    pnl_spread: float
    pnl_inventory: float
    pnl_fees: float
    pnl_funding: float
    fills: int
    maker_ratio: float
    volume_quote: float
    max_drawdown: float
    sharpe: float
    win_rate: float
    profit_factor: float
    expectancy: float
    longest_losing_streak: int
    round_trips: int
    uptime: float
    events: int
    duration_s: float


METRIC_NAMES: tuple[str, ...] = SessionMetrics.__struct_fields__
"""Every metric a sweep can sort by, in table order."""


class MarketLine(msgspec.Struct, frozen=True, kw_only=True):
    """One market's share: sizes in base units, money in quote."""

    symbol: str
    fills: int
    maker_fills: int
    volume: float
    position: float
    pnl_total: float
    uptime: float


class Scorecard(msgspec.Struct, frozen=True, kw_only=True):
    """Metrics, per-market lines, PnL by UTC hour of day and what the engine emitted."""

    metrics: SessionMetrics
    markets: list[MarketLine]
    pnl_by_hour: dict[int, float]
    outputs: dict[str, int]
    minutes: int

    def text(self) -> str:
        m = self.metrics
        lines = [
            f"events: {m.events:,} over {m.duration_s:,.1f} s ({self.minutes} UTC minutes)",
            "outputs: " + (", ".join(f"{k} {v:,}" for k, v in self.outputs.items()) or "none"),
            f"PnL total {m.pnl_total:+.6f} = spread {m.pnl_spread:+.6f} "
            f"+ inventory {m.pnl_inventory:+.6f} + fees {m.pnl_fees:+.6f} "
            f"+ funding {m.pnl_funding:+.6f}",
            f"fills: {m.fills:,}  maker ratio: {_pct(m.maker_ratio)}  "
            f"volume: {m.volume_quote:,.2f} quote",
            f"max drawdown: {m.max_drawdown:.6f}  "
            f"Sharpe (per-minute PnL, annualised x sqrt({MINUTES_PER_YEAR})): {_num(m.sharpe)}"
            + (f" (from only {self.minutes} minutes)" if self.minutes < 60 else ""),
            f"round trips: {m.round_trips:,}  win rate: {_pct(m.win_rate)}  "
            f"profit factor: {_num(m.profit_factor)}  expectancy: {_num(m.expectancy, 6)}  "
            f"longest losing streak: {m.longest_losing_streak} round trips",
            f"two-sided quote uptime: {_pct(m.uptime)}",
        ]
        for line in self.markets:
            lines.append(
                f"  {line.symbol}: fills {line.fills:,} (maker {line.maker_fills:,}), "
                f"volume {line.volume:g}, position {line.position:g}, "
                f"PnL {line.pnl_total:+.6f}, uptime {_pct(line.uptime)}"
            )
        hours = "  ".join(f"{h:02d}h {v:+.6f}" for h, v in self.pnl_by_hour.items())
        lines.append(f"PnL by UTC hour: {hours or 'none'}")
        return "\n".join(lines)


def score(tl: Timeline) -> Scorecard:
    """Compute every metric of a folded session."""
    closes = _fill_minutes(tl)
    keys = list(range(tl.minutes[0], tl.minutes[0] + len(closes))) if len(tl.minutes) else []
    per_minute = changes(closes)
    trips = tl.round_trips
    fills = sum(m.fills for m in tl.markets.values())
    maker = sum(m.maker_fills for m in tl.markets.values())
    lines = []
    uptimes = []
    for name, m in tl.markets.items():
        up = two_sided_uptime(m.quote_edges, tl.start_ns, tl.end_ns)
        uptimes.append(up)
        lot = float(m.inst.lot)
        lines.append(
            MarketLine(
                symbol=name,
                fills=m.fills,
                maker_fills=m.maker_fills,
                volume=m.volume_lots * lot,
                position=m.position * lot,
                pnl_total=_quote(m.parts.total),
                uptime=up,
            )
        )
    p = tl.parts
    metrics = SessionMetrics(
        pnl_total=_quote(p.total),
        pnl_spread=_quote(p.spread),
        pnl_inventory=_quote(p.inventory),
        pnl_fees=_quote(-p.fees),
        pnl_funding=_quote(p.funding),
        fills=fills,
        maker_ratio=maker / fills if fills else math.nan,
        volume_quote=_quote(sum(m.notional for m in tl.markets.values())),
        max_drawdown=_quote(tl.max_drawdown),
        sharpe=sharpe([_quote(c) for c in per_minute], MINUTES_PER_YEAR),
        win_rate=win_rate(trips),
        profit_factor=profit_factor(trips),
        expectancy=_quote(expectancy(trips)),
        longest_losing_streak=longest_losing_streak(trips),
        round_trips=len(trips),
        uptime=math.fsum(uptimes) / len(uptimes) if uptimes else math.nan,
        events=tl.events,
        duration_s=(tl.end_ns - tl.start_ns) / 1e9,
    )
    by_hour = {h: _quote(v) for h, v in pnl_by_hour(keys, per_minute).items()}
    return Scorecard(
        metrics=metrics,
        markets=lines,
        pnl_by_hour=by_hour,
        outputs=tl.outputs,
        minutes=len(closes),
    )


def _fill_minutes(tl: Timeline) -> list[int]:
    """Total PnL at the close of every UTC minute from the first to the last, carrying the last
    close through minutes that saw no event."""
    out: list[int] = []
    if not len(tl.minutes):
        return out
    first = tl.minutes[0]
    for minute, close in zip(tl.minutes, tl.minute_close):
        while first + len(out) < minute:
            out.append(out[-1])
        out.append(close)
    return out


def _quote(nanos: float) -> float:
    """Nanos of quote as quote currency, correctly rounded (for presentation only)."""
    return nanos / 1e9


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.1%}"


def _num(x: float, places: int = 3) -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{places}f}"
