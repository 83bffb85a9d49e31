"""Fixtures of the live runner's end-to-end tests: an emulator factory, a session config aimed at
it, and a way to wait for something to become true over loopback."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from adapters.emulator.random_walk import RandomWalkParams
from adapters.extended import ExtendedAdapter, ExtendedConfig
from adapters.extended.emulator import ExtendedEmulatorHandle, serve
from adapters.sim import SimConfig
from mmcore.cli.run_cmd import venue_table
from mmcore.config import parse_config
from mmcore.instrument import Instrument
from mmcore.live import LiveRunner
from mmcore.paper import PaperVenue
from replay.session import build_engine

SYM = "BTC-USD"

SESSION_TOML = """
[session]
venue = "extended"
network = "local"
markets = ["BTC-USD"]
seed = 3
timer_interval_ms = 100

[strategy]
name = "avellaneda_stoikov"
[strategy.params]
spread_model = "linear"
linear_base_bps = 1.0
linear_inventory_k = 0.0003
min_half_spread_bps = 1.0
order_notional_usd = 60.0
max_position_usd = 200.0
requote_bps = 0.5
requote_interval_ms = 500
warmup_half_spread_bps = 1.0
[strategy.params.volatility]
sample_interval_ms = 100
warmup_samples = 3

[orders]
replace_threshold_bps = 0.1
max_order_age_s = 30.0
max_open_orders = 4

[risk]
max_position_usd = 1000.0
max_open_orders = 4
price_band_bps = 100

[sim]
entry_latency_ms = 1.0
response_latency_ms = 1.0
maker_fee = "0"
taker_fee = "0.00025"

[venue]
base_url = "{base_url}"
dead_man_switch_s = 0
reconcile_interval_s = 0
reconnect_min_s = 0.2
reconnect_max_s = 0.5
rest_timeout_s = 3.0
{venue_extra}
"""
"""Linear A-S on a still market: mid 60000, quotes mid -/+ 6 ticks, and after a buy of 100 lots
(q = 0.3) the fair moves down 0.3 * 0.0003 * 60000 = 5.4 ticks. No dead man's switch: every
cancel seen at the emulator must come from the runner itself."""


def make_instrument() -> Instrument:
    return Instrument(
        venue="extended",
        symbol=SYM,
        tick_size="1",
        lot_size="0.00001",
        min_size="0.0001",
        maker_fee="0",
        taker_fee="0.00025",
    )


async def _emulator(
    seed: int = 5,
    walk: RandomWalkParams | None = None,
    accounts: int = 1,
    sim_config: SimConfig | None = None,
) -> ExtendedEmulatorHandle:
    return await serve(
        seed=seed,
        instruments=[make_instrument()],
        walk=walk or RandomWalkParams(mid_ticks=60_000, move_prob=0.0, trade_prob=0.0),
        tick_s=0.02,
        accounts=accounts,
        sim_config=sim_config,
    )


@pytest.fixture(scope="session")
def make_emulator() -> Callable[..., Awaitable[ExtendedEmulatorHandle]]:
    """``await make_emulator(seed=5, walk=None, accounts=1, sim_config=None)`` → an Extended
    emulator of ``make_instrument()`` on 127.0.0.1 with ``accounts`` test accounts, on a still
    market (the mid never moves, no public trades) unless ``walk`` says otherwise, settling
    funding as ``sim_config`` says (hourly by default); the caller closes it."""
    return _emulator


@pytest.fixture(scope="session")
def session_toml() -> Callable[..., str]:
    """``session_toml(base_url, venue_extra="")`` → the session config's text."""

    def text(base_url: str, venue_extra: str = "") -> str:
        return SESSION_TOML.replace("{base_url}", base_url).replace("{venue_extra}", venue_extra)

    return text


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """``write_config(base_url, venue_extra="")`` → the path of a session config file."""

    def write(base_url: str, venue_extra: str = "") -> Path:
        path = tmp_path / "session.toml"
        text = SESSION_TOML.replace("{base_url}", base_url)
        path.write_text(text.replace("{venue_extra}", venue_extra))
        return path

    return write


@pytest.fixture(autouse=True)
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test's ``mm run`` sessions take their account locks (``default_lock_dir``):
    under its own ``tmp_path``, through ``XDG_STATE_HOME``, which the ``mm`` processes it starts
    inherit. Tests never take a lock in the user's home, so two test runs on this machine (or
    a test and a real session) never refuse each other."""
    state = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state / "mmengine" / "locks"


async def _wait_until(done: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture(scope="session")
def wait_until() -> Callable[..., Awaitable[None]]:
    """``await wait_until(done, what, timeout=15)``: poll ``done()`` every 20 ms."""
    return _wait_until




async def _live_session(
    h: ExtendedEmulatorHandle,
    text: str,
    log_path: Path,
    act: Callable[[LiveRunner], Awaitable[None]],
    paper: Callable[[Mapping[str, Instrument]], PaperVenue] | None = None,
    **runner_kwargs: Any,
) -> LiveRunner:
    """One live session of config ``text`` against ``h`` through the real adapter (public data
    only, filling on ``paper``, when given); ``act(runner)`` runs while it trades, then it stops."""
    config = parse_config(text)
    venue = venue_table(config, "test", ExtendedConfig)
    env = {} if paper is not None else h.credentials[0].env(venue)
    adapter = ExtendedAdapter(venue, time.time_ns, env, public_only=paper is not None)
    runner = LiveRunner(
        adapter, config, build_engine, log_path, clock=time.time_ns, handle_signals=False,
        shutdown_timeout_s=5.0, paper=paper, **runner_kwargs,
    )
    task = asyncio.create_task(runner.run())
    try:
        await act(runner)
    finally:
        runner.request_stop("test over")
        await asyncio.wait_for(task, 15)
    return runner


@pytest.fixture(scope="session")
def live_session() -> Callable[..., Awaitable[LiveRunner]]:
    """``await live_session(h, text, log_path, act, paper=None, **runner_kwargs)`` → the runner
    of one live session of config ``text`` against ``h``, stopped once ``act(runner)`` returns."""
    return _live_session


@pytest.fixture(scope="session")
def mm_command() -> Callable[..., list[str]]:
    """``mm_command("run", ...)`` → the argv of an ``mm`` process."""

    def argv(*args: str) -> list[str]:
        return [sys.executable, "-m", "mmcore.cli.main", *args]

    return argv
