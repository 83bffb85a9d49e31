"""The shutdown leaves nothing working at the venue and hides no failure, end to end with the real
adapter and x10 SDK against the Extended emulator: a place of unknown outcome is not sent again
after the final CancelAll, and an engine error while the shutdown feeds it events is raised."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import pytest

from adapters.extended import ExtendedAdapter, ExtendedConfig
from adapters.extended.emulator import ExtendedEmulatorHandle
from mmcore.cli.run_cmd import venue_table
from mmcore.config import AppConfig, parse_config
from mmcore.engine import Engine
from mmcore.events import Event, Position
from mmcore.instrument import Instrument
from mmcore.live import LiveResult, LiveRunner
from replay.session import build_engine

SYM = "BTC-USD"
RETRIES = "rest_retries = 2\nrest_backoff_min_s = 0.1\nrest_backoff_max_s = 0.1\n"


def _runner(
    h: ExtendedEmulatorHandle,
    text: str,
    log_path: Path,
    factory: Callable[[AppConfig, Mapping[str, Instrument]], Engine] = build_engine,
    shutdown_timeout_s: float = 3.0,
) -> tuple[ExtendedAdapter, LiveRunner]:
    config = parse_config(text)
    venue = venue_table(config, "test", ExtendedConfig)
    adapter = ExtendedAdapter(venue, time.time_ns, h.credentials[0].env(venue))
    runner = LiveRunner(adapter, config, factory, log_path, clock=time.time_ns,
                        handle_signals=False, shutdown_timeout_s=shutdown_timeout_s)
    return adapter, runner


def _ours_working(h: ExtendedEmulatorHandle) -> list[str]:
    return sorted(o.client_id for o in h.account().open_orders(SYM))


def test_a_place_of_unknown_outcome_is_not_sent_again_after_the_final_cancel_all(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    """Every attempt of the first quotes fails (503: outcome unknown, signed body kept) and the
    stop comes while they are out, with a short shutdown and a slow background reconcile. The
    shutdown's own reconcile used to settle them by sending them again, after the CancelAll:
    one rested at the venue after run() returned."""

    async def main() -> tuple[LiveResult, list[str]]:
        h = await make_emulator()
        try:
            adapter, runner = _runner(h, session_toml(h.base_url, RETRIES), tmp_path / "s.mmlog",
                                      shutdown_timeout_s=0.1)
            h.faults.fail_next(6, 503, "/api/v1/user/order$")
            task = asyncio.create_task(runner.run())
            await wait_until(lambda: task.done() or any(
                o.in_flight for o in adapter.tracker.live()), "a place in flight")
            h.faults.delay_next(1, 1500, "/api/v1/user/trades")  # a slow background reconcile
            runner.request_stop("test over")
            result = await asyncio.wait_for(task, 20)
            await asyncio.sleep(2.0)  # anything still on the wire lands
            return result, _ours_working(h)
        finally:
            await h.close()

    result, working = asyncio.run(main())
    assert working == [] and result.open_orders == []


def test_an_engine_error_while_the_shutdown_handles_the_final_reconcile_is_raised(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    def fragile(config: AppConfig, instruments: Mapping[str, Instrument]) -> Engine:
        engine = build_engine(config, instruments)
        inner = engine.on_event

        def on_event(ev: Event) -> list[object]:
            if engine.stopping and type(ev) is Position:  # the final reconcile's position
                raise RuntimeError("engine bug")
            return inner(ev)  # type: ignore[return-value]

        engine.on_event = on_event  # type: ignore[assignment,method-assign]
        return engine

    async def main() -> list[str]:
        h = await make_emulator()
        try:
            _, runner = _runner(h, session_toml(h.base_url), tmp_path / "e.mmlog", fragile)
            task = asyncio.create_task(runner.run())
            await wait_until(lambda: task.done() or len(_ours_working(h)) == 2, "two quotes")
            runner.request_stop("test over")
            with pytest.raises(RuntimeError, match="engine bug"):
                await asyncio.wait_for(task, 20)
            return _ours_working(h)
        finally:
            await h.close()

    assert asyncio.run(main()) == []  # canceled all the same


async def _stop_with_a_place_held(
    h: ExtendedEmulatorHandle,
    text: str,
    log_path: Path,
    wait_until: Callable[..., Awaitable[None]],
) -> tuple[LiveResult, int]:
    """Every attempt of the first quotes is held at the venue 2 s (each attempt times out at
    0.3 s: outcome unknown), and the stop comes while they are out: the shutdown's reconcile
    does not find them and counts them as canceled before the venue listed them, and ``run``
    returns before they land. Returns the result and the emulator's dead man's switch deadline
    at that moment."""
    adapter, runner = _runner(h, text, log_path, shutdown_timeout_s=0.5)
    h.faults.delay_next(6, 2000, "/api/v1/user/order$")
    task = asyncio.create_task(runner.run())
    await wait_until(lambda: task.done() or any(
        o.in_flight for o in adapter.tracker.live()), "a place in flight")
    runner.request_stop("test over")
    result = await asyncio.wait_for(task, 30)
    return result, h.account().dead_man.deadline_ns


def _held_place_toml(session_toml: Callable[..., str], base_url: str, watch_s: float) -> str:
    text = session_toml(base_url, f"{RETRIES}late_place_watch_s = {watch_s}\n")
    text = text.replace("dead_man_switch_s = 0", "dead_man_switch_s = 30")
    return text.replace("rest_timeout_s = 3.0", "rest_timeout_s = 0.3")


def test_a_place_that_lands_after_the_shutdown_is_canceled_at_close(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    """The held quotes land after the engine's shutdown is over: the adapter's close watches
    the venue for them (``late_place_watch_s``) and cancels them. They used to rest at the
    venue unattended, with the dead man's switch disarmed."""

    async def main() -> tuple[LiveResult, list[str], int]:
        h = await make_emulator()
        try:
            text = _held_place_toml(session_toml, h.base_url, 4.0)
            result, _ = await _stop_with_a_place_held(h, text, tmp_path / "w.mmlog", wait_until)
            await asyncio.sleep(1.0)  # anything still on the wire lands
            return result, _ours_working(h), h.account().dead_man.deadline_ns
        finally:
            await h.close()

    result, working, deadline = asyncio.run(main())
    assert result.open_orders == []
    assert working == []
    assert deadline == 0  # every place settled: the switch was disarmed


def test_a_place_that_may_still_land_keeps_the_dead_mans_switch_armed(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    """Not watched at close (``late_place_watch_s = 0``), the held quotes may land after the
    session: the venue's dead man's switch stays armed to cancel them. It used to be disarmed
    ("no order of ours working") and they rested unattended."""

    async def main() -> tuple[LiveResult, int, list[str]]:
        h = await make_emulator()
        try:
            text = _held_place_toml(session_toml, h.base_url, 0)
            result, deadline = await _stop_with_a_place_held(
                h, text, tmp_path / "a.mmlog", wait_until
            )
            await asyncio.sleep(2.5)  # they land
            return result, deadline, _ours_working(h)
        finally:
            await h.close()

    result, deadline, working = asyncio.run(main())
    assert result.open_orders == []
    assert working, "the scenario needs a place that lands after the session"
    assert deadline > 0  # armed: the venue cancels them when the countdown runs out
