"""Reading the spellings of true/false and of a trade's aggressor side found in table cells."""

from __future__ import annotations

from mmcore.events import BUY, SELL

__all__ = ["parse_bool", "parse_side"]

_TRUE = frozenset({"true", "t", "1", "yes", "y"})
_FALSE = frozenset({"false", "f", "0", "no", "n"})
_SIDES = {
    "buy": BUY,
    "b": BUY,
    "bid": BUY,
    "1": BUY,
    "sell": SELL,
    "s": SELL,
    "a": SELL,
    "ask": SELL,
    "-1": SELL,
}


def parse_bool(text: str) -> bool | None:
    """``True``/``False`` for the usual spellings (any case), ``None`` for anything else."""
    key = text.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    return None


def parse_side(text: str) -> int | None:
    """The aggressor side (``BUY``/``SELL``) of ``buy/sell``, ``b/s``, ``bid/ask``, ``B/A``, ``±1``.

    ``bid``/``ask`` (and Hyperliquid's ``B``/``A``) name the side that took liquidity: ``ask``
    means the aggressor sold into the bid. ``None`` when the side is unknown.
    """
    return _SIDES.get(text.strip().lower())
