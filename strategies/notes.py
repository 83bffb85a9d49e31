"""The strategy decisions waiting to be returned by ``notes()`` as ``StrategyEvent`` records."""

from __future__ import annotations

from mmcore.commands import Output
from mmcore.events import StrategyEvent

__all__ = ["Notes"]


class Notes:
    """A buffer of ``StrategyEvent``s for one market, stamped with engine time."""

    __slots__ = ("_inst", "count", "items")

    def __init__(self, inst: str) -> None:
        self._inst = inst
        self.items: list[Output] = []
        """Pending notes, oldest first: read only (``notes()`` checks it before draining)."""
        self.count = 0
        """Notes added since creation."""

    def add(self, now: int, code: str, message: str) -> None:
        """Record a decision at engine time ``now`` (both ``ts`` and ``ts_recv``)."""
        self.items.append(StrategyEvent(now, now, self._inst, code, message))
        self.count += 1

    def drain(self) -> list[Output]:
        """The pending notes, oldest first; the buffer is empty afterwards."""
        items = self.items
        if not items:
            return []
        self.items = []
        return items
