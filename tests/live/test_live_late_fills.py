"""An order's end that overtakes its fills, end to end: live runner, real adapter and x10 SDK,
the Extended emulator on 127.0.0.1.

The venue matches 60 lots of our 100-lot bid and then cancels it (a cancel racing the match),
and its account stream sends the order's CANCELLED update (``filledQty`` 0.0006) before the
TRADE, POSITION and BALANCE of the match (the emulator's ``late_fill_frames`` fault). The risk
gate limits the worst case, the position plus every order of ours filling, to
``max_position_lots``. Told of the cancel before the fill, the engine freed the bid's room and
placed a new 100-lot bid on a position it still thought flat; the 60 lots then landed, and the
venue's worst case was 160 lots against a limit of 150. The adapter now holds the cancel back
until the fill is in (the bid's remaining size keeps counting meanwhile, which covers the fill),
so the new bid is sized on the real position.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from adapters.emulator.account import AccountUpdate, EmulatedAccount
from adapters.extended.emulator import ExtendedEmulatorHandle
from mmcore.events import BUY, SELL, Event, Fill, OrderCanceled, Trade
from mmcore.live import LiveRunner
from mmcore.log import open_log

SYM = "BTC-USD"
LIMIT = 150
"""``[risk] max_position_lots``: above one order (100 lots), below two."""
MATCHED = 60


class WorstCase:
    """An exchange listener: after every change of our account, the venue's worst case (its
    position plus every open order of ours filling), each side."""

    def __init__(self, account: EmulatedAccount) -> None:
        self.account = account
        self.worst = 0

    def on_market(self, ev: Event, old: object) -> None:
        pass

    def on_account(self, account: EmulatedAccount, update: AccountUpdate) -> None:
        if account is not self.account:
            return
        pos = account.positions.get(SYM)
        position = pos.size if pos is not None else 0
        orders = account.open_orders(SYM)
        buys = sum(o.size - o.filled for o in orders if o.side == BUY)
        sells = sum(o.size - o.filled for o in orders if o.side == SELL)
        self.worst = max(self.worst, position + buys, sells - position)


class Seen(msgspec.Struct):
    worst: int
    late_fill_frames: int
    canceled: str
    records: list[str]  # the canceled order's fills and end, in log order
    replacement: int  # the size of the first bid placed after it
    ledger: int
    venue: int


async def _session(
    log_path: Path,
    make_emulator: Callable[..., Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
) -> Seen:
    h = await make_emulator(7)
    try:
        account = h.account()
        monitor = WorstCase(account)
        h.exchange.listeners.append(monitor)
        text = session_toml(h.base_url).replace(
            "[risk]\nmax_position_usd = 1000.0", f"[risk]\nmax_position_lots = {LIMIT}"
        )
        assert f"max_position_lots = {LIMIT}" in text
        canceled: list[str] = []
        placed: set[str] = set()  # client ids at the venue before the cancel

        def bids() -> list[str]:
            return [o.client_id for o in account.open_orders(SYM) if o.side == BUY]

        def ledger(runner: LiveRunner) -> int:
            assert runner.engine is not None
            return runner.engine.ledger.position(SYM)

        async def act(runner: LiveRunner) -> None:
            await wait_until(lambda: len(bids()) == 1 and runner.engine is not None
                             and all(o.ts_acked for o in
                                     runner.engine.ledger.open_orders(SYM).values()),
                             "an acknowledged bid")
            order = account.by_client[bids()[0]]
            assert order.size - order.filled == 100
            h.faults.late_fill_frames(1)
            h.exchange.inject(Trade(SYM, 0, 0, order.price - 3, MATCHED, SELL))
            await wait_until(lambda: order.filled == MATCHED, "the match at the venue")
            placed.update(account.by_client)
            h.exchange.cancel(account, order)  # CANCELLED goes out before the match's TRADE
            canceled.append(order.client_id)
            await wait_until(lambda: ledger(runner) == MATCHED, "the fill in the ledger")
            await wait_until(lambda: bool(set(bids()) - placed), "a new bid")

        runner = await live_session(h, text, log_path, act)
        records = [
            f"{type(r).__name__} {r.size if isinstance(r, Fill) else r.reason}"
            for r in open_log(str(log_path), repair=False)
            if isinstance(r, (Fill, OrderCanceled)) and r.client_id == canceled[0]
        ]
        after = [o for o in account.orders.values() if o.side == BUY and o.client_id not in placed]
        pos = account.positions.get(SYM)
        return Seen(
            worst=monitor.worst,
            late_fill_frames=h.faults.statistics().late_fills,
            canceled=canceled[0],
            records=records,
            replacement=after[0].size if after else 0,
            ledger=ledger(runner),
            venue=pos.size if pos is not None else 0,
        )
    finally:
        await h.close()


def test_a_cancel_that_overtakes_its_fill_never_lets_the_position_pass_its_limit(
    tmp_path: Path,
    make_emulator: Callable[..., Awaitable[ExtendedEmulatorHandle]],
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    seen = asyncio.run(
        _session(tmp_path / "late.mmlog", make_emulator, session_toml, live_session, wait_until)
    )
    assert seen.late_fill_frames == 1  # the CANCELLED update came before the TRADE
    assert seen.records == [f"Fill {MATCHED}", "OrderCanceled CANCELLED"], seen
    assert seen.worst <= LIMIT, (
        f"worst case at the venue {seen.worst} lots (position plus our open orders), limit "
        f"{LIMIT}: {seen}"
    )
    assert 0 < seen.replacement <= LIMIT - MATCHED, seen
    assert seen.ledger == seen.venue == MATCHED
