"""Replay throughput of the full engine, and its memory as the session grows.

1. Records a session of at least 1,000,000 events: the simple quoter on the simulated venue over a
   generated random-walk market (mostly book deltas, some trades, our acks and fills, timers).
2. Replays the log's inbound events through a fresh engine built from the log header, the way
   `mm replay --verify` does, and prints events/s and µs/event for reading alone and for
   reading + engine.
3. Repeats the replay in child processes over prefixes of a quarter and all of the log, printing
   peak RSS of each, to show memory does not grow with the number of events.

Usage: python benchmarks/replay_throughput.py [--events N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mmcore.log import open_log
from mmcore.records import is_output
from replay.backtest import run_session
from replay.demo import demo_config
from replay.synthetic import MarketSpec, generate_market
from replay.verify import engine_from_log


def record(path: Path, market_events: int) -> None:
    config = demo_config()
    market = generate_market(MarketSpec(inst="BTC-USD"), market_events, seed=1)
    started = time.perf_counter()
    result = run_session(config, config.instrument_map(), market, path, meta={"mode": "bench"})
    elapsed = time.perf_counter() - started
    print(f"recorded {result.run.events:,} events + {result.run.outputs:,} outputs "
          f"in {elapsed:.1f} s ({result.run.events / elapsed:,.0f} events/s with sim + log write)")


def replay(path: Path, limit: int) -> tuple[int, float, float]:
    """Returns (inbound events, seconds reading only, seconds reading + engine)."""
    reader = open_log(path, repair=False)
    started = time.perf_counter()
    n = 0
    for record in reader:
        if not is_output(record):
            n += 1
            if n >= limit:
                break
    read_s = time.perf_counter() - started

    reader = open_log(path, repair=False)
    engine = engine_from_log(reader)
    on_event = engine.on_event
    started = time.perf_counter()
    n = 0
    for record in reader:
        if not is_output(record):
            on_event(record)  # type: ignore[arg-type]
            n += 1
            if n >= limit:
                break
    total_s = time.perf_counter() - started
    return n, read_s, total_s


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: Path, limit: int) -> None:
    n, _, total_s = replay(path, limit)
    print(f"{n} {total_s} {peak_rss_mb()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="market events to generate")
    parser.add_argument("--keep", help="directory to keep the recorded log in")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), int(args.child[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep or tmp) / "bench.mmlog"
        path.unlink(missing_ok=True)
        record(path, args.events)
        counts = open_log(path, repair=False).counts()
        print("log records by type: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
        n, read_s, total_s = replay(path, sys.maxsize)
        for label, secs in (("read only", read_s), ("read + full engine", total_s)):
            print(f"{label + ':':<20} {n / secs:>12,.0f} events/s  {1e6 * secs / n:6.2f} µs/event")
        print(f"engine alone (diff): {1e6 * (total_s - read_s) / n:6.2f} µs/event")
        for share in (4, 1):
            limit = n // share
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path), str(limit)],
                check=True, capture_output=True, text=True,
            ).stdout.split()
            print(f"replay of {int(out[0]):>9,} events: peak RSS {float(out[2]):7.1f} MB")


if __name__ == "__main__":
    main()
