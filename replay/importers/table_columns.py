"""Column names of generic tables: top-N book snapshots and trades, each overridable by name.

The defaults match the common exports; pass a mapping (or ``--columns key=name`` on the command
line) to rename any of them, e.g. ``{"timestamp": "ts", "bid_price": "bids[{i}].price"}``.
Wide level columns are templates where ``{i}`` is the level number (counted from 0, or from 1
when the table starts there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import msgspec

from replay.importers.errors import ImportFormatError

__all__ = ["SnapshotColumns", "TradeColumns", "parse_column_overrides", "with_overrides"]


class SnapshotColumns(msgspec.Struct, frozen=True, kw_only=True):
    """Where a snapshot table keeps each field.

    timestamp: the venue time of the row. local_timestamp: our receive time; empty means use
    ``timestamp``. bid_price / bid_size / ask_price / ask_size: wide per-level columns, templates
    with ``{i}``. bid_prices / bid_sizes / ask_prices / ask_sizes: list-valued columns (one cell
    holds every level of a side). The table must have one layout or the other.
    """

    timestamp: str = "timestamp"
    local_timestamp: str = ""
    bid_price: str = "bid_price_{i}"
    bid_size: str = "bid_size_{i}"
    ask_price: str = "ask_price_{i}"
    ask_size: str = "ask_size_{i}"
    bid_prices: str = "bid_prices"
    bid_sizes: str = "bid_quantities"
    ask_prices: str = "ask_prices"
    ask_sizes: str = "ask_quantities"


class TradeColumns(msgspec.Struct, frozen=True, kw_only=True):
    """Where a trades table keeps each field.

    timestamp / local_timestamp: as for snapshots. price, size: the trade. The aggressor comes
    from the first of these columns present: ``side`` (buy/sell, b/s, bid/ask, B/A, 1/-1),
    ``is_buyer_maker`` (true means the seller was the aggressor), ``is_buyer_taker``.
    trade_id: optional.
    """

    timestamp: str = "timestamp"
    local_timestamp: str = ""
    price: str = "price"
    size: str = "quantity"
    side: str = "side"
    is_buyer_maker: str = "is_buyer_maker"
    is_buyer_taker: str = "is_buyer_taker"
    trade_id: str = "id"


C = TypeVar("C", SnapshotColumns, TradeColumns)


def with_overrides(base: C, overrides: Mapping[str, str] | None) -> C:
    """``base`` with the named columns renamed; unknown keys raise ``ImportFormatError``."""
    if not overrides:
        return base
    known = set(base.__struct_fields__)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ImportFormatError(
            f"{type(base).__name__}: expected column keys among {sorted(known)}, found {unknown}"
        )
    return msgspec.structs.replace(base, **overrides)


def parse_column_overrides(
    items: list[str] | None, flag: str, schema: type[SnapshotColumns] | type[TradeColumns]
) -> dict[str, str]:
    """``["key=name", ...]`` from the command line as a dict; ``ImportFormatError`` naming
    ``flag`` for an item without ``=``, with an empty key or name, or with a key ``schema``
    does not have."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, name = item.partition("=")
        if not sep or not key.strip() or not name.strip():
            raise ImportFormatError(f"{flag}: expected key=column, found {item!r}")
        out[key.strip()] = name.strip()
    known = sorted(schema.__struct_fields__)
    unknown = sorted(set(out) - set(known))
    if unknown:
        raise ImportFormatError(f"{flag}: expected keys among {known}, found {unknown}")
    return out
