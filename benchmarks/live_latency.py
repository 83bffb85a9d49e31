"""Live latency: market frame read from the socket → command handed to ``adapter.execute``.

Runs the live runner (``mmcore.live.LiveRunner``) with the real ``ExtendedAdapter`` against the
Extended emulator on 127.0.0.1 and times, inside the runner's process, every command a book frame
caused: from the moment the frame was read from its WebSocket to the moment ``execute`` was
entered with the command (before signing and REST). The path in between is the adapter's stream
reader and normaliser, ``LiveRunner._dispatch`` calling ``Runner.handle`` inline (engine + log
append), and the runner's outbound queue and sender task. A second figure stops the clock where
``Runner.handle`` hands the command to the runner's sink (the outbound queue), before the hop to
the sender task.

Instrumentation (``ExtendedAdapter.set_probe``) is off unless a probe is installed. The probe is
also the runner's clock: the adapter stamps each frame's events with the clock right after the
read, and the probe answers that call with the read time itself, so a command's ``ts`` (the
``ts_recv`` of the event that caused it) *is* its frame's read time.

The runner sends up to ``[session] max_in_flight`` commands at once (``mmcore.send_queue``), so
the figures are: *idle* = frames read while no REST call was in flight (the runner's own path),
*every frame* = including frames whose commands waited behind a call of the same order id, and
*last command* = the frame's last command at ``execute`` entry (the one sequential sending made
wait three round trips for; ``--max-in-flight 1`` shows that). The Stark signing cost of one
order (the SDK's ``create_order_object`` alone) is measured separately.

The emulator runs in a child process by default, so it does not share the runner's event loop or
GIL; ``--same-loop`` runs it in the runner's own loop instead.

Usage: python benchmarks/live_latency.py [--frames N] [--step-ms MS] [--max-in-flight N]
       [--same-loop]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from adapters.emulator.random_walk import RandomWalkParams
from adapters.extended import ExtendedAdapter, ExtendedConfig
from adapters.extended.emulator import serve
from adapters.extended.markets import instrument_from_market, sdk_config
from adapters.extended.signer import OrderSigner
from mmcore import live
from mmcore.cli.run_cmd import venue_table
from mmcore.commands import Command, Place
from mmcore.config import parse_config
from mmcore.events import BUY
from mmcore.live import LiveRunner
from replay.session import build_engine

CONFIG = """
[session]
venue = "extended"
network = "local"
markets = ["BTC-USD"]
timer_interval_ms = 1000
max_in_flight = {max_in_flight}

[strategy]
name = "simple"
[strategy.params]
spread_bps = 2.0
requote_bps = 0.0
size_lots = 100

[orders]
replace_threshold_bps = 0.0
max_open_orders = 6

[risk]
max_position_lots = 100000
max_open_orders = 6
price_band_bps = 1000
[risk.rate_limit]
windows = [[1.0, 1000000]]
# (re-quoting every frame passes Extended's 1,000 requests a minute: the emulator's limit is
# off here too, so the figures are the path's, not a 429 backoff's)

[log]
flush_every = 65536
fsync = "never"

