"""Inbound events: everything the engine folds, in the past tense.

Every event is a frozen, tagged, array-like msgspec ``Struct`` with integer prices (ticks),
sizes (lots), money (nanos of the quote currency, see ``mmcore.instrument``) and integer
nanosecond timestamps. ``ts`` is the venue's timestamp, ``ts_recv`` ours (the runner stamps it);
the engine's clock is ``ts_recv`` and nothing else.

Schema evolution follows msgspec's rules: new fields are appended with defaults, fields are never
retyped, and a tag is never reused. Tags are explicit and stable, never derived from class paths.

Book levels travel as flat tuples ``(price0, size0, price1, size1, ...)``: one allocation per side
instead of one per level, which matters at hundreds of thousands of events per second. Bids are
best (highest) first, asks best (lowest) first in snapshots; deltas may list levels in any order
and a size of 0 deletes the level.
"""

from __future__ import annotations

from typing import Union

import msgspec

BUY = 1
SELL = -1

__all__ = [
    "BOOK_STREAM",
    "BUY",
    "SELL",
    "AccountEvent",
    "Balance",
    "BookDelta",
    "BookSnapshot",
    "ConnectionState",
    "ControlEvent",
    "Event",
    "Fill",
    "FundingPayment",
    "FundingRate",
    "MarkPrice",
    "MarketEvent",
    "OrderAccepted",
    "OrderCanceled",
    "OrderRejected",
    "Position",
    "PriorDayPnl",
    "RiskEvent",
    "StrategyEvent",
    "Timer",
    "Trade",
    "book_stream",
]


class _Event(msgspec.Struct, frozen=True, array_like=True, gc=False, tag_field="t"):
    """Base of every event; never instantiated itself."""


# ---------------------------------------------------------------- market data


class BookSnapshot(_Event, tag="BookSnapshot", frozen=True):
    """The venue's full book (or its top N) at ``seq``; replaces whatever the book held."""

    inst: str
    ts: int
    ts_recv: int
    seq: int
    bids: tuple[int, ...]
    asks: tuple[int, ...]


class BookDelta(_Event, tag="BookDelta", frozen=True):
    """A batch of level changes; size 0 deletes a level.

    ``prev_seq`` is the venue's previous sequence number when the venue sends one (Binance ``pu``);
    -1 means the venue numbers messages consecutively and ``seq`` must be the book's ``seq + 1``.
    """

    inst: str
    ts: int
    ts_recv: int
    seq: int
    prev_seq: int
    bids: tuple[int, ...]
    asks: tuple[int, ...]


class Trade(_Event, tag="Trade", frozen=True):
    """A public trade; ``side`` is the aggressor's side (BUY lifted the ask)."""

    inst: str
    ts: int
    ts_recv: int
    price: int
    size: int
    side: int
    trade_id: str = ""


class MarkPrice(_Event, tag="MarkPrice", frozen=True):
    """The venue's mark (and index) price, in ticks rounded to the nearest tick."""

    inst: str
    ts: int
    ts_recv: int
    price: int
    index_price: int = 0


class FundingRate(_Event, tag="FundingRate", frozen=True):
    """Current funding rate in parts per billion per funding interval (1e-4 = 100_000)."""

    inst: str
    ts: int
    ts_recv: int
    rate_ppb: int
    next_ts: int = 0


MarketEvent = Union[BookSnapshot, BookDelta, Trade, MarkPrice, FundingRate]


# ---------------------------------------------------------------- own account


class OrderAccepted(_Event, tag="OrderAccepted", frozen=True):
    """The venue acknowledged our order ``client_id`` and it is resting (or working)."""

    inst: str
    ts: int
    ts_recv: int
    client_id: str
    venue_order_id: str = ""


class OrderRejected(_Event, tag="OrderRejected", frozen=True):
    """The venue (or the simulated venue) refused our place request; ``code`` is the venue's."""

    inst: str
    ts: int
    ts_recv: int
    client_id: str
    code: str
    reason: str


class OrderCanceled(_Event, tag="OrderCanceled", frozen=True):
    """Our order ``client_id`` is no longer resting; any remainder is gone."""

    inst: str
    ts: int
    ts_recv: int
    client_id: str
    reason: str = ""


class Fill(_Event, tag="Fill", frozen=True):
    """One execution of our order. ``fee`` is in nanos of quote; negative is a rebate."""

    inst: str
    ts: int
    ts_recv: int
    client_id: str
    side: int
    price: int
    size: int
    fee: int
    maker: bool
    trade_id: str = ""


