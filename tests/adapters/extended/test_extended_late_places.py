"""Places of unknown outcome at close (``adapters.extended.late_places``): the watch keeps to its
time whatever the venue does, and a place the venue named once is never unknown again."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
from pathlib import Path
from typing import Any

from aiohttp import web
from x10.core.stark_account import StarkPerpetualAccount

from adapters.extended.backoff import Backoff
from adapters.extended.config import ExtendedConfig
from adapters.extended.errors import ExtendedUnavailableError
from adapters.extended.execution import Executor
from adapters.extended.late_places import cancel_late_places
from adapters.extended.markets import sdk_config
from adapters.extended.rest import ExtendedRest
from adapters.extended.tracker import OrderTracker
from adapters.extended.wire import WireOrder
from mmcore.commands import Place
from mmcore.events import BUY

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "live"))
from conftest import SYM, make_instrument

MINUTE = 60 * 10**9


def test_the_watch_keeps_to_its_time_when_the_venue_does_not_answer() -> None:
    """Each lookup of a venue that never answers waits for every attempt of the REST client
    (here 3 x 10 s); the watch used to check its time only between passes over all the ids,
    so a 1 s watch of three ids held the close for about 100 s."""

    released = asyncio.Event()  # set at the end, so the server's cleanup need not wait 60 s

    async def hang(request: web.Request) -> web.Response:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(released.wait(), 60)
        return web.Response(text="{}")

    async def main() -> list[str]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", hang)
        server = web.AppRunner(app)
        await server.setup()
        site = web.TCPSite(server, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        config = ExtendedConfig(network="local", base_url=f"http://127.0.0.1:{port}")
        account = StarkPerpetualAccount(vault=10001, private_key="0x1", public_key="0x2",
                                        api_key="k")
        rest = ExtendedRest(sdk_config(config), account, "k", 2,
                            Backoff(0.1, 0.1, random.Random(0)), 10.0)
        try:
            ids = ["mmA-1", "mmA-2", "mmA-3"]
            # the bound under test is 1 s; 20 s is only the test's own guard against a hang
            return await asyncio.wait_for(cancel_late_places(rest, ids, timeout_s=1.0), 20)
        finally:
            released.set()
            await rest.close()
            await server.cleanup()

    assert asyncio.run(main()) == ["mmA-1", "mmA-2", "mmA-3"]  # still unknown: switch armed


class _TimedOut:
    async def place(self, signed: Any, paid: bool = True) -> None:
        raise ExtendedUnavailableError("POST order: gave up after 3 attempts; last: TimeoutError")


class _Signer:
    def prepare(self, cmd: Place, inst: Any, market: Any, now: int) -> Any:
        return lambda: object()


def test_a_place_the_venue_named_stays_settled_after_the_tracker_forgets_it() -> None:
    """A timed-out place that the venue then listed (its id learned) and that ended: once the
    tracker forgot it (10 minutes on), it used to count as unknown again, and a clean close left
    the dead man's switch armed for an order that no longer existed."""

    async def main() -> tuple[list[str], list[str], list[str]]:
        inst = make_instrument()
        tracker = OrderTracker({SYM: inst})
        executor = Executor(
            _TimedOut(), _Signer(), tracker, {SYM: inst}, {SYM: object()},  # type: ignore[arg-type,dict-item]
            lambda: 0, lambda events: None, lambda why: None,
        )
        await executor.place(Place(SYM, 0, "mmabc-1", BUY, 600_000, 10))
        unknown = executor.unsettled()
        tracker.on_order(WireOrder(id=77, external_id="mmabc-1", market=SYM, side="BUY",
                                   status="NEW", qty="0.0001", price="60000", updated_time=1), 1)
        named = executor.unsettled()
        order = tracker.get("mmabc-1")
        assert order is not None
        tracker.canceled(order, 2, 2, "requote")
        await executor.place(Place(SYM, 0, "mmabc-2", BUY, 600_000, 10))
        later = tracker.get("mmabc-2")
        assert later is not None
        tracker.canceled(later, 11 * MINUTE, 11 * MINUTE, "requote")  # the first is forgotten
        assert tracker.get("mmabc-1") is None
        return unknown, named, executor.unsettled()

    unknown, named, later = asyncio.run(main())
    assert unknown == ["mmabc-1"]
    assert named == []
    assert later == ["mmabc-2"]  # the second, never named by the venue, is still unknown


def test_the_body_of_a_place_ended_unlisted_goes_when_the_tracker_forgets_it() -> None:
    """A place of unknown outcome that the reconcile ended before the venue ever listed it kept
    its signed body (~6 KB) for the whole session: a week of them ran to tens of megabytes, and
    the close looked each one up at the venue."""

    async def main() -> tuple[list[str], list[str]]:
        inst = make_instrument()
        tracker = OrderTracker({SYM: inst})
        executor = Executor(
            _TimedOut(), _Signer(), tracker, {SYM: inst}, {SYM: object()},  # type: ignore[arg-type,dict-item]
            lambda: 0, lambda events: None, lambda why: None,
        )
        await executor.place(Place(SYM, 0, "mmabc-1", BUY, 600_000, 10))
        order = tracker.get("mmabc-1")
        assert order is not None
        tracker.canceled(order, 1, 1, "reconcile: canceled before the venue listed it")
        ended = executor.unsettled()  # a copy may still land: still watched for a while
        await executor.place(Place(SYM, 0, "mmabc-2", BUY, 600_000, 10))
        later = tracker.get("mmabc-2")
        assert later is not None
        tracker.canceled(later, 11 * MINUTE, 11 * MINUTE, "requote")  # the first is forgotten
        return ended, executor.unsettled()

    ended, later = asyncio.run(main())
    assert ended == ["mmabc-1"]
    assert later == ["mmabc-2"]
