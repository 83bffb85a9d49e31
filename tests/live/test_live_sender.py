"""The live sender: ``execute`` calls started as ``SendQueue`` allows, waited for, or cancelled.

The venue here is a set of gates: each call blocks until the test opens its command's gate."""

from __future__ import annotations

import asyncio

from mmcore.commands import Cancel, CancelAll, Command, Place
from mmcore.events import BUY
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
