"""One rate budget per live session: the sender paces its starts with it, an adapter with
``pace_requests`` gets the same instance for the requests it makes of its own, and the
``CancelAll`` the runner sends straight to the adapter (start-up, last resort) spends from it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from fake_venue import SIMPLE_SESSION, SYM, InstantVenue, quoting

from adapters.sim import SimConfig, SimVenue
from mmcore.commands import Cancel, CancelAll, Command, Place
from mmcore.config import parse_config
from mmcore.events import Event, OrderCanceled
from mmcore.instrument import Instrument
from mmcore.live import LiveResult, LiveRunner
from mmcore.paper import PaperVenue
from mmcore.ratelimit import RateBudget
from replay.session import build_engine
from replay.verify import verify_log


class PacedVenue(InstantVenue):
    """An ``InstantVenue`` that takes the runner's budget in ``pace_requests`` and spends
    ``reconcile_requests`` of it in every ``reconcile``."""

    def __init__(self, reconcile_requests: int = 0) -> None:
        super().__init__()
        self.paced_with: list[tuple[RateBudget, Callable[[], int]]] = []
        self.reconcile_requests = reconcile_requests
        self.cancels_spent_at_execute: list[int] = []  # the budget's cancels when each began

    def pace_requests(self, budget: RateBudget, clock: Callable[[], int]) -> None:
        self.paced_with.append((budget, clock))

    async def reconcile(self) -> list[Event]:
        for budget, clock in self.paced_with:
            for _ in range(self.reconcile_requests):
                budget.force(clock(), False)
        return []

    async def execute(self, cmd: Command) -> None:
        if self.paced_with:
            stats = self.paced_with[0][0].statistics()
            self.cancels_spent_at_execute.append(stats.cancels_granted + stats.cancels_refused)
        await super().execute(cmd)


def make_runner(
    venue: PacedVenue,
    path: Path,
    config_extra: str = "",
    paper: Callable[[Mapping[str, Instrument]], PaperVenue] | None = None,
) -> LiveRunner:
    return LiveRunner(
        venue, parse_config(SIMPLE_SESSION + config_extra, "<test>"), build_engine, path,  # type: ignore[arg-type]
        clock=time.time_ns, handle_signals=False, timer_interval_ms=0, shutdown_timeout_s=3.0,
        paper=paper,
    )


async def quote_then_stop(runner: LiveRunner, venue: PacedVenue, quote_s: float) -> LiveResult:
    task = await quoting(runner, venue)
    await asyncio.sleep(quote_s)
    runner.request_stop("test over")
    return await asyncio.wait_for(task, 10)


def test_the_adapter_gets_the_senders_budget_and_the_start_up_cancel_all_spends_it_first(
    tmp_path: Path,
) -> None:
    venue = PacedVenue()
    runner = make_runner(venue, tmp_path / "a.mmlog")
    result = asyncio.run(quote_then_stop(runner, venue, 0.2))
    assert len(venue.paced_with) == 1
    budget, clock = venue.paced_with[0]
    assert clock is time.time_ns
    assert type(venue.executed[0]) is CancelAll and venue.executed[0].reason.startswith("stale")
    assert venue.cancels_spent_at_execute[0] == 1  # spent before the call reached the adapter
    # every start the sender made spent from that very budget: one instance, not two
    stats = budget.statistics()
    places = sum(type(c) is Place for c in venue.executed)
    cancels = sum(type(c) in (Cancel, CancelAll) for c in venue.executed)
    assert places >= 2 and stats.places_granted + stats.places_refused == places
    assert stats.cancels_granted + stats.cancels_refused == cancels
    assert result.open_orders == [] and verify_log(result.log_path).ok


def test_requests_the_adapter_spends_hold_the_senders_places_back(tmp_path: Path) -> None:
    """Limit 3 requests in 0.5 s: the start-up CancelAll and the adapter's two reconcile
    requests use all of it, so the two quotes wait for the window to pass."""
    venue = PacedVenue(reconcile_requests=2)
    extra = "\n[risk.rate_limit]\nwindows = [[0.5, 3]]\nreserve_for_cancels = 0.0\n"
    runner = make_runner(venue, tmp_path / "b.mmlog", extra)
    result = asyncio.run(quote_then_stop(runner, venue, 1.0))
    assert len(venue.paced_with) == 1
    assert runner.statistics().paced >= 2
    assert sum(type(c) is Place for c in venue.executed) >= 2  # they left once it passed
    assert result.open_orders == []


def test_the_last_resort_cancel_all_spends_from_the_budget_too(tmp_path: Path) -> None:
    async def main() -> PacedVenue:
        venue = PacedVenue()
        runner = make_runner(venue, tmp_path / "c.mmlog")
        task = await quoting(runner, venue)
        await asyncio.sleep(0.1)
        task.cancel()  # the engine cannot run the shutdown: CancelAll straight to the venue
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return venue

    venue = asyncio.run(main())
    last = venue.executed[-1]
    assert type(last) is CancelAll and last.reason == "runner task cancelled"
    cancels_before = sum(type(c) in (Cancel, CancelAll) for c in venue.executed[:-1])
    assert venue.cancels_spent_at_execute[-1] == cancels_before + 1


def test_a_dry_run_neither_paces_nor_hands_the_adapter_a_budget(tmp_path: Path) -> None:
    def paper(instruments: Mapping[str, Instrument]) -> PaperVenue:
        return SimVenue(instruments, SimConfig(), random.Random(1))

    venue = PacedVenue()
    runner = make_runner(venue, tmp_path / "d.mmlog", paper=paper)
    asyncio.run(quote_then_stop(runner, venue, 0.1))
    assert venue.paced_with == [] and venue.executed == []
    assert runner.statistics().paced == -1


def test_a_halt_overtakes_a_place_the_pacer_holds_and_the_engine_learns_it_was_never_sent(
    tmp_path: Path,
) -> None:
    """Three requests in 10 s, a fifth for cancels only: the start-up CancelAll and the bid use
    the sender's share for places, so it holds the ask (the risk gate, which never saw the
    start-up CancelAll, let it out). The operator's halt must not wait the window out behind it:
    its CancelAll goes at once, the ask is never sent, and the engine hears it canceled."""
    from mmcore.log import open_log
    from mmcore.sender import OVERTAKEN_REASON

    venue = PacedVenue()
    path = tmp_path / "h.mmlog"
    runner = make_runner(venue, path, "[risk.rate_limit]\nwindows = [[10.0, 3]]\n")

    async def main() -> list[Command]:
        task = await quoting(runner, venue)
        await asyncio.sleep(0.2)
        assert runner._sender.paced == 1  # the ask, held
        runner.request_halt("test halt")
        await asyncio.sleep(0.5)  # far less than the 10 s window the held ask waits for
        sent = list(venue.executed)
        runner.request_stop("test over")
        await asyncio.wait_for(task, 10)
        return sent

    sent = asyncio.run(main())
    assert [type(c).__name__ for c in sent] == ["CancelAll", "Place", "CancelAll"]
    canceled = [r for r in open_log(path, repair=False)
                if type(r) is OrderCanceled and r.reason == OVERTAKEN_REASON]
    assert len(canceled) == 1 and canceled[0].client_id not in {
        c.client_id for c in sent if type(c) is Place
    }
    assert runner.engine is not None and not runner.engine.ledger.open_orders(SYM)
    verdict = verify_log(path)
    assert verdict.ok, verdict
