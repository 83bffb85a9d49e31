"""Instrument specs and exact conversion between venue decimals and engine integers.

Inside the engine a price is an integer number of ticks, a size an integer number of lots and an
amount of money an integer number of *nanos* (1e-9) of the quote currency. The notional of
``price`` ticks times ``size`` lots is ``price * size * inst.nanos_per_tick_lot`` nanos, exactly.
Adapters convert at their edge with the methods here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
)

import msgspec

from mmcore.errors import MMError

NANOS = 10**9
PPB = 10**9

_WIDE = Context(prec=200)
"""Decimal arithmetic wide enough to be exact on any price, size or amount a venue sends (the
default context keeps 28 digits and would round a value a hair off the grid onto it)."""
_EXACT = Context(prec=200, traps=[Inexact])
"""``_WIDE`` that raises rather than round."""

__all__ = ["NANOS", "PPB", "SPEC_NUMBERS", "Instrument", "OffGridError", "spec_differences"]


class OffGridError(MMError, ValueError):
    """A price or size is not a whole number of ticks or lots."""


def _dec(value: str | Decimal | int, what: str) -> Decimal:
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise OffGridError(f"{what}: expected a decimal number, found {value!r}") from None
    if not d.is_finite():
        raise OffGridError(f"{what}: expected a finite decimal, found {value!r}")
    return d


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """One tradable market of one venue.

    ``tick_size`` and ``lot_size`` are decimal strings as the venue publishes them; ``min_size``
    is in base units, ``min_notional`` in quote units, fee rates are fractions of notional
    (negative for a maker rebate). ``own_orders_in_book``: the venue's public book includes our
    own resting orders (as on every real venue), so the engine takes them out of its book
    (``mmcore.own_orders``); false for recorded and simulated markets, where they never are.
    """

    venue: str
    symbol: str
    tick_size: str
    lot_size: str
    min_size: str = "0"
    min_notional: str = "0"
    maker_fee: str = "0"
    taker_fee: str = "0"
    quote: str = "USD"
    own_orders_in_book: bool = False

    def __post_init__(self) -> None:
        tick = _dec(self.tick_size, f"{self.symbol}.tick_size")
        lot = _dec(self.lot_size, f"{self.symbol}.lot_size")
        if tick <= 0 or lot <= 0:
            raise OffGridError(
                f"{self.symbol}: tick_size and lot_size must be positive, "
                f"found {self.tick_size!r} and {self.lot_size!r}"
            )
        unit = tick * lot * NANOS
        if unit != unit.to_integral_value():
            raise OffGridError(
                f"{self.symbol}: tick_size*lot_size = {tick * lot} is finer than 1e-9 of quote"
            )
        for name in ("min_size", "min_notional", "maker_fee", "taker_fee"):
            _dec(getattr(self, name), f"{self.symbol}.{name}")

    # ------------------------------------------------------------ grid facts

    @property
    def tick(self) -> Decimal:
        return Decimal(self.tick_size)

    @property
    def lot(self) -> Decimal:
        return Decimal(self.lot_size)

    @property
    def nanos_per_tick_lot(self) -> int:
        """Nanos of quote in one tick times one lot: notional = price * size * this."""
        return int(self.tick * self.lot * NANOS)

    @property
    def min_lots(self) -> int:
        """Smallest order size in lots that satisfies ``min_size``."""
        return max(1, int((Decimal(self.min_size) / self.lot).to_integral_value(ROUND_CEILING)))

    @property
    def maker_fee_ppb(self) -> int:
        return int(Decimal(self.maker_fee) * PPB)

    @property
    def taker_fee_ppb(self) -> int:
        return int(Decimal(self.taker_fee) * PPB)

    # ------------------------------------------------------------ conversions

    def price_to_ticks(self, value: str | Decimal | int) -> int:
        """Exact conversion; raises ``OffGridError`` when ``value`` is not on the tick grid."""
        return self._to_units(value, self.tick, "price", "tick_size", self.tick_size)

    def size_to_lots(self, value: str | Decimal | int) -> int:
        """Exact conversion; raises ``OffGridError`` when ``value`` is not on the lot grid."""
        return self._to_units(value, self.lot, "size", "lot_size", self.lot_size)

    def price_to_ticks_nearest(self, value: str | Decimal | int) -> int:
        """For prices that are legitimately off-grid (mark, index): round half-even to a tick."""
        d = _dec(value, f"{self.symbol} price")
        return int(_WIDE.divide(d, self.tick).to_integral_value(ROUND_HALF_EVEN))

    def price_to_ticks_floor(self, value: str | Decimal | int) -> int:
        d = _dec(value, f"{self.symbol} price")
        return int(_WIDE.divide(d, self.tick).to_integral_value(ROUND_FLOOR))

    def ticks_to_price(self, ticks: int) -> Decimal:
        return ticks * self.tick

    def lots_to_size(self, lots: int) -> Decimal:
        return lots * self.lot

    def price_str(self, ticks: int) -> str:
        """The decimal string a venue expects, with exactly the tick's number of places."""
        return str(self.ticks_to_price(ticks).quantize(self.tick))

    def size_str(self, lots: int) -> str:
        return str(self.lots_to_size(lots).quantize(self.lot))

    def nanos_to_quote(self, nanos: int) -> Decimal:
        return Decimal(nanos) / NANOS

    def quote_to_nanos(self, value: str | Decimal | int) -> int:
        """Money from the venue (fees, balances, funding) to nanos, rounded half-even."""
        d = _dec(value, f"{self.symbol} amount")
        return int(_WIDE.multiply(d, NANOS).to_integral_value(ROUND_HALF_EVEN))

    def _to_units(
        self, value: str | Decimal | int, unit: Decimal, what: str, field: str, raw: str
    ) -> int:
        d = _dec(value, f"{self.symbol} {what}")
        try:
            q: Decimal | None = _EXACT.divide(d, unit)
        except Inexact:  # a quotient the context cannot hold exactly: no whole number of units
            q = None
        n = q.to_integral_value() if q is not None else None
        if q is None or q != n:
            raise OffGridError(
                f"{self.symbol} {what}: expected a multiple of {field}={raw}, found {value}"
            )
        return int(q)


SPEC_NUMBERS = ("tick_size", "lot_size", "min_size", "min_notional", "maker_fee", "taker_fee")
"""The spec fields that are numbers: what every price, size, minimum and fee of the market means.
``venue``, ``symbol``, ``quote`` and ``own_orders_in_book`` are names and a flag."""


def spec_differences(
    a: Instrument, b: Instrument, fields: Iterable[str] = SPEC_NUMBERS
) -> list[str]:
    """The ``fields`` in which two specs of one market differ, in ``fields``' order. Numbers are
    compared by value: "0.10" and "0.1" are one tick size, though the strings differ."""
    differ = []
    for name in fields:
        x, y = getattr(a, name), getattr(b, name)
        same = Decimal(x) == Decimal(y) if name in SPEC_NUMBERS else x == y
        if not same:
            differ.append(name)
    return differ
