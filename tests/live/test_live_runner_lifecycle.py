"""The live runner's lifecycle against a scripted in-memory venue: start-up, the one queue, the
sender (calls in flight together), shutdown with and without confirmations, fatal errors, timers
and dry runs."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.sim import SimConfig, SimVenue
from mmcore.commands import Cancel, CancelAll, Command, Place
from mmcore.config import AppConfig, parse_config
from mmcore.engine import Engine
from mmcore.events import (
    SELL,
    BookSnapshot,
    ConnectionState,
    Event,
    Fill,
    OrderAccepted,
    OrderCanceled,
    Position,
    RiskEvent,
    Timer,
    Trade,
)
from mmcore.instrument import Instrument
from mmcore.live import LiveResult, LiveRunner
from mmcore.log import open_log
from mmcore.paper import PaperVenue
from mmcore.session_control import SESSION_STREAM
from replay.session import build_engine
from replay.verify import verify_log

SYM = "BTC-USD"
START = 1_700_000_000_000_000_000

CONFIG = """
[session]
venue = "sim"
markets = ["BTC-USD"]
timer_interval_ms = 0

[strategy]
name = "simple"
[strategy.params]
spread_bps = 10.0
size_lots = 5

[risk]
max_position_lots = 100
"""


def make_config(session_extra: str = "") -> AppConfig:
    """The test session's config; ``session_extra`` lines go into its ``[session]`` table."""
    text = CONFIG.replace("timer_interval_ms = 0", f"timer_interval_ms = 0\n{session_extra}")
    return parse_config(text, "<test>")


def make_instrument() -> Instrument:
    return Instrument(venue="fake", symbol=SYM, tick_size="0.1", lot_size="0.001")


def make_snapshot(now: int) -> BookSnapshot:
    return BookSnapshot(SYM, now, now, 1, (600_000, 10), (600_010, 10))


class FakeClock:
    """Nanoseconds that advance by 1 ms per reading."""

    def __init__(self) -> None:
        self._n = itertools.count()

    def __call__(self) -> int:
        return START + next(self._n) * 1_000_000


class FakeVenue:
    """A scripted venue: acks every place, confirms cancels unless told not to."""

    venue = "fake"

    def __init__(
        self, clock: FakeClock, *, confirm_cancels: bool = True, fail_places: bool = False
    ) -> None:
        self.clock = clock
        self.confirm_cancels = confirm_cancels
        self.fail_places = fail_places
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.executed: list[Command] = []
        self.live: set[str] = set()
        self.closed = False

    async def start(self, symbols: list[str]) -> list[Instrument]:
        now = self.clock()
        self.queue.put_nowait(make_snapshot(now))
        return [make_instrument()]

    async def reconcile(self) -> list[Event]:
        now = self.clock()
        return [Position(SYM, now, now, 0)]

    async def events(self) -> AsyncIterator[Event]:
        while True:
            ev = await self.queue.get()
            if ev is None:
                return
            yield ev

    async def execute(self, command: Command) -> None:
        self.executed.append(command)
        now = self.clock()
        if type(command) is Place:
            if self.fail_places:
                raise RuntimeError("venue exploded")
            self.live.add(command.client_id)
            self.queue.put_nowait(OrderAccepted(SYM, now, now, command.client_id))
        elif type(command) in (Cancel, CancelAll) and self.confirm_cancels:
            gone = [command.client_id] if type(command) is Cancel else sorted(self.live)
            for cid in gone:
                if cid in self.live:
                    self.live.discard(cid)
                    self.queue.put_nowait(OrderCanceled(SYM, now, now, cid))

    async def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(None)


async def run_for(runner: LiveRunner, venue: FakeVenue, seconds: float) -> LiveResult:
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(seconds)
    runner.request_stop("test over")
    return await asyncio.wait_for(task, 10)


def make_runner(
    venue: FakeVenue,
    path: Path,
    engine: Callable[[AppConfig, Mapping[str, Instrument]], Engine] = build_engine,
    config: AppConfig | None = None,
    **kw: Any,
) -> LiveRunner:
    kw.setdefault("handle_signals", False)
    return LiveRunner(venue, config or make_config(), engine, path, clock=venue.clock, **kw)


