"""argparse ``type=`` functions for the options of ``mm``'s commands.

Each refuses a bad value with a message in the house style (``expected X, found Y``), which
argparse prefixes with the option (``argument --port: expected ...``), so a bad option is one
``mm: error:`` line naming it before anything is read, written or connected to. Numbers are
refused when not finite (a NaN compares False with every bound) or beyond ``MAX_MAGNITUDE``
(a huge duration overflows where it becomes nanoseconds).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from mmcore.config import MAX_MAGNITUDE

__all__ = ["decimal_range", "non_empty", "number", "whole_number"]


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An integer ``>= minimum`` (and ``<= maximum`` when given)."""
    want = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number {want}, found {text!r}"
            ) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected a whole number {want}, found {value}")
        return value

    return parse


def number(*, allow_zero: bool) -> Callable[[str], float]:
    """A finite float ``> 0`` (``>= 0`` with ``allow_zero``) and at most ``MAX_MAGNITUDE``."""
    want = f"a number {'>= 0' if allow_zero else '> 0'} and <= {MAX_MAGNITUDE:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        low_ok = value >= 0 if allow_zero else value > 0
        if not (math.isfinite(value) and low_ok and value <= MAX_MAGNITUDE):
            raise argparse.ArgumentTypeError(f"expected {want}, found {text!r}")
        return value

    return parse


def decimal_range(
    low: str, high: str, *, low_open: bool = False, high_open: bool = False
) -> Callable[[str], str]:
    """A decimal string within ``low .. high`` (bounds excluded when ``*_open``), kept as the
    text the user typed (instruments hold their sizes as the venue's decimal strings)."""
    lo, hi = Decimal(low), Decimal(high)
    want = f"a decimal {'>' if low_open else '>='} {low} and {'<' if high_open else '<='} {high}"

    def parse(text: str) -> str:
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            raise argparse.ArgumentTypeError(f"expected {want}, found {text!r}") from None
        if not value.is_finite():
            raise argparse.ArgumentTypeError(f"expected {want}, found {text!r}")
        above = value > lo if low_open else value >= lo
        below = value < hi if high_open else value <= hi
        if not (above and below):
            raise argparse.ArgumentTypeError(f"expected {want}, found {text!r}")
        return text.strip()

    return parse


def non_empty(text: str) -> str:
    """A name: not empty, no surrounding blanks."""
    if not text.strip() or text != text.strip():
        raise argparse.ArgumentTypeError(
            f"expected a name without surrounding blanks, found {text!r}"
        )
    return text
