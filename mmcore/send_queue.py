"""Which emitted commands may be in flight at the venue together.

The engine emits commands in an order; a venue round trip takes milliseconds. Sending them one at
a time makes the last command of a re-quote (cancel, cancel, place, place) leave three round trips
after the first. ``SendQueue`` lets commands overlap wherever the order cannot matter:

1. at most one command per client id is in flight, and those of one id start in emission order
   (a ``Cancel`` never overtakes the ``Place`` of its own order);
2. a ``Place`` that would cross one of our own orders whose ``Cancel`` was emitted before it (a
   bid at or above that ask, an ask at or below that bid) waits until that cancel has returned,
   so the venue never sees us trade with ourselves or refuse a post-only order for it when the
   market jumped more than our spread; other places do not wait for cancels;
3. a ``CancelAll`` is a barrier: it starts only when everything emitted before it has finished
   (or was overtaken: below), and nothing emitted after it starts until it has finished;
4. at most ``max_in_flight`` commands are in flight (1 = strictly one at a time, in order);
5. otherwise commands start in emission order (a ``Resync`` has no client id and waits only for
   the barrier and the cap).

For rule 2 the queue remembers the market, side and price of the places it was given, by
client id (a place waits only for cancels of its own market):
one order per id, as the engine emits them (its ledger refuses a second place of an id). The
orders of an earlier session, canceled by the start-up ``CancelAll``, are not among them.

Overtaking. The sender may keep a command ``pop_ready`` let start from going (its rate pacer has
no budget for it yet: ``hold``, then ``release`` when it goes). Such a command has reached no
venue, yet it counts as in flight for the rules above; left so, it would keep the next
``CancelAll`` (an operator's halt, say) waiting up to a rate window. So when the first waiting
``CancelAll`` is blocked only by held commands and by commands waiting behind them, and it
covers every one of them (a ``Cancel``, or a ``Place`` when the queue was made with
``overtake_places``, of its market, or of any market for ``CancelAll("")``), they are all
dropped at once (``take_overtaken`` returns them; they are never sent) and the ``CancelAll``
starts: a dropped cancel's order is canceled by it, a dropped place never reaches the venue
(its sender must tell the engine so). A ``Resync`` before it is not dropped: it starts as usual.
Nothing is dropped while any other call is in flight or any command it does not cover is
ahead of it (it waits as rule 3 says), so no place it does not cover can overtake a dropped
cancel it would cross (rule 2), and every command not dropped keeps rules 1 to 5.

Commands of different client ids may reach the venue in another order than emitted. That cannot
take the account past a risk limit: the risk gate counts an order as open and as exposure until
the venue confirms it terminal (pending cancels included), so a new order landing before the
cancel of the old one is the state the gate already allowed.

Pure bookkeeping (no asyncio, no clock): the live runner's sender calls ``push`` as commands are
emitted, starts what ``pop_ready`` returns (then ``take_overtaken``) and calls ``finished`` as
each call returns.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from mmcore.commands import Cancel, CancelAll, Command, Place, Resync
from mmcore.events import BUY

__all__ = ["SendQueue"]

_ORDERS_KEPT = 65_536  # market, side and price of at least our latest orders, for rule 2


def _crosses(place: Place, inst: str, side: int, price: int) -> bool:
    """``place`` would trade with our own order of ``inst`` and ``side`` at ``price`` (prices of
    different markets are in different ticks, and their orders never meet)."""
    if place.side == side or place.inst != inst:
        return False
    return place.price >= price if place.side == BUY else place.price <= price


def _key(cmd: Command) -> str | None:
    """The client id a command is ordered by, or None (a ``Resync``)."""
    t = type(cmd)
    if t is Place or t is Cancel:
        return cmd.client_id  # type: ignore[union-attr]
    return None


class SendQueue:
    """Commands waiting to be sent, and those in flight; see the module doc for the rules."""

    __slots__ = (
        "_barrier",
        "_cancel_alls",
        "_cancelling",
        "_held",
        "_ids",
        "_in_flight",
        "_orders",
        "_overtaken",
        "_waiting",
        "max_in_flight",
        "overtake_places",
        "peak_in_flight",
    )

    def __init__(self, max_in_flight: int, overtake_places: bool = False) -> None:
        """``overtake_places``: a ``CancelAll`` may overtake held places too, not only held
        cancels (module doc); only for a sender that tells the engine of each one dropped."""
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight: expected >= 1, found {max_in_flight}")
        self.max_in_flight = max_in_flight
        self.overtake_places = overtake_places
        self.peak_in_flight = 0
        self._held: list[Command] = []  # let start, kept back by the sender (``hold``)
        self._cancel_alls = 0  # CancelAlls waiting
        self._overtaken: list[Command] = []  # dropped, for ``take_overtaken``
        self._waiting: deque[Command] = deque()
        self._in_flight = 0
        self._ids: set[str] = set()  # client ids with a command in flight
        self._barrier = False  # a CancelAll is in flight
        # client id -> (market, side, price) of its place; and of the cancels in flight
        self._orders: dict[str, tuple[str, int, int]] = {}
        self._cancelling: dict[str, tuple[str, int, int]] = {}

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def cancel_all_waiting(self) -> bool:
        """A ``CancelAll`` waits to start."""
        return self._cancel_alls > 0

    @property
    def idle(self) -> bool:
        """Nothing waiting and nothing in flight."""
        return not self._waiting and not self._in_flight

    def push(self, cmd: Command) -> None:
        """``cmd`` was emitted (after everything pushed before it)."""
        self._waiting.append(cmd)
        if type(cmd) is CancelAll:
            self._cancel_alls += 1
        elif type(cmd) is Place:
            orders = self._orders
            orders[cmd.client_id] = (cmd.inst, cmd.side, cmd.price)
            if len(orders) > _ORDERS_KEPT + _ORDERS_KEPT // 4:
                # the oldest quarter goes at once, back to the newest _ORDERS_KEPT: deleting
                # the oldest one at a time makes a dict step over every slot freed since its
                # last resize to find it, so each place cost up to 100 us more once a session
                # had made 65,536 of them
                self._orders = dict(islice(orders.items(), len(orders) - _ORDERS_KEPT, None))

    def drop_waiting(self) -> int:
        """Forget the commands not started (they will never be sent); returns how many."""
        n = len(self._waiting)
        self._waiting.clear()
        self._cancel_alls = 0
        return n

    def hold(self, cmd: Command) -> None:
        """The sender keeps ``cmd`` (returned by ``pop_ready``) from going for now; it still
        counts as in flight, but a ``CancelAll`` may overtake it (module doc)."""
        self._held.append(cmd)

    def release(self, cmd: Command) -> None:
        """``cmd``, held, goes now after all: in flight as any other until ``finished``."""
        held = self._held
        for i, c in enumerate(held):
            if c is cmd:
                del held[i]
                return

    def take_overtaken(self) -> list[Command]:
        """The held and waiting commands a ``CancelAll`` overtook since the last call, in no
        particular order: dropped (not in flight, never to be sent; module doc)."""
        out = self._overtaken
        if out:
            self._overtaken = []
        return out

    def pop_ready(self) -> list[Command]:
        """The waiting commands that may start now, in emission order; they count as in flight
        until ``finished``."""
        if self._barrier or not self._waiting:
            return []
        if self._held and self._cancel_alls and self._in_flight == len(self._held):
            self._overtake()
        waiting = self._waiting
        cap = self.max_in_flight
        if self._in_flight >= cap:
            return []
        ids = self._ids
        orders = self._orders
        ready: list[Command] = []
        held: deque[Command] = deque()  # commands that must wait, in emission order
        held_ids: set[str] = set()  # later commands of these ids wait behind them
        cancels = list(self._cancelling.values())  # unfinished cancels emitted so far
        while waiting:
            cmd = waiting[0]
            t = type(cmd)
            if t is CancelAll:
                if not self._in_flight and not held:
                    waiting.popleft()
                    self._cancel_alls -= 1
                    ready.append(cmd)
                    self._in_flight = 1
                    self._barrier = True
                break  # nothing behind a CancelAll may start before it
            if self._in_flight >= cap:
                break
            waiting.popleft()
            key = _key(cmd)
            if t is Cancel:
                order = orders.get(key)  # type: ignore[arg-type]
                if order is not None:
                    cancels.append(order)
            if key is not None and (
                key in ids
                or key in held_ids
                or (t is Place and any(_crosses(cmd, *order) for order in cancels))  # type: ignore[arg-type]
            ):
                held.append(cmd)
                held_ids.add(key)
                continue
            if key is not None:
                ids.add(key)
                if t is Cancel:
                    order = orders.get(key)
                    if order is not None:
                        self._cancelling[key] = order
            ready.append(cmd)
            self._in_flight += 1
        if held:
            held.extend(waiting)
            self._waiting = held
        if self._in_flight > self.peak_in_flight:
            self.peak_in_flight = self._in_flight
        return ready

    def _overtake(self) -> None:
        """Every call in flight is held: drop them, and the commands waiting before the first
        ``CancelAll``, if it covers them all (module doc)."""
        ahead: list[Command] = []
        stop: CancelAll | None = None
        for cmd in self._waiting:
            if type(cmd) is CancelAll:
                stop = cmd
                break
            if type(cmd) is not Resync:
                ahead.append(cmd)
        if stop is None:
            return
        inst = stop.inst
        places = self.overtake_places
        for cmd in self._held + ahead:
            t = type(cmd)
            if not (t is Cancel or (t is Place and places)):
                return
            if inst and cmd.inst != inst:
                return
        for cmd in self._held:
            self._forget(cmd)
        self._overtaken.extend(self._held)
        self._held = []
        if ahead:
            self._overtaken.extend(ahead)
            waiting = self._waiting  # in place: ``pop_ready`` holds it
            resyncs: list[Command] = []
            while waiting[0] is not stop:
                cmd = waiting.popleft()
                if type(cmd) is Resync:
                    resyncs.append(cmd)
            waiting.extendleft(reversed(resyncs))

    def _forget(self, cmd: Command) -> None:
        """``cmd`` is no longer in flight."""
        self._in_flight -= 1
        key = _key(cmd)
        if key is not None:
            self._ids.discard(key)
            if type(cmd) is Cancel:
                self._cancelling.pop(key, None)

    def finished(self, cmd: Command) -> None:
        """The call for ``cmd`` (returned by ``pop_ready``) has returned."""
        if self._in_flight <= 0:
            raise ValueError(f"finished({cmd!r}) with nothing in flight")
        if self._held:
            self.release(cmd)
        if type(cmd) is CancelAll:
            self._in_flight -= 1
            self._barrier = False
            return
        self._forget(cmd)
