"""One market's order-book stream: a snapshot, then deltas numbered one by one.

Extended's ``orderbooks`` socket opens with a ``SNAPSHOT`` and goes on with ``DELTA``s whose
``seq`` counts up by one; a fresh snapshot follows about every minute. ``BookFeed`` turns its
messages into ``BookSnapshot`` / ``BookDelta`` events and keeps the sequence honest: a delta
before the first snapshot is dropped; a delta whose ``seq`` does not follow, or a malformed
message, is a gap: the market is reported ``down`` (``ConnectionState``, so the engine's book
goes stale and the strategy pulls its quotes) and the socket is reopened for a fresh snapshot,
after which the market is reported ``resynced``. A socket that went down, or a ``Resync``
command, leads to the same fresh snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from adapters.extended.normalize import MalformedMessageError, Normalizer
from adapters.extended.stream import Subscription
from mmcore.events import ConnectionState, Event, book_stream
from mmcore.venue import Clock

__all__ = ["BookFeed"]

log = logging.getLogger(__name__)


class BookFeed:
    """The sequence state and the socket of one market's book (see the module doc)."""

    __slots__ = (
        "_clock",
        "_emit",
        "_norm",
        "_on_malformed",
        "gaps",
        "last",
        "resync_pending",
        "resyncs",
        "stream",
        "sub",
        "sym",
        "synced",
    )

    def __init__(
        self,
        sym: str,
        norm: Normalizer,
        clock: Clock,
        emit: Callable[[Sequence[Event]], None],
        on_malformed: Callable[[str, MalformedMessageError], None],
    ) -> None:
        self.sym = sym
        self.stream = book_stream(sym)
        self.sub: Subscription | None = None
        """The market's socket, set once opened (it needs ``on_message`` first)."""
        self.last = 0
        self.synced = False
        self.resync_pending = False
        self.gaps = 0
        self.resyncs = 0
        self._norm = norm
        self._clock = clock
        self._emit = emit
        self._on_malformed = on_malformed

    def on_message(self, data: str) -> None:
        """A message of the socket, in arrival order."""
        now = self._clock()
        try:
            msg = self._norm.decode_book(data)
            ev = self._norm.book_event(msg, now)
        except MalformedMessageError as exc:
            self._on_malformed(self.stream, exc)
            self._gap("malformed book message")
            return
        if msg.type == "SNAPSHOT":
            self.last = msg.seq
            self.synced = True
            self._emit([ev])
            if self.resync_pending:
                self.resync_pending = False
                self.resyncs += 1
                self._emit([ConnectionState(now, now, self.stream, "resynced", "")])
            return
        if not self.synced:
            return
        if msg.seq != self.last + 1:
            self._gap(f"sequence gap: expected {self.last + 1}, found {msg.seq}")
            return
        self.last = msg.seq
        self._emit([ev])

    def on_down(self) -> None:
        """The socket went down: what comes next must start from a snapshot."""
        self.synced = False
        self.resync_pending = True

    def resync(self, reason: str) -> None:
        """Reopen the socket for a fresh snapshot (a ``Resync`` command)."""
        self.on_down()
        if self.sub is not None:
            self.sub.reconnect(reason)

    def _gap(self, reason: str) -> None:
        if not self.synced:
            return
        self.gaps += 1
        log.warning("extended %s %s; resubscribing for a fresh snapshot", self.stream, reason)
        self.on_down()
        now = self._clock()
        self._emit([ConnectionState(now, now, self.stream, "down", reason)])
        if self.sub is not None:
            self.sub.reconnect(reason)
