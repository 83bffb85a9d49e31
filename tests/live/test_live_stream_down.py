"""A live session whose book stream drops pulls its quotes at the venue, then quotes again after
the reconnect's fresh snapshot, end to end with the real SDK against the Extended emulator; the
session replays exactly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from adapters.extended import ExtendedAdapter, ExtendedConfig
from adapters.extended.emulator import ExtendedEmulatorHandle
from mmcore.cli.run_cmd import venue_table
from mmcore.commands import Cancel, CancelAll, Place
from mmcore.config import parse_config
from mmcore.events import BookSnapshot, ConnectionState, book_stream
from mmcore.live import LiveRunner
from mmcore.log import open_log
from replay.session import build_engine
from replay.verify import verify_log

SYM = "BTC-USD"


def test_a_dropped_book_stream_pulls_the_quotes_and_they_return_after_the_resync(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    log_path = tmp_path / "down.mmlog"

    async def main() -> None:
        h = await make_emulator()
        try:
            config = parse_config(session_toml(h.base_url))
            venue = venue_table(config, "test", ExtendedConfig)
            adapter = ExtendedAdapter(venue, time.time_ns, h.credentials[0].env(venue))
            runner = LiveRunner(adapter, config, build_engine, log_path, clock=time.time_ns,
                                handle_signals=False, shutdown_timeout_s=5.0)
            task = asyncio.create_task(runner.run())
            try:
                await wait_until(lambda: len(h.account().open_orders(SYM)) == 2, "two quotes")
                assert await h.faults.drop_connections() >= 1
                # the quotes come back after the reconnect (new client ids)
                first = {o.client_id for o in h.account().open_orders(SYM)}
                await wait_until(
                    lambda: len(h.account().open_orders(SYM)) == 2
                    and not first & {o.client_id for o in h.account().open_orders(SYM)},
                    "new quotes after the resync",
                )
            finally:
                runner.request_stop("test over")
                await asyncio.wait_for(task, 15)
        finally:
            await h.close()

    asyncio.run(main())
    records = list(open_log(log_path, repair=False))
    down = next(
        i for i, r in enumerate(records)
        if type(r) is ConnectionState and r.stream == book_stream(SYM) and r.state == "down"
    )
    snap = next(i for i, r in enumerate(records) if i > down and type(r) is BookSnapshot)
    between = records[down:snap]
    # the engine answered the stream going down by canceling its quotes, and placed nothing
    # until the fresh snapshot
    assert sum(type(r) is Cancel for r in between) == 2
    assert not any(type(r) in (Place, CancelAll) for r in between)
    assert any(type(r) is Place for r in records[snap:])
    verdict = verify_log(log_path)
    assert verdict.ok, verdict.divergence.describe() if verdict.divergence else verdict
