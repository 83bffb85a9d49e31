"""A restart holding a position knows what it cost: end to end with the real Extended adapter
and x10 SDK against the emulator, the venue's entry price (``openPrice``) reaches the ledger
through reconciliation's ``Position`` (its cost and unrealized PnL), the session's own PnL
counts it from its first mark, and the session still replays exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from adapters.extended.emulator import ExtendedEmulatorHandle
from mmcore.events import BUY, SELL, MarkPrice, Position, Trade
from mmcore.live import LiveRunner
from mmcore.log import open_log
from replay.verify import verify_log

SYM = "BTC-USD"
MID = 60_000
UNIT = 10_000  # nanos per tick-lot: tick 1 x lot 0.00001 x 1e9


def test_a_restart_holding_a_position_costs_the_venues_entry_price_and_counts_from_its_mark(
    tmp_path: Path,
    make_emulator: Callable[[], Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    seen: dict[str, Any] = {}

    async def main() -> None:
        h = await make_emulator()
        try:
            async def buy(runner: LiveRunner) -> None:  # the first session: our bid fills
                await wait_until(
                    lambda: sorted(o.side for o in h.account().open_orders(SYM)) == [SELL, BUY],
                    "two-sided quotes",
                )
                bid = max(o.price for o in h.account().open_orders(SYM) if o.side == BUY)
                seen["bid"] = bid
                h.exchange.inject(Trade(SYM, 0, 0, bid - 3, 10_000, SELL))
                assert runner.engine is not None
                ledger = runner.engine.ledger
                await wait_until(lambda: ledger.position(SYM) > 0, "our bid filled")

            await live_session(h, session_toml(h.base_url), tmp_path / "first.mmlog", buy)
            pos = h.account().positions[SYM]
            assert pos.size == 100 and pos.entry_notional == 100 * seen["bid"]
            # a venue's average entry is off the tick grid as often as not: make it half a tick
            # above the fill, which the engine carries exactly (entry_x2)
            pos.entry_notional += 50

            async def look(runner: LiveRunner) -> None:  # the restart: it holds the 100 lots
                def priced() -> bool:
                    engine = runner.engine
                    return engine is not None and engine.ledger.mark(SYM) > 0

                await wait_until(priced, "the restarted session's first mark")
                assert runner.engine is not None
                ledger = runner.engine.ledger
                p = ledger.pos(SYM)
                seen["restart"] = (p.size, p.cost, p.unbased, ledger.mark(SYM))
                seen["unrealized"] = ledger.unrealized(SYM, 2 * MID)
                seen["totals"] = (
                    ledger.total_pnl(SYM, 2 * MID), ledger.pnl.parts(SYM, 2 * MID).total,
                    ledger.position_pnl(SYM, 2 * MID),
                )

            await live_session(h, session_toml(h.base_url), tmp_path / "restart.mmlog", look)
        finally:
            await h.close()

    asyncio.run(main())
    entry_x2 = 2 * seen["bid"] + 1
    size, cost, unbased, mark = seen["restart"]
    assert (size, cost, unbased, mark) == (100, 100 * entry_x2 * UNIT // 2, False, MID)
    # 5.5 ticks below the mark, not 0 as when it was priced at the first mark
    assert seen["unrealized"] == 100 * (2 * MID - entry_x2) * UNIT // 2 > 0
    total, attributed, position_pnl = seen["totals"]
    assert position_pnl == seen["unrealized"]
    # the 5.5 ticks were the first session's PnL: this one counts from its first mark, MID
    assert total == attributed == 0
    records = list(open_log(tmp_path / "restart.mmlog", repair=False))
    positions = [r for r in records if type(r) is Position and r.size]
    assert positions and positions[0].entry_x2 == entry_x2
    first_mark = next(i for i, r in enumerate(records) if type(r) is MarkPrice)
    assert records.index(positions[0]) < first_mark  # priced before any mark came
    verdict = verify_log(tmp_path / "restart.mmlog")
    assert verdict.ok, verdict.divergence.describe() if verdict.divergence else verdict