[venue]
base_url = "{base_url}"
dead_man_switch_s = 0
reconcile_interval_s = 0
subscribe_trades = false
subscribe_funding = false
"""


class Probe:
    """Clock and latency probe: read stamps in, ``execute`` entries timed against them."""

    def __init__(self) -> None:
        self._pending = 0
        self.book_reads: dict[int, bool] = {}  # read stamp -> a call in flight at that moment
        self.in_flight = 0
        self.first: dict[int, int] = {}  # read stamp -> ns to the frame's first command
        self.last: dict[int, int] = {}  # read stamp -> ns to the frame's last command
        self.handed: dict[int, int] = {}  # read stamp -> ns to its first command in the sink
        self.idle: list[int] = []
        self.all: list[int] = []
        self.frames = 0

    def clock(self) -> int:
        pending = self._pending
        if pending:
            self._pending = 0
            return pending
        return time.time_ns()

    def on_read(self, stream: str) -> None:
        now = time.time_ns()
        self._pending = now
        if stream.startswith("book:"):
            self.frames += 1
            self.book_reads[now] = self.in_flight > 0

    def on_execute(self, command: Command) -> None:
        now = time.time_ns()
        busy = self.book_reads.get(command.ts)
        if busy is None:
            return  # caused by a timer, a fill or another stream
        ns = now - command.ts
        self.all.append(ns)
        self.last[command.ts] = ns
        if command.ts not in self.first:
            self.first[command.ts] = ns
            if not busy:
                self.idle.append(ns)


    def on_submit(self, command: Command) -> None:
        if command.ts in self.book_reads and command.ts not in self.handed:
            self.handed[command.ts] = time.time_ns() - command.ts


def timed_sink(probe: Probe) -> None:
    """Time the hand-over to the runner's sink (benchmark instrumentation of a private class)."""
    inner = live._SendSink.submit

    def submit(self: live._SendSink, command: Command, now: int) -> None:
        probe.on_submit(command)
        inner(self, command, now)

    live._SendSink.submit = submit  # type: ignore[method-assign]


def timed_execute(adapter: ExtendedAdapter, probe: Probe) -> None:
    """Wrap ``adapter.execute`` so the probe knows whether a REST call is in flight."""
    inner = adapter.execute

    async def execute(command: Command) -> None:
        probe.in_flight += 1
        try:
            await inner(command)
        finally:
            probe.in_flight -= 1

    adapter.execute = execute  # type: ignore[method-assign]


