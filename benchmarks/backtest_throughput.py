"""Backtest throughput: engine + Avellaneda–Stoikov + simulated venue + log writing.

Each session runs in a child process so that its peak RSS is its own:
1. the real Binance BTCUSDT capture in ../shared/data, imported into an event log first;
2. a generated random-walk session of 300,000 market events held in memory, so that the time
   leaves the generator out (about a third of the streamed figure's);
3. generated sessions of --events / 10 and --events market events (default 10,000,000),
   streamed from the generator (never held in memory), to show that memory stays flat in
   session length.

Prints events/s, µs/event and peak RSS for each. For the capture it also prints the import's
time and the backtest's rate in *venue messages* (raw lines of the capture, bookTicker lines the
importer does not use included), the unit in which peers' figures on the same file are quoted
(see docs/performance.md). ``--repeat`` runs the capture's backtest several times and prints
each run (this machine's timings move ±30%). Usage:
    python benchmarks/backtest_throughput.py [--events N] [--binance FILE] [--repeat R]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from mmcore.events import Event
from mmcore.instrument import Instrument
from replay.backtest import BacktestResult, run_backtest, run_session
from replay.importers import ImportReport, import_to_log, read_binance
from replay.session import load_session
from replay.synthetic import MarketSpec, generate_market

ROOT = Path(__file__).resolve().parents[1]
BINANCE = ROOT.parent / "shared" / "data" / "binance-usdm-btcusdt-raw" / "btcusdt_20240808.gz"
CONFIG = ROOT / "configs" / "backtest.toml"
HELD = 300_000
"""Size of the generated session held in memory to time the backtest without the generator."""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def figures(result: BacktestResult, elapsed: float) -> str:
    """What a run did and how fast: events, commands, fills, events/s, µs/event."""
    n = result.run.events
    return (f"{n:,} events ({result.run.commands:,} commands, {result.sim.fills:,} fills) in "
            f"{elapsed:.2f} s: {n / elapsed:,.0f} events/s, {1e6 * elapsed / n:.2f} µs/event")


def binance_child(source: Path, workdir: Path, repeat: int) -> None:
    inst = Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.1", lot_size="0.001",
                      min_size="0.001")
    data = workdir / "btcusdt.mmlog"
    report = ImportReport("binance")
    started = time.perf_counter()
    import_to_log(read_binance([source], inst, report), data, inst, "binance", str(source),
                  report)
    lines = report.lines_read
    print(f"binance capture: {lines:,} venue messages imported in "
          f"{time.perf_counter() - started:.2f} s")
    config = load_session(CONFIG)
    best = float("inf")
    for i in range(repeat):
        out = workdir / f"bt-binance-{i}.mmlog"
        started = time.perf_counter()
        result = run_backtest(config, [data], out, progress=None)
        elapsed = time.perf_counter() - started
        n = result.run.events
        print(f"binance capture: {figures(result, elapsed)}; "
              f"{lines / elapsed:,.0f} venue messages/s; peak RSS {peak_rss_mb():.0f} MB")
        out.unlink()
        best = min(best, elapsed)
    if repeat > 1:
        print(f"binance capture, best of {repeat}: {n / best:,.0f} events/s, "
              f"{lines / best:,.0f} venue messages/s")


def generated_child(events: int, workdir: Path, held: bool = False) -> None:
    """A generated session streamed from the generator, or (``held``) generated into memory
    first so that the timing leaves the generator out."""
    config = load_session(CONFIG)
    config = msgspec.structs.replace(
        config, session=msgspec.structs.replace(config.session, markets=["BTC-USD"])
    )
    inst = Instrument(venue="sim", symbol="BTC-USD", tick_size="0.1", lot_size="0.001",
                      min_size="0.001")
    out = workdir / f"bt-generated-{events}.mmlog"
    market: Iterable[Event] = generate_market(MarketSpec(inst="BTC-USD"), events, seed=1)
    if held:
        market = list(market)
    started = time.perf_counter()
    result = run_session(config, {"BTC-USD": inst}, market, out)
    elapsed = time.perf_counter() - started
    what = "held in memory, generation excluded" if held else "generation included"
    rss = "" if held else f"; peak RSS {peak_rss_mb():.0f} MB"  # held: the list's, not the run's
    print(f"generated {events:,} ({what}): {figures(result, elapsed)}{rss}")
    out.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="generated session size")
    parser.add_argument("--binance", default=str(BINANCE), help="raw Binance capture (.gz)")
    parser.add_argument("--repeat", type=int, default=1, help="backtests of the capture")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, workdir, *rest = args.child
        if kind == "binance":
            binance_child(Path(rest[0]), Path(workdir), int(rest[1]))
        else:
            generated_child(int(rest[0]), Path(workdir), kind == "held")
        return
    with tempfile.TemporaryDirectory() as tmp:
        runs = [["binance", tmp, args.binance, str(args.repeat)]]
        runs.append(["held", tmp, str(HELD)])
        runs += [["generated", tmp, str(n)] for n in (args.events // 10, args.events)]
        for child in runs:
            subprocess.run([sys.executable, __file__, "--child", *child], check=True)


if __name__ == "__main__":
    main()