class Balance(_Event, tag="Balance", frozen=True):
    """Account equity and available margin as the venue reports them, in nanos of ``asset``."""

    ts: int
    ts_recv: int
    asset: str
    equity: int
    available: int


class Position(_Event, tag="Position", frozen=True):
    """The venue's view of our net position in lots (positive long).

    ``entry_x2`` is twice the venue's average entry price of the position in ticks (so a half
    tick is exact), rounded half-even to a half tick at the venue edge, as the venue's average is
    rarely on the grid; 0 means unknown (the venue did not say, the position is flat, or a log
    written before the field existed). The ledger bases a position it had no cost for at this
    price (``mmcore.state``).
    """

    inst: str
    ts: int
    ts_recv: int
    size: int
    entry_x2: int = 0


class FundingPayment(_Event, tag="FundingPayment", frozen=True):
    """Funding settled on our position, in nanos of quote; positive means we received it."""

    inst: str
    ts: int
    ts_recv: int
    amount: int


AccountEvent = Union[
    OrderAccepted, OrderRejected, OrderCanceled, Fill, Balance, Position, FundingPayment
]


# ---------------------------------------------------------------- control


class Timer(_Event, tag="Timer", frozen=True):
    """A clock tick from the runner (live) or the data (replay, backtest)."""

    ts: int
    ts_recv: int
    name: str = "tick"


BOOK_STREAM = "book:"
"""Prefix of the ``ConnectionState.stream`` of one market's book stream (``book:BTC-USD``). When
it goes ``down`` (socket lost, sequence gap) the engine marks that market's book stale, so its
strategy pulls its quotes until the adapter's fresh snapshot arrives."""


def book_stream(inst: str) -> str:
    """The ``ConnectionState.stream`` name of ``inst``'s book stream."""
    return BOOK_STREAM + inst


class ConnectionState(_Event, tag="ConnectionState", frozen=True):
    """A stream of the venue went ``up``, ``down`` or was ``resynced`` (see ``BOOK_STREAM``)."""

    ts: int
    ts_recv: int
    stream: str
    state: str
    reason: str = ""


class PriorDayPnl(_Event, tag="PriorDayPnl", frozen=True):
    """The PnL that earlier sessions on the same account made since UTC day ``day`` began, in
    nanos of the quote currency, as the live runner found it at start-up (``mmcore.day_pnl``):
    the risk gate counts it against ``max_loss_day_usd``, so a restart does not reset the daily
    loss limit. ``day`` is ``ts // 86400e9`` of the last sample it holds. ``hour_highs`` are
    their PnL highs of the last hour, ``(ts, above)``: the PnL stood ``above`` nanos over where
    it ended at ``ts``; the gate counts those still within the hour against
    ``max_loss_hour_usd``. ``marks`` are their positions with the mark each was last valued
    at, ``(inst, lots, mark_x2)``, in this session's lots and ticks (the log header's
    instruments): the runner converts the file's, saved with the spec they were in, exactly,
    and leaves out a market whose position or mark is off the session's grid
    (``mmcore.day_pnl.carried_marks``). A position the session inherits counts toward the
    limits from there (its PnL before was theirs). Both were added after format 1's first logs:
    absent, they read as none."""

    ts: int
    ts_recv: int
    day: int
    pnl: int
    hour_highs: tuple[tuple[int, int], ...] = ()
    marks: tuple[tuple[str, int, int], ...] = ()


class RiskEvent(_Event, tag="RiskEvent", frozen=True):
    """A decision of the risk gate: ``code`` is stable and machine-readable, ``message`` human."""

    ts: int
    ts_recv: int
    inst: str
    code: str
    message: str


class StrategyEvent(_Event, tag="StrategyEvent", frozen=True):
    """A decision of the strategy worth seeing in the log (mode change, estimator fallback)."""

    ts: int
    ts_recv: int
    inst: str
    code: str
    message: str


ControlEvent = Union[Timer, ConnectionState, PriorDayPnl, RiskEvent, StrategyEvent]

Event = Union[
    BookSnapshot,
    BookDelta,
    Trade,
    MarkPrice,
    FundingRate,
    OrderAccepted,
    OrderRejected,
    OrderCanceled,
    Fill,
    Balance,
    Position,
    FundingPayment,
    Timer,
    ConnectionState,
    PriorDayPnl,
    RiskEvent,
    StrategyEvent,
]
