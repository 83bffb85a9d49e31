"""``mm run --dry-run``: market data from the (emulated) venue, acks and fills from the simulated
venue, no credentials and no order ever sent to the venue."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from adapters.extended.emulator import ExtendedEmulatorHandle
from mmcore.events import BUY, SELL, BookSnapshot, Fill, OrderAccepted, Trade
from mmcore.log import open_log
from replay.verify import verify_log

SYM = "BTC-USD"


def env_without_credentials() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EXTENDED_")}


async def trade_through_both_sides(h: ExtendedEmulatorHandle) -> None:
    """Public trades far through any bid and any ask of ours, alternately, until canceled."""
    side = SELL
    while True:
        price = 59_900 if side == SELL else 60_100
        h.exchange.inject(Trade(SYM, 0, 0, price, 1_000, side))
        side = BUY if side == SELL else SELL
        await asyncio.sleep(0.25)


def test_dry_run_takes_market_data_from_the_venue_and_fills_from_the_simulated_venue(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    write_config: Callable[..., Path],
    mm_command: Callable[..., list[str]],
) -> None:
    log_path = tmp_path / "dry.mmlog"

    async def main() -> tuple[int, str, int]:
        h = await make_emulator()
        trades = asyncio.create_task(trade_through_both_sides(h))
        try:
            args = ["run", "--config", str(write_config(h.base_url)), "--dry-run"]
            args += ["--duration", "5", "--out", str(log_path)]
            proc = await asyncio.create_subprocess_exec(
                *mm_command(*args),
                env=env_without_credentials(),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 40.0)
            orders_at_venue = len(h.account().orders)
        finally:
            trades.cancel()
            await h.close()
        assert proc.returncode is not None
        return proc.returncode, out.decode(), orders_at_venue

    code, out, orders_at_venue = asyncio.run(main())
    assert code == 0, out
    assert orders_at_venue == 0  # nothing was sent to the venue
    reader = open_log(log_path, repair=False)
    assert reader.header.meta["mode"] == "dry-run"
    # the config names no funding interval: the venue's own (hourly) is used, and recorded
    assert reader.header.config["sim"]["funding_interval_s"] == 3600
    records = list(reader)
    prefix = f"mm{reader.header.meta['client_id_prefix']}-"
    acks = [r for r in records if type(r) is OrderAccepted]
    fills = [r for r in records if type(r) is Fill]
    assert acks and all(a.client_id.startswith(prefix) for a in acks)
    assert fills and {f.side for f in fills} == {BUY, SELL}
    assert all(f.maker for f in fills)
    assert any(type(r) is BookSnapshot for r in records)
    assert {r.price for r in records if type(r) is Trade} >= {59_900, 60_100}
    verdict = verify_log(log_path)
    assert verdict.ok, verdict.divergence.describe() if verdict.divergence else verdict
