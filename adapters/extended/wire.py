"""Extended's stream messages as typed structs, decoded straight from JSON bytes by msgspec.

Only the fields we use are declared; unknown fields are ignored (the venue adds them freely).
Decimals stay strings until an ``Instrument`` converts them; ids are ``int | str`` exactly as sent,
never floats (they are ~2e18, past a double's 53 bits).
"""

from __future__ import annotations

import msgspec

__all__ = [
    "AccountData",
    "AccountMsg",
    "BookData",
    "BookLevel",
    "BookMsg",
    "FundingData",
    "FundingHistoryMsg",
    "FundingMsg",
    "PriceData",
    "PriceMsg",
    "PublicTrade",
    "TradesMsg",
    "WireBalance",
    "WireFundingPayment",
    "WireOrder",
    "WirePosition",
    "WireTrade",
]

Id = int | str


class BookLevel(msgspec.Struct, frozen=True):
    """``q`` is the absolute size in a snapshot and the signed change in a delta; ``c`` is the
    absolute size after a delta."""

    p: str
    q: str
    c: str | None = None


class BookData(msgspec.Struct, frozen=True):
    m: str
    b: list[BookLevel] = []
    a: list[BookLevel] = []


class BookMsg(msgspec.Struct, frozen=True):
    """``/orderbooks/{market}``: ``type`` SNAPSHOT or DELTA, ``seq`` counts from 1 per socket."""

    data: BookData
    ts: int
    seq: int
    type: str = "DELTA"


class PublicTrade(msgspec.Struct, frozen=True):
    i: Id
    m: str
    S: str
    T: int
    p: str
    q: str
    tT: str = "TRADE"


class TradesMsg(msgspec.Struct, frozen=True):
    data: list[PublicTrade]
    ts: int
    seq: int
    type: str = ""


class FundingData(msgspec.Struct, frozen=True):
    m: str
    T: int
    f: str


class FundingMsg(msgspec.Struct, frozen=True):
    data: FundingData
    ts: int
    seq: int
    type: str = ""


class PriceData(msgspec.Struct, frozen=True):
    m: str
    p: str
    ts: int = 0


class PriceMsg(msgspec.Struct, frozen=True):
    """``/prices/mark/{market}`` (type MP) and ``/prices/index/{market}`` (type IP)."""

    data: PriceData
    ts: int
    seq: int
    type: str = "MP"


class WireOrder(msgspec.Struct, frozen=True, rename="camel"):
    id: Id
    external_id: str
    market: str
    side: str
    status: str
    qty: str
    status_reason: str | None = None
    price: str | None = None
    filled_qty: str | None = None
    type: str = "LIMIT"
    updated_time: int = 0


class WireTrade(msgspec.Struct, frozen=True, rename="camel"):
    id: Id
    market: str
    order_id: Id
    side: str
    price: str
    qty: str
    fee: str
    is_taker: bool
    created_time: int = 0
    external_order_id: str | None = None
    trade_type: str = "TRADE"


class WirePosition(msgspec.Struct, frozen=True, rename="camel"):
    """``openPrice`` is the position's average entry price (off the tick grid as often as not);
    None when the message lacks it."""

    market: str
    side: str
    size: str
    status: str = "OPENED"
    updated_at: int = 0
    open_price: str | None = None


class WireBalance(msgspec.Struct, frozen=True, rename="camel"):
    collateral_name: str
    equity: str
    available_for_trade: str
    updated_time: int = 0


class AccountData(msgspec.Struct, frozen=True):
    orders: list[WireOrder] | None = None
    trades: list[WireTrade] | None = None
    positions: list[WirePosition] | None = None
    balance: WireBalance | None = None


class AccountMsg(msgspec.Struct, frozen=True):
    """``/account``: ``type`` ORDER, TRADE, POSITION or BALANCE (others are ignored)."""

    data: AccountData
    ts: int
    seq: int
    type: str = ""


class WireFundingPayment(msgspec.Struct, frozen=True, rename="camel"):
    """One funding payment of ``GET /user/funding/history`` (not in the SDK): ``fundingFee`` in
    the collateral (its size: the direction comes from ``side`` and ``fundingRate``,
    ``Normalizer.funding_payment``), ``paidTime`` epoch milliseconds. The record's other fields
    (``accountId, positionId, size, value, markPrice``) are not used."""

    id: Id
    market: str
    side: str
    funding_fee: str
    funding_rate: str
    paid_time: int


class FundingHistoryMsg(msgspec.Struct, frozen=True):
    """The answer of ``GET /user/funding/history``: ``{"status":"OK","data":[...]}`` (a
    ``pagination`` is ignored)."""

    data: list[WireFundingPayment] | None = None
    status: str = "OK"
