"""The read-only window the strategy, order manager and risk gate get onto engine state.

The engine owns one ``View`` and updates ``now`` before each event; everything else is a live
reference to the engine's book and ledger. Nothing reads a clock: ``now`` is the current event's
``ts_recv``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmcore.book import Book
    from mmcore.instrument import Instrument
    from mmcore.state import Ledger

__all__ = ["View"]


class View:
    """Engine state as the pure components see it."""

    __slots__ = ("books", "instruments", "ledger", "now")

    def __init__(
        self, instruments: dict[str, Instrument], books: dict[str, Book], ledger: Ledger
    ) -> None:
        self.now = 0
        self.instruments = instruments
        self.books = books
        self.ledger = ledger

    def mark_x2(self, inst: str) -> int:
        """Twice the valuation price in ticks: the venue's mark if seen, else the book's mid.

        Twice, so that a mid between two ticks stays an exact integer. 0 when nothing is known.
        """
        mark = self.ledger.mark(inst)
        if mark:
            return 2 * mark
        return self.books[inst].mid_x2()