def percentiles(ns: list[int]) -> str:
    if not ns:
        return "no samples"
    us = sorted(x / 1000 for x in ns)
    p50 = us[len(us) // 2]
    p99 = us[min(len(us) - 1, int(len(us) * 0.99))]
    return f"n={len(us):,}  p50 {p50:8.1f} µs  p99 {p99:8.1f} µs  max {us[-1]:8.1f} µs"


async def run_session(
    base_url: str, env: dict[str, str], frames: int, max_in_flight: int, probe: Probe
) -> None:
    text = CONFIG.replace("{base_url}", base_url).replace("{max_in_flight}", str(max_in_flight))
    config = parse_config(text, "<live latency>")
    venue = venue_table(config, "bench", ExtendedConfig)
    adapter = ExtendedAdapter(venue, probe.clock, env)
    adapter.set_probe(probe)
    timed_execute(adapter, probe)
    timed_sink(probe)
    with tempfile.TemporaryDirectory() as tmp:
        runner = LiveRunner(
            adapter, config, build_engine, Path(tmp) / "bench.mmlog", clock=probe.clock
        )
        task = asyncio.create_task(runner.run())
        last, stalled = -1, 0.0
        while probe.frames < frames and not task.done():
            await asyncio.sleep(0.5)
            stalled = stalled + 0.5 if probe.frames == last else 0.0
            if stalled > 10:
                raise SystemExit("no book frames for 10 s: is the emulator running?")
            last = probe.frames
        runner.request_stop("benchmark done")
        result = await task
    print(f"session: {result.events:,} events, {result.commands:,} commands, "
          f"{result.fills:,} fills, {probe.frames:,} book frames read")


def signing_cost(n: int) -> list[int]:
    """ns per order for the SDK signing call alone (``OrderSigner.sign``)."""
    from x10.core.stark_account import StarkPerpetualAccount
    from x10.models.market import MarketModel

    async def market() -> tuple[MarketModel, ExtendedConfig, Any]:
        h = await serve(seed=1)
        try:
            venue = h.adapter_config()
            adapter = ExtendedAdapter(venue, time.time_ns, public_only=True)
            try:
                markets = await adapter.rest.markets(["BTC-USD"])
            finally:
                await adapter.close()
            return markets[0], venue, h.credentials[0]
        finally:
            await h.close()

    model, venue, creds = asyncio.run(market())
    account = StarkPerpetualAccount(
        vault=creds.vault,
        private_key=creds.stark_private_key,
        public_key=creds.stark_public_key,
        api_key=creds.api_key,
    )
    domain = sdk_config(venue).signing.starknet_domain
    signer = OrderSigner(account, domain, random.Random(1), 86_400, "ACCOUNT")
    inst = instrument_from_market(model, None)
    out = []
    for i in range(n):
        place = Place("BTC-USD", 0, f"sig-{i}", BUY, 59_000 + i % 50, 100)
        t0 = time.perf_counter_ns()
        signer.sign(place, inst, model, time.time_ns())
        out.append(time.perf_counter_ns() - t0)
    return out


async def with_emulator_here(
    step_ms: int, body: Callable[[str, dict[str, str]], Awaitable[None]]
) -> None:
    walk = RandomWalkParams(mid_ticks=60_000, step_ms=step_ms, move_prob=1.0, trade_prob=0.0)
    h = await serve(seed=2, walk=walk, tick_s=step_ms / 2000, rest_limit_per_min=0)
    try:
        await body(h.base_url, h.credentials[0].env())
    finally:
        await h.close()


def serve_forever(step_ms: int) -> None:
    """Child mode: serve an emulator, print its URL and account env as one JSON line."""

    async def main() -> None:
        walk = RandomWalkParams(mid_ticks=60_000, step_ms=step_ms, move_prob=1.0, trade_prob=0.0)
        h = await serve(seed=2, walk=walk, tick_s=step_ms / 2000, rest_limit_per_min=0)
        print(json.dumps({"base_url": h.base_url, "env": h.credentials[0].env()}), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await h.close()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000, help="book frames to measure")
    parser.add_argument("--step-ms", type=int, default=50, help="emulator book update interval")
    parser.add_argument("--max-in-flight", type=int, default=8, help="commands sent at once")
    parser.add_argument("--same-loop", action="store_true", help="emulator in the runner's loop")
    parser.add_argument("--signs", type=int, default=300, help="orders signed for the cost")
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_emulator:
        serve_forever(args.step_ms)
        return
    probe = Probe()
    where = "the runner's event loop" if args.same_loop else "a child process"
    print(f"live latency: {args.frames:,} book frames every {args.step_ms} ms, "
          f"emulator in {where}, max_in_flight {args.max_in_flight}")
    if args.same_loop:
        def session(url: str, env: dict[str, str]) -> Awaitable[None]:
            return run_session(url, env, args.frames, args.max_in_flight, probe)

        asyncio.run(with_emulator_here(args.step_ms, session))
    else:
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve-emulator", "--step-ms", str(args.step_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            info: dict[str, Any] = json.loads(child.stdout.readline())
            asyncio.run(
                run_session(info["base_url"], info["env"], args.frames, args.max_in_flight, probe)
            )
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(10)
    print("frame read → first command at adapter.execute entry (excludes signing and REST):")
    print(f"  no call in flight at the read: {percentiles(probe.idle)}")
    print(f"  every frame:             {percentiles(list(probe.first.values()))}")
    print(f"  every command:           {percentiles(probe.all)}")
    print("frame read → last command of the frame at adapter.execute entry:")
    print(f"  every frame:             {percentiles(list(probe.last.values()))}")
    idle_handed = [ns for ts, ns in probe.handed.items() if not probe.book_reads.get(ts)]
    print("frame read → first command handed to the runner's sink (before the sender hop):")
    print(f"  no call in flight at the read: {percentiles(idle_handed)}")
    signs = signing_cost(args.signs)
    print(f"Stark signing per order (SDK create_order_object): {percentiles(signs)}, "
          f"mean {statistics.fmean(signs) / 1000:.1f} µs")


if __name__ == "__main__":
    main()
