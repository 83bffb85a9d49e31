"""Orders this session did not place, end to end over loopback: a session cancels its own orders
and stale ones of earlier sessions, never orders on markets it does not trade, and, with
``cancel_unknown_orders = false``, never orders someone else placed on its markets. After a clean
stop the venue's dead man's switch is off, so it cannot cancel orders placed by hand later."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from adapters.extended import ExtendedAdapter
from adapters.extended.emulator import ExtendedEmulatorHandle, serve
from mmcore.commands import Place
from mmcore.events import BUY, SELL
from mmcore.live import LiveRunner

STALE = "mm1a2b3c-7"  # an earlier live session's id (base 36 prefix, counter)


async def _place_by_hand(h: ExtendedEmulatorHandle, orders: list[tuple[str, str, int]]) -> None:
    """Orders ``(market, external id, side)`` placed through another client of the same account,
    far from the touch so that they rest untouched for the whole test."""
    other = ExtendedAdapter(
        h.adapter_config(dead_man_switch_s=0, cancel_unknown_orders=False, reconcile_interval_s=0),
        time.time_ns,
        h.credentials[0].env(),
    )
    insts = {i.symbol: i for i in await other.start(sorted({m for m, _, _ in orders}))}
    try:
        for market, client_id, side in orders:
            inst = insts[market]
            mid = h.exchange.books[market].mid_x2() // 2
            price = mid * 8 // 10 if side == BUY else mid * 12 // 10
            await other.execute(Place(market, time.time_ns(), client_id, side, price,
                                      inst.min_lots))
        working = lambda: {o.client_id for o in h.account().open_orders()}  # noqa: E731
        for _ in range(100):
            if {c for _, c, _ in orders} <= working():
                break
            await asyncio.sleep(0.02)
        assert {c for _, c, _ in orders} <= working()
    finally:
        await other.close()


def _open(h: ExtendedEmulatorHandle) -> set[str]:
    return {o.client_id for o in h.account().open_orders()}


async def _session_that_quotes(
    h: ExtendedEmulatorHandle,
    text: str,
    log_path: Path,
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
    gone: str,
) -> set[str]:
    """Run a session until it has quotes working and the order ``gone`` is canceled (the
    venue takes a cancel a moment after the call); returns what worked at the venue then."""
    seen: set[str] = set()

    async def act(runner: LiveRunner) -> None:
        await wait_until(
            lambda: any(c.startswith("mm" + runner.prefix) for c in _open(h))
            and gone not in _open(h),
            f"the session's quotes working and {gone} canceled",
        )
        seen.update(_open(h))

    await live_session(h, text, log_path, act)
    return seen


def _with_orders_by_hand(
    tmp_path: Path,
    by_hand: list[tuple[str, str, int]],
    cancel_unknown: bool,
    gone: str,
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
) -> tuple[set[str], set[str]]:
    """Orders ``by_hand`` placed, then a session run until it quotes and ``gone`` is canceled:
    what worked at the venue then, and after the session stopped."""

    async def main() -> tuple[set[str], set[str]]:
        h = await serve(seed=3, tick_s=0.02)
        try:
            await _place_by_hand(h, by_hand)
            setting = "true" if cancel_unknown else "false"
            text = session_toml(h.base_url, f"cancel_unknown_orders = {setting}")
            during = await _session_that_quotes(h, text, tmp_path / "s.mmlog", live_session,
                                                wait_until, gone)
            return during, _open(h)
        finally:
            await h.close()

    return asyncio.run(main())


def test_without_cancel_unknown_orders_only_our_orders_and_stale_ones_of_ours_are_canceled(
    tmp_path: Path,
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    by_hand = [("BTC-USD", "manual-btc-1", BUY), ("BTC-USD", STALE, SELL),
               ("ETH-USD", "manual-eth-1", SELL)]
    during, after = _with_orders_by_hand(tmp_path, by_hand, False, STALE, session_toml,
                                         live_session, wait_until)
    # the session's own start-up and its reconcile canceled the stale order of an earlier
    # session of ours; the order placed by hand on its market worked beside its quotes
    assert STALE not in during
    assert {"manual-btc-1", "manual-eth-1"} <= during
    # the shutdown's cancel-all took its quotes only
    assert after == {"manual-btc-1", "manual-eth-1"}


def test_with_cancel_unknown_orders_the_sessions_markets_are_cleared_but_no_other_market(
    tmp_path: Path,
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    by_hand = [("BTC-USD", "manual-btc-1", BUY), ("ETH-USD", "manual-eth-1", SELL)]
    during, after = _with_orders_by_hand(tmp_path, by_hand, True, "manual-btc-1", session_toml,
                                         live_session, wait_until)
    assert "manual-btc-1" not in during  # the session's market is its own
    assert "manual-eth-1" in during
    assert after == {"manual-eth-1"}  # the shutdown's cancel-all left the other market alone


def test_a_clean_stop_switches_the_dead_mans_switch_off(
    tmp_path: Path,
    session_toml: Callable[..., str],
    live_session: Callable[..., Awaitable[LiveRunner]],
    wait_until: Callable[..., Awaitable[None]],
) -> None:
    async def main() -> tuple[bool, bool, set[str]]:
        h = await serve(seed=3, tick_s=0.02)
        try:
            text = session_toml(h.base_url).replace("dead_man_switch_s = 0",
                                                    "dead_man_switch_s = 30")
            armed_during = False

            async def act(runner: LiveRunner) -> None:
                nonlocal armed_during
                await wait_until(lambda: bool(_open(h)), "the session's quotes working")
                armed_during = h.account().dead_man.armed

            await live_session(h, text, tmp_path / "s.mmlog", act)
            return armed_during, h.account().dead_man.armed, _open(h)
        finally:
            await h.close()

    armed_during, armed_after, left = asyncio.run(main())
    assert armed_during
    assert left == set()
    assert not armed_after


def test_the_dead_mans_switch_stays_armed_when_an_order_of_ours_may_still_work() -> None:
    async def main() -> tuple[bool, set[str]]:
        h = await serve(seed=3, tick_s=0.02)
        try:
            adapter = ExtendedAdapter(
                h.adapter_config(dead_man_switch_s=30, reconcile_interval_s=0), time.time_ns,
                h.credentials[0].env(),
            )
            inst = (await adapter.start(["BTC-USD"]))[0]
            mid = h.exchange.books["BTC-USD"].mid_x2() // 2
            await adapter.execute(Place("BTC-USD", time.time_ns(), "mmq1-1", BUY,
                                        mid * 9 // 10, inst.min_lots))
            await adapter.close()  # no shutdown canceled it: the switch is the last safety
            return h.account().dead_man.armed, _open(h)
        finally:
            await h.close()

    armed, left = asyncio.run(main())
    assert left == {"mmq1-1"}
    assert armed


def test_the_dead_mans_switch_stays_armed_when_a_stale_order_of_ours_could_not_be_canceled(
) -> None:
    from adapters.extended.errors import ExtendedUnavailableError
    from mmcore.commands import CancelAll

    async def main() -> tuple[bool, set[str]]:
        h = await serve(seed=3, tick_s=0.02)
        try:
            await _place_by_hand(h, [("BTC-USD", STALE, SELL)])
            adapter = ExtendedAdapter(
                h.adapter_config(dead_man_switch_s=30, cancel_unknown_orders=False,
                                 reconcile_interval_s=0),
                time.time_ns, h.credentials[0].env(),
            )

            async def unreachable(venue_id: int, paid: bool = True) -> None:
                raise ExtendedUnavailableError(f"DELETE order {venue_id}: gave up")

            adapter.rest.cancel_id = unreachable  # type: ignore[method-assign]
            await adapter.start(["BTC-USD"])
            await adapter.reconcile()  # its cancel of the stale order fails
            await adapter.execute(CancelAll("", time.time_ns(), "shutdown"))  # ours only
            await adapter.close()
            return h.account().dead_man.armed, _open(h)
        finally:
            await h.close()

    armed, left = asyncio.run(main())
    assert left == {STALE}
    assert armed  # the switch is what will still cancel it


def test_a_killed_sessions_order_on_another_market_keeps_the_dead_mans_switch_armed() -> None:
    """A session killed before this one left an order on a market this session does not trade
    (so it never cancels it): only the venue's dead man's switch still guards it. A clean
    close of this session used to switch it off, as its own orders were all gone, and the
    order rested unguarded. An order placed by hand does not keep the switch armed."""

    async def main(orders: list[tuple[str, str, int]]) -> tuple[bool, set[str]]:
        h = await serve(seed=3, tick_s=0.02)
        try:
            await _place_by_hand(h, orders)
            adapter = ExtendedAdapter(
                h.adapter_config(dead_man_switch_s=30, reconcile_interval_s=0), time.time_ns,
                h.credentials[0].env(),
            )
            await adapter.start(["BTC-USD"])
            await adapter.reconcile()
            await adapter.close()
            return h.account().dead_man.armed, _open(h)
        finally:
            await h.close()

    armed, left = asyncio.run(main([("ETH-USD", STALE, SELL)]))
    assert left == {STALE} and armed
    armed, left = asyncio.run(main([("ETH-USD", "manual-eth-1", SELL)]))
    assert left == {"manual-eth-1"} and not armed
