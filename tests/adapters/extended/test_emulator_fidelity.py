"""The Extended emulator stays faithful where a reviewer found it was not: an uncrossed published
book, engine refusals of orders it cannot match, the market order price band, per-market leverage,
one id per public trade, and a depth=1 stream that keeps talking in a quiet market."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from test_extended_emulator import make_client
from test_extended_emulator import make_order as signed_order
from x10.clients.rest.rest_api_client import RestApiClient
from x10.errors import ApiError
from x10.models.market import MarketModel
from x10.models.order import (
    NewOrderModel,
    OrderSide,
    OrderStatus,
    OrderStatusReason,
    OrderType,
    SelfTradeProtectionLevel,
    TimeInForce,
)

from adapters.emulator.clock import ManualClock
from adapters.emulator.random_walk import RandomWalkParams
from adapters.extended.emulator import ExtendedEmulatorHandle, serve
from adapters.extended.emulator_stream import BBO_INTERVAL_NS
from adapters.extended.emulator_wire import CROSSES_OTHER_ACCOUNT, CROSSES_OWN_ORDER
from adapters.extended.rest import parse_api_error
from mmcore.events import BUY, BookSnapshot, Trade
from mmcore.instrument import Instrument

START = 1_700_000_000_000_000_000
SEC = 1_000_000_000
WS = "/stream.extended.exchange/v1"
UA = {"User-Agent": "t"}
# a walk whose own updates never come due: the tests drive the market by hand
QUIET = RandomWalkParams(mid_ticks=60_000, step_ms=3_600_000, trade_prob=0.0, move_prob=0.0)


def make_instrument() -> Instrument:
    return Instrument(
        venue="extended",
        symbol="BTC-USD",
        tick_size="1",
        lot_size="0.00001",
        min_size="0.0001",
        maker_fee="0.0001",
        taker_fee="0.00025",
    )


def make_order(
    client: RestApiClient,
    market: MarketModel,
    clock: ManualClock,
    *,
    ext: str,
    price: str,
    qty: str = "0.001",
    side: OrderSide = OrderSide.BUY,
    post_only: bool = False,
    kind: OrderType = OrderType.LIMIT,
    stp: SelfTradeProtectionLevel = SelfTradeProtectionLevel.ACCOUNT,
) -> NewOrderModel:
    """``signed_order`` with this file's defaults: a taker order unless ``post_only``, the fee
    cap of its kind, IOC for a MARKET order."""
    return signed_order(
        client, market, clock, ext=ext, qty=qty, price=price, side=side,
        fee="0.0001" if post_only else "0.00025", post_only=post_only,
        tif=TimeInForce.IOC if kind == OrderType.MARKET else TimeInForce.GTT, stp=stp, kind=kind,
    )


Scenario = Callable[
    [ExtendedEmulatorHandle, list[RestApiClient], MarketModel, ManualClock], Awaitable[None]
]


def run(scenario: Scenario, accounts: int = 1) -> None:
    async def main() -> None:
        clock = ManualClock(START)
        h = await serve(
            clock=clock,
            seed=11,
            instruments=[make_instrument()],
            accounts=accounts,
            walk=QUIET,
            tick_s=3600,  # no background steps: the tests step by hand
        )
        clients = [make_client(h, account=i) for i in range(accounts)]
        try:
            markets = await clients[0].info.get_markets(market_names=["BTC-USD"])
            assert markets.data is not None
            # the feed: 1 BTC at each of 59,990 / 59,980 and 60,010 / 60,020 (mark 60,000)
            h.exchange.inject(
                BookSnapshot(
                    "BTC-USD",
                    0,
                    0,
                    0,
                    (59_990, 100_000, 59_980, 100_000),
                    (60_010, 100_000, 60_020, 100_000),
                )
            )
            await h.step()
            await scenario(h, clients, markets.data[0], clock)
        finally:
            for c in clients:
                await c.close()
            await h.close()

    asyncio.run(main())


async def frames(ws: Any, timeout: float = 0.3) -> list[Any]:
    out: list[Any] = []
    while True:
        try:
            msg = await ws.receive(timeout=timeout)
        except asyncio.TimeoutError:
            return out
        assert msg.type == aiohttp.WSMsgType.TEXT
        out.append(json.loads(msg.data))


async def top(client: RestApiClient) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    ob = (await client.info.get_orderbook_snapshot(market_name="BTC-USD")).data
    assert ob is not None
    return ob.bid[0].price, ob.bid[0].qty, ob.ask[0].price, ob.ask[0].qty


async def status(client: RestApiClient, ext: str) -> tuple[OrderStatus, OrderStatusReason | None]:
    res = await client.account.get_order_by_external_id(ext)
    assert res.data is not None
    return res.data[0].status, res.data[0].status_reason


def test_a_gtc_buy_that_takes_the_ask_and_rests_at_its_price_never_locks_the_book() -> None:
    """Buying 2 BTC at the 1 BTC best ask rests 1 BTC at that price: REST and WS (a fresh
    snapshot, and the delta on an open socket) show the bought ask gone, not a locked book."""

    async def scenario(h: Any, cl: list[RestApiClient], market: MarketModel, clock: Any) -> None:
        async with aiohttp.ClientSession() as s:
            url = f"ws://127.0.0.1:{h.port}{WS}/orderbooks/BTC-USD"
            ws = await s.ws_connect(url, headers=UA)
            await frames(ws)
            await cl[0].orders.place_order(
                make_order(cl[0], market, clock, ext="big", price="60010", qty="2")
            )
            assert h.account().by_client["big"].filled == 100_000
            assert await top(cl[0]) == (Decimal(60_010), Decimal(1), Decimal(60_020), Decimal(1))
            deltas = [f for f in await frames(ws) if f["type"] == "DELTA"]
            levels = [(lv["p"], lv["c"]) for f in deltas for lv in f["data"]["a"]]
            assert levels[-1] == ("60010", "0.00000")
            fresh = await s.ws_connect(url, headers=UA)
            snap = (await frames(fresh))[0]
            assert snap["type"] == "SNAPSHOT"
            assert (snap["data"]["b"][0]["p"], snap["data"]["a"][0]["p"]) == ("60010", "60020")
            await ws.close()
            await fresh.close()

    run(scenario)


def test_an_order_crossing_or_locking_another_accounts_resting_order_is_refused() -> None:
    """The per-account matching cannot trade two accounts with each other: such an order is
    refused by the engine (REJECTED on the stream, after the REST OK), post-only or not."""

    async def scenario(h: Any, cl: list[RestApiClient], market: MarketModel, clock: Any) -> None:
        a, b = cl
        await a.orders.place_order(
            make_order(
                a, market, clock, ext="a-ask", side=OrderSide.SELL, price="60000", post_only=True
            )
        )
        for ext, price in (("cross", "60005"), ("lock", "60000")):
            placed = await b.orders.place_order(make_order(b, market, clock, ext=ext, price=price))
            assert placed.data is not None  # accepted at REST, refused by the engine
            assert await status(b, ext) == (OrderStatus.REJECTED, OrderStatusReason.UNKNOWN)
            assert h.account(1).by_client[ext].reason == CROSSES_OTHER_ACCOUNT
        await b.orders.place_order(
            make_order(b, market, clock, ext="po", price="60000", post_only=True)
        )
        assert await status(b, "po") == (OrderStatus.REJECTED, OrderStatusReason.POST_ONLY_FAILED)
        await b.orders.place_order(make_order(b, market, clock, ext="under", price="59999"))
        assert (await status(b, "under"))[0] == OrderStatus.NEW
        assert h.account(0).by_client["a-ask"].filled == 0
        assert await top(a) == (
            Decimal(59_999),
            Decimal("0.001"),
            Decimal(60_000),
            Decimal("0.001"),
        )

    run(scenario, accounts=2)


def test_with_self_trade_protection_disabled_crossing_an_own_order_is_refused() -> None:
    async def scenario(h: Any, cl: list[RestApiClient], market: MarketModel, clock: Any) -> None:
        c = cl[0]
        await c.orders.place_order(
            make_order(
                c, market, clock, ext="ask", side=OrderSide.SELL, price="60000", post_only=True
            )
        )
        off = SelfTradeProtectionLevel.DISABLED
        await c.orders.place_order(make_order(c, market, clock, ext="off", price="60005", stp=off))
        assert await status(c, "off") == (OrderStatus.REJECTED, OrderStatusReason.UNKNOWN)
        assert h.account().by_client["off"].reason == CROSSES_OWN_ORDER
        await c.orders.place_order(make_order(c, market, clock, ext="on", price="60005"))
        assert await status(c, "on") == (
            OrderStatus.REJECTED,
            OrderStatusReason.SELF_TRADE_PROTECTION,
        )
        bid, _, ask, _ = await top(c)
        assert (bid, ask) == (Decimal(59_990), Decimal(60_000))

    run(scenario)


@pytest.mark.parametrize(
    ("side", "price", "code"),
    [
        (OrderSide.BUY, "63001", "1141"),  # above mark * 1.05
        (OrderSide.SELL, "56999", "1141"),  # below mark * 0.95
        (OrderSide.BUY, "63000", ""),  # at the edge of the band: taken
    ],
)
def test_a_market_order_must_be_within_5_percent_of_mark(
    side: OrderSide, price: str, code: str
) -> None:
    """extended.md §6 [DOC]: market orders within ±5% of mark; the LIMIT band's code, 1141."""

    async def scenario(h: Any, cl: list[RestApiClient], market: MarketModel, clock: Any) -> None:
        assert h.exchange.valuation_marks()["BTC-USD"] == 60_000
        order = make_order(
            cl[0], market, clock, ext="m", price=price, side=side, kind=OrderType.MARKET
        )
        if not code:
            await cl[0].orders.place_order(order)
            assert await status(cl[0], "m") == (OrderStatus.FILLED, OrderStatusReason.NONE)
            return
        with pytest.raises(ApiError) as err:
            await cl[0].orders.place_order(order)
        assert parse_api_error(str(err.value))[1] == code
        assert "m" not in h.account().by_client

    run(scenario)


