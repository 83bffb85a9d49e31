"""End to end over loopback: the live runner, the real Extended adapter and x10 SDK, the emulator.

One session serves the whole module (it costs seconds of wall time): an order of an "earlier
session" rests at the emulator; the runner starts, cancels it, quotes both sides; a public sell
trade through our bid fills it; the strategy skews; the runner is stopped and must leave nothing
open. The tests then check what was observed along the way and the recorded log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.extended import ExtendedAdapter, ExtendedConfig
from adapters.extended.emulator import ExtendedEmulatorHandle
from mmcore.cli.run_cmd import venue_table
from mmcore.config import parse_config
from mmcore.events import (
    BUY,
    SELL,
    Balance,
    BookSnapshot,
    ConnectionState,
    Fill,
    OrderCanceled,
    Position,
    Trade,
)
from mmcore.live import LiveResult, LiveRunner
from mmcore.log import open_log
from mmcore.records import is_output
from mmcore.session_control import SESSION_STREAM, STOPPING
from replay.session import build_engine
from replay.verify import verify_log

SYM = "BTC-USD"
MID = 60_000


class Observed(msgspec.Struct):
    """What the module's session saw, for the tests to check."""

    stale_status: str
    resting_before: list[tuple[str, int, int]]
    quotes_before: tuple[int, int]
    quotes_after: tuple[int, int]
    ledger_position: int
    ledger_fills: int
    result: LiveResult
    open_at_end: list[str]
    secrets: list[str]


def _quotes(h: ExtendedEmulatorHandle) -> list[tuple[str, int, int]]:
    """Our open orders at the emulator as ``(client_id, side, price)``, excluding the stale one."""
    return sorted(
        (o.client_id, o.side, o.price)
        for o in h.account().open_orders(SYM)
        if o.client_id != "old-1"
    )


def _best(quotes: list[tuple[str, int, int]]) -> tuple[int, int]:
    bid = max((p for _, side, p in quotes if side == BUY), default=0)
    ask = min((p for _, side, p in quotes if side == SELL), default=0)
    return bid, ask


async def _session(
    log_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    wait_until: Callable[..., Awaitable[None]],
) -> Observed:
    h = await make_emulator()
    try:
        account = h.account()
        stale = account.new_order("old-1", SYM, BUY, MID - 50, 100, True, False, "GTC", 0)
        h.exchange.place(account, stale)
        config = parse_config(session_toml(h.base_url))
        venue = venue_table(config, "test", ExtendedConfig)
        adapter = ExtendedAdapter(venue, time.time_ns, h.credentials[0].env(venue))
        runner = LiveRunner(
            adapter,
            config,
            build_engine,
            log_path,
            clock=time.time_ns,
            handle_signals=False,
            shutdown_timeout_s=5.0,
        )
        task = asyncio.create_task(runner.run())

        def quoting() -> bool:
            if task.done():
                return True
            engine = runner.engine
            if engine is None:
                return False
            strategy: Any = engine.strategies[SYM]
            quotes = _quotes(h)
            return (
                strategy.statistics().mode == "quoting"
                and sorted(side for _, side, _ in quotes) == [SELL, BUY]
                and sorted(engine.ledger.orders) == sorted(cid for cid, _, _ in quotes)
            )

        await wait_until(quoting, "two-sided quotes from the warm strategy")
        if task.done():
            task.result()  # the runner died: show why
        assert runner.engine is not None
        ledger = runner.engine.ledger
        before = _quotes(h)
        bid, ask = _best(before)
        h.exchange.inject(Trade(SYM, 0, 0, bid - 3, 10_000, SELL))  # a sell through our bid

        def skewed() -> bool:
            new_bid, new_ask = _best(_quotes(h))
            return ledger.position(SYM) > 0 and 0 < new_bid < bid and 0 < new_ask < ask

        await wait_until(skewed, "the requote after the fill")
        after = _best(_quotes(h))
        position = ledger.position(SYM)
        fills = ledger.statistics().fills
        runner.request_stop("test over")
        result = await asyncio.wait_for(task, 15)
        return Observed(
            stale_status=account.by_client["old-1"].status,
            resting_before=before,
            quotes_before=(bid, ask),
            quotes_after=after,
            ledger_position=position,
            ledger_fills=fills,
            result=result,
            open_at_end=sorted(o.client_id for o in account.open_orders()),
            secrets=[h.credentials[0].api_key, h.credentials[0].stark_private_key[2:]],
        )
    finally:
        await h.close()


