"""What a strategy wants, before the order manager and risk turn it into commands.

A strategy returns one of these (or ``None`` for "no change") from ``step``:
- ``QuoteTarget``: the complete set of resting quotes it wants now, per side, best first;
- ``Flatten``: get the position to zero (maker exit first, or aggressively with IOC);
- ``Halt``: stop quoting and cancel everything.
"""

from __future__ import annotations

from typing import Union

import msgspec

__all__ = ["Flatten", "Halt", "Intent", "QuoteTarget"]


class QuoteTarget(msgspec.Struct, frozen=True):
    """Wanted resting quotes: ``bids``/``asks`` are ``(price_ticks, size_lots)`` pairs, best first.

    An empty side means "no quote on that side". ``post_only`` applies to every level.
    """

    inst: str
    bids: tuple[tuple[int, int], ...] = ()
    asks: tuple[tuple[int, int], ...] = ()
    post_only: bool = True


class Flatten(msgspec.Struct, frozen=True):
    """Close the position on ``inst``: cancel quotes, then exit; IOC when ``aggressive``."""

    inst: str
    reason: str
    aggressive: bool = False


class Halt(msgspec.Struct, frozen=True):
    """Stop quoting on ``inst`` (every market when empty) and cancel all orders."""

    inst: str
    reason: str


Intent = Union[QuoteTarget, Flatten, Halt]
