"""The Binance USD-M messages the importer reads, as msgspec structs (decoded straight from JSON).

Field names are Binance's own one-letter keys; fields we do not use are ignored on decode.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "AggTradeMsg",
    "BookTickerMsg",
    "DepthMsg",
    "Envelope",
    "MarkPriceMsg",
    "RestSnapshotMsg",
    "TradeMsg",
]

Levels = list[tuple[str, str]]


class Envelope(msgspec.Struct):
    """A combined-stream frame: ``{"stream": "btcusdt@depth@0ms", "data": {...}}``."""

    stream: str
    data: msgspec.Raw


class DepthMsg(msgspec.Struct):
    """``depthUpdate``: level changes, first/final update ids ``U``/``u``, previous final ``pu``."""

    U: int
    u: int
    b: Levels
    a: Levels
    pu: int = -1
    E: int = 0
    T: int = 0
    s: str = ""


class TradeMsg(msgspec.Struct):
    """``trade``: ``m`` is true when the buyer was the maker (so the aggressor sold)."""

    p: str
    q: str
    m: bool
    T: int
    t: int = 0
    s: str = ""


class AggTradeMsg(msgspec.Struct):
    """``aggTrade``: like ``trade`` with the aggregate id ``a``."""

    p: str
    q: str
    m: bool
    T: int
    a: int = 0
    s: str = ""


class BookTickerMsg(msgspec.Struct):
    """``bookTicker``: best bid ``b``/``B`` and ask ``a``/``A`` after update ``u``."""

    u: int
    b: str
    B: str
    a: str
    A: str
    E: int = 0
    T: int = 0
    s: str = ""


class MarkPriceMsg(msgspec.Struct):
    """``markPriceUpdate``: mark ``p``, index ``i``, funding rate ``r``, next funding time ``T``."""

    p: str
    E: int = 0
    i: str = ""
    r: str = ""
    T: int = 0
    s: str = ""


class RestSnapshotMsg(msgspec.Struct):
    """The REST ``/fapi/v1/depth`` answer: the book as of update id ``lastUpdateId``."""

    lastUpdateId: int
    bids: Levels
    asks: Levels
    E: int = 0
    T: int = 0
