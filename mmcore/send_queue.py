"""Which emitted commands may be in flight at the venue together.

The engine emits commands in an order; a venue round trip takes milliseconds. Sending them one at
a time makes the last command of a re-quote (cancel, cancel, place, place) leave three round trips
after the first. ``SendQueue`` lets commands overlap wherever the order cannot matter:

1. at most one command per client id is in flight, and those of one id start in emission order
   (a ``Cancel`` never overtakes the ``Place`` of its own order);
2. a ``CancelAll`` is a barrier: it starts only when everything emitted before it has finished,
   and nothing emitted after it starts until it has finished;
3. at most ``max_in_flight`` commands are in flight (1 = strictly one at a time, in order);
4. otherwise commands start in emission order (a ``Resync`` has no client id and waits only for
   the barrier and the cap).

Commands of different client ids may reach the venue in another order than emitted. That cannot
take the account past a risk limit: the risk gate counts an order as open and as exposure until
the venue confirms it terminal (pending cancels included), so a new order landing before the
cancel of the old one is the state the gate already allowed.

Pure bookkeeping (no asyncio, no clock): the live runner's sender calls ``push`` as commands are
emitted, starts what ``pop_ready`` returns and calls ``finished`` as each call returns.
"""

from __future__ import annotations

from collections import deque

from mmcore.commands import Cancel, CancelAll, Command, Place

__all__ = ["SendQueue"]


def _key(cmd: Command) -> str | None:
    """The client id a command is ordered by, or None (a ``Resync``)."""
    t = type(cmd)
    if t is Place or t is Cancel:
        return cmd.client_id  # type: ignore[union-attr]
    return None


class SendQueue:
    """Commands waiting to be sent, and those in flight; see the module doc for the rules."""

    __slots__ = ("_barrier", "_ids", "_in_flight", "_waiting", "max_in_flight", "peak_in_flight")

    def __init__(self, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight: expected >= 1, found {max_in_flight}")
        self.max_in_flight = max_in_flight
        self.peak_in_flight = 0
        self._waiting: deque[Command] = deque()
        self._in_flight = 0
        self._ids: set[str] = set()  # client ids with a command in flight
        self._barrier = False  # a CancelAll is in flight

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def idle(self) -> bool:
        """Nothing waiting and nothing in flight."""
        return not self._waiting and not self._in_flight

    def push(self, cmd: Command) -> None:
        """``cmd`` was emitted (after everything pushed before it)."""
        self._waiting.append(cmd)

    def drop_waiting(self) -> int:
        """Forget the commands not started (they will never be sent); returns how many."""
        n = len(self._waiting)
        self._waiting.clear()
        return n

    def pop_ready(self) -> list[Command]:
        """The waiting commands that may start now, in emission order; they count as in flight
        until ``finished``."""
        waiting = self._waiting
        if self._barrier or not waiting:
            return []
        cap = self.max_in_flight
        if self._in_flight >= cap:
            return []
        ids = self._ids
        ready: list[Command] = []
        held: deque[Command] = deque()  # waiting behind a call of their own id
        while waiting:
            cmd = waiting[0]
            if type(cmd) is CancelAll:
                # a command held above has a call of its id in flight, so nothing in flight
                # also means nothing emitted before the CancelAll is still waiting
                if not self._in_flight:
                    waiting.popleft()
                    ready.append(cmd)
                    self._in_flight = 1
                    self._barrier = True
                break  # nothing behind a CancelAll may start before it
            if self._in_flight >= cap:
                break
            waiting.popleft()
            key = _key(cmd)
            if key is not None and key in ids:  # later ones of this id stay behind it too
                held.append(cmd)
                continue
            if key is not None:
                ids.add(key)
            ready.append(cmd)
            self._in_flight += 1
        if held:
            held.extend(waiting)
            self._waiting = held
        if self._in_flight > self.peak_in_flight:
            self.peak_in_flight = self._in_flight
        return ready

    def finished(self, cmd: Command) -> None:
        """The call for ``cmd`` (returned by ``pop_ready``) has returned."""
        if self._in_flight <= 0:
            raise ValueError(f"finished({cmd!r}) with nothing in flight")
        self._in_flight -= 1
        if type(cmd) is CancelAll:
            self._barrier = False
            return
        key = _key(cmd)
        if key is not None:
            self._ids.discard(key)
