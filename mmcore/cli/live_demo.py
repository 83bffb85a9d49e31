"""``mm demo``: the full live path on its embedded default, with no credentials and no internet.

It starts the Extended emulator in process on 127.0.0.1 (a free port) with a seeded, lively
random-walk market and a generated throwaway account, then runs the live runner through the real
``ExtendedAdapter`` and x10 SDK (Stark-signed orders over REST, streams over WebSocket) for a
bounded time, shuts down with every order canceled, checks that the emulator holds no open order
of ours, verifies the recorded log by exact replay and prints fills, the PnL split, the two-sided
quote uptime and the replay verdict. It exits 0 only when all of that checked out, and leaves
nothing running.

This is a composition root like ``mm run``: besides ``replay`` it imports the Extended adapter
and emulator (lazily, in ``run_live_demo``). Unlike ``mm run`` it takes no account lock
(``mmcore.account_lock``): its account is generated for an emulator of its own on a free port,
which no other session is given the keys of, so there is no other session to keep off it.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

from mmcore.commands import Place
from mmcore.config import AppConfig, parse_config
from mmcore.events import (
    ConnectionState,
    Fill,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
)
from mmcore.live import LiveResult, LiveRunner
from mmcore.log import open_log
from mmcore.records import is_output
from mmcore.session_control import SESSION_STREAM, STOPPING
from mmcore.steady_clock import steady_wall_clock
from mmcore.version import code_version
from replay.metrics import two_sided_uptime
from replay.resting import RestingQuotes
from replay.session import build_engine, resolved_config
from replay.summary import summarize
from replay.verify import verify_log

__all__ = ["DEMO_LIVE_CONFIG", "demo_live_config", "quote_uptime", "run_live_demo"]

DEMO_LIVE_CONFIG = """
[session]
venue = "extended"
network = "local"
markets = ["BTC-USD"]
seed = 7
timer_interval_ms = 200

[strategy]
name = "avellaneda_stoikov"
[strategy.params]
gamma = 0.02
horizon_s = 5.0
min_half_spread_bps = 0.15
max_half_spread_bps = 1.0
order_notional_usd = 60.0
max_position_usd = 600.0
requote_bps = 0.25
requote_interval_ms = 1000
warmup_half_spread_bps = 0.5
[strategy.params.volatility]
sample_interval_ms = 100
half_life_s = 10.0
warmup_samples = 20
[strategy.params.kappa]
fallback_depth_bps = 0.5
min_trades = 10

[orders]
replace_threshold_bps = 0.1
max_order_age_s = 30.0
max_open_orders = 4

[risk]
max_position_usd = 1000.0
max_open_orders = 4
price_band_bps = 100

[venue]
network = "local"
base_url = "{base_url}"
dead_man_switch_s = 30
dead_man_rearm_s = 10.0
reconcile_interval_s = 10.0
"""


def demo_live_config(base_url: str) -> AppConfig:
    """The demo's session config, pointed at an emulator on ``base_url``."""
    return parse_config(
        DEMO_LIVE_CONFIG.replace("{base_url}", base_url), "<embedded live demo config>"
    )


def quote_uptime(path: str | Path) -> dict[str, float]:
    """Two-sided quote uptime per market of a session log, from its first event to the stop
    event (or its last event): the share of that time with an open bid and an open ask of ours."""
    reader = open_log(path, repair=False)
    markets = [i.symbol for i in reader.header.instruments]
    quotes = RestingQuotes(markets)
    start = end = -1
    for record in reader:
        t = type(record)
        if is_output(record):
            if t is Place:
                quotes.on_place(record)  # type: ignore[arg-type]
            continue
        ev: Any = record  # an inbound event: narrowed by the dispatch on ``t``
        end = ev.ts_recv
        if start < 0:
            start = end
        if t is OrderAccepted:
            quotes.on_accepted(ev.client_id, end)
        elif t is Fill:
            quotes.on_fill(ev)
        elif t is OrderCanceled:
            quotes.on_canceled(ev.client_id, end)
        elif t is OrderRejected:
            quotes.on_rejected(ev.client_id, end)
        elif t is ConnectionState and ev.stream == SESSION_STREAM and ev.state == STOPPING:
            break
    return {m: two_sided_uptime(quotes.edges(m), start, end) for m in markets}


def run_live_demo(out_dir: str | Path, seconds: float, seed: int) -> int:
    """Run the live demo; 0 when the session stopped clean and its log replays exactly."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "demo-live.mmlog"
    if log_path.exists():
        log_path.unlink()
    result, leftovers = asyncio.run(_session(log_path, seconds, seed))
    return _report(result, leftovers)


async def _session(log_path: Path, seconds: float, seed: int) -> tuple[LiveResult, list[str]]:
    from adapters.emulator.random_walk import RandomWalkParams
    from adapters.extended import ExtendedAdapter, ExtendedConfig
    from adapters.extended.emulator import serve
    from mmcore.cli.run_cmd import venue_table

    walk = RandomWalkParams(mid_ticks=60_000, move_prob=0.5, trade_prob=0.4)
    handle = await serve(seed=seed, walk=walk, tick_s=0.02)
    try:
        config = resolved_config(demo_live_config(handle.base_url))  # as mm run: see run_live
        venue = venue_table(config, "demo", ExtendedConfig)
        clock = steady_wall_clock()  # as mm run's
        adapter = ExtendedAdapter(venue, clock, handle.credentials[0].env(venue))
        print(
            f"demo: Extended emulator on {handle.base_url} (generated market, seed {seed}); "
            f"avellaneda_stoikov on BTC-USD through the x10 SDK for {seconds:g} s "
            "(Ctrl-C stops early, cleanly)",
            flush=True,
        )
        runner = LiveRunner(
            adapter,
            config,
            build_engine,
            log_path,
            clock=clock,
            duration_s=seconds,
            code_version=code_version(),
            meta={"mode": "demo"},
        )
        result = await runner.run()
        leftovers = sorted(o.client_id for o in handle.account().open_orders())
    finally:
        await handle.close()
    return result, leftovers


def _report(result: LiveResult, leftovers: list[str]) -> int:
    ok = True
    print(
        f"session stopped ({result.stop_reason}): {result.events:,} events, "
        f"{result.commands:,} commands, {result.fills:,} fills; log {result.log_path}"
    )
    if leftovers or result.open_orders:
        ok = False
        print(f"FAILED: orders still open at the emulator: {leftovers or result.open_orders}")
    else:
        print("shutdown: every order canceled; the emulator holds no open order of ours")
    print(summarize(open_log(result.log_path, repair=False)).text())
    for market, up in quote_uptime(result.log_path).items():
        shown = "n/a" if math.isnan(up) else f"{up:.1%}"
        # the summary above counts the shutdown too (every quote canceled); this stops there
        print(f"{market}: two-sided quote uptime until the stop {shown}")
    verdict = verify_log(result.log_path)
    if verdict.ok:
        print(
            f"replay verified: {verdict.inbound:,} inbound events through a fresh engine "
            f"reproduced all {verdict.outputs_recorded:,} recorded outputs byte for byte"
        )
    else:
        ok = False
        detail = verdict.divergence.describe() if verdict.divergence else "output count differs"
        print("replay FAILED: " + detail)
    return 0 if ok else 1