def test_leverage_is_set_per_market_within_one_and_the_markets_max() -> None:
    async def main() -> None:
        h = await serve(clock=ManualClock(START), seed=11, tick_s=3600)  # BTC-USD and ETH-USD
        client = make_client(h)
        try:
            await client.account.update_leverage(market_name="BTC-USD", leverage=Decimal(5))
            got = (await client.account.get_leverage(market_names=["BTC-USD", "ETH-USD"])).data
            assert got is not None
            assert [(x.market, x.leverage) for x in got] == [("BTC-USD", 5), ("ETH-USD", 10)]
            for value, code in (("51", "1050"), ("0", "1049"), ("2.5", "1053")):
                with pytest.raises(ApiError) as err:
                    await client.account.update_leverage("ETH-USD", Decimal(value))
                assert parse_api_error(str(err.value))[1] == code
            await client.account.update_leverage("ETH-USD", Decimal(50))  # maxLeverage itself
            assert h.account().leverages == {"BTC-USD": 5, "ETH-USD": 50}
        finally:
            await client.close()
            await h.close()

    asyncio.run(main())


def test_rest_public_trades_carry_the_ids_the_trades_stream_gave_them() -> None:
    async def scenario(h: Any, cl: Any, market: Any, clock: ManualClock) -> None:
        url = f"{h.base_url}/api/v1/info/markets/BTC-USD/trades"
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"ws://127.0.0.1:{h.port}{WS}/publicTrades/BTC-USD", headers=UA)
            for i in range(55):
                clock.advance(SEC // 10)
                h.exchange.inject(Trade("BTC-USD", 0, 0, 60_000 + i, 100, BUY))
                await h.step()
                if i == 0:
                    first = (await (await s.get(url, headers=UA)).json())["data"]
            rest = (await (await s.get(url, headers=UA)).json())["data"]
            streamed = [t for f in await frames(ws) for t in f["data"]]
            await ws.close()
        assert len(streamed) == 55 and len(rest) == 50
        assert [(t["i"], t["p"]) for t in rest] == [(t["i"], t["p"]) for t in streamed[5:]]
        assert first[0]["i"] == streamed[0]["i"]  # an id never changes as trades arrive

    run(scenario)


def test_a_depth1_stream_repeats_its_snapshot_on_the_emulator_clock_in_a_quiet_market() -> None:
    """extended.md §8 [DOC]: depth=1 is a BBO snapshot every 10 ms; without it a quiet market
    leaves the socket silent past the adapter's stale-stream limit."""

    async def scenario(h: Any, cl: Any, market: Any, clock: ManualClock) -> None:
        async with aiohttp.ClientSession() as s:
            bbo = await s.ws_connect(
                f"ws://127.0.0.1:{h.port}{WS}/orderbooks/BTC-USD?depth=1", headers=UA
            )
            assert [f["seq"] for f in await frames(bbo)] == [1]
            await h.step()  # the clock has not moved: nothing new
            assert await frames(bbo, 0.1) == []
            for _ in range(3):
                clock.advance(BBO_INTERVAL_NS)
                await h.step()
            clock.advance(80 * SEC)  # past the adapter's default stale_after_s (75 s)
            await h.step()
            got = await frames(bbo)
            assert [(f["seq"], f["type"]) for f in got] == [(n, "SNAPSHOT") for n in (2, 3, 4, 5)]
            assert {(f["data"]["b"][0]["p"], f["data"]["a"][0]["p"]) for f in got} == {
                ("59990", "60010")
            }
            await bbo.close()

    run(scenario)
