"""``mm demo --offline``: the main job without sockets, on the simulated venue.

(Plain ``mm demo`` runs the live path on the local Extended emulator: ``mmcore.cli.live_demo``.)
It generates a seeded random-walk market, runs the simple symmetric quoter on the simulated venue
through the same runner a live session uses, records the session's log, replays that log through a
fresh engine to verify every command byte for byte, and prints what it found.
"""

from __future__ import annotations

import time
from pathlib import Path

from mmcore.config import AppConfig, parse_config
from mmcore.log import open_log
from replay.backtest import run_session
from replay.summary import summarize
from replay.synthetic import MarketSpec, generate_market
from replay.verify import verify_log

__all__ = ["DEMO_CONFIG", "run_demo"]

DEMO_CONFIG = """
[session]
venue = "sim"
markets = ["BTC-USD"]
seed = 7
timer_interval_ms = 1000

[[instruments]]
venue = "sim"
symbol = "BTC-USD"
tick_size = "0.1"
lot_size = "0.001"
min_size = "0.001"
maker_fee = "-0.00002"
taker_fee = "0.0005"

[strategy]
name = "simple"
[strategy.params]
spread_bps = 0.2
requote_bps = 0.1
size_lots = 10

[orders]
replace_threshold_bps = 0.1
max_order_age_s = 30.0
max_open_orders = 4

[risk]
max_position_lots = 100
max_open_orders = 4
price_band_bps = 200

[sim]
entry_latency_ms = 2.0
response_latency_ms = 2.0
"""


def demo_config() -> AppConfig:
    return parse_config(DEMO_CONFIG, "<embedded demo config>")


def run_demo(out_dir: str | Path, events: int, seed: int) -> int:
    config = demo_config()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "demo.mmlog"
    if log_path.exists():
        log_path.unlink()
    instruments = config.instrument_map()
    market = generate_market(MarketSpec(inst="BTC-USD"), events, seed)
    print(f"demo: {events:,} generated market events, simple quoter on the simulated venue")
    started = time.perf_counter()
    result = run_session(config, instruments, market, log_path, meta={"mode": "demo"})
    elapsed = time.perf_counter() - started
    n = result.run.events
    print(f"recorded {log_path}: {n:,} events in, {result.run.outputs:,} outputs "
          f"({n / elapsed:,.0f} events/s including the simulated venue and the log)")
    print(summarize(open_log(log_path, repair=False)).text())
    started = time.perf_counter()
    verdict = verify_log(log_path)
    elapsed = time.perf_counter() - started
    if verdict.ok:
        print(f"replay verified: {verdict.inbound:,} inbound events through a fresh engine "
              f"reproduced all {verdict.outputs_recorded:,} recorded outputs byte for byte "
              f"({verdict.inbound / elapsed:,.0f} events/s)")
        return 0
    assert verdict.divergence is not None
    print("replay FAILED: " + verdict.divergence.describe())
    return 1
