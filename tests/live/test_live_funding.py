"""Funding end to end: live runner, real adapter and x10 SDK, the Extended emulator on 127.0.0.1
settling funding every second.

Extended pays funding every hour and no stream carries the payments; they reached neither the
ledger's PnL nor the risk gate's loss limits, which count funding. Now the adapter reads them
from ``/user/funding/history`` at every reconcile. A long of 0.001 BTC held across a settlement
at a 1 % rate pays 0.60 USD: one ``FundingPayment`` in the ledger (read again at every later
reconcile, counted once), in its PnL's funding part and total, and the hourly loss limit of
0.30 USD trips on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from adapters.emulator.random_walk import RandomWalkParams
from adapters.extended.emulator import ExtendedEmulatorHandle
from adapters.sim import SimConfig
from mmcore.events import BUY, SELL, FundingPayment, FundingRate, RiskEvent, Trade
from mmcore.live import LiveRunner
from mmcore.log import open_log

SYM = "BTC-USD"
RATE_PPB = 10_000_000  # 1 % per interval
PAID = -600_000_000  # 0.001 BTC * 60000 USD * 1 %, paid by the long
MARK_X2 = 120_000


class Seen(msgspec.Struct):
    position: int
    venue_payments: list[int]
    ledger_funding: int
    parts_funding: int
    parts_total: int
    total_pnl: int
    payments_folded: int
    reads_after: int
    logged: list[int]  # the amounts of the FundingPayment records in the log
    halts: list[str]  # the risk codes logged after the payment, in order
    halts_before: list[str]  # and before it


async def _session(
    log_path: Path,
    make_emulator: Callable[..., Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
) -> Seen:
    walk = RandomWalkParams(mid_ticks=60_000, move_prob=0.0, trade_prob=0.0,
                            funding_every_steps=0)
    h = await make_emulator(7, walk=walk, sim_config=SimConfig(funding_interval_s=1))
    try:
        account = h.account()
        text = (
            session_toml(h.base_url)
            .replace("reconcile_interval_s = 0\n", "reconcile_interval_s = 0.2\n")
            .replace("[risk]\n", "[risk]\nmax_loss_hour_usd = 0.3\n")
        )
        assert "reconcile_interval_s = 0.2" in text and "max_loss_hour_usd = 0.3" in text
        reads: list[int] = []

        def bids() -> list[str]:
            return [o.client_id for o in account.open_orders(SYM) if o.side == BUY]

        async def act(runner: LiveRunner) -> None:
            await wait_until(lambda: len(bids()) == 1 and runner.engine is not None
                             and all(o.ts_acked for o in
                                     runner.engine.ledger.open_orders(SYM).values()),
                             "an acknowledged bid")
            engine = runner.engine
            assert engine is not None
            order = account.by_client[bids()[0]]
            h.exchange.inject(Trade(SYM, 0, 0, order.price - 3, order.size, SELL))
            await wait_until(lambda: engine.ledger.position(SYM) == order.size, "the long")
            h.exchange.inject(FundingRate(SYM, 0, 0, RATE_PPB))
            await wait_until(lambda: bool(account.funding), "a settlement at the venue")
            h.exchange.inject(FundingRate(SYM, 0, 0, 0))  # no further payment
            await wait_until(lambda: engine.ledger.pos(SYM).funding != 0, "the payment")
            stats = runner.adapter.statistics  # type: ignore[attr-defined]
            polls = stats().funding_polls
            await wait_until(lambda: stats().funding_polls >= polls + 3, "three more reads")
            reads.append(stats().funding_polls - polls)
            await wait_until(lambda: engine.risk.halted, "the hourly loss limit")

        runner = await live_session(h, text, log_path, act)
        engine = runner.engine
        assert engine is not None
        ledger = engine.ledger
        parts = ledger.pnl.parts(SYM, MARK_X2)
        logged: list[int] = []
        before: list[str] = []
        after: list[str] = []
        for r in open_log(str(log_path), repair=False):
            if type(r) is FundingPayment:
                logged.append(r.amount)
            elif type(r) is RiskEvent:
                (after if logged else before).append(r.code)
        return Seen(
            position=ledger.position(SYM),
            venue_payments=[f.amount for f in account.funding],
            ledger_funding=ledger.pos(SYM).funding,
            parts_funding=parts.funding,
            parts_total=parts.total,
            total_pnl=ledger.total_pnl(SYM, MARK_X2),
            payments_folded=ledger.pnl.statistics().funding_payments,
            reads_after=reads[0],
            logged=logged,
            halts=after,
            halts_before=before,
        )
    finally:
        await h.close()


def test_a_funding_payment_reaches_the_ledger_once_and_counts_toward_the_loss_limit(
    tmp_path: Path,
    make_emulator: Callable[..., Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    seen = asyncio.run(
        _session(tmp_path / "funding.mmlog", make_emulator, session_toml, live_session,
                 wait_until)
    )
    # one settlement, unless the host was too slow to set the rate back to 0 within a second
    assert seen.venue_payments[:1] == [PAID] and set(seen.venue_payments) == {PAID}, seen
    assert seen.position > 0, seen
    # read again at every later reconcile: each payment counted once
    assert seen.logged == seen.venue_payments, seen
    assert seen.reads_after >= 3 and seen.payments_folded == len(seen.venue_payments), seen
    paid = sum(seen.venue_payments)
    assert seen.ledger_funding == seen.parts_funding == paid, seen
    # bought at the bid below the mid, no fee: the position alone made a little
    assert seen.parts_total == seen.total_pnl and 0 < seen.total_pnl - paid < 10_000_000, seen
    assert "loss_limit_hour" not in seen.halts_before, seen
    assert "loss_limit_hour" in seen.halts, seen