def engine_failing_on(
    bad: Callable[[Event], bool],
) -> Callable[[AppConfig, Mapping[str, Instrument]], Engine]:
    """An engine factory whose engine raises ``RuntimeError("engine bug")`` on events ``bad``."""

    def factory(config: AppConfig, instruments: Mapping[str, Instrument]) -> Engine:
        engine = build_engine(config, instruments)
        inner = engine.on_event

        def on_event(ev: Event) -> list[object]:
            if bad(ev):
                raise RuntimeError("engine bug")
            return inner(ev)  # type: ignore[return-value]

        engine.on_event = on_event  # type: ignore[method-assign, assignment]
        return engine

    return factory


def test_start_up_cancels_stale_orders_first_then_quotes_then_cancels_all_at_stop(
    tmp_path: Path,
) -> None:
    async def main() -> tuple[LiveResult, FakeVenue]:
        venue = FakeVenue(FakeClock())
        return await run_for(make_runner(venue, tmp_path / "a.mmlog"), venue, 0.2), venue

    result, venue = asyncio.run(main())
    kinds = [type(c).__name__ for c in venue.executed]
    assert venue.executed[0] == CancelAll(SYM, venue.executed[0].ts, "stale orders at start-up")
    assert kinds[1:3] == ["Place", "Place"] and kinds[-1] == "CancelAll"
    assert venue.executed[-1].inst == "" and venue.live == set()
    assert result.open_orders == [] and result.stop_reason == "test over"
    assert venue.closed
    assert verify_log(result.log_path).ok


