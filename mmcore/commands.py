"""Outbound commands: what the engine asks a venue to do, in the imperative.

Like events, commands are frozen, tagged, array-like msgspec structs with integer ticks, lots and
nanosecond times. ``ts`` is the engine time (the ``ts_recv`` of the event that caused it), so a
replay reproduces commands byte for byte.

``Output`` is what ``Engine.on_event`` returns: commands for the sink, plus the risk and strategy
decisions that are recorded in the log beside them.
"""

from __future__ import annotations

from typing import Union

import msgspec

from mmcore.events import RiskEvent, StrategyEvent

GTC = "GTC"
IOC = "IOC"
TIME_IN_FORCE = (GTC, IOC)

__all__ = [
    "GTC",
    "IOC",
    "TIME_IN_FORCE",
    "Cancel",
    "CancelAll",
    "Command",
    "Output",
    "Place",
    "Resync",
]


class _Command(msgspec.Struct, frozen=True, array_like=True, gc=False, tag_field="t"):
    """Base of every command; never instantiated itself."""


class Place(_Command, tag="Place", frozen=True):
    """Place a limit order. ``client_id`` is deterministic and idempotent: the venue must never
    hold two orders with one id, and retrying a ``Place`` must not create a second order."""

    inst: str
    ts: int
    client_id: str
    side: int
    price: int
    size: int
    post_only: bool = True
    reduce_only: bool = False
    tif: str = GTC


class Cancel(_Command, tag="Cancel", frozen=True):
    """Cancel our order ``client_id``."""

    inst: str
    ts: int
    client_id: str


class CancelAll(_Command, tag="CancelAll", frozen=True):
    """Cancel all our orders on ``inst`` (every market when ``inst`` is empty)."""

    inst: str
    ts: int
    reason: str = ""


class Resync(_Command, tag="Resync", frozen=True):
    """Ask the adapter for a fresh book snapshot: the book saw a sequence gap or a crossed book."""

    inst: str
    ts: int
    reason: str = ""


Command = Union[Place, Cancel, CancelAll, Resync]
Output = Union[Place, Cancel, CancelAll, Resync, RiskEvent, StrategyEvent]
