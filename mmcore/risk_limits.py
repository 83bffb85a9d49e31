"""The risk gate's configuration, its decision codes, and the rolling loss windows it watches.

``RiskConfig`` is table ``[risk]`` (``mmcore.risk`` re-exports it). Money limits are given in
USD (the quote currency) and converted to integer nanos once, when the gate is built.
``LossWindows`` folds the session's total PnL samples into the two loss figures the gate limits:
the drop from the highest PnL of the last 60 minutes, and the drop since the UTC day began.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import msgspec

from mmcore.client_ids import BadClientIdPrefix, check_prefix
from mmcore.ratelimit import RateLimitConfig

__all__ = [
    "DAY_PNL_CARRIED",
    "FLATTEN_UNREALIZED",
    "HALTED",
    "HOUR_HIGHS_CARRIED",
    "INVALID_ORDER",
    "KILL_SWITCH",
    "LOSS_LIMIT_DAY",
    "LOSS_LIMIT_HOUR",
    "MIN_EQUITY",
    "NOT_REDUCING",
    "OPEN_ORDERS_LIMIT",
    "OPERATOR_HALT",
    "POSITION_LIMIT",
    "POST_ONLY_CROSS",
    "PRICE_BAND",
    "RATE_LIMITED",
    "RESUMED",
    "RISK_CODES",
    "LossCarry",
    "LossWindows",
    "RiskConfig",
    "usd_to_nanos",
]

# ---------------------------------------------------------------- decision codes (stable)

POSITION_LIMIT = "position_limit"
"""A Place was clamped or dropped: filled with every other live order it would pass the limit."""
OPEN_ORDERS_LIMIT = "open_orders_limit"
"""A Place was dropped: the market already has ``max_open_orders`` non-terminal orders."""
PRICE_BAND = "price_band"
"""A Place was dropped: its price is too far from the mark (or there is no mark or mid)."""
POST_ONLY_CROSS = "post_only_cross"
"""A post-only Place was dropped: it would cross the opposite best."""
RATE_LIMITED = "rate_limited"
"""A command was dropped for lack of rate budget (a cancel is retried by the order manager)."""
HALTED = "halted"
"""A Place was dropped because trading is halted, or a Halt intent's CancelAll started a halt."""
LOSS_LIMIT_HOUR = "loss_limit_hour"
"""The PnL fell more than ``max_loss_hour_usd`` below its 60-minute high: global halt."""
LOSS_LIMIT_DAY = "loss_limit_day"
"""The PnL fell more than ``max_loss_day_usd`` since the UTC day began: halt until the next day."""
MIN_EQUITY = "min_equity"
"""The venue-reported equity fell below ``min_equity_usd``: global halt."""
KILL_SWITCH = "kill_switch"
"""``max_consecutive_failures`` rejects in a row: cancel everything, global halt."""
FLATTEN_UNREALIZED = "flatten_unrealized"
"""A market's unrealized loss passed ``flatten_unrealized_loss_usd``: cancel, exit, halt it."""
INVALID_ORDER = "invalid_order"
"""A Place was dropped: unknown market, price <= 0 or size below the instrument's minimum."""
NOT_REDUCING = "not_reducing"
"""A reduce-only Place was clamped to the position or dropped: it would not reduce it."""
OPERATOR_HALT = "operator_halt"
"""The operator halted trading (``session_control.halt_event``): global halt until resumed."""
DAY_PNL_CARRIED = "day_pnl_carried"
"""Earlier sessions' PnL of the UTC day (a ``PriorDayPnl`` event) now counts toward
``max_loss_day_usd``; the message says how much."""
HOUR_HIGHS_CARRIED = "hour_highs_carried"
"""Earlier sessions' PnL highs of the last hour (a ``PriorDayPnl`` event's ``hour_highs``) now
count toward ``max_loss_hour_usd``: a restart does not reset the 60-minute drawdown."""
RESUMED = "resumed"
"""A halt was lifted (the operator's ``resume_event``, ``RiskGate.resume`` or a new UTC day for
the daily loss limit)."""

RISK_CODES = (
    POSITION_LIMIT,
    OPEN_ORDERS_LIMIT,
    PRICE_BAND,
    POST_ONLY_CROSS,
    RATE_LIMITED,
    HALTED,
    LOSS_LIMIT_HOUR,
    LOSS_LIMIT_DAY,
    MIN_EQUITY,
    KILL_SWITCH,
    FLATTEN_UNREALIZED,
    INVALID_ORDER,
    NOT_REDUCING,
    OPERATOR_HALT,
    DAY_PNL_CARRIED,
    HOUR_HIGHS_CARRIED,
    RESUMED,
)

