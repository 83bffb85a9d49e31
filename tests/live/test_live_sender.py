"""The live sender: ``execute`` calls started as ``SendQueue`` allows, waited for, or cancelled.

The venue here is a set of gates: each call blocks until the test opens its command's gate."""

from __future__ import annotations

import asyncio

from mmcore.commands import Cancel, CancelAll, Command, Place
from mmcore.events import BUY, SELL
from mmcore.ratelimit import RateBudget, venue_defaults
from mmcore.sender import Sender

SYM = "BTC-USD"


class Gates:
    """``execute`` that records which calls began and ended, each waiting for its gate."""

    def __init__(self) -> None:
        self.gates: dict[Command, asyncio.Event] = {}
        self.began: list[Command] = []
        self.ended: list[Command] = []

    def gate(self, cmd: Command) -> asyncio.Event:
        return self.gates.setdefault(cmd, asyncio.Event())

    async def execute(self, cmd: Command) -> None:
        self.began.append(cmd)
        await self.gate(cmd).wait()
        self.ended.append(cmd)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_calls_overlap_but_a_cancel_waits_for_its_own_place() -> None:
    async def main() -> None:
        venue = Gates()
        sender = Sender(venue.execute, 8)
        pa, pb, ca = (
            Place(SYM, 1, "a", BUY, 100, 1),
            Place(SYM, 2, "b", BUY, 99, 1),
            Cancel(SYM, 3, "a"),
        )
        for cmd in (pa, pb, ca):
            sender.submit(cmd)
        await settle()
        assert venue.began == [pa, pb] and sender.in_flight == 2 and sender.waiting == 1
        venue.gate(pa).set()
        await settle()
        assert venue.began == [pa, pb, ca]
        assert not await sender.join(0.05)  # b and the cancel are still out
        venue.gate(pb).set()
        venue.gate(ca).set()
        assert await sender.join(1.0)
        assert sender.peak_in_flight == 2

    asyncio.run(main())


def test_waiting_for_the_calls_in_flight_does_not_start_the_waiting_ones() -> None:
    async def main() -> None:
        venue = Gates()
        sender = Sender(venue.execute, 8)
        pa = Place(SYM, 1, "a", BUY, 100, 1)
        sender.submit(pa)
        sender.submit(CancelAll("", 2, "halt"))
        await settle()
        assert not await sender.wait_in_flight(0.05)
        assert sender.drop_waiting() == 1
        venue.gate(pa).set()
        assert await sender.wait_in_flight(1.0)
        await settle()
        assert venue.began == [pa]  # the dropped CancelAll never went
        assert await sender.join(0.05)

    asyncio.run(main())


def test_close_cancels_the_calls_in_flight_and_refuses_new_ones() -> None:
    async def main() -> None:
        venue = Gates()
        sender = Sender(venue.execute, 8)
        pa = Place(SYM, 1, "a", BUY, 100, 1)
        sender.submit(pa)
        await settle()
        await sender.close()
        assert sender.in_flight == 0 and venue.ended == []
        sender.submit(Place(SYM, 2, "b", BUY, 100, 1))
        await settle()
        assert venue.began == [pa]

    asyncio.run(main())


def test_a_paced_sender_never_starts_more_than_the_venue_allows_in_a_window() -> None:
    """The gate spends the budget when a command is emitted; a place held behind a slow cancel
    (it would cross the order being canceled) starts later, together with commands emitted a
    window on. Paced, the sender holds it until the window has room, and lets the others go."""
    ns = 1_000_000_000
    now = [0]
    starts: list[tuple[int, Command]] = []

    async def main() -> None:
        venue = Gates()

        async def execute(cmd: Command) -> None:
            starts.append((now[0], cmd))
            await venue.execute(cmd)

        sender = Sender(execute, 8)
        sender.pace(RateBudget(venue_defaults("paradex")), lambda: now[0])  # 3 a second
        assert sender.pacing

        async def at(t: int, *cmds: Command) -> None:
            now[0] = t
            for cmd in cmds:
                sender.submit(cmd)
            await asyncio.sleep(0.02)  # the pacer's retries run

        ask, other = Place(SYM, 0, "ask", SELL, 100_010, 2), Place(SYM, 0, "x", SELL, 101_000, 2)
        await at(0, ask, other)
        venue.gate(ask).set()
        venue.gate(other).set()
        t1 = 2 * ns
        slow = Cancel(SYM, t1, "ask")
        held = Place(SYM, t1, "bid", BUY, 100_012, 2)  # would cross "ask": waits for its cancel
        await at(t1, slow, held)
        await at(t1 + 1_050_000_000, Place(SYM, 0, "b2", BUY, 99_000, 2),
                 Place(SYM, 0, "a2", SELL, 102_000, 2))
        await at(t1 + 1_100_000_000, Cancel(SYM, 0, "x"))
        now[0] = t1 + 1_200_000_000
        venue.gate(slow).set()  # the cancel returns: "bid" may start, but the window is full
        await asyncio.sleep(0.02)
        assert held not in [c for _, c in starts] and sender.paced == 1
        await at(t1 + 2_060_000_000)  # the places of t1 + 1.05 s have left the window
        assert held in [c for _, c in starts]
        for cmd in list(venue.gates):
            venue.gate(cmd).set()
        for _, cmd in starts:
            venue.gate(cmd).set()
        assert await sender.join(1.0)

    asyncio.run(main())
    times = [t for t, _ in starts]
    for t in times:
        assert sum(1 for u in times if 0 <= t - u < ns) <= 3
    place_times = [t for t, c in starts if isinstance(c, Place)]
    for t in place_times:
        assert sum(1 for u in place_times if 0 <= t - u < ns) <= 2  # 80% left for cancels


def test_a_cancel_all_is_never_held_by_the_pacer() -> None:
    async def main() -> None:
        venue = Gates()
        sender = Sender(venue.execute, 8)
        sender.pace(RateBudget(venue_defaults("paradex")), lambda: 0)
        places = [Place(SYM, 0, f"p{i}", BUY, 100 - i, 1) for i in range(3)]
        for cmd in places:
            sender.submit(cmd)
        await settle()
        assert venue.began == places[:2]  # 2 places a second
        assert sender.drop_waiting() == 1
        for cmd in places[:2]:
            venue.gate(cmd).set()
        stop = CancelAll("", 0, "shutdown")
        sender.submit(stop)
        await settle()
        assert venue.began[-1] == stop
        venue.gate(stop).set()
        assert await sender.join(1.0)

    asyncio.run(main())
