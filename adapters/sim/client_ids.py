"""The client ids the simulated venue will not take again, across all its markets.

``Place`` promises (``mmcore.commands``) that the venue never holds two orders with one
``client_id`` and that retrying a ``Place`` never creates a second order. So an id is taken from
the arrival of its ``Place`` (accepted or rejected) on every market of the venue, while its order
is live and, once it finished (filled, canceled, rejected), for ``kept_ns`` more of exchange time:
a ``Place`` arriving with a taken id is refused (``duplicate_client_id``). Checking only the live
orders of one market let one id rest on two markets, and a retry that arrived after its order
had finished was a second order that filled a second time.

Why a window, not forever: remembering every id would make memory grow with the session's
length, and real venues too deduplicate external ids over a window. The default,
``CLIENT_ID_KEPT_NS``, is 10 minutes, as long as the Extended adapter keeps a finished order
(``adapters.extended.tracker.DONE_KEPT_NS``); a retry comes seconds after its original, not
minutes. An id reused after the window is a new order.

Memory: the live ids plus the ids finished in the last ``kept_ns``, as a set and a deque of
``(finish ts, id)`` in exchange-time order, pruned from the front at each arrival.
"""

from __future__ import annotations

from collections import deque

__all__ = ["CLIENT_ID_KEPT_NS", "ClientIds"]

CLIENT_ID_KEPT_NS = 10 * 60 * 1_000_000_000
"""How long (exchange-time ns) the id of a finished order stays taken."""


class ClientIds:
    """Ids taken by live orders and by orders finished less than ``kept_ns`` ago."""

    __slots__ = ("finished", "kept_ns", "taken")

    def __init__(self, kept_ns: int = CLIENT_ID_KEPT_NS) -> None:
        self.kept_ns = kept_ns
        self.taken: set[str] = set()
        self.finished: deque[tuple[int, str]] = deque()
        """``(ts, id)`` of finished orders whose id is still taken, oldest first."""

    def claim(self, client_id: str, ts: int) -> bool:
        """Take ``client_id`` for a ``Place`` arriving at exchange time ``ts``; False (and
        nothing changes) when it is already taken. Forgets first the ids whose window is over,
        so the memory stays bounded by the live orders and the window's finished ones."""
        finished = self.finished
        taken = self.taken
        horizon = ts - self.kept_ns
        while finished and finished[0][0] <= horizon:
            taken.discard(finished.popleft()[1])
        if client_id in taken:
            return False
        taken.add(client_id)
        return True

    def release(self, client_id: str, ts: int) -> None:
        """The order of ``client_id`` finished at exchange time ``ts``: its id stays taken until
        ``ts + kept_ns``. One venue's clock never goes back, but markets on clocks of their own
        (``SimVenues``) share these ids: a ``ts`` before the last release's is taken as that
        one's (the id is kept that much longer), so the deque stays in time order."""
        finished = self.finished
        if finished and ts < finished[-1][0]:
            ts = finished[-1][0]
        finished.append((ts, client_id))

    def __len__(self) -> int:
        """How many ids are taken now (live, or finished and still in their window)."""
        return len(self.taken)
