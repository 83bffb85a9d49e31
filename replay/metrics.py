"""Performance metrics of a session, as pure functions over small series.

Every function here takes plain numbers (PnL values in any one unit, timestamps in nanoseconds) and
returns plain numbers; nothing reads a log or a clock. ``replay.timeline`` folds a log into the
series these functions take, and ``replay.scorecard`` applies them.

Definitions:

- *Max drawdown*: the largest fall of a PnL curve from a running peak to a later trough, a
  non-negative number in the curve's unit (0 for a curve that never falls). The curve starts at
  its first value, not at 0.
- *Sharpe*: mean over sample standard deviation (n - 1) of per-period PnL changes. It is
  annualised by ``sqrt(periods_per_year)``; for the per-minute series of a report that is
  ``sqrt(MINUTES_PER_YEAR)`` (525,600 minutes: markets that trade around the clock). It is PnL
  based, with no capital base and a zero risk-free rate. NaN when there are fewer than two
  changes or they do not vary.
- *Round trip*: every fill that reduces the position closes a round trip of the lots it closes
  (average-cost accounting, as ``mmcore.state.Ledger`` does it). The round trip's PnL is the
  realized gain of those lots minus the fees of opening and closing them, pro rata; funding is
  not part of any round trip. Lots held before the session count from the session's first
  valuation of them, not from the venue's entry price (``PositionState.session_cost``): what
  they made before, earlier sessions counted. See ``replay.round_trips``.
- *Win rate*: round trips with PnL > 0 over all round trips (NaN when there are none).
- *Profit factor*: gross profit over gross loss of the round trips; +inf when there are profits
  and no losses, NaN when there are neither.
- *Expectancy*: the mean round-trip PnL (NaN when there are none).
- *Longest losing streak*: the most consecutive round trips with PnL < 0 (a round trip at
  exactly 0 ends a streak).
- *Two-sided uptime*: the fraction of session time during which at least one bid and at least
  one ask of ours were open (accepted by the venue and neither filled, canceled nor rejected).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = [
    "MINUTES_PER_YEAR",
    "MINUTE_NS",
    "changes",
    "expectancy",
    "longest_losing_streak",
    "max_drawdown",
    "pnl_by_hour",
    "profit_factor",
    "running_drawdown",
    "sharpe",
    "two_sided_uptime",
    "win_rate",
]

MINUTE_NS = 60_000_000_000
MINUTES_PER_YEAR = 365 * 24 * 60


def running_drawdown(
    curve: Iterable[float], peak: float = -math.inf, worst: float = 0.0
) -> tuple[float, float]:
    """Continue a drawdown scan over ``curve``: returns the new ``(peak, worst)``.

    Scanning a long curve chunk by chunk, feeding each call the previous call's result, gives
    exactly the drawdown of the whole curve while holding only one chunk in memory.
    """
    for value in curve:
        if value > peak:
            peak = value
        elif peak - value > worst:
            worst = peak - value
    return peak, worst


def max_drawdown(curve: Iterable[float]) -> float:
    """The largest peak-to-later-trough fall of ``curve``; 0 when it never falls."""
    return running_drawdown(curve)[1]


def changes(closes: Sequence[float], start: float = 0.0) -> list[float]:
    """Per-period changes of a series of period closes; the first is relative to ``start``."""
    out = []
    prev = start
    for value in closes:
        out.append(value - prev)
        prev = value
    return out


def sharpe(values: Sequence[float], periods_per_year: float | None = None) -> float:
    """Mean / sample std of ``values``, times ``sqrt(periods_per_year)`` when given.

    NaN when there are fewer than two values or they are all equal.
    """
    n = len(values)
    if n < 2:
        return math.nan
    # deviations from the first value: equal values give exactly 0 (a float mean of equal
    # values can be an ulp off them, which would leave a tiny variance and a huge ratio)
    first = values[0]
    shifted = [v - first for v in values]
    mean = math.fsum(shifted) / n
    var = math.fsum((v - mean) ** 2 for v in shifted) / (n - 1)
    mean += first
    if var <= 0.0:
        return math.nan
    ratio = mean / math.sqrt(var)
    return ratio * math.sqrt(periods_per_year) if periods_per_year else ratio


def win_rate(trips: Sequence[float]) -> float:
    """Fraction of round trips with PnL > 0; NaN when there are none."""
    if not trips:
        return math.nan
    return sum(1 for p in trips if p > 0) / len(trips)


def profit_factor(trips: Sequence[float]) -> float:
    """Gross profit / gross loss; +inf with profits and no losses, NaN with neither."""
    gross_profit = math.fsum(p for p in trips if p > 0)
    gross_loss = -math.fsum(p for p in trips if p < 0)
    if gross_loss == 0.0:
        return math.inf if gross_profit > 0 else math.nan
    return gross_profit / gross_loss


def expectancy(trips: Sequence[float]) -> float:
    """Mean PnL per round trip; NaN when there are none."""
    if not trips:
        return math.nan
    return math.fsum(trips) / len(trips)


def longest_losing_streak(trips: Iterable[float]) -> int:
    """The most consecutive round trips with PnL < 0."""
    longest = run = 0
    for p in trips:
        if p < 0:
            run += 1
            if run > longest:
                longest = run
        else:
            run = 0
    return longest


def two_sided_uptime(edges: Sequence[int], start: int, end: int) -> float:
    """Fraction of ``[start, end]`` covered by two-sided periods.

    ``edges`` are the times the quotes became two-sided and stopped being so, alternating and
    in time order: ``[up0, down0, up1, down1, ...]``; an odd count means still two-sided at
    ``end``. Periods are clipped to ``[start, end]``. NaN when ``end <= start``.
    """
    if end <= start:
        return math.nan
    covered = 0
    for i in range(0, len(edges), 2):
        up = max(edges[i], start)
        down = min(edges[i + 1], end) if i + 1 < len(edges) else end
        if down > up:
            covered += down - up
    return covered / (end - start)


def pnl_by_hour(minutes: Sequence[int], pnl: Sequence[float]) -> dict[int, float]:
    """Sum ``pnl[i]`` by the UTC hour of day (0-23) of minute ``minutes[i]`` (minutes since the
    epoch); only hours that occur are keys, in ascending order."""
    by_hour: dict[int, float] = {}
    for minute, value in zip(minutes, pnl):
        hour = (minute // 60) % 24
        by_hour[hour] = by_hour.get(hour, 0.0) + value
    return dict(sorted(by_hour.items()))
