"""Venue positions held back while account frames may be missing.

A lost account frame (a gap in the account socket's sequence numbers, or a socket that was down)
may have held one of our fills. The venue's next POSITION frame includes that fill, so passed on
at once it would set the ledger's position to the venue's, and the reconcile that follows the
gap would then find the fill in the venue's trades and count it a second time, until the
reconcile's own position read set it right. Worse, the position correction books the fill at the
position's average cost, not at its price, so the PnL of the fill is lost even once the position
is right again.

The same goes for a streamed fill of a place whose answer has not come yet: its TRADE names the
order by the venue's id, which we do not know yet, so it cannot be matched, while the POSITION
after it already includes it; the adapter then starts a hold as for a gap.

So from a gap on, the adapter holds back the POSITION frames (the latest per market) instead of
passing them on, while every other event flows as before. The positions a background reconcile
reads are held the same way: a run that started before the gap read the venue's trades before
the lost fill and its positions after it. The ledger keeps its own count, short of
the lost fills only, until a reconcile that *started after the gap* has passed on the fills it
found in the venue's trades; the held positions are released then, and match the ledger. A gap
during a hold makes the hold wait for a reconcile started after that gap too. If no such
reconcile gets that far within ``max_hold_s`` (the venue's REST is failing), the held positions
are released anyway: better a position right now and a fill counted twice later than a position
short of fills for long (the risk gate would let it pass its limit).

While the account socket is down nothing is released: every frame of the outage is lost, so
no reconcile running in it can have seen all the fills; the hold waits for a reconcile started
after the socket is back, and ``max_hold_s`` counts from then. Of the positions held for one
market the newest by venue time is kept (a slow reconcile's read must not replace a newer
frame). The adapter stamps released positions with the time of their release, so the engine's
time never goes back, and the session's last reconcile takes whatever is held: after its fills,
or at once when it fails.

Pure bookkeeping: time comes from the caller (the adapter's clock), nothing here waits.
"""

from __future__ import annotations

from mmcore.events import Position

__all__ = ["PositionHold"]


class PositionHold:
    """The held POSITION events and the gap generation they wait for."""

    __slots__ = (
        "_down",
        "_held",
        "_max_hold_ns",
        "_since",
        "generation",
        "holds",
        "released_late",
    )

    def __init__(self, max_hold_s: float) -> None:
        self._max_hold_ns = int(max_hold_s * 1e9)
        self._held: dict[str, Position] = {}
        self._since = 0  # clock ns the current hold (or its last outage's end) began; 0 = none
        self._down = False  # the account socket is down: nothing may be released
        self.generation = 0
        """Counts the gaps; a reconcile releases the hold only if it started at the latest."""
        self.holds = 0
        self.released_late = 0

    @property
    def holding(self) -> bool:
        return self._since != 0

    @property
    def due_ns(self) -> int:
        """When ``expire`` releases the hold (clock ns); 0 when not holding, or while down."""
        return self._since + self._max_hold_ns if self._since and not self._down else 0

    def start(self, now: int) -> None:
        """Account frames may have been lost: hold positions until a reconcile started after
        now has passed on its fills. Does nothing when ``max_hold_s`` is 0."""
        if not self._max_hold_ns:
            return
        self.generation += 1
        if not self._since:
            self._since = now
            self.holds += 1

    def down(self, now: int) -> None:
        """The account socket went down: every frame until it is back is lost. Hold, and
        release nothing (not even by ``max_hold_s``) until ``up``: a reconcile running in the
        outage cannot see the fills still to come in it."""
        self.start(now)
        if self._max_hold_ns:
            self._down = True

    def up(self, now: int) -> None:
        """The account socket is back: a reconcile started from now on may release the hold;
        ``max_hold_s`` counts from now."""
        if not self._max_hold_ns:
            return
        self._down = False
        self.start(now)
        self._since = now

    def offer(self, ev: Position, read_ns: int | None = None) -> list[Position]:
        """A position from the account stream or a reconcile: passed on (returned) unless
        holding; held, the newest of each market is kept. A stream frame is newer by venue
        time (``ts``) than the one held. A reconcile's position (``read_ns``: when the run
        began to read the positions, by the clock that stamps ``ts_recv``) is newer than a frame
        received before that read and older than one received since: venue times cannot tell,
        since a market the venue does not list has none (a flat, ``ts`` 0)."""
        if not self._since:
            return [ev]
        held = self._held.get(ev.inst)
        if held is None:
            self._held[ev.inst] = ev
        elif read_ns is not None:
            if held.ts_recv <= read_ns:
                self._held[ev.inst] = ev
        elif ev.ts >= held.ts:
            self._held[ev.inst] = ev
        return []

    def release(self, generation: int) -> list[Position]:
        """A reconcile that started at gap ``generation`` has passed on the fills it found: the
        held positions, if no gap came after it started and the socket is up."""
        if not self._since or generation != self.generation or self._down:
            return []
        return self.take_all()

    def expire(self, now: int) -> list[Position]:
        """The held positions when the hold has lasted ``max_hold_s`` by ``now`` (never while
        the socket is down)."""
        due = self.due_ns
        if not due or now < due:
            return []
        self.released_late += 1
        return self.take_all()

    def take_all(self) -> list[Position]:
        """End the hold: the held positions, by market (the session's last reconcile takes
        them when it cannot wait for another)."""
        held = [self._held[inst] for inst in sorted(self._held)]
        self._held.clear()
        self._since = 0
        self._down = False
        return held
