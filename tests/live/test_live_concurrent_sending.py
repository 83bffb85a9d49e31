"""Commands in flight together, end to end: the live runner, the real adapter and x10 SDK, and the
Extended emulator answering every order call 100 ms late (a far-away venue).

With ``max_in_flight`` above 1 the bid and the ask are at the emulator at the same time; with 1
they go one after the other. Either way the session ends with no order left and a log that
replays exactly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from adapters.emulator.rest_load import RestLoadStatistics
from adapters.extended import ExtendedAdapter, ExtendedConfig
from adapters.extended.emulator import ExtendedEmulatorHandle
from mmcore.cli.run_cmd import venue_table
from mmcore.config import parse_config
from mmcore.events import BUY, SELL
from mmcore.live import LiveResult, LiveRunner
from replay.session import build_engine
from replay.verify import verify_log

SYM = "BTC-USD"
ORDER_CALLS = "/api/v1/user/order"  # place, cancel, mass cancel, open orders


async def _session(
    log_path: Path,
    max_in_flight: int,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    wait_until: Callable[..., Awaitable[None]],
) -> tuple[RestLoadStatistics, LiveResult, list[str]]:
    h = await make_emulator()
    try:
        h.faults.delay_next(10_000, 100, ORDER_CALLS)
        text = session_toml(h.base_url).replace(
            "timer_interval_ms = 100", f"timer_interval_ms = 100\nmax_in_flight = {max_in_flight}"
        )
        config = parse_config(text)
        venue = venue_table(config, "test", ExtendedConfig)
        adapter = ExtendedAdapter(venue, time.time_ns, h.credentials[0].env(venue))
        runner = LiveRunner(
            adapter, config, build_engine, log_path, clock=time.time_ns,
            handle_signals=False, shutdown_timeout_s=5.0,
        )
        task = asyncio.create_task(runner.run())
        account = h.account()

        def two_sided() -> bool:
            sides = sorted(o.side for o in account.open_orders(SYM))
            return task.done() or sides == [SELL, BUY]

        await wait_until(two_sided, "two-sided quotes at the emulator")
        runner.request_stop("test over")
        result = await asyncio.wait_for(task, 15)
        left = sorted(o.client_id for o in account.open_orders())
        return h.statistics().rest, result, left
    finally:
        await h.close()


@pytest.mark.parametrize("max_in_flight", [8, 1])
def test_order_calls_overlap_at_the_venue_only_when_allowed(
    tmp_path: Path,
    max_in_flight: int,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    load, result, left = asyncio.run(
        _session(tmp_path / "c.mmlog", max_in_flight, make_emulator, session_toml, wait_until)
    )
    if max_in_flight > 1:
        assert load.peak_in_flight >= 2
    else:
        assert load.peak_in_flight == 1
    assert left == [] and result.open_orders == []
    assert verify_log(result.log_path).ok
