"""The sender's rate pacer: a ``Resync`` is no order request, and a command the pacer holds has
reached no venue, so a ``CancelAll`` after it does not wait for it (``mmcore.send_queue``,
"Overtaking")."""

from __future__ import annotations

import asyncio
from typing import cast

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmcore.commands import Cancel, CancelAll, Command, Place, Resync
from mmcore.events import BUY, SELL, OrderCanceled
from mmcore.ratelimit import RateBudget, RateLimitConfig, venue_defaults
from mmcore.send_queue import SendQueue
from mmcore.sender import Sender

SYM = "BTC-USD"
ETH = "ETH-USD"


class Venue:
    """``execute`` that records each call and blocks until the test opens its gate."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.began: list[Command] = []

    def gate(self, cmd: Command) -> asyncio.Event:
        return self.gates.setdefault(id(cmd), asyncio.Event())

    def open_all(self) -> None:
        for cmd in self.began:
            self.gate(cmd).set()

    async def execute(self, cmd: Command) -> None:
        self.began.append(cmd)
        await self.gate(cmd).wait()


async def settle() -> None:
    await asyncio.sleep(0.03)  # a few of the pacer's retries


def two_places_a_second() -> RateBudget:
    return RateBudget(venue_defaults("paradex"))  # 3 requests a second, 2 of them places


# ------------------------------------------------------------ a Resync is no order request


def test_a_resync_neither_waits_for_the_pacer_nor_spends_its_budget() -> None:
    """The book saw a gap: the Resync (a socket reconnect) must go at once even when the order
    budget is spent, or the book stays stale (no quotes) for up to a window."""

    async def main() -> None:
        venue = Venue()
        sender = Sender(venue.execute, 8)
        budget = two_places_a_second()
        sender.pace(budget, lambda: 0)
        places = [Place(SYM, 0, f"p{i}", BUY, 100 - i, 1) for i in range(2)]
        cancel = Cancel(SYM, 0, "p0")
        for cmd in places:
            sender.submit(cmd)
        venue.gate(places[0]).set()
        await settle()
        sender.submit(cancel)  # the third request of the second: the window is full now
        await settle()
        before = budget.statistics()
        resync = Resync(SYM, 0, "book gap")
        sender.submit(resync)
        await settle()
        assert resync in venue.began and sender.paced == 0
        assert budget.statistics() == before  # nothing spent, nothing refused
        venue.open_all()
        assert await sender.join(1.0)

    asyncio.run(main())


# ------------------------------------------------------------ a CancelAll overtakes held commands


def test_a_cancel_all_goes_at_once_past_a_place_the_pacer_holds_which_is_rejected() -> None:
    """An operator halt: its CancelAll must not wait a window behind a place the budget holds.
    The held place never goes (after the CancelAll it would rest on): the engine is told."""

    async def main() -> None:
        venue = Venue()
        dropped: list[OrderCanceled] = []
        sender = Sender(venue.execute, 8, on_dropped=dropped.append)
        sender.pace(two_places_a_second(), lambda: 7)
        places = [Place(SYM, 0, f"p{i}", BUY, 100 - i, 1) for i in range(3)]
        for cmd in places:
            sender.submit(cmd)
        await settle()
        assert venue.began == places[:2] and sender.paced == 1  # p2 held
        venue.open_all()  # p0 and p1 return
        await settle()
        halt = CancelAll("", 0, "operator halt")
        sender.submit(halt)
        await settle()
        assert venue.began == [*places[:2], halt]  # at once, p2 never
        assert dropped == [OrderCanceled(
            SYM, 7, 7, "p2", "held by the rate budget and overtaken by a CancelAll; never sent",
        )]
        assert sender.overtaken == 1
        venue.open_all()
        assert await sender.join(1.0)
        assert venue.began == [*places[:2], halt]

    asyncio.run(main())


def test_a_cancel_all_overtakes_held_cancels_and_what_waits_behind_held_commands() -> None:
    """One at a time (max_in_flight 1): a held cancel keeps every later command waiting; the
    CancelAll covers them all: the cancels are done by it, the places are rejected."""

    async def main() -> None:
        venue = Venue()
        dropped: list[OrderCanceled] = []
        sender = Sender(venue.execute, 1, on_dropped=dropped.append)
        sender.pace(two_places_a_second(), lambda: 0)
        p0, p1 = Place(SYM, 0, "p0", BUY, 100, 1), Place(SYM, 0, "p1", SELL, 110, 1)
        for place in (p0, p1):
            sender.submit(place)
            await settle()
            venue.gate(place).set()
        await settle()
        c0, c1, p2 = Cancel(SYM, 0, "p0"), Cancel(SYM, 0, "p1"), Place(SYM, 0, "p2", BUY, 99, 1)
        for later in (c0, c1, p2):
            sender.submit(later)
        await settle()
        assert venue.began == [p0, p1, c0]  # the third request of the second
        venue.gate(c0).set()
        await settle()
        assert venue.began == [p0, p1, c0] and sender.in_flight == 1  # c1 held, p2 waits
        stop = CancelAll(SYM, 0, "halt")
        sender.submit(stop)
        await settle()
        assert venue.began == [p0, p1, c0, stop]
        assert [d.client_id for d in dropped] == ["p2"] and sender.overtaken == 2
        venue.open_all()
        assert await sender.join(1.0)

    asyncio.run(main())


def test_a_cancel_all_goes_at_once_past_a_cancel_the_pacer_holds() -> None:
    """A held cancel is done by the CancelAll after it: dropped, even with no ``on_dropped``."""

    async def main() -> None:
        venue = Venue()
        sender = Sender(venue.execute, 8)
        sender.pace(two_places_a_second(), lambda: 0)
        places = [Place(SYM, 0, f"p{i}", BUY, 100 - i, 1) for i in range(2)]
        for cmd in places:
            sender.submit(cmd)
        await settle()
        venue.open_all()
        await settle()
        cancels = [Cancel(SYM, 0, "p0"), Cancel(SYM, 0, "p1")]
        for cancel in cancels:
            sender.submit(cancel)
        await settle()
        assert venue.began == [*places, cancels[0]]  # 3 a second: p1's cancel is held
        venue.open_all()
        await settle()
        halt = CancelAll("", 0, "operator halt")
        sender.submit(halt)
        await settle()
        assert venue.began == [*places, cancels[0], halt]
        venue.open_all()
        assert await sender.join(1.0)
        assert venue.began == [*places, cancels[0], halt]

    asyncio.run(main())


def test_without_on_dropped_a_held_place_still_goes_before_the_cancel_all() -> None:
    """Nobody would tell the engine of a dropped place (it would stay pending in its ledger):
    the CancelAll waits for it as before; held cancels are still overtaken."""

    async def main() -> None:
        now = [0]
        venue = Venue()
        sender = Sender(venue.execute, 8)
        sender.pace(two_places_a_second(), lambda: now[0])
        places = [Place(SYM, 0, f"p{i}", BUY, 100 - i, 1) for i in range(3)]
        for cmd in places:
            sender.submit(cmd)
        await settle()
        venue.open_all()
        stop = CancelAll("", 0, "halt")
        sender.submit(stop)
        await settle()
        assert venue.began == places[:2]
        now[0] = 1_000_000_000  # a second on: the window has room
        await settle()
        assert venue.began == places and sender.overtaken == 0
        venue.open_all()
        await settle()
        assert venue.began == [*places, stop]
        venue.open_all()
        assert await sender.join(1.0)

    asyncio.run(main())


def test_a_cancel_all_of_one_market_waits_for_a_held_place_of_another() -> None:
    async def main() -> None:
        now = [0]
        venue = Venue()
        dropped: list[OrderCanceled] = []
        sender = Sender(venue.execute, 8, on_dropped=dropped.append)
        sender.pace(two_places_a_second(), lambda: now[0])
        places = [Place(SYM, 0, "p0", BUY, 100, 1), Place(SYM, 0, "p1", BUY, 99, 1),
                  Place(ETH, 0, "e0", BUY, 50, 1)]
        for cmd in places:
            sender.submit(cmd)
        await settle()
        venue.open_all()
        stop = CancelAll(SYM, 0, "halt BTC")
        sender.submit(stop)
        await settle()
        assert venue.began == places[:2] and not dropped  # e0 is not the CancelAll's to end
        now[0] = 1_000_000_000
        await settle()
        assert venue.began == places
        venue.open_all()
        await settle()
        assert venue.began == [*places, stop]
        venue.open_all()
        assert await sender.join(1.0)

    asyncio.run(main())


# ------------------------------------------------------------ the queue's rules, with holds


# a place gets a client id of its own (the engine never reuses one); a cancel names one of the
# places emitted so far (its number among them, modulo), or an unknown id when there is none
_cmd = st.one_of(
    st.tuples(st.just("place"), st.just(0), st.sampled_from([BUY, SELL]),
              st.integers(99, 101), st.sampled_from([SYM, ETH])),
    st.tuples(st.just("cancel"), st.integers(0, 20), st.just(0), st.just(0), st.just(SYM)),
    st.tuples(st.just("cancel_all"), st.just(0), st.just(0), st.just(0),
              st.sampled_from(["", "", SYM, ETH])),
    st.tuples(st.just("resync"), st.just(0), st.just(0), st.just(0), st.just(SYM)),
)
_hold = st.sampled_from([True, True, False])  # hold what may start now (mostly: the pacer)
_step = st.one_of(
    st.tuples(st.just("push"), _cmd, _hold),
    st.tuples(st.just("finish"), st.integers(0, 20), _hold),
    st.tuples(st.just("release"), st.integers(0, 20), _hold),
)


@settings(max_examples=600, deadline=None)
@example(cap=4, places=True, steps=[  # our ask, its cancel held, a bid through it, a halt
    ("push", ("place", 0, SELL, 100, SYM), False), ("finish", 0, False),
    ("push", ("cancel", 0, 0, 0, SYM), True), ("push", ("place", 0, BUY, 101, SYM), False),
    ("push", ("cancel_all", 0, 0, 0, ""), False),
])
@given(cap=st.integers(1, 4), places=st.booleans(),
       steps=st.lists(_step, min_size=10, max_size=60))
def test_with_holds_the_venue_sees_the_ordering_rules_and_nothing_is_lost(
    cap: int, places: bool, steps: list[tuple[str, object, bool]]
) -> None:
    """Commands let start are sent or held (at random); held ones are sent later, or dropped by
    a CancelAll that covers them. What the venue sees keeps rules 1 to 3; every command is sent
    or dropped, and only a command a later CancelAll covers is ever dropped."""
    q = SendQueue(cap, overtake_places=places)
    emitted: list[Command] = []
    held: list[Command] = []
    sent: list[Command] = []  # at the venue, not finished
    ended: set[int] = set()  # emission numbers finished or dropped
    dropped: set[int] = set()
    started: list[int] = []
    # an order id, with the (side, price) of its place as emitted before each cancel of it
    target: dict[int, tuple[str, int, int] | None] = {}

    def send(cmd: Command) -> None:
        n = cmd.ts
        for earlier in emitted[:n]:
            if isinstance(earlier, (Place, Cancel)) and isinstance(cmd, (Place, Cancel)) and (
                earlier.client_id == cmd.client_id
            ):
                assert earlier.ts in ended, f"{cmd} overtook {earlier}"
            if type(cmd) is CancelAll or type(earlier) is CancelAll:
                assert earlier.ts in ended, f"{cmd} went before {earlier} ended"
        if type(cmd) is Place:
            for earlier in emitted[:n]:
                if type(earlier) is not Cancel or target[earlier.ts] is None:
                    continue
                inst, side, price = target[earlier.ts]  # type: ignore[misc]
                crosses = inst == cmd.inst and side != cmd.side and (
                    cmd.price >= price if cmd.side == BUY else cmd.price <= price
                )
                if crosses and earlier.ts in dropped:  # canceled by a CancelAll since
                    assert any(type(c) is CancelAll and earlier.ts < c.ts < n and c.ts in ended
                               for c in emitted), f"{cmd} may cross {earlier}'s order"
                elif crosses:
                    assert earlier.ts in ended, f"{cmd} may cross {earlier}'s order"
        sent.append(cmd)
        started.append(n)

    def start_ready(hold: bool) -> None:
        ready = q.pop_ready()
        for cmd in q.take_overtaken():
            assert cmd in held or cmd.ts not in started, f"{cmd} dropped after it was sent"
            assert type(cmd) is Cancel or (places and type(cmd) is Place)
            assert any(type(c) is CancelAll and c.ts > cmd.ts and c.inst in ("", cmd.inst)
                       for c in emitted), f"{cmd} dropped with no CancelAll covering it"
            if cmd in held:
                held.remove(cmd)
            dropped.add(cmd.ts)
            ended.add(cmd.ts)
        for cmd in ready:
            if hold and type(cmd) in (Place, Cancel):
                held.append(cmd)
                q.hold(cmd)
            else:
                send(cmd)
        assert len(sent) + len(held) == q.in_flight <= cap
        if any(type(c) is CancelAll for c in sent):
            assert len(sent) == 1 and not held, "a CancelAll in flight with other calls"

    for action, arg, flag in steps:
        if action == "push":
            kind, pick, side, price, inst = cast("tuple[str, int, int, int, str]", arg)
            n = len(emitted)
            cmd: Command
            if kind == "place":
                cmd = Place(inst, n, f"o{n}", side, price, 1)
            elif kind == "cancel":
                before = [c for c in emitted if type(c) is Place]
                p = before[pick % len(before)] if before else None
                cmd = Cancel(p.inst if p else inst, n, p.client_id if p else "unknown")
                target[n] = (p.inst, p.side, p.price) if p else None
            elif kind == "cancel_all":
                cmd = CancelAll(inst, n, "halt")
            else:
                cmd = Resync(inst, n)
            emitted.append(cmd)
            q.push(cmd)
        elif action == "finish" and sent:
            done = sent.pop(arg % len(sent))  # type: ignore[operator]
            ended.add(done.ts)
            q.finished(done)
        elif action == "release" and held:
            cmd = held.pop(arg % len(held))  # type: ignore[operator]
            q.release(cmd)
            send(cmd)
        start_ready(flag)
    while sent or held:  # the budget frees up, the venue answers: everything goes or drops
        if held:
            cmd = held.pop(0)
            q.release(cmd)
            send(cmd)
        else:
            done = sent.pop(0)
            ended.add(done.ts)
            q.finished(done)
        start_ready(False)
    assert sorted(started + sorted(dropped)) == list(range(len(emitted)))
    assert q.idle


def test_the_queue_drops_held_commands_only_when_every_call_in_flight_is_held() -> None:
    q = SendQueue(8, overtake_places=True)
    a, b = Place(SYM, 0, "a", BUY, 100, 1), Place(SYM, 1, "b", BUY, 99, 1)
    for cmd in (a, b):
        q.push(cmd)
    assert q.pop_ready() == [a, b]
    q.hold(b)  # a is at the venue
    stop = CancelAll("", 2)
    q.push(stop)
    assert q.pop_ready() == [] and q.take_overtaken() == []
    q.finished(a)
    assert q.pop_ready() == [stop] and q.take_overtaken() == [b]
    assert q.in_flight == 1
    q.finished(stop)
    assert q.idle


def test_a_rate_config_with_a_reserve_still_gives_cancels_room_when_places_are_held() -> None:
    """Sanity of the helper budget: places 2 a second, cancels 3."""
    budget = RateBudget(RateLimitConfig(windows=[(1.0, 3)]))
    assert budget.try_spend(0, False) and budget.try_spend(0, False)
    assert not budget.try_spend(0, False) and budget.try_spend(0, True)
