"""The loss limits survive a restart: the live runner carries the day's PnL and the last hour's PnL
highs from one session to the next through the day-PnL file (``mmcore.day_pnl``), end to end with
the real SDK against the Extended emulator, and the session that carried them still replays
exactly."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from adapters.extended import ExtendedConfig
from adapters.extended.emulator import ExtendedEmulatorHandle
from adapters.sim import SimConfig, SimVenue
from mmcore.cli.run_cmd import run_live, venue_table
from mmcore.commands import Place
from mmcore.config import parse_config
from mmcore.day_pnl import DayPnlFile, DayPnlFileError, SavedMark, default_day_pnl_path
from mmcore.events import BUY, SELL, PriorDayPnl, RiskEvent, Trade
from mmcore.instrument import Instrument
from mmcore.live import LiveRunner
from mmcore.log import open_log
from mmcore.paper import PaperVenue
from mmcore.risk_limits import DAY_NS
from replay.verify import verify_log

SYM = "BTC-USD"
USD = 1_000_000_000


def _quoting(runner: LiveRunner, h: ExtendedEmulatorHandle) -> bool:
    engine = runner.engine
    if engine is None:
        return False
    sides = sorted(o.side for o in h.account().open_orders(SYM))
    return sides == [SELL, BUY] and len(engine.ledger.orders) == 2


def _with_day_limit(text: str) -> str:
    """The session config with a $5 daily loss limit."""
    return text.replace("[risk]\n", "[risk]\nmax_loss_day_usd = 5.0\n")


def _with_hour_limit(text: str) -> str:
    """The session config with a $5 limit on the 60-minute drawdown."""
    return text.replace("[risk]\n", "[risk]\nmax_loss_hour_usd = 5.0\n")


def _halted_session(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    with_limit: Callable[[str], str],
    store: DayPnlFile,
) -> list[Any]:
    """Run a session carrying ``store`` under ``with_limit`` for 1.5 s (the strategy warms up
    in 0.3 s and would quote); it must place nothing and replay exactly. Returns its records."""
    log_path = tmp_path / "halted.mmlog"

    async def main() -> int:
        h = await make_emulator()
        try:
            async def wait(runner: LiveRunner) -> None:
                await asyncio.sleep(1.5)

            await live_session(h, with_limit(session_toml(h.base_url)), log_path, wait,
                               day_pnl=store)
            return len(h.account().orders)
        finally:
            await h.close()

    assert asyncio.run(main()) == 0  # no order ever reached the venue
    records = list(open_log(log_path, repair=False))
    assert not any(type(r) is Place for r in records)
    verdict = verify_log(log_path)
    assert verdict.ok, verdict.divergence.describe() if verdict.divergence else verdict
    return records



async def _refused_start(h: ExtendedEmulatorHandle, text: str, log: Path) -> tuple[str, int]:
    """``mm run`` of ``text`` on the emulator, expected to stop on its day-PnL file: the error
    and how many REST calls the emulator had by then."""
    config = parse_config(text)
    env = h.credentials[0].env(venue_table(config, "test", ExtendedConfig))
    try:
        await run_live(config, log, environ=env, handle_signals=False, duration_s=2.0)
    except DayPnlFileError as exc:
        return str(exc), h.statistics().rest.calls
    raise AssertionError("mm run started despite its day-PnL file")

def test_a_session_restarted_past_todays_loss_limit_starts_halted_and_places_nothing(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
) -> None:
    store = DayPnlFile(tmp_path / "day.json", "extended", "local", "10001")
    today = time.time_ns() // DAY_NS
    store.save(today, -6 * USD)  # an earlier session lost $6 today; the limit is $5
    records = _halted_session(
        tmp_path, make_emulator, session_toml, live_session, _with_day_limit, store
    )
    carried = [r for r in records if type(r) is PriorDayPnl]
    assert len(carried) == 1 and (carried[0].day, carried[0].pnl) == (today, -6 * USD)
    codes = [r.code for r in records if type(r) is RiskEvent]
    assert codes[:2] == ["day_pnl_carried", "loss_limit_day"]
    assert codes.count("halted") >= 1  # the strategy wanted to quote; the gate dropped it
    saved = store.load()
    assert saved is not None and (saved.day, saved.pnl) == (today, -6 * USD)


def test_a_session_restarted_within_the_hour_of_a_drawdown_past_the_hourly_limit_starts_halted(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
) -> None:
    store = DayPnlFile(tmp_path / "day.json", "extended", "local", "10001")
    now = time.time_ns()
    high = (now - 600 * 10**9, 6 * USD)  # ten minutes ago the PnL stood $6 above where it ended
    # the hourly limit is $5; the day's PnL is flat; the last session's position was valued at
    # 60_000.0 when the venue's tick was 0.1 (the account here is flat: nothing is inherited,
    # the mark is only carried, in this session's ticks of 1)
    store.save(now // DAY_NS, 0, [high], [SavedMark(SYM, 5, 1_200_000, "0.1", "0.00001")])
    records = _halted_session(
        tmp_path, make_emulator, session_toml, live_session, _with_hour_limit, store
    )
    carried = [r for r in records if type(r) is PriorDayPnl]
    assert len(carried) == 1 and carried[0].hour_highs == (high,)
    assert carried[0].marks == ((SYM, 5, 120_000),)
    codes = [r.code for r in records if type(r) is RiskEvent]
    assert codes[:2] == ["hour_highs_carried", "loss_limit_hour"]
    saved = store.load()
    assert saved is not None and saved.hour_highs == [high]  # still within the hour: kept


def test_a_session_adds_its_pnl_to_what_it_carried_and_saves_the_sum(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    store = DayPnlFile(tmp_path / "day.json", "extended", "local", "10001")
    today = time.time_ns() // DAY_NS
    prior = -4 * USD  # under the $5 limit: the session trades
    store.save(today, prior)
    log_path = tmp_path / "trading.mmlog"
    seen: dict[str, Any] = {}

    async def main() -> None:
        h = await make_emulator()
        try:
            async def fill_our_bid(runner: LiveRunner) -> None:
                await wait_until(lambda: _quoting(runner, h), "two-sided quotes")
                bid = max(o.price for o in h.account().open_orders(SYM) if o.side == BUY)
                h.exchange.inject(Trade(SYM, 0, 0, bid - 3, 10_000, SELL))
                assert runner.engine is not None
                ledger = runner.engine.ledger
                await wait_until(lambda: ledger.position(SYM) > 0, "our bid filled")
                await asyncio.sleep(0.3)  # a timer tick or more: the file follows the PnL

            config = _with_hour_limit(_with_day_limit(session_toml(h.base_url)))
            runner = await live_session(h, config, log_path, fill_our_bid, day_pnl=store)
            assert runner.engine is not None
            seen["day_pnl"] = runner.engine.risk.day_pnl()
            seen["carry"] = runner.engine.risk.loss_carry()
            seen["lots"] = runner.engine.ledger.position(SYM)
        finally:
            await h.close()

    asyncio.run(main())
    day, pnl = seen["day_pnl"]
    saved = store.load()
    assert saved is not None and (saved.day, saved.pnl) == (day, pnl) and day == today
    assert saved.hour_highs == list(seen["carry"].hour_highs)  # the session's last word
    assert [(m.inst, m.lots, m.mark_x2) for m in saved.marks] == list(seen["carry"].marks)
    assert (saved.marks[0].inst, saved.marks[0].lots) == (SYM, seen["lots"])
    assert (saved.marks[0].tick_size, saved.marks[0].lot_size) == ("1", "0.00001")  # its units
    assert pnl != prior  # the fill (bought below the mid, no maker fee) moved today's PnL
    records = list(open_log(log_path, repair=False))
    assert any(type(r) is Place for r in records)
    assert "loss_limit_day" not in [r.code for r in records if type(r) is RiskEvent]
    verdict = verify_log(log_path)
    assert verdict.ok, verdict.divergence.describe() if verdict.divergence else verdict


def test_a_dry_run_neither_reads_nor_writes_the_day_pnl_file(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    path = tmp_path / "day.json"
    path.write_bytes(b"{corrupt")  # would stop a live start-up
    store = DayPnlFile(path, "extended", "local", "10001")

    def paper(instruments: Mapping[str, Instrument]) -> PaperVenue:
        return SimVenue(instruments, SimConfig(), random.Random(1))

    async def main() -> None:
        h = await make_emulator()
        try:
            async def quote(runner: LiveRunner) -> None:
                await wait_until(
                    lambda: runner.engine is not None and len(runner.engine.ledger.orders) == 2,
                    "paper quotes",
                )

            await live_session(h, _with_day_limit(session_toml(h.base_url)), tmp_path / "dry.mmlog",
                               quote, paper, day_pnl=store)
        finally:
            await h.close()

    asyncio.run(main())
    assert path.read_bytes() == b"{corrupt"


@pytest.mark.parametrize("limit", ["max_loss_day_usd", "max_loss_hour_usd"])
def test_mm_run_on_a_real_network_stops_before_connecting_when_the_day_pnl_file_is_unreadable(
    limit: str,
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
) -> None:
    path = tmp_path / "day.json"
    path.write_bytes(b"{corrupt")

    async def main() -> tuple[str, int]:
        h = await make_emulator()  # stands in for testnet: base_url keeps it on loopback
        try:
            text = session_toml(h.base_url).replace('network = "local"', 'network = "testnet"')
            text = text.replace("[risk]\n", f"[risk]\n{limit} = 5.0\n")
            text = text.replace("[session]\n", f'[session]\nday_pnl_file = "{path}"\n')
            return await _refused_start(h, text, tmp_path / "never.mmlog")
        finally:
            await h.close()

    message, rest_calls = asyncio.run(main())
    assert str(path) in message and "fix or delete the file" in message
    assert rest_calls == 0  # it stopped before connecting
    assert not (tmp_path / "never.mmlog").exists()


@pytest.mark.parametrize("case", ["another account's file", "the old shared default"])
def test_mm_run_stops_before_connecting_on_a_day_pnl_file_that_may_be_another_accounts(
    case: str,
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Account 10002 lost $260 today. Its file, given to account 10001 by mistake, would halt
    10001 at start-up; and before files named their account, the default path was every
    account's (``out/day-pnl-extended-testnet.json``), so the last one to save it won. Both stop
    start-up naming the file, before the venue is contacted; the default is now the account's
    own file, in the state directory (``default_day_pnl_path``)."""
    monkeypatch.chdir(tmp_path)  # the old shared default was under out/ of the working directory
    if case == "another account's file":
        other = DayPnlFile(tmp_path / "day.json", "extended", "testnet", "10002")
        other.save(int(time.time_ns() // DAY_NS), -260 * USD)
        setting, named = f'day_pnl_file = "{other.path}"\n', ["extended/testnet/10002"]
    else:
        shared = tmp_path / "out" / "day-pnl-extended-testnet.json"
        shared.parent.mkdir()
        shared.write_bytes(b'{"venue": "extended", "network": "testnet", "day": 1, "pnl": -1}')
        own = default_day_pnl_path("extended", "testnet", "10001")  # XDG_STATE_HOME: lock_dir
        setting, named = "", [str(own), "rename"]

    async def main() -> tuple[str, int]:
        h = await make_emulator()  # stands in for testnet: base_url keeps it on loopback
        try:
            text = session_toml(h.base_url).replace('network = "local"', 'network = "testnet"')
            text = _with_day_limit(text).replace("[session]\n", f"[session]\n{setting}")
            return await _refused_start(h, text, tmp_path / "never.mmlog")
        finally:
            await h.close()

    message, rest_calls = asyncio.run(main())
    assert "extended/testnet/10001" in message
    assert all(name in message for name in named), message
    assert rest_calls == 0
    assert not (tmp_path / "never.mmlog").exists()


def test_a_day_pnl_file_that_cannot_be_saved_is_reported_once_until_it_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The runner saves on every timer tick where the PnL moved (ten a second): a file that
    cannot be written must not flood the log with the same error, yet a new error and the
    recovery are said."""
    from types import SimpleNamespace

    from mmcore.config import parse_config as parse
    from mmcore.risk_limits import LossCarry

    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the directory should be")
    store = DayPnlFile(blocker / "day.json", "extended", "testnet", "10001")
    config = parse('[session]\nvenue = "extended"\nmarkets = ["BTC-USD"]\n'
                   '[strategy]\nname = "simple"\n[risk]\nmax_position_lots = 1\n')
    runner = LiveRunner(None, config, None, tmp_path / "x.mmlog",  # type: ignore[arg-type]
                        clock=time.time_ns, handle_signals=False, day_pnl=store)
    pnl = iter(range(-1, -100, -1))
    risk = SimpleNamespace(loss_carry=lambda: LossCarry(20_000, next(pnl) * USD))
    runner.engine = SimpleNamespace(risk=risk, instruments={})  # type: ignore[assignment]
    with caplog.at_level("WARNING", logger="mmcore.live"):
        for _ in range(20):
            runner._save_day_pnl()
        store.path = tmp_path / "day.json"  # the disk is writable again
        runner._save_day_pnl()
    said = [r.getMessage() for r in caplog.records]
    assert len([m for m in said if "cannot save the day PnL" in m]) == 1, said
    assert any("saved again" in m for m in said)
    assert store.load() is not None