@pytest.fixture(scope="module")
def observed(
    tmp_path_factory: pytest.TempPathFactory,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    wait_until: Callable[..., Awaitable[None]],
) -> Observed:
    path = tmp_path_factory.mktemp("live") / "live.mmlog"
    return asyncio.run(_session(path, make_emulator, session_toml, wait_until))


def test_quotes_are_placed_on_both_sides_and_rest_in_the_emulator(observed: Observed) -> None:
    sides = [side for _, side, _ in observed.resting_before]
    assert sorted(sides) == [SELL, BUY]
    bid, ask = observed.quotes_before
    assert bid < MID < ask
    assert (bid, ask) == (MID - 6, MID + 6)  # linear model: 1 bps of 60000 each side


def test_client_ids_carry_the_per_session_prefix(observed: Observed) -> None:
    prefix = observed.result.client_id_prefix
    assert prefix and prefix.isalnum()
    assert all(cid.startswith(f"mm{prefix}-") for cid, _, _ in observed.resting_before)


def test_stale_orders_of_an_earlier_session_are_canceled_at_start_up(observed: Observed) -> None:
    assert observed.stale_status == "CANCELLED"
    records = list(open_log(observed.result.log_path, repair=False))
    assert not any(getattr(r, "client_id", "") == "old-1" for r in records)


def test_a_fill_reaches_the_ledger_and_the_quotes_skew_down_after_a_buy(
    observed: Observed,
) -> None:
    assert observed.ledger_position == 100  # the whole bid: 0.001 BTC in 0.00001 lots
    assert observed.ledger_fills == 1 and observed.result.fills == 1
    (bid0, ask0), (bid1, ask1) = observed.quotes_before, observed.quotes_after
    assert bid1 < bid0 and ask1 < ask0


def test_the_session_stops_with_every_order_canceled_at_the_emulator(observed: Observed) -> None:
    assert observed.open_at_end == []
    assert observed.result.open_orders == []
    assert observed.result.stop_reason == "test over"
    records = list(open_log(observed.result.log_path, repair=False))
    stops = [
        i
        for i, r in enumerate(records)
        if type(r) is ConnectionState and r.stream == SESSION_STREAM and r.state == STOPPING
    ]
    assert len(stops) == 1
    assert type(records[stops[0] + 1]).__name__ == "CancelAll"  # the engine's answer, recorded
    assert any(type(r) is OrderCanceled for r in records[stops[0] :])


def test_the_recorded_log_of_the_live_session_replays_with_zero_divergences(
    observed: Observed,
) -> None:
    verdict = verify_log(observed.result.log_path)
    assert verdict.ok, verdict.divergence.describe() if verdict.divergence else verdict
    assert verdict.outputs_recorded > 4 and verdict.inbound == observed.result.events


def test_reconciled_account_events_come_before_any_market_data(observed: Observed) -> None:
    inbound = [r for r in open_log(observed.result.log_path, repair=False) if not is_output(r)]
    first_book = next(i for i, r in enumerate(inbound) if type(r) is BookSnapshot)
    head = {type(r) for r in inbound[:first_book]}
    assert {Position, Balance} <= head
    assert any(type(r) is Fill for r in inbound)


def test_the_log_header_records_the_prefixed_config_and_the_venues_instruments(
    observed: Observed,
) -> None:
    header = open_log(observed.result.log_path, repair=False).header
    prefix = observed.result.client_id_prefix
    assert header.config["orders"]["client_id_prefix"] == f"mm{prefix}"
    assert header.config["risk"]["client_id_prefix"] == f"rk{prefix}"
    assert [i.symbol for i in header.instruments] == [SYM]
    assert header.instruments[0].tick_size == "1"
    assert header.meta["mode"] == "live" and header.meta["client_id_prefix"] == prefix
    assert header.config["venue"]["base_url"].startswith("http://127.0.0.1:")


def test_credentials_never_reach_the_log(observed: Observed) -> None:
    raw = Path(observed.result.log_path).read_bytes()
    for secret in observed.secrets:
        assert secret.encode() not in raw
