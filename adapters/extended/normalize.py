"""Extended messages → ``mmcore.events``: integer ticks, lots and nanos via each ``Instrument``.

Stateless: sequencing (gaps, resyncs) lives in the stream handlers, the order lifecycle in the
``OrderTracker`` and the funding payments' watermark in ``adapters.extended.funding``. Every
function raises ``MalformedMessageError`` on anything it cannot use; the caller logs it and drops
the message without stopping the stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

import msgspec

from adapters.extended.wire import (
    AccountMsg,
    BookLevel,
    BookMsg,
    FundingHistoryMsg,
    FundingMsg,
    PriceMsg,
    TradesMsg,
    WireBalance,
    WireFundingPayment,
    WirePosition,
)
from mmcore.errors import MMError
from mmcore.events import (
    BUY,
    SELL,
    Balance,
    BookDelta,
    BookSnapshot,
    FundingPayment,
    FundingRate,
    MarkPrice,
    Position,
    Trade,
)
from mmcore.instrument import PPB, Instrument

__all__ = ["MAX_VENUE_MS", "MS", "SIDES", "MalformedMessageError", "Normalizer", "venue_ns"]

log = logging.getLogger(__name__)

MS = 1_000_000
"""Nanoseconds per millisecond: Extended times are epoch milliseconds."""

SIDES = {"BUY": BUY, "SELL": SELL}

MAX_VENUE_MS = 4_102_444_800_000
"""2100-01-01 in epoch milliseconds: a venue time beyond it (microseconds, say) is not one."""

_bad_times = [0]  # venue times out of range, for the log lines' counts (never in an event)


def venue_ns(ms: int, ts_recv: int, what: str) -> int:
    """An Extended time (epoch milliseconds) in nanoseconds. One out of range (negative, or past
    2100: microseconds or nanoseconds sent by mistake) is not trusted: ``ts_recv`` stands in
    for it, and the 1st, 10th, 100th... such time is logged. Before, one such time made a number
    no log record can hold, and the session stopped at its next write."""
    if 0 <= ms <= MAX_VENUE_MS:
        return ms * MS
    _bad_times[0] += 1
    n = _bad_times[0]
    if n == 10 ** (len(str(n)) - 1):
        log.warning(
            "extended: %s: expected a time in epoch milliseconds, found %d; the receive time "
            "stands in for it (%d such times so far)", what, ms, n,
        )
    return ts_recv

_book = msgspec.json.Decoder(BookMsg)
_trades = msgspec.json.Decoder(TradesMsg)
_funding = msgspec.json.Decoder(FundingMsg)
_price = msgspec.json.Decoder(PriceMsg)
_account = msgspec.json.Decoder(AccountMsg)
_funding_history = msgspec.json.Decoder(FundingHistoryMsg)


class MalformedMessageError(MMError, ValueError):
    """A venue message does not have the shape or the values we expect; it is dropped."""


_GRID_CACHE_MAX = 1 << 16
"""Decimal strings remembered per instrument and kind before the cache starts over."""


class _GridCache:
    """Exact decimal-string → ticks / lots conversions of one instrument, remembered.

    Book levels repeat the same few hundred price and size strings over and over; converting each
    through ``Decimal`` costs ~10 µs, a dict hit well under 1. Misses convert exactly (and raise
    on off-grid values) as ``Instrument`` does; the cache is cleared when it grows too big.
    """

    __slots__ = ("inst", "lots", "nearest", "ticks")

    def __init__(self, inst: Instrument) -> None:
        self.inst = inst
        self.ticks: dict[str, int] = {}
        self.lots: dict[str, int] = {}
        self.nearest: dict[str, int] = {}

    def nearest_ticks(self, text: str) -> int:
        """An off-grid price (mark, index) rounded to the nearest tick."""
        value = self.nearest.get(text)
        if value is None:
            value = self._miss(self.nearest, text, self.inst.price_to_ticks_nearest)
        return value

    def levels(self, levels: list[BookLevel], absolute_in_c: bool) -> tuple[int, ...]:
        ticks = self.ticks
        lots = self.lots
        out: list[int] = []
        for lv in levels:
            size = lv.c if absolute_in_c else lv.q
            if size is None:
                raise MalformedMessageError(
                    f"{self.inst.symbol} book delta: expected 'c' (absolute size) at {lv.p}, "
                    "found none"
                )
            p = ticks.get(lv.p)
            if p is None:
                p = self._miss(ticks, lv.p, self.inst.price_to_ticks)
            q = lots.get(size)
            if q is None:
                q = self._miss(lots, size, self.inst.size_to_lots)
            out.append(p)
            out.append(q)
        return tuple(out)

    @staticmethod
    def _miss(cache: dict[str, int], text: str, convert: Callable[[str], int]) -> int:
        value = convert(text)
        if len(cache) >= _GRID_CACHE_MAX:
            cache.clear()
        cache[text] = value
        return value


def _entry_x2(inst: Instrument, open_price: str | None) -> int:
    """``Position.entry_x2`` of the venue's average entry price: twice it in ticks, rounded
    half-even (an average is rarely on the grid, so never refused for that); 0 (unknown) when
    missing, unreadable or not positive, so that a bad entry price never loses the size."""
    if open_price is None:
        return 0
    try:
        x2 = inst.price_to_ticks_nearest(2 * Decimal(open_price))
    except (InvalidOperation, ValueError, ArithmeticError):
        return 0
    return x2 if x2 > 0 else 0


class Normalizer:
    """Decodes and converts the public streams and the account stream's balances and positions."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self.instruments = instruments
        self._grids: dict[str, _GridCache] = {}

    def _grid(self, inst: Instrument) -> _GridCache:
        grid = self._grids.get(inst.symbol)
        if grid is None or grid.inst is not inst:
            grid = self._grids[inst.symbol] = _GridCache(inst)
        return grid

    def _inst(self, symbol: str, where: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise MalformedMessageError(
                f"{where}: expected one of the markets {sorted(self.instruments)}, found {symbol!r}"
            )
        return inst

    def _decode(self, decoder: msgspec.json.Decoder, raw: bytes | str, where: str) -> object:
        try:
            return decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise MalformedMessageError(f"{where}: {exc}") from None

    # ------------------------------------------------------------ public streams

    def decode_book(self, raw: bytes | str) -> BookMsg:
        msg: BookMsg = self._decode(_book, raw, "orderbook message")  # type: ignore[assignment]
        return msg

    def book_event(self, msg: BookMsg, ts_recv: int) -> BookSnapshot | BookDelta:
        inst = self._inst(msg.data.m, "orderbook message")
        grid = self._grid(inst)
        ts = venue_ns(msg.ts, ts_recv, f"{inst.symbol} orderbook message ts")
        try:
            if msg.type == "SNAPSHOT":
                return BookSnapshot(
                    inst.symbol,
                    ts,
                    ts_recv,
                    msg.seq,
                    grid.levels(msg.data.b, False),
                    grid.levels(msg.data.a, False),
                )
            if msg.type == "DELTA":
                return BookDelta(
                    inst.symbol,
                    ts,
                    ts_recv,
                    msg.seq,
                    -1,
                    grid.levels(msg.data.b, True),
                    grid.levels(msg.data.a, True),
                )
        except (ValueError, ArithmeticError) as exc:
            raise MalformedMessageError(f"{inst.symbol} orderbook seq {msg.seq}: {exc}") from None
        raise MalformedMessageError(
            f"{inst.symbol} orderbook seq {msg.seq}: expected type SNAPSHOT or DELTA, "
            f"found {msg.type!r}"
        )

    def trades(self, raw: bytes | str, ts_recv: int) -> list[Trade]:
        msg: TradesMsg = self._decode(_trades, raw, "publicTrades message")  # type: ignore[assignment]
        out: list[Trade] = []
        for t in msg.data:
            inst = self._inst(t.m, "publicTrades message")
            side = SIDES.get(t.S)
            if side is None:
                raise MalformedMessageError(
                    f"{inst.symbol} trade {t.i}: expected side BUY or SELL, found {t.S!r}"
                )
            try:
                price = inst.price_to_ticks_nearest(t.p)
                size = inst.size_to_lots(t.q)
            except ValueError as exc:
                raise MalformedMessageError(f"{inst.symbol} trade {t.i}: {exc}") from None
            ts = venue_ns(t.T, ts_recv, "trade T")
            out.append(Trade(inst.symbol, ts, ts_recv, price, size, side, str(t.i)))
        return out

    def funding(self, raw: bytes | str, ts_recv: int) -> list[FundingRate]:
        msg: FundingMsg = self._decode(_funding, raw, "funding message")  # type: ignore[assignment]
        inst = self._inst(msg.data.m, "funding message")
        try:
            rate = int((Decimal(msg.data.f) * PPB).to_integral_value())
        except (ArithmeticError, ValueError):  # InvalidOperation, Overflow, int("Infinity")
            raise MalformedMessageError(
                f"{inst.symbol} funding: expected a decimal rate, found {msg.data.f!r}"
            ) from None
        return [FundingRate(inst.symbol, venue_ns(msg.data.T, ts_recv, "funding T"), ts_recv, rate)]

    def mark(self, raw: bytes | str, ts_recv: int) -> list[MarkPrice]:
        msg: PriceMsg = self._decode(_price, raw, "mark price message")  # type: ignore[assignment]
        inst = self._inst(msg.data.m, "mark price message")
        try:
            price = self._grid(inst).nearest_ticks(msg.data.p)
        except ValueError as exc:
            raise MalformedMessageError(f"{inst.symbol} mark price: {exc}") from None
        ts = venue_ns(msg.data.ts or msg.ts, ts_recv, "mark price ts")
        return [MarkPrice(inst.symbol, ts, ts_recv, price)]

    # ------------------------------------------------------------ account stream

    def decode_account(self, raw: bytes | str) -> AccountMsg:
        msg: AccountMsg = self._decode(_account, raw, "account message")  # type: ignore[assignment]
        return msg

    def position(self, pos: WirePosition, ts_recv: int) -> Position | None:
        """The position as an event; None for a market we do not trade."""
        inst = self.instruments.get(pos.market)
        if inst is None:
            return None
        if pos.side not in ("LONG", "SHORT"):
            raise MalformedMessageError(
                f"{pos.market} position: expected side LONG or SHORT, found {pos.side!r}"
            )
        try:
            lots = 0 if pos.status == "CLOSED" else inst.size_to_lots(pos.size)
        except ValueError as exc:
            raise MalformedMessageError(f"{pos.market} position: {exc}") from None
        if pos.side == "SHORT":
            lots = -lots
        entry_x2 = _entry_x2(inst, pos.open_price) if lots else 0
        return Position(
            inst.symbol, venue_ns(pos.updated_at, ts_recv, "position updatedAt"), ts_recv, lots,
            entry_x2,
        )

    def balance(self, bal: WireBalance, ts_recv: int) -> Balance:
        inst = next(
            (i for i in self.instruments.values() if i.quote == bal.collateral_name),
            next(iter(self.instruments.values())),
        )
        try:
            equity = inst.quote_to_nanos(bal.equity)
            available = inst.quote_to_nanos(bal.available_for_trade)
        except ValueError as exc:
            raise MalformedMessageError(f"balance: {exc}") from None
        ts = venue_ns(bal.updated_time, ts_recv, "balance updatedTime")
        return Balance(ts, ts_recv, bal.collateral_name, equity, available)

    # ------------------------------------------------------------ REST funding history

    def decode_funding_history(self, raw: bytes | str) -> list[WireFundingPayment]:
        """The payments of one ``GET /user/funding/history`` answer."""
        msg: FundingHistoryMsg = self._decode(  # type: ignore[assignment]
            _funding_history, raw, "funding history"
        )
        if msg.status != "OK":
            raise MalformedMessageError(
                f"funding history: expected status OK, found {msg.status!r}"
            )
        return msg.data or []

    def funding_payment(self, w: WireFundingPayment, ts_recv: int) -> FundingPayment | None:
        """The payment as an event at its ``paidTime``; None for a market we do not trade.

        The amount is ``fundingFee``'s size; its direction comes from the record's ``side`` and
        ``fundingRate``: a positive rate makes longs pay shorts, a negative one the reverse.
        The venue notes give ``fundingFee`` but not which sign means paid (third-party clients
        disagree), so the sign of the field itself is not relied on."""
        inst = self.instruments.get(w.market)
        if inst is None:
            return None
        what = f"{inst.symbol} funding payment {w.id}"
        if w.side not in ("LONG", "SHORT"):
            raise MalformedMessageError(f"{what}: expected side LONG or SHORT, found {w.side!r}")
        try:
            amount = abs(inst.quote_to_nanos(w.funding_fee))
        except (ArithmeticError, ValueError):  # off-grid, InvalidOperation, Overflow
            raise MalformedMessageError(
                f"{what}: expected a decimal fundingFee, found {w.funding_fee!r}"
            ) from None
        try:
            rate = Decimal(w.funding_rate)
            positive = rate > 0
        except (ArithmeticError, ValueError):  # InvalidOperation; NaN compares by raising
            raise MalformedMessageError(
                f"{what}: expected a decimal fundingRate, found {w.funding_rate!r}"
            ) from None
        if not rate.is_finite():
            raise MalformedMessageError(
                f"{what}: expected a decimal fundingRate, found {w.funding_rate!r}"
            )
        pays = positive if w.side == "LONG" else rate < 0
        return FundingPayment(
            inst.symbol, venue_ns(w.paid_time, ts_recv, "funding paidTime"), ts_recv,
            -amount if pays else amount,
        )