def test_a_shutdown_without_confirmations_times_out_and_sends_one_more_cancel_all(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[LiveResult, FakeVenue]:
        venue = FakeVenue(FakeClock(), confirm_cancels=False)
        runner = make_runner(venue, tmp_path / "b.mmlog", shutdown_timeout_s=0.2)
        return await run_for(runner, venue, 0.2), venue

    with caplog.at_level(logging.WARNING, logger="mmcore.live"):
        result, venue = asyncio.run(main())
    assert len(result.open_orders) == 2
    last = venue.executed[-3:]
    assert [type(c) for c in last] == [CancelAll, CancelAll, CancelAll]
    assert [getattr(c, "reason", "") for c in last] == [
        "test over", "shutdown timeout", "orders still open after the final reconcile",
    ]  # the last straight to the venue: its final reconcile still shows them working
    assert "SHUTDOWN TIMEOUT" in caplog.text
    assert all(cid in caplog.text for cid in result.open_orders)


def test_an_execute_that_raises_is_logged_and_the_session_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[LiveResult, LiveRunner]:
        venue = FakeVenue(FakeClock(), fail_places=True)
        runner = make_runner(venue, tmp_path / "c.mmlog", shutdown_timeout_s=0.2)
        return await run_for(runner, venue, 0.2), runner

    with caplog.at_level(logging.ERROR, logger="mmcore.live"):
        result, runner = asyncio.run(main())
    assert runner.statistics().send_errors >= 2
    assert "venue exploded" in caplog.text and "Place(" in caplog.text
    assert result.stop_reason == "test over"


def run_until_engine_bug(
    path: Path,
    engine: Callable[[AppConfig, Mapping[str, Instrument]], Engine],
    trigger: Callable[[LiveRunner, FakeVenue], None],
    after_s: float,
) -> FakeVenue:
    """Run a session, ``trigger`` it after ``after_s`` (while quoting) and expect the engine's
    ``RuntimeError("engine bug")`` to come out of ``run()``; returns the venue."""
    venue = FakeVenue(FakeClock())

    async def main() -> None:
        runner = make_runner(venue, path, engine)
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(after_s)
        assert venue.live  # quoting
        trigger(runner, venue)
        await asyncio.wait_for(task, 10)

    with pytest.raises(RuntimeError, match="engine bug"):
        asyncio.run(main())
    return venue


def test_a_fatal_engine_error_cancels_everything_closes_the_log_and_is_re_raised(
    tmp_path: Path,
) -> None:
    def trade(runner: LiveRunner, venue: FakeVenue) -> None:
        now = venue.clock()
        venue.queue.put_nowait(Trade(SYM, now, now, 600_000, 1, SELL))

    fragile_engine = engine_failing_on(lambda ev: type(ev) is Trade)
    venue = run_until_engine_bug(tmp_path / "d.mmlog", fragile_engine, trade, 0.1)
    assert venue.closed and venue.live == set()
    assert type(venue.executed[-1]) is CancelAll and venue.executed[-1].inst == ""
    records = list(open_log(tmp_path / "d.mmlog", repair=False))
    assert type(records[-1]) is OrderCanceled  # the log was flushed and closed after shutdown


def test_an_engine_that_fails_on_the_stop_event_still_gets_every_order_canceled_at_the_venue(
    tmp_path: Path,
) -> None:
    fails_on_stop = engine_failing_on(
        lambda ev: type(ev) is ConnectionState and ev.stream == SESSION_STREAM
    )
    venue = run_until_engine_bug(
        tmp_path / "s.mmlog", fails_on_stop, lambda r, v: r.request_stop("test over"), 0.2
    )
    last = venue.executed[-1]
    assert type(last) is CancelAll and last.inst == "" and "shutdown failed" in last.reason
    assert venue.closed and venue.live == set()


def test_a_cancelled_runner_task_still_cancels_every_order_at_the_venue(tmp_path: Path) -> None:
    async def main() -> FakeVenue:
        venue = FakeVenue(FakeClock())
        task = asyncio.create_task(make_runner(venue, tmp_path / "g.mmlog").run())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return venue

    venue = asyncio.run(main())
    last = venue.executed[-1]
    assert type(last) is CancelAll and last.inst == "" and last.reason == "runner task cancelled"
    assert venue.closed and venue.live == set()
    assert verify_log(tmp_path / "g.mmlog").ok  # closed cleanly: no torn tail


class CancelAllOutageVenue(FakeVenue):
    """Its first session-wide ``CancelAll`` (the stop's) is out ``outage_s`` and then fails,
    having canceled nothing (a venue answering 503 to every retry); ``stuck`` is set when it
    starts. Every other call behaves as ``FakeVenue``'s."""

    def __init__(self, clock: FakeClock, outage_s: float) -> None:
        super().__init__(clock)
        self.outage_s = outage_s
        self.stuck = False

    async def execute(self, command: Command) -> None:
        if type(command) is CancelAll and command.inst == "" and not self.stuck:
            self.executed.append(command)
            self.stuck = True
            await asyncio.sleep(self.outage_s)
            raise RuntimeError("CancelAll: gave up after 5 attempts; last: HTTP 503")
        await super().execute(command)


def test_a_runner_task_cancelled_in_the_shutdown_after_a_fatal_error_still_cancels_at_the_venue(
    tmp_path: Path,
) -> None:
    """An engine error starts the shutdown, whose CancelAll meets a venue answering 503, and the
    runner task is cancelled while it retries. That cancel arrives inside the fatal error's
    handler, where it used to skip the last resort: the teardown cut the CancelAll short and
    both quotes stayed working at the venue."""

    async def main() -> CancelAllOutageVenue:
        venue = CancelAllOutageVenue(FakeClock(), 0.3)
        fragile = engine_failing_on(lambda ev: type(ev) is Trade)
        runner = make_runner(venue, tmp_path / "fc.mmlog", fragile, shutdown_timeout_s=5.0)
        task = asyncio.create_task(runner.run())
        for _ in range(300):  # until quoting
            if len(venue.live) == 2:
                break
            await asyncio.sleep(0.01)
        now = venue.clock()
        venue.queue.put_nowait(Trade(SYM, now, now, 600_000, 1, SELL))  # the engine fails
        for _ in range(300):  # until the stop's CancelAll is out
            if venue.stuck:
                break
            await asyncio.sleep(0.01)
        assert venue.stuck and len(venue.live) == 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return venue

    venue = asyncio.run(main())
    last = venue.executed[-1]
    assert type(last) is CancelAll and last.inst == ""
    assert last.reason == "runner task cancelled during the shutdown after a fatal error"
    assert venue.closed and venue.live == set()


def test_the_duration_limit_stops_the_session_and_timers_tick_through_the_engine(
    tmp_path: Path,
) -> None:
    async def main() -> tuple[LiveResult, LiveRunner]:
        venue = FakeVenue(FakeClock())
        runner = make_runner(venue, tmp_path / "e.mmlog", duration_s=0.3, timer_interval_ms=20)
        return await asyncio.wait_for(runner.run(), 10), runner

    result, runner = asyncio.run(main())
    assert result.stop_reason == "duration 0.3s reached"
    ticks = [r for r in open_log(result.log_path, repair=False) if type(r) is Timer]
    assert len(ticks) == runner.statistics().timer_ticks >= 5
    assert all(t.ts == t.ts_recv and t.name == "tick" for t in ticks)


def test_a_dry_run_sends_orders_to_the_simulated_venue_and_feeds_its_fills_back(
    tmp_path: Path,
) -> None:
    def paper(instruments: Mapping[str, Instrument]) -> PaperVenue:
        sim = SimConfig(entry_latency_ms=0.0, response_latency_ms=0.0)
        return SimVenue(instruments, sim, random.Random(1))

    async def main() -> tuple[LiveResult, FakeVenue]:
        venue = FakeVenue(FakeClock())
        runner = make_runner(venue, tmp_path / "f.mmlog", paper=paper)
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(0.2)
        now = venue.clock()
        venue.queue.put_nowait(Trade(SYM, now, now, 599_000, 50, SELL))  # through our bid
        await asyncio.sleep(0.2)
        runner.request_stop("test over")
        return await asyncio.wait_for(task, 10), venue

    result, venue = asyncio.run(main())
    assert venue.executed == []  # neither the stale-order CancelAll nor any order reached it
    records = list(open_log(result.log_path, repair=False))
    fills = [r for r in records if type(r) is Fill]
    assert [(f.side, f.size, f.maker) for f in fills] == [(1, 5, True)]
    assert result.fills == 1 and result.dry_run and result.open_orders == []
    assert verify_log(result.log_path).ok
    assert msgspec.json.decode(msgspec.json.encode(result), type=LiveResult) == result


def test_the_log_is_written_out_on_every_timer_tick_while_the_session_runs(
    tmp_path: Path,
) -> None:
    """A crash mid-session loses at most one timer interval: records reach the file on ticks."""
    path = tmp_path / "tick.mmlog"

    async def main() -> tuple[int, list[Timer]]:
        venue = FakeVenue(FakeClock())
        runner = make_runner(venue, path, timer_interval_ms=20)
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(0.3)
        # still running: read what is on disk now, as a crash would leave it
        on_disk = list(open_log(path, repair=False))
        runner.request_stop("test over")
        await asyncio.wait_for(task, 10)
        return len(on_disk), [r for r in on_disk if type(r) is Timer]

    count, ticks = asyncio.run(main())
    assert ticks, "no timer tick reached the file while the session ran"
    assert count > len(ticks)


class AttachedVenue(FakeVenue):
    """A venue that hands its events to the runner synchronously (``attach``), as the Extended
    adapter does from its stream readers: no queue between a frame and the engine."""

    def __init__(self, clock: FakeClock, **kw: Any) -> None:
        super().__init__(clock, **kw)
        self.put: Any = None
        self.handled_before_return: list[bool] = []

    def attach(self, put: Any) -> None:
        self.put = put

    async def start(self, symbols: list[str]) -> list[Instrument]:
        now = self.clock()
        self.put(make_snapshot(now))  # before the engine exists: must wait, then go in order
        return [make_instrument()]

    async def execute(self, command: Command) -> None:
        before = len(self.queue._queue)  # type: ignore[attr-defined]
        await super().execute(command)
        while len(self.queue._queue) > before:  # type: ignore[attr-defined]
            ev = self.queue.get_nowait()
            if ev is not None:
                self.put(ev)


def test_an_attached_adapters_events_are_handled_at_once_in_arrival_order_after_start_up(
    tmp_path: Path,
) -> None:
    async def main() -> tuple[LiveResult, AttachedVenue, LiveRunner]:
        venue = AttachedVenue(FakeClock())
        runner = make_runner(venue, tmp_path / "att.mmlog")
        return await run_for(runner, venue, 0.2), venue, runner

    result, venue, runner = asyncio.run(main())
    records = list(open_log(result.log_path, repair=False))
    inbound = [r for r in records if not isinstance(r, Command) and type(r).__name__ not in
               ("RiskEvent", "StrategyEvent")]
    # the reconciled account first, then the snapshot that arrived during start-up
    assert [type(r).__name__ for r in inbound[:2]] == ["Position", "BookSnapshot"]
    # every ack was handled by the time execute returned, in the order the venue sent it
    acks = [r.client_id for r in records if type(r) is OrderAccepted]
    places = [c.client_id for c in venue.executed if type(c) is Place]
    assert acks == places and len(acks) >= 2
    assert result.open_orders == [] and venue.live == set()
    assert runner.statistics().max_pending >= 1  # the start-up snapshot waited
    assert verify_log(result.log_path).ok


def test_a_fatal_engine_error_on_an_attached_event_stops_handling_until_the_stop_event(
    tmp_path: Path,
) -> None:
    box: list[AttachedVenue] = []
    fragile_engine = engine_failing_on(lambda ev: type(ev) is Trade and ev.price == 1)

    async def main() -> None:
        venue = AttachedVenue(FakeClock())
        box.append(venue)
        runner = make_runner(venue, tmp_path / "f.mmlog", fragile_engine)
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(0.1)
        now = venue.clock()
        venue.put(Trade(SYM, now, now, 1, 1, SELL))  # the engine raises on this one
        venue.put(Trade(SYM, now, now, 600_000, 2, SELL))  # must wait for the stop event
        await asyncio.wait_for(task, 10)

    with pytest.raises(RuntimeError, match="engine bug"):
        asyncio.run(main())
    venue = box[0]
    assert venue.closed and venue.live == set()
    assert type(venue.executed[-1]) is CancelAll and venue.executed[-1].inst == ""
    records = list(open_log(tmp_path / "f.mmlog", repair=False))
    kinds = [type(r).__name__ for r in records]
    stop = kinds.index("ConnectionState", kinds.index("OrderAccepted"))
    trades = [i for i, r in enumerate(records) if type(r) is Trade]
    assert [records[i].size for i in trades] == [2] and trades[0] > stop


class SlowVenue(FakeVenue):
    """A venue whose places and cancels take ``delay_s`` to land (the order goes live, or away,
    at the end of the call); it records when each call began and ended."""

    def __init__(self, clock: FakeClock, delay_s: float, **kw: Any) -> None:
        super().__init__(clock, **kw)
        self.delay_s = delay_s
        self.trace: list[tuple[str, Command]] = []
        self.in_flight = 0
        self.peak_in_flight = 0

    async def execute(self, command: Command) -> None:
        self.trace.append(("begin", command))
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if type(command) in (Place, Cancel):
                await asyncio.sleep(self.delay_s)
            await super().execute(command)
        finally:
            self.in_flight -= 1
            self.trace.append(("end", command))


@pytest.mark.parametrize("max_in_flight", [8, 1])
def test_the_quotes_go_out_together_unless_max_in_flight_is_one(
    tmp_path: Path, max_in_flight: int
) -> None:
    async def main() -> tuple[LiveResult, SlowVenue, LiveRunner]:
        venue = SlowVenue(FakeClock(), 0.05)
        config = make_config(f"max_in_flight = {max_in_flight}")
        runner = make_runner(venue, tmp_path / "q.mmlog", config=config)
        return await run_for(runner, venue, 0.3), venue, runner

    result, venue, runner = asyncio.run(main())
    assert venue.peak_in_flight == runner.statistics().peak_in_flight == min(max_in_flight, 2)
    assert runner.statistics().paced == 0  # the sender paces the venue's limits, none needed
    places = [c for what, c in venue.trace if what == "begin" and type(c) is Place]
    assert len(places) == 2  # the bid and the ask, together or one after the other
    assert result.open_orders == [] and venue.live == set()
    assert verify_log(result.log_path).ok


def test_the_last_resort_cancel_all_waits_for_the_places_still_in_flight(
    tmp_path: Path,
) -> None:
    """A CancelAll that overtook a place would leave that order live at the venue."""

    async def main() -> SlowVenue:
        venue = SlowVenue(FakeClock(), 1.0)
        task = asyncio.create_task(make_runner(venue, tmp_path / "w.mmlog").run())
        for _ in range(300):  # until the two places are in flight
            if venue.in_flight == 2:
                break
            await asyncio.sleep(0.01)
        assert venue.in_flight == 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return venue

    venue = asyncio.run(main())
    last_begin = max(i for i, (what, c) in enumerate(venue.trace) if what == "begin")
    cancel_all = venue.trace[last_begin][1]
    assert type(cancel_all) is CancelAll and cancel_all.reason == "runner task cancelled"
    ends = [i for i, (what, c) in enumerate(venue.trace) if what == "end" and type(c) is Place]
    assert len(ends) == 2 and max(ends) < last_begin
    assert venue.live == set()  # nothing orphaned


def test_the_operator_halts_and_resumes_quoting_with_sigusr2_and_sigusr1(tmp_path: Path) -> None:
    async def main() -> tuple[LiveResult, FakeVenue, list[int]]:
        venue = FakeVenue(FakeClock())
        runner = make_runner(
            venue, tmp_path / "op.mmlog", timer_interval_ms=20, handle_signals=True
        )
        task = asyncio.create_task(runner.run())
        # quotes out means the handlers are installed (SIGUSR2 would kill pytest otherwise)
        for _ in range(500):
            if sum(type(c) is Place for c in venue.executed) >= 2:
                break
            await asyncio.sleep(0.01)
        assert sum(type(c) is Place for c in venue.executed) >= 2, "the session never quoted"
        await asyncio.sleep(0.05)  # their acks handled too
        counts = [len(venue.executed)]
        os.kill(os.getpid(), signal.SIGUSR2)
        await asyncio.sleep(0.3)  # 15 timer ticks: a running quoter would re-place at once
        counts.append(len(venue.executed))
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.sleep(0.2)
        runner.request_stop("test over")
        return await asyncio.wait_for(task, 10), venue, counts

    result, venue, (before, halted) = asyncio.run(main())
    during = venue.executed[before:halted]
    assert during == [CancelAll("", during[0].ts, "operator_halt")]
    after = venue.executed[halted:]
    assert [type(c) for c in after[:2]] == [Place, Place]  # quoting came back
    records = list(open_log(result.log_path, repair=False))
    controls = [r.state for r in records if type(r) is ConnectionState and r.stream == "session"]
    assert controls == ["halt", "resume", "stopping"]
    codes = [r.code for r in records if type(r) is RiskEvent]
    assert "operator_halt" in codes and "resumed" in codes
    assert verify_log(result.log_path).ok  # the operator's actions replay like any event


def test_the_status_lines_are_logged_every_status_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> LiveResult:
        venue = FakeVenue(FakeClock())
        config = make_config("status_interval_s = 0.05")
        return await run_for(make_runner(venue, tmp_path / "st.mmlog", config=config), venue, 0.3)

    with caplog.at_level(logging.INFO, logger="mmcore.live"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("status: ")]
    markets = [line for line in lines if line.startswith(f"status: {SYM} mid 60000")]
    sessions = [line for line in lines if line.startswith("status: session pnl")]
    assert len(markets) >= 3 and len(sessions) == len(markets)
    assert "2 open" in markets[-1]


def test_a_shutdown_whose_cancel_all_is_stuck_behind_slow_places_cancels_at_the_venue(
    tmp_path: Path,
) -> None:
    """The stop's CancelAll waits for the places in flight (a slow venue); when the shutdown
    times out and the drain too with it still unsent, the teardown would cancel it unsent and
    leave whatever rests at the venue: the last-resort CancelAll must go straight there."""

    async def main() -> SlowVenue:
        venue = SlowVenue(FakeClock(), 30.0)
        runner = make_runner(venue, tmp_path / "x.mmlog", shutdown_timeout_s=0.2)
        task = asyncio.create_task(runner.run())
        for _ in range(300):  # until the two places are in flight
            if venue.in_flight == 2:
                break
            await asyncio.sleep(0.01)
        assert venue.in_flight == 2
        runner.request_stop("test over")
        await asyncio.wait_for(task, 20)
        return venue

    venue = asyncio.run(main())
    begun = [c for what, c in venue.trace if what == "begin" and type(c) is CancelAll]
    assert len(begun) == 2  # the start-up one, and one at the end
    assert begun[-1].inst == "" and venue.closed


def test_the_result_counts_the_events_the_log_recorded_while_the_adapter_closed(
    tmp_path: Path,
) -> None:
    """A frame that arrives while the adapter closes is handled and recorded; the session's
    result used to be taken before the teardown and counted fewer events than the log holds."""
    import time

    from fake_venue import SYM, InstantVenue, simple_session

    venue = InstantVenue(pause_s=0.05)

    def late_trade() -> None:
        assert venue.put is not None
        now = time.time_ns()
        venue.put(Trade(SYM, now, now, 600_005, 1, 1, "late"))

    venue.on_close = late_trade
    path = tmp_path / "late.mmlog"

    result = asyncio.run(simple_session(path, venue, handle_signals=False))
    records = list(open_log(path, repair=False))
    trades = [r for r in records if type(r) is Trade]
    assert [t.trade_id for t in trades] == ["late"]  # recorded during the teardown
    assert result.events == verify_log(path).inbound
