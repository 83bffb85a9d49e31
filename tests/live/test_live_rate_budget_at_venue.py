"""``[risk.rate_limit]`` as the venue sees it: the Extended adapter, paced with the runner's rate
budget (``ExtendedAdapter.pace_requests``), against the local emulator.

The runner's sender pays for the first request of each command it starts; here the test plays
the sender (it spends from the budget, then calls ``execute``). Every other request to an order
endpoint (a retry, a reconcile's cancel, a place resent to settle it) must pay from the same
budget before it goes. The emulator's REST requests to order endpoints are counted as they
arrive, stamped with the (manual) clock that the budget runs on; the clock moves only while the
adapter waits for the budget, so no request is ever in flight across a step."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from adapters.emulator.clock import ManualClock
from adapters.emulator.random_walk import RandomWalkParams
from adapters.extended.adapter import ExtendedAdapter
from adapters.extended.emulator import ExtendedEmulatorHandle, serve
from mmcore.commands import Cancel, CancelAll, Command, Place
from mmcore.events import BUY, BookSnapshot, Event, OrderAccepted, OrderCanceled, OrderRejected
from mmcore.instrument import Instrument
from mmcore.ratelimit import RateBudget, RateLimitConfig

if TYPE_CHECKING:
    from adapters.extended.rest import RequestPacer

START = 1_700_000_000_000_000_000
SEC = 1_000_000_000
SYM = "BTC-USD"
ORDER_PATH = "/api/v1/user/order"  # POST place, DELETE by external id; /{id}, /massCancel
WINDOW = 1.0
LIMIT = 4  # requests a second; 3 of them places (reserve_for_cancels 0.25)
PLACES = 3


def budget() -> RateBudget:
    return RateBudget(RateLimitConfig(windows=[(WINDOW, LIMIT)], reserve_for_cancels=0.25))


class Venue:
    """An emulator with an adapter on it, paced; every order-endpoint request it receives."""

    def __init__(self, h: ExtendedEmulatorHandle, adapter: ExtendedAdapter, clock: ManualClock,
                 budget: RateBudget) -> None:
        self.h = h
        self.adapter = adapter
        self.clock = clock
        self.budget = budget
        self.events: list[Event] = []
        self.requests: list[tuple[int, str]] = []  # (clock at arrival, path)
        faults = h.faults
        take = faults.take_delay_s

        def seen(path: str) -> float:  # the fault middleware asks this of every REST request
            if path == ORDER_PATH or path.startswith(ORDER_PATH + "/"):
                self.requests.append((clock(), path))
            return take(path)

        faults.take_delay_s = seen  # type: ignore[method-assign]

    @property
    def pacer(self) -> RequestPacer:
        pacer = self.adapter.rest.pacer
        assert pacer is not None
        return pacer

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if type(e) is kind]

    async def send(self, cmd: Command) -> None:
        """What the runner's sender does: pay for the command's first request, then execute."""
        t = type(cmd)
        if t is CancelAll:
            self.budget.force(self.clock(), True)
        else:
            assert self.budget.try_spend(self.clock(), t is Cancel), "the test's own budget"
        await self.adapter.execute(cmd)

    async def until(self, done: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        """Wait for ``done``; whenever the adapter waits for the budget, move the clock on a
        tenth of a window (nothing is in flight then: the flows here are sequential)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; requests: {self.requests}")
            pacer: RequestPacer | None = getattr(self.adapter.rest, "pacer", None)
            if pacer is not None and pacer.waiting:
                self.clock.advance(SEC // 10)
            await asyncio.sleep(0.01)

    def most_in_a_window(self, only: Callable[[str], bool] = lambda path: True) -> int:
        times = [t for t, path in self.requests if only(path)]
        span = int(WINDOW * SEC)
        return max((sum(1 for u in times if 0 <= u - t < span) for t in times), default=0)

    def open_client_ids(self) -> list[str]:
        return sorted(o.client_id for o in self.h.account().open_orders())


@contextlib.asynccontextmanager
async def paced_venue(**overrides: Any) -> AsyncIterator[Venue]:
    clock = ManualClock(START)
    h = await serve(
        clock=clock,
        seed=5,
        instruments=[Instrument(venue="extended", symbol=SYM, tick_size="1",
                                lot_size="0.00001", min_size="0.0001", maker_fee="0.0001",
                                taker_fee="0.00025")],
        walk=RandomWalkParams(mid_ticks=60_000, trade_prob=0.0, move_prob=0.0),
        tick_s=0.02,
    )
    fields: dict[str, Any] = {
        "dead_man_switch_s": 0,
        "reconcile_interval_s": 0,
        "reconnect_min_s": 0.3,
        "reconnect_max_s": 0.6,
        "rest_backoff_min_s": 0.0,  # retries at once: only the budget spaces them
        "rest_backoff_max_s": 0.0,
        "rest_timeout_s": 2.0,
        "heartbeat_s": 5.0,
        "seed": 3,
    }
    fields.update(overrides)
    config = h.adapter_config(**fields)
    adapter = ExtendedAdapter(config, clock, environ=h.credentials[0].env(config))
    shared = budget()
    pace = getattr(adapter, "pace_requests", None)  # (so that an adapter without it fails
    if pace is not None:  # on what the venue sees, not here)
        pace(shared, clock)
    venue = Venue(h, adapter, clock, shared)

    async def pump() -> None:
        async for ev in adapter.events():
            venue.events.append(ev)

    task = asyncio.create_task(pump())
    try:
        await adapter.start([SYM])
        await venue.until(lambda: bool(venue.of(BookSnapshot)), "the first snapshot")
        yield venue
    finally:
        await adapter.close()
        await task
        await h.close()


def is_place(path: str) -> bool:
    return path == ORDER_PATH  # in these tests: no cancel by external id alongside


def test_retries_of_a_place_pay_from_the_budget_and_the_venue_never_sees_more() -> None:
    """A place meets five 503s in a row: six requests for one command. Unpaced, they all went
    within milliseconds (six places in a second where the limit allows three)."""

    async def main() -> None:
        async with paced_venue(rest_retries=6) as v:
            v.h.faults.fail_next(5, 503, ORDER_PATH + "$")
            task = asyncio.create_task(v.send(Place(SYM, 0, "r", BUY, 59_950, 100)))
            await v.until(task.done, "the place")
            await v.until(lambda: bool(v.of(OrderAccepted)), "the ack")
            assert len(v.requests) == 6 and v.h.account().orders and v.open_client_ids() == ["r"]
            assert v.most_in_a_window(is_place) <= PLACES
            assert v.pacer.spent == 5 and v.pacer.waited >= 1
            assert v.requests[-1][0] - v.requests[0][0] >= SEC  # spread over windows

    asyncio.run(main())


def test_the_reconciles_cancels_of_orphans_pay_from_the_budget() -> None:
    """Six orders of an earlier session: the reconcile cancels each by id, on its own."""

    async def main() -> None:
        async with paced_venue() as v:
            account = v.h.account()
            for i in range(6):
                old = account.new_order(f"old-{i}", SYM, BUY, 59_000 - i, 100, True, False,
                                        "GTC", START)
                v.h.exchange.place(account, old)
            task = asyncio.create_task(v.adapter.reconcile())
            await v.until(task.done, "the reconcile")
            task.result()
            assert not account.open_orders() and len(v.requests) == 6
            assert v.most_in_a_window() <= LIMIT
            assert v.pacer.spent == 6

    asyncio.run(main())


def test_a_place_resent_by_the_reconcile_waits_for_room_in_the_window() -> None:
    """Three places fill the second's place budget; the third's outcome is unknown (a 503, no
    retries), so the reconcile resends it: that resend must wait for the window to pass."""

    async def main() -> None:
        async with paced_venue(rest_retries=0) as v:
            for i in range(2):
                await v.send(Place(SYM, 0, f"p{i}", BUY, 59_950 - i, 100))
            v.h.faults.fail_next(1, 503, ORDER_PATH + "$")
            await v.send(Place(SYM, 0, "u", BUY, 59_940, 100))  # outcome unknown: reconciled
            await v.until(lambda: "u" in v.open_client_ids(), "the resent place")
            assert len(v.requests) == 4 and v.most_in_a_window(is_place) <= PLACES
            assert v.pacer.spent == 1 and v.pacer.waited == 1
            await v.until(lambda: len(v.of(OrderAccepted)) == 3, "three acks")
            assert not v.of(OrderRejected)

    asyncio.run(main())


def test_a_cancel_sent_again_by_the_reconcile_waits_for_room_in_the_window() -> None:
    """Four cancels fill the second; one of them fails (its outcome unknown), and the
    reconcile cancels that order again: only once the window has room."""

    async def main() -> None:
        async with paced_venue(rest_retries=0) as v:
            for i in range(4):
                if i == PLACES:
                    v.clock.advance(SEC)  # three places a second
                await v.send(Place(SYM, 0, f"c{i}", BUY, 59_950 - i, 100))
            await v.until(lambda: len(v.of(OrderAccepted)) == 4, "four acks")
            v.clock.advance(2 * SEC)
            before = len(v.requests)
            for i in range(4):
                if i == 3:
                    v.h.faults.fail_next(1, 503, ORDER_PATH + "$")
                await v.send(Cancel(SYM, 0, f"c{i}"))
            await v.until(lambda: not v.open_client_ids(), "every order canceled")
            await v.until(lambda: len(v.of(OrderCanceled)) == 4, "four cancels confirmed")
            assert len(v.requests) == before + 5 and v.most_in_a_window() <= LIMIT
            assert v.pacer.spent == 1 and v.pacer.waited == 1

    asyncio.run(main())


def test_a_mass_cancel_retry_is_recorded_but_never_held() -> None:
    """The budget is spent; the CancelAll's mass cancel meets a 503: its retry goes at once
    (pulling quotes must never wait), recorded in the budget as forced."""

    async def main() -> None:
        async with paced_venue(rest_retries=1) as v:
            await v.send(Place(SYM, 0, "m", BUY, 59_950, 100))
            for _ in range(LIMIT - 1):
                assert v.budget.try_spend(v.clock(), True)  # the rest of the second's budget
            v.h.faults.fail_next(1, 503, ORDER_PATH + "/massCancel")
            await asyncio.wait_for(v.send(CancelAll(SYM, 0, "halt")), 5.0)  # clock never moves
            mass = [t for t, path in v.requests if path.endswith("massCancel")]
            assert len(mass) == 2 and v.pacer.spent == 1 and v.pacer.waited == 0
            assert v.budget.statistics().cancels_refused == 2  # both forced past the limit
            await v.until(lambda: not v.open_client_ids(), "the order canceled")

    asyncio.run(main())


def test_without_pace_requests_nothing_is_spent_or_held() -> None:
    """Backtests and unpaced sessions: retries go as before, nothing counted."""

    async def main() -> None:
        async with paced_venue(rest_retries=3) as v:
            v.adapter.rest.pacer = None
            v.h.faults.fail_next(3, 503, ORDER_PATH + "$")
            await asyncio.wait_for(v.adapter.execute(Place(SYM, 0, "n", BUY, 59_950, 100)), 5.0)
            assert len(v.requests) == 4 and v.budget.statistics().places_granted == 0
            assert v.adapter.statistics().rest.paced == 0

    asyncio.run(main())


def test_a_first_attempt_held_by_a_429_pause_pays_again_as_it_goes() -> None:
    """The sender paid for the request when it started the command; another call's 429 then
    paused every call. Sent after the pause on that old payment, it could join requests the
    budget let go since in one venue window: it pays again (conservative: counted twice)."""

    async def main() -> None:
        async with paced_venue() as v:
            rest = v.adapter.rest
            sent: list[int] = []

            async def request() -> None:
                sent.append(v.clock())

            rest._not_before = asyncio.get_running_loop().time() + 0.05  # a 429 pause
            await rest.call("POST order x", request, order="place", paid=True)
            assert sent and v.pacer.spent == 1
            await rest.call("POST order y", request, order="place", paid=True)
            assert len(sent) == 2 and v.pacer.spent == 1  # no pause: the sender's payment
            await rest.call("POST order z", request, order="place", paid=False)
            assert len(sent) == 3 and v.pacer.spent == 2

    asyncio.run(main())
