"""The Extended emulator speaks the protocol well enough for the unmodified x10 SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from x10.clients.rest.rest_api_client import RestApiClient
from x10.core.stark_account import StarkPerpetualAccount
from x10.errors import ApiError, ApiNotAuthorizedError, ApiRateLimitError
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
from x10.signing.order_object import create_order_object

from adapters.emulator.clock import ManualClock
from adapters.emulator.random_walk import RandomWalkParams
from adapters.extended.emulator import ExtendedEmulatorHandle, serve
from adapters.extended.emulator_orders import max_expiry_ms
from adapters.extended.markets import sdk_config
from adapters.extended.rest import parse_api_error
from mmcore.events import SELL, BookSnapshot, Trade
from mmcore.instrument import Instrument

START = 1_700_000_000_000_000_000
SEC = 1_000_000_000


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


async def make_emulator(clock: ManualClock) -> ExtendedEmulatorHandle:
    return await serve(
        clock=clock,
        seed=11,
        instruments=[make_instrument()],
        walk=RandomWalkParams(mid_ticks=60_000, trade_prob=0.0),
        tick_s=0.02,
    )


def make_client(
    h: ExtendedEmulatorHandle, private_key: str | None = None, account: int = 0
) -> RestApiClient:
    """The SDK's REST client for the emulator's test ``account`` (its own key unless
    ``private_key`` is given: an impostor)."""
    c = h.credentials[account]
    account = StarkPerpetualAccount(
        vault=c.vault,
        private_key=private_key or c.stark_private_key,
        public_key=c.stark_public_key,
        api_key=c.api_key,
    )
    return RestApiClient(sdk_config(h.adapter_config()), account)


def make_order(
    client: RestApiClient,
    market: MarketModel,
    clock: ManualClock,
    *,
    ext: str,
    qty: str = "0.001",
    price: str = "59900",
    side: OrderSide = OrderSide.BUY,
    fee: str = "0.0001",
    post_only: bool = True,
    tif: TimeInForce = TimeInForce.GTT,
    nonce: int = 4242,
    expiry_s: float = 3600,
    stp: SelfTradeProtectionLevel = SelfTradeProtectionLevel.ACCOUNT,
    kind: OrderType = OrderType.LIMIT,
) -> NewOrderModel:
    """An order signed by the SDK itself, as a client of the venue would send it."""
    assert client.stark_account is not None
    return create_order_object(
        account=client.stark_account,
        market=market,
        amount_of_synthetic=Decimal(qty),
        price=Decimal(price),
        side=side,
        starknet_domain=client.config.signing.starknet_domain,
        order_type=kind,
        post_only=post_only,
        expire_time=datetime.fromtimestamp(clock() / 1e9 + expiry_s, tz=timezone.utc),
        order_external_id=ext,
        time_in_force=tif,
        self_trade_protection_level=stp,
        nonce=nonce,
        taker_fee=Decimal(fee),
    )


Scenario = Callable[
    [ExtendedEmulatorHandle, RestApiClient, MarketModel, ManualClock], Awaitable[None]
]


def run(scenario: Scenario) -> None:
    async def main() -> None:
        clock = ManualClock(START)
        h = await make_emulator(clock)
        client = make_client(h)
        try:
            markets = await client.info.get_markets(market_names=["BTC-USD"])
            assert markets.data is not None
            await scenario(h, client, markets.data[0], clock)
        finally:
            await client.close()
            await h.close()

    asyncio.run(main())


def venue_code(exc: BaseException) -> str:
    return parse_api_error(str(exc))[1]


def test_markets_parse_in_the_sdk_with_the_instruments_grid() -> None:
    async def scenario(h: Any, client: RestApiClient, market: MarketModel, clock: Any) -> None:
        tc = market.trading_config
        assert (tc.min_price_change, tc.min_order_size_change, tc.min_order_size) == (
            Decimal("1"),
            Decimal("0.00001"),
            Decimal("0.0001"),
        )
        book = await client.info.get_orderbook_snapshot(market_name="BTC-USD")
        assert book.data is not None and book.data.bid[0].price < book.data.ask[0].price
        fees = await client.account.get_fees(market_names=["BTC-USD"])
        assert fees.data is not None and fees.data[0].maker_fee_rate == Decimal("0.0001")
        info = await client.account.get_account()
        assert info.data is not None and info.data.l2_vault == h.credentials[0].vault

    run(scenario)


def test_a_signed_order_rests_and_shows_in_open_orders_and_by_external_id() -> None:
    async def scenario(
        h: ExtendedEmulatorHandle, client: RestApiClient, market: MarketModel, clock: ManualClock
    ) -> None:
        placed = await client.orders.place_order(make_order(client, market, clock, ext="a-1"))
        assert placed.data is not None and placed.data.external_id == "a-1"
        assert placed.data.id > 2**60  # big ids, as on mainnet
        opens = await client.account.get_open_orders(market_names=["BTC-USD"])
        assert opens.data is not None and [o.external_id for o in opens.data] == ["a-1"]
        by_ext = await client.account.get_order_by_external_id("a-1")
        assert by_ext.data is not None and by_ext.data[0].id == placed.data.id
        assert h.account().open_orders()[0].price == 59_900

    run(scenario)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"qty": "0.00005"}, "1120"),
        ({"qty": "0.001005"}, "1121"),
        ({"price": "59900.5"}, "1124"),
        ({"price": "40000", "side": OrderSide.SELL}, "1141"),
        ({"fee": "0.00005"}, "1128"),
        # extended.md §3 1122 "> max order value": the market's maxLimitOrderValue is 5,000,000
        ({"qty": "100", "price": "59900"}, "1122"),
        # extended.md §6 [DOC]: nonces 1..2^31 (the SDK itself may draw up to 2^32-1)
        ({"nonce": 0}, "1133"),
        ({"nonce": 2**31 + 1}, "1133"),
        # extended.md §6 [DOC]: expiry at most 28 days on testnet (the emulator signs as Sepolia)
        ({"expiry_s": 28 * 86400 + 60}, "1135"),
    ],
)
def test_invalid_orders_are_refused_with_extendeds_error_codes(
    overrides: dict[str, Any], code: str
) -> None:
    async def scenario(h: Any, client: RestApiClient, market: MarketModel, clock: Any) -> None:
        order = make_order(client, market, clock, ext="bad", **overrides)
        with pytest.raises(ApiError) as err:
            await client.orders.place_order(order)
        assert venue_code(err.value) == code

    run(scenario)


def test_a_duplicate_external_id_is_1134_and_creates_no_second_order() -> None:
    async def scenario(
        h: ExtendedEmulatorHandle, client: RestApiClient, market: MarketModel, clock: ManualClock
    ) -> None:
        order = make_order(client, market, clock, ext="dup")
        await client.orders.place_order(order)
        with pytest.raises(ApiError) as err:
            await client.orders.place_order(order)
        assert venue_code(err.value) == "1134"
        assert len(h.account().orders) == 1

    run(scenario)


def test_a_signature_from_the_wrong_key_is_1101() -> None:
    async def scenario(
        h: ExtendedEmulatorHandle, client: RestApiClient, market: MarketModel, clock: ManualClock
    ) -> None:
        impostor = make_client(h, private_key="0x1234567")
        try:
            with pytest.raises(ApiError) as err:
                await impostor.orders.place_order(make_order(impostor, market, clock, ext="x"))
            assert venue_code(err.value) == "1101"
        finally:
            await impostor.close()

    run(scenario)


def test_cancel_by_id_by_external_id_and_mass_cancel_close_orders() -> None:
    async def scenario(
        h: ExtendedEmulatorHandle, client: RestApiClient, market: MarketModel, clock: ManualClock
    ) -> None:
        ids = []
        for i in range(4):
            placed = await client.orders.place_order(
                make_order(client, market, clock, ext=f"c-{i}", price=str(59_900 - i))
            )
            assert placed.data is not None
            ids.append(placed.data.id)
        await client.orders.cancel_order(ids[0])
        await client.orders.cancel_order_by_external_id("c-1")
        assert len(h.account().open_orders()) == 2
        await client.orders.mass_cancel(markets=["BTC-USD"])
        assert h.account().open_orders() == []
        history = await client.account.get_orders_history()
        assert history.data is not None and len(history.data) == 4
        with pytest.raises(ApiError):
            await client.orders.cancel_order_by_external_id("c-1")

    run(scenario)


def test_a_fill_shows_in_trades_positions_and_balance() -> None:
    async def scenario(
        h: ExtendedEmulatorHandle, client: RestApiClient, market: MarketModel, clock: ManualClock
    ) -> None:
        await client.orders.place_order(make_order(client, market, clock, ext="f"))
        clock.advance(SEC)
        h.exchange.inject(Trade("BTC-USD", 0, 0, 59_800, 1_000, SELL))
        await h.step()
        trades = await client.account.get_trades(market_names=["BTC-USD"])
        assert trades.data is not None
        assert [(t.price, t.qty, t.fee, t.is_taker) for t in trades.data] == [
            (Decimal("59900"), Decimal("0.00100"), Decimal("0.005990"), False)
        ]
        positions = await client.account.get_positions(market_names=["BTC-USD"])
        assert positions.data is not None and positions.data[0].size == Decimal("0.001")
        assert positions.data[0].side == "LONG"
        balance = await client.account.get_balance()
        assert balance.data is not None and balance.data.balance == Decimal("999999.99401")

    run(scenario)


def test_rest_faults_give_429_and_5xx_to_the_sdk_and_unknown_keys_401() -> None:
    async def scenario(
        h: ExtendedEmulatorHandle, client: RestApiClient, market: MarketModel, clock: ManualClock
    ) -> None:
        h.faults.fail_next(1, 429)
        with pytest.raises(ApiRateLimitError):
            await client.account.get_balance()
        h.faults.fail_next(1, 503)
        with pytest.raises(ApiError, match="503"):
            await client.account.get_balance()
        await client.account.get_balance()
        async with aiohttp.ClientSession() as s:
            r = await s.get(
                f"{h.base_url}/api/v1/user/balance",
                headers={"X-Api-Key": "nope", "User-Agent": "t"},
            )
            assert r.status == 401
        stranger = RestApiClient(client.config, StarkPerpetualAccount(1, "0x1", "0x2", "bad"))
        try:
            with pytest.raises(ApiNotAuthorizedError):
                await stranger.account.get_positions()
        finally:
            await stranger.close()

    run(scenario)


def test_the_admin_routes_flip_the_same_switches_over_http() -> None:
    async def scenario(h: ExtendedEmulatorHandle, client: Any, market: Any, clock: Any) -> None:
        async with aiohttp.ClientSession() as s:
            url = f"{h.base_url}/_emulator"
            assert (await s.post(f"{url}/fail?n=1&status=502")).status == 200
            r = await s.get(f"{h.base_url}/api/v1/info/markets", headers={"User-Agent": "t"})
            assert r.status == 502
            assert (await s.post(f"{url}/skip_seq?n=2")).status == 200
            assert h.faults.take_seq_skip() == 1
            assert (await s.post(f"{url}/fail?n=1&status=404")).status == 400
            assert (await s.post(f"{url}/delay?ms=300&answer=1&prefix=/x")).status == 200
            assert h.faults.take_answer_delay_s("/x") == pytest.approx(0.3)
            stats = json.loads(await (await s.get(f"{url}/stats")).text())
            assert "refused" in stats

    run(scenario)


def test_the_v1_book_stream_sends_a_snapshot_then_deltas_with_q_and_c() -> None:
    async def scenario(h: ExtendedEmulatorHandle, client: Any, market: Any, clock: Any) -> None:
        async with aiohttp.ClientSession() as s:
            url = f"ws://127.0.0.1:{h.port}/stream.extended.exchange/v1/orderbooks/BTC-USD"
            async with s.ws_connect(url, headers={"User-Agent": "t"}) as ws:
                first = json.loads((await ws.receive(timeout=2)).data)
                head = (first["type"], first["seq"], first["data"]["m"])
                assert head == ("SNAPSHOT", 1, "BTC-USD")
                assert "c" not in first["data"]["b"][0]
                for _ in range(3):
                    clock.advance(SEC // 10)
                    await h.step()
                frames = [json.loads((await ws.receive(timeout=2)).data) for _ in range(3)]
                assert [f["seq"] for f in frames] == [2, 3, 4]
                assert {f["type"] for f in frames} == {"DELTA"}
                level = next(lv for f in frames for lv in f["data"]["b"] + f["data"]["a"])
                assert set(level) == {"p", "q", "c"}

    run(scenario)


def test_the_account_stream_needs_a_key_and_starts_with_a_snapshot() -> None:
    async def scenario(h: ExtendedEmulatorHandle, client: Any, market: Any, clock: Any) -> None:
        url = f"ws://127.0.0.1:{h.port}/stream.extended.exchange/v1/account"
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await s.ws_connect(url, headers={"User-Agent": "t", "X-Api-Key": "wrong"})
            headers = {"User-Agent": "t", "X-Api-Key": h.credentials[0].api_key}
            async with s.ws_connect(url, headers=headers) as ws:
                kinds = [json.loads((await ws.receive(timeout=2)).data)["type"] for _ in range(3)]
                assert kinds == ["ORDER", "POSITION", "BALANCE"]

    run(scenario)


def test_the_longest_expiry_is_the_networks() -> None:
    """extended.md §6 [DOC]: 90 days on mainnet, 28 on testnet (1135 beyond)."""
    from x10.config import MAINNET_CONFIG, TESTNET_CONFIG

    assert max_expiry_ms(MAINNET_CONFIG.signing.starknet_domain) == 90 * 86_400_000
    assert max_expiry_ms(TESTNET_CONFIG.signing.starknet_domain) == 28 * 86_400_000


def test_an_order_inside_testnets_expiry_limit_is_taken() -> None:
    async def scenario(h: Any, client: RestApiClient, market: MarketModel, clock: Any) -> None:
        order = make_order(client, market, clock, ext="e", expiry_s=28 * 86400 - 60)
        placed = await client.orders.place_order(order)
        assert placed.data is not None

    run(scenario)


async def _wide_book(h: ExtendedEmulatorHandle) -> None:
    """A feed book 59,990 / 60,010, with room inside the spread."""
    h.exchange.inject(
        BookSnapshot("BTC-USD", 0, 0, 0, (59_990, 100_000), (60_010, 100_000))
    )
    await h.step()


async def _status(client: RestApiClient, ext: str) -> tuple[OrderStatus, OrderStatusReason | None]:
    res = await client.account.get_order_by_external_id(ext)
    assert res.data is not None
    return res.data[0].status, res.data[0].status_reason


def test_a_post_only_order_crossing_a_resting_order_is_rejected_post_only_failed() -> None:
    """extended.md §6 [DOC]: the engine rejects a post-only order that would cross, after the
    REST OK, on the account stream (REJECTED + POST_ONLY_FAILED). The resting order it would
    cross may be one of ours, inside the feed's spread: the venue's book holds it."""

    async def scenario(
        h: ExtendedEmulatorHandle, client: RestApiClient, market: MarketModel, clock: ManualClock
    ) -> None:
        await _wide_book(h)
        ask = make_order(client, market, clock, ext="ask", side=OrderSide.SELL, price="60000")
        await client.orders.place_order(ask)
        assert await _status(client, "ask") == (OrderStatus.NEW, OrderStatusReason.NONE)
        bid = make_order(client, market, clock, ext="bid", price="60000")
        placed = await client.orders.place_order(bid)  # REST OK: accepted for the engine only
        assert placed.data is not None and placed.data.external_id == "bid"
        assert await _status(client, "bid") == (
            OrderStatus.REJECTED,
            OrderStatusReason.POST_ONLY_FAILED,
        )
        below = make_order(client, market, clock, ext="below", price="59999")
        await client.orders.place_order(below)
        assert await _status(client, "below") == (OrderStatus.NEW, OrderStatusReason.NONE)

    run(scenario)


def test_a_taker_order_meeting_our_own_resting_order_is_refused_by_self_trade_protection() -> None:
    """extended.md §6 [DOC]: selfTradeProtectionLevel ACCOUNT (the default) blocks trades within
    one sub-account; the refusal arrives on the stream (SELF_TRADE_PROTECTION). An order that
    meets none of ours is taken."""

    async def scenario(
        h: ExtendedEmulatorHandle, client: RestApiClient, market: MarketModel, clock: ManualClock
    ) -> None:
        await _wide_book(h)
        ask = make_order(client, market, clock, ext="ask", side=OrderSide.SELL, price="60000")
        await client.orders.place_order(ask)
        taker = make_order(
            client, market, clock, ext="t", price="60001", post_only=False, fee="0.00025"
        )
        await client.orders.place_order(taker)
        assert await _status(client, "t") == (
            OrderStatus.REJECTED,
            OrderStatusReason.SELF_TRADE_PROTECTION,
        )
        assert [o.client_id for o in h.account().open_orders()] == ["ask"]
        free = make_order(
            client, market, clock, ext="free", price="59999", post_only=False, fee="0.00025"
        )
        await client.orders.place_order(free)
        assert (await _status(client, "free"))[0] == OrderStatus.NEW

    run(scenario)


def test_rest_calls_past_the_per_ip_budget_get_429() -> None:
    """extended.md §10 [DOC]: 1,000 requests/min per IP across all endpoints, then HTTP 429
    (the SDK's ApiRateLimitError). A small budget here; the default is the venue's."""
    from adapters.extended.emulator import REST_LIMIT_PER_MIN

    assert REST_LIMIT_PER_MIN == 1000

    async def main() -> None:
        h = await serve(
            clock=ManualClock(START), seed=11, instruments=[make_instrument()], tick_s=0.02,
            rest_limit_per_min=3,
        )
        client = make_client(h)
        try:
            for _ in range(3):
                await client.account.get_balance()
            with pytest.raises(ApiRateLimitError):
                await client.info.get_markets(market_names=["BTC-USD"])
            assert h.emulator.limiter.refused == 1
        finally:
            await client.close()
            await h.close()

    asyncio.run(main())


def test_the_rate_limiter_window_slides() -> None:
    from adapters.emulator.rest_load import RateLimiter

    now = [0.0]
    limiter = RateLimiter(2, 60.0, lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert limiter.allow("b")  # per client IP
    now[0] = 59.9
    assert not limiter.allow("a")
    now[0] = 60.0
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")
    assert RateLimiter(0).allow("a")  # 0 = unlimited


def test_a_public_stream_without_a_user_agent_is_refused() -> None:
    """extended.md §2 [DOC]: User-Agent is mandatory for REST and WebSocket alike."""

    async def scenario(h: ExtendedEmulatorHandle, client: Any, market: Any, clock: Any) -> None:
        url = f"ws://127.0.0.1:{h.port}/stream.extended.exchange/v1/orderbooks/BTC-USD"
        async with aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await s.ws_connect(url)
            assert err.value.status == 400
            async with s.ws_connect(url, headers={"User-Agent": "t"}) as ws:
                assert json.loads((await ws.receive(timeout=2)).data)["type"] == "SNAPSHOT"

    run(scenario)


def test_the_funding_history_needs_from_time_and_filters_by_market_side_and_time() -> None:
    """extended.md §4: ``GET /user/funding/history?market=&side=&fromTime=<ms>`` (not in the
    SDK; ``fromTime`` required), records ``{id, accountId, market, positionId, side, size, value,
    markPrice, fundingFee, fundingRate, paidTime}``; every payment the simulated venue settled
    on the account's position is one record (``fundingFee`` positive: received, unverified)."""
    from adapters.sim import SimConfig
    from mmcore.commands import IOC
    from mmcore.events import BUY, FundingRate

    first, second = START + 40 * SEC, START + 100 * SEC  # settlements every minute

    async def main() -> None:
        clock = ManualClock(START)
        h = await serve(
            clock=clock, seed=11, instruments=[make_instrument()], tick_s=0.02,
            walk=RandomWalkParams(mid_ticks=60_000, trade_prob=0.0, move_prob=0.0,
                                  funding_every_steps=0),
            sim_config=SimConfig(funding_interval_s=60),
        )
        try:
            account = h.account()
            long = account.new_order("long", "BTC-USD", BUY, 60_010, 100, False, False, IOC,
                                     clock())
            h.exchange.place(account, long)
            h.exchange.inject(FundingRate("BTC-USD", 0, 0, 100_000))  # 0.01 %
            await h.step()
            for t in (first, second):
                clock.set(t)
                await h.step()
            assert [f.amount for f in account.funding] == [-6_000_000, -6_000_000]
            url = f"{h.base_url}/api/v1/user/funding/history"
            headers = {"User-Agent": "t", "X-Api-Key": h.credentials[0].api_key}
            async with aiohttp.ClientSession() as s:

                async def get(query: str) -> tuple[int, Any]:
                    r = await s.get(url + query, headers=headers)
                    return r.status, json.loads(await r.text())

                status, body = await get("?market=BTC-USD")
                assert (status, body["status"], body["error"]["code"]) == (400, "ERROR", 1133)
                assert "fromTime" in body["error"]["message"]
                assert (await get("?fromTime=soon"))[0] == 400
                status, body = await get(f"?market=BTC-USD&fromTime={START // 1_000_000}")
                assert status == 200 and body["status"] == "OK"
                assert [d["paidTime"] for d in body["data"]] == [
                    second // 1_000_000, first // 1_000_000
                ]
                record = body["data"][1]
                assert set(record) == {
                    "id", "accountId", "market", "positionId", "side", "size", "value",
                    "markPrice", "fundingFee", "fundingRate", "paidTime",
                }
                assert record["id"] == account.funding[0].payment_id
                assert record["positionId"] == account.positions["BTC-USD"].id
                assert (record["market"], record["side"], record["size"], record["value"],
                        record["markPrice"], record["fundingFee"], record["fundingRate"]) == (
                    "BTC-USD", "LONG", "0.00100", "60", "60000", "-0.006", "0.0001"
                )
                later = await get(f"?fromTime={second // 1_000_000}")
                assert [d["paidTime"] for d in later[1]["data"]] == [second // 1_000_000]
                assert (await get("?fromTime=0&side=SHORT"))[1]["data"] == []
                assert len((await get("?fromTime=0&side=LONG"))[1]["data"]) == 2
                assert (await get("?fromTime=0&market=ETH-USD"))[1]["data"] == []
        finally:
            await h.close()

    asyncio.run(main())
