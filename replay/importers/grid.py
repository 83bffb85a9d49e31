"""Fast exact conversion of venue decimal strings to ticks and lots.

Importers convert hundreds of thousands of price and size strings. ``Grid`` gives the same answer
as ``Instrument.price_to_ticks`` / ``size_to_lots`` (and raises the same ``OffGridError`` for a
value that is not a whole number of ticks or lots) but parses plain decimal strings with integer
arithmetic instead of ``Decimal``: ``"61800.20"`` is the integer 6180020 at scale 2, and with the
tick 0.1 = 1 at scale 1 the ticks are 6180020 * 10**1 / (1 * 10**2), which must divide exactly.
Anything that is not a plain decimal (exponents, NaN, junk) goes to the ``Instrument`` method,
which converts it exactly or raises. Book levels repeat the same strings over and over, so
results are memoised in a dict of at most ``CACHE_SIZE`` entries per unit (cleared when full:
memory stays bounded).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from mmcore.instrument import Instrument, OffGridError

__all__ = ["CACHE_SIZE", "Grid"]

CACHE_SIZE = 1 << 16
_INT64 = 1 << 63


class Grid:
    """Exact price → ticks (``ticks``) and size → lots (``lots``) for one instrument."""

    __slots__ = ("inst", "lot_cache", "lots", "tick_cache", "ticks")

    def __init__(self, inst: Instrument) -> None:
        self.inst = inst
        sym = inst.symbol
        ticks = _UnitParser(inst.tick_size, inst.price_to_ticks, f"{sym} price", "tick_size")
        lots = _UnitParser(inst.lot_size, inst.size_to_lots, f"{sym} size", "lot_size")
        self.ticks: Callable[[str], int] = ticks.convert
        self.lots: Callable[[str], int] = lots.convert
        # The memo dicts, for loops that inline the lookup (test ``is None``: 0 is a value).
        self.tick_cache: dict[str, int] = ticks.cache
        self.lot_cache: dict[str, int] = lots.cache

    def levels(self, pairs: list[tuple[str, str]]) -> tuple[int, ...]:
        """``[(price, size), ...]`` strings as the flat ``(ticks0, lots0, ticks1, ...)`` tuple."""
        ticks = self.ticks
        lots = self.lots
        tget = self.tick_cache.get
        lget = self.lot_cache.get
        out: list[int] = []
        push = out.append
        for price, size in pairs:
            t = tget(price)
            push(ticks(price) if t is None else t)
            n = lget(size)
            push(lots(size) if n is None else n)
        return tuple(out)


class _UnitParser:
    """Decimal strings → whole multiples of one positive decimal unit."""

    __slots__ = ("cache", "factors", "fallback", "field", "mantissa", "raw", "scale", "what")

    def __init__(
        self, unit: str, fallback: Callable[[str], int], what: str, field: str
    ) -> None:
        sign, digits, exponent = Decimal(unit).normalize().as_tuple()
        assert isinstance(exponent, int) and sign == 0
        mantissa = int("".join(map(str, digits)))
        self.mantissa = mantissa * 10 ** max(exponent, 0)
        self.scale = max(-exponent, 0)
        self.raw = unit
        self.fallback = fallback
        self.what = what
        self.field = field
        self.factors: dict[int, tuple[int, int]] = {}
        self.cache: dict[str, int] = {}

    def convert(self, text: str) -> int:
        cached = self.cache.get(text)
        if cached is not None:
            return cached
        value = self._exact(text)
        if not -_INT64 <= value < _INT64:  # an event field is a 64-bit integer in the log
            raise OffGridError(
                f"{self.what}: expected at most 2^63 units of {self.field}={self.raw}, "
                f"found {text}"
            )
        cache = self.cache
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        cache[text] = value
        return value

    def _exact(self, text: str) -> int:
        dot = text.find(".")
        try:
            if dot < 0:
                n = int(text)
                scale = 0
            else:
                digits = text[dot + 1 :]
                if not digits.isdigit():  # "5.", "61800.5 " (int() ignores the space)...
                    return self.fallback(text)
                n = int(text[:dot] + digits)
                scale = len(digits)
        except ValueError:
            return self.fallback(text)
        factors = self.factors.get(scale)
        if factors is None:
            # value = n / 10**scale and unit = mantissa / 10**self.scale, so
            # units = n * 10**self.scale / (mantissa * 10**scale), reduced by the smaller power.
            if scale <= self.scale:
                factors = (10 ** (self.scale - scale), self.mantissa)
            else:
                factors = (1, self.mantissa * 10 ** (scale - self.scale))
            self.factors[scale] = factors
        q, r = divmod(n * factors[0], factors[1])
        if r:
            raise OffGridError(
                f"{self.what}: expected a multiple of {self.field}={self.raw}, found {text}"
            )
        return q
