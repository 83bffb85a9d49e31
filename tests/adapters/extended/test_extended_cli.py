"""``mm emulator extended`` and the emulator's recorded-data mode."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from adapters.emulator.clock import ManualClock
from adapters.extended.cli import _emulator_venues, register
from adapters.extended.emulator import serve
from mmcore.events import BookDelta, BookSnapshot, Timer, Trade
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter

START = 1_700_000_000_000_000_000
MS = 1_000_000
ROOT = Path(__file__).resolve().parents[3]


def make_instrument() -> Instrument:
    return Instrument(venue="extended", symbol="SOL-USD", tick_size="0.01", lot_size="0.1")


def make_log(path: Path) -> Path:
    header = LogHeader(
        format_version=FORMAT_VERSION,
        code_version="test",
        instruments=[make_instrument()],
        config={},
    )
    t = 5 * 10**18
    with LogWriter(path, header) as w:
        w.append(BookSnapshot("SOL-USD", t, t, 1, (15000, 10), (15002, 10)))
        w.append(Timer(t + MS, t + MS))
        w.append(BookDelta("SOL-USD", t + 100 * MS, t + 100 * MS, 2, -1, (15001, 30), ()))
        w.append(Trade("SOL-USD", t + 200 * MS, t + 200 * MS, 15002, 4, 1))
    return path


def test_register_adds_emulator_extended_to_a_parser_and_shares_the_emulator_group() -> None:
    parser = argparse.ArgumentParser(prog="mm")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    # another venue registering later finds the same ``emulator`` group
    venues = _emulator_venues(sub)
    venues.add_parser("other").set_defaults(func=lambda a: 0)
    assert set(venues.choices) == {"extended", "other"}
    args = parser.parse_args(["emulator", "extended", "--port", "8123", "--seed", "4"])
    assert (args.port, args.seed, args.data) == (8123, 4, None)
    assert callable(args.func)


def test_the_emulator_replays_a_recorded_logs_market_data(tmp_path: Path) -> None:
    log = make_log(tmp_path / "sol.log")

    async def main() -> None:
        clock = ManualClock(START)
        h = await serve(data_log=log, clock=clock)
        try:
            assert list(h.exchange.instruments) == ["SOL-USD"]
            assert h.exchange.books["SOL-USD"].best_bid() == 15000
            clock.advance(150 * MS)
            await h.step()
            assert h.exchange.books["SOL-USD"].best_bid() == 15001
            async with aiohttp.ClientSession() as s:
                url = f"{h.base_url}/api/v1/info/markets/SOL-USD/orderbook"
                body = json.loads(await (await s.get(url, headers={"User-Agent": "t"})).text())
            assert body["data"]["bid"][0] == {"qty": "3.0", "price": "150.01"}
            clock.advance(100 * MS)
            await h.step()
            assert len(h.exchange.trades["SOL-USD"]) == 1
            assert h.statistics().feed.skipped == 1  # the Timer record
        finally:
            await h.close()

    asyncio.run(main())


def test_the_cli_serves_until_sigint_and_exits_cleanly() -> None:
    code = (
        "import sys, argparse; from adapters.extended.cli import _emulator_venues, register;"
        "p = argparse.ArgumentParser(); s = p.add_subparsers(); register(s);"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "emulator", "extended", "--seed", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("extended emulator on http://127.0.0.1:")
        url = first.split(" on ")[1].strip()
        exports = [proc.stdout.readline() for _ in range(5)]
        assert any(line.startswith("export EXTENDED_API_KEY=") for line in exports)

        async def probe() -> int:
            async with aiohttp.ClientSession() as s:
                r = await s.get(f"{url}/api/v1/info/markets", headers={"User-Agent": "t"})
                return r.status

        assert asyncio.run(probe()) == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_emulator_reads_a_torn_log_up_to_its_tail_and_leaves_the_file_as_it_is(
    tmp_path: Path,
) -> None:
    log = make_log(tmp_path / "sol.log")
    torn = log.read_bytes()[:-5]  # the last record cut short, as by a crash
    log.write_bytes(torn)

    async def main() -> None:
        h = await serve(data_log=log, clock=ManualClock(START))
        try:
            assert h.exchange.books["SOL-USD"].best_bid() == 15000
        finally:
            await h.close()

    asyncio.run(main())
    assert log.read_bytes() == torn  # a user's data is never repaired behind their back


def test_a_missing_data_log_is_named_as_such_not_blamed_on_the_address(tmp_path: Path) -> None:
    missing = tmp_path / "no-such.mmlog"
    proc = subprocess.run(
        [sys.executable, "-m", "mmcore.cli.main", "emulator", "extended", "--host", "127.0.0.1",
         "--port", "0", "--data", str(missing)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 2
    assert str(missing) in proc.stderr
    assert "address" not in proc.stderr and "--port" not in proc.stderr