MINUTE_NS = 60 * 1_000_000_000
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS


def usd_to_nanos(usd: float) -> int:
    """A USD amount from the config as integer nanos, rounded to the nearest nano."""
    return round(usd * 1_000_000_000)


class RiskConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Limits of the risk gate (table ``[risk]``); 0 turns a limit off unless said otherwise.

    max_position_lots: per market, the largest position in lots even if every live order filled
        at once; 0 (default) = use max_position_usd only. ``RiskGate`` refuses a config where
        both position limits are 0.
    max_position_usd: the same limit as notional in USD at the mark (else the mid; else the
        highest of the order's price and the book's best prices; with none but the order's own
        price, only reduce-only orders go); default 0. With both set, the smaller wins.
    max_open_orders: per market, non-terminal orders incl. in-flight; default 10, >= 1. The
        gate's own forced exit (``flatten_unrealized_loss_usd``: a reduce-only IOC sent with
        the CancelAll of the market's orders) is not held back by it: it never rests, cannot add
        exposure, and waiting for the cancels' confirmations would delay a loss limit's exit.
    min_equity_usd: halt when the venue-reported equity (a ``Balance`` event) drops below; default
        0 = off.
    max_loss_hour_usd: halt when the total PnL (all markets, realized + unrealized - fees +
        funding) falls this far below its high of the last 60 minutes; default 0 = off.
    max_loss_day_usd: halt when the total PnL falls this far below its value at the start of the
        UTC day (from engine time); lifted at the next UTC day; default 0 = off. For both loss
        limits a position the session inherits (reported before its market is first valued)
        counts from that valuation, plus its move since the last session's last mark: what it
        made before was earlier sessions' PnL, carried in ``PriorDayPnl``.
    flatten_unrealized_loss_usd: when a market's unrealized loss passes this, cancel its orders,
        send a reduce-only IOC exit and halt the market; default 0 = off.
    max_consecutive_failures: ``OrderRejected`` events in a row (reset by an ack or a fill) that
        trip the kill switch; default 5, 0 = off.
    price_band_bps: a Place further than this from the mark (else the book's mid) is dropped;
        default 500, 0 = off.
    flatten_slippage_bps: how far through the opposite best the forced exit's IOC limit goes;
        default 50, in [0, 10000).
    client_id_prefix: prefix of the forced exit's client ids (``f"{prefix}-{n}"``); the runner
        may make it per-session; default "risk".
    rate_limit: the venue's request budget (table ``[risk.rate_limit]``). Left at its default
        (every field at its default), a session runs on the venue's published limits
        (``mmcore.ratelimit.venue_defaults``, substituted by ``replay.session``; Extended: 900
        requests a minute; none for "sim"); ``reserve_for_cancels = 0`` alone means no limits.
    """

    max_position_lots: int = 0
    max_position_usd: float = 0.0
    max_open_orders: int = 10
    min_equity_usd: float = 0.0
    max_loss_hour_usd: float = 0.0
    max_loss_day_usd: float = 0.0
    flatten_unrealized_loss_usd: float = 0.0
    max_consecutive_failures: int = 5
    price_band_bps: float = 500.0
    flatten_slippage_bps: float = 50.0
    client_id_prefix: str = "risk"
    rate_limit: RateLimitConfig = RateLimitConfig()

    def __post_init__(self) -> None:
        if self.max_position_lots < 0:
            raise ValueError(f"max_position_lots: expected >= 0, found {self.max_position_lots}")
        for name in (
            "max_position_usd",
            "min_equity_usd",
            "max_loss_hour_usd",
            "max_loss_day_usd",
            "flatten_unrealized_loss_usd",
            "price_band_bps",
        ):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name}: expected a finite number >= 0, found {value}")
        if self.max_open_orders < 1:
            raise ValueError(f"max_open_orders: expected >= 1, found {self.max_open_orders}")
        if self.max_consecutive_failures < 0:
            raise ValueError(
                f"max_consecutive_failures: expected >= 0, found {self.max_consecutive_failures}"
            )
        if not 0 <= self.flatten_slippage_bps < 10_000:
            raise ValueError(
                f"flatten_slippage_bps: expected 0 <= bps < 10000, "
                f"found {self.flatten_slippage_bps}"
            )
        try:
            check_prefix(self.client_id_prefix, "client_id_prefix")
        except BadClientIdPrefix as exc:
            raise ValueError(str(exc)) from None


class LossCarry(msgspec.Struct, frozen=True):
    """What a session hands the next one so that a restart resets neither loss limit: the PnL
    made on UTC day ``day`` (nanos), the highs of the last hour, each ``(ts, above)``: the PnL
    stood ``above`` nanos over where it is now at ``ts`` (``LossWindows.hour_highs``), and each
    market's position with the mark it was last valued at, ``(inst, lots, mark_x2)``, in the
    session's lots and ticks (the day-PnL file saves each with its instrument's spec, so the
    next session reads them in its own units, ``mmcore.day_pnl``): the next session counts what
    that position makes from there, not what it made before."""

    day: int
    pnl: int
    hour_highs: tuple[tuple[int, int], ...] = ()
    marks: tuple[tuple[str, int, int], ...] = ()


class LossWindows:
    """Rolling 60-minute drawdown and UTC-day loss of the session's total PnL, in nanos.

    ``update(now, total)`` takes a PnL sample and returns nothing; read ``hour_loss`` (highest
    sample of the last 60 minutes, including the session's starting 0, minus ``total``) and
    ``day_loss`` (the last sample before the UTC day began, or the starting 0, minus ``total``).
    The highs are kept in a monotonic deque, so memory stays small and each sample is O(1)
    amortized. ``new_day`` is True after the ``update`` that crossed a UTC day boundary.
    ``carry(day, pnl)`` before the first sample counts what earlier sessions made on ``day``:
    the session then starts at ``pnl`` into that day, not at 0. ``carry_highs(highs)`` before
    the first sample counts the highs of earlier sessions' last hour (as ``hour_highs`` gave
    them): the session starts that far below them, so a restart does not reset the drawdown.
    """

    __slots__ = (
        "_carried", "_day", "_day_start", "_highs", "_last", "day_loss", "hour_loss", "new_day",
    )

    def __init__(self) -> None:
        self._highs: deque[tuple[int, int]] = deque()
        self._carried: list[tuple[int, int]] = []
        self._day = -1
        self._day_start = 0
        self._last = 0
        self.hour_loss = 0
        self.day_loss = 0
        self.new_day = False

    def carry(self, day: int, pnl: int) -> None:
        """Earlier sessions made ``pnl`` on UTC day ``day``; ignored once samples have begun
        (a carry belongs before the session's own PnL)."""
        if self._highs:
            return
        self._day = day
        self._day_start = -pnl
        self.day_loss = -pnl

    def carry_highs(self, highs: Iterable[tuple[int, int]]) -> None:
        """Earlier sessions' PnL was ``above`` higher than where they ended at each ``(ts,
        above)`` of ``highs``; those still within the hour at the first sample count toward
        the drawdown. Ignored once samples have begun. Entries that are not highs (``above <=
        0``, or out of time order) are dropped: the carry can only add drawdown."""
        if self._highs:
            return
        kept: list[tuple[int, int]] = []
        for ts, above in sorted(highs):
            if above <= 0:
                continue
            while kept and kept[-1][1] <= above:
                kept.pop()
            kept.append((ts, above))
        self._carried = kept

    def hour_highs(self, bucket_ns: int = MINUTE_NS) -> list[tuple[int, int]]:
        """The highs of the last hour as ``(ts, above)``: how far above the last sample the PnL
        stood at ``ts``, what ``carry_highs`` of the next session takes. At most one per
        ``bucket_ns`` of time (the bucket's highest value, stamped with its latest time: the
        carry never shows less drawdown than the session had, nor for less long)."""
        last = self._last
        out: list[tuple[int, int]] = []
        bucket = -1
        for ts, value in self._highs:
            above = value - last
            if above <= 0:
                break  # the deque falls from front to back: nothing later is above
            b = ts // bucket_ns
            if b == bucket:
                out[-1] = (ts, out[-1][1])
            else:
                bucket = b
                out.append((ts, above))
        return out

    @property
    def day_pnl(self) -> tuple[int, int] | None:
        """``(day, pnl)``: the UTC day of the last sample and the PnL made on it, carried PnL
        included; None before the first sample."""
        if not self._highs:
            return None
        return self._day, -self.day_loss

    def update(self, now: int, total: int) -> None:
        highs = self._highs
        if not highs:
            highs.extend(self._carried)  # earlier sessions' highs, above the start's 0
            while highs and highs[-1][1] <= 0:
                highs.pop()
            highs.append((now, 0))  # the session starts at a PnL of 0
        while highs and highs[-1][1] <= total:
            highs.pop()
        highs.append((now, total))
        horizon = now - HOUR_NS
        while highs[0][0] <= horizon:
            highs.popleft()
        self.hour_loss = highs[0][1] - total
        day = now // DAY_NS
        self.new_day = day != self._day and self._day >= 0
        if day != self._day:
            self._day = day
            self._day_start = self._last
        self.day_loss = self._day_start - total
        self._last = total
