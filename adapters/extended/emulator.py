"""A local Extended: REST and WebSocket v1 on 127.0.0.1, close enough that the unmodified x10 SDK
and our adapter work against it.

``serve(...)`` starts it and returns an ``ExtendedEmulatorHandle``: the base URL, the generated
test accounts (API key, Stark key pair, vault), the fault switches and the exchange to drive.
Market data comes from a recorded event log or, without one, from a seeded random walk per
market. Matching is ``adapters.sim`` behind ``adapters.emulator.exchange``; orders are verified
against the Starknet domain of ``chain_id`` (Sepolia by default, as the adapter's "local"
network signs), whose network also sets the longest order expiry (28 days on Sepolia, 90 on
mainnet). REST calls past Extended's budget (``REST_LIMIT_PER_MIN`` per client IP) get HTTP 429.

Limit: each account is matched against the market feed alone, never against another account's
orders nor its own. An order that would cross or lock another account's resting order, or its own
with self-trade protection DISABLED, is refused by the engine (REJECTED on the account stream,
``adapters.extended.emulator_rest``) where the venue would trade it.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path

import msgspec
from aiohttp import web
from fast_stark_crypto import get_public_key
from x10.config import MAINNET_CONFIG, TESTNET_CONFIG
from x10.core.client_config import StarknetDomain

from adapters.emulator.account import EmulatedAccount, EmulatedOrder
from adapters.emulator.clock import EmulatorClock, WallClock
from adapters.emulator.exchange import EmulatedExchange
from adapters.emulator.faults import FaultSwitches
from adapters.emulator.feed import MarketFeed
from adapters.emulator.handle import EmulatorHandle
from adapters.emulator.random_walk import RandomWalkParams, random_walk
from adapters.emulator.rest_load import (
    RateLimiter,
    RestLoad,
    load_middleware,
    rate_limit_middleware,
)
from adapters.emulator.server import EmulatorServer, WsHub, admin_routes, fault_middleware
from adapters.extended.config import ExtendedConfig
from adapters.extended.emulator_rest import API_PREFIX, RestApi, error_response, json_text
from adapters.extended.emulator_stream import StreamPublisher
from adapters.extended.emulator_wire import MarketSpec, market_spec
from adapters.extended.markets import FUNDING_INTERVAL_S
from adapters.sim import SimConfig
from mmcore.events import Event
from mmcore.instrument import NANOS, Instrument
from mmcore.log import open_log

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "REST_LIMIT_PER_MIN",
    "EmulatedCredentials",
    "ExtendedEmulator",
    "ExtendedEmulatorHandle",
    "serve",
]

STARK_CURVE_ORDER = 0x800000000000010FFFFFFFFFFFFFFFFB781126DCAE7B2321E66A241ADC64D2F

DEFAULT_INSTRUMENTS = (
    Instrument(
        venue="extended",
        symbol="BTC-USD",
        tick_size="1",
        lot_size="0.00001",
        min_size="0.0001",
        maker_fee="0",
        taker_fee="0.00025",
    ),
    Instrument(
        venue="extended",
        symbol="ETH-USD",
        tick_size="0.1",
        lot_size="0.001",
        min_size="0.01",
        maker_fee="0",
        taker_fee="0.00025",
    ),
)
_DEFAULT_MIDS = {"BTC-USD": 60_000, "ETH-USD": 30_000}

REST_LIMIT_PER_MIN = 1000
"""Extended's REST budget per IP (extended.md §10 [DOC]: "1,000 requests/min across all
endpoints"; market makers get 60,000 per 5 min); beyond it, HTTP 429."""


class EmulatedCredentials(msgspec.Struct, frozen=True):
    """A generated test account. Throwaway keys: safe to print, useless anywhere else."""

    account_id: int
    api_key: str
    stark_private_key: str
    stark_public_key: str
    vault: int

    def env(self, config: ExtendedConfig | None = None) -> dict[str, str]:
        """The environment variables an ``ExtendedAdapter`` reads (names from ``config``)."""
        c = config or ExtendedConfig(network="local", base_url="http://127.0.0.1:1")
        return {
            c.api_key_env: self.api_key,
            c.stark_private_key_env: self.stark_private_key,
            c.stark_public_key_env: self.stark_public_key,
            c.vault_env: str(self.vault),
        }


def make_credentials(rng: random.Random, n: int) -> list[EmulatedCredentials]:
    out = []
    for i in range(n):
        priv = rng.randrange(1, STARK_CURVE_ORDER)
        out.append(
            EmulatedCredentials(
                account_id=3001 + i,
                api_key=f"{rng.getrandbits(128):032x}",
                stark_private_key=hex(priv),
                stark_public_key=hex(get_public_key(priv)),
                vault=10_001 + i,
            )
        )
    return out


class ExtendedEmulator:
    """Extended's protocol around an ``EmulatedExchange``."""

    def __init__(
        self,
        exchange: EmulatedExchange,
        faults: FaultSwitches,
        hub: WsHub,
        credentials: list[EmulatedCredentials],
        domain: StarknetDomain,
        rest_limit_per_min: int = REST_LIMIT_PER_MIN,
    ) -> None:
        self.exchange = exchange
        self.faults = faults
        self.hub = hub
        self.domain = domain
        self.keys = {c.account_id: c for c in credentials}
        self.specs: dict[str, MarketSpec] = {
            s: market_spec(i) for s, i in exchange.instruments.items()
        }
        self.kinds: dict[int, str] = {}
        self.refused: dict[int, int] = {}
        self.load = RestLoad()
        self.limiter = RateLimiter(rest_limit_per_min, 60.0)
        self.rest = RestApi(self)
        self.streams = StreamPublisher(self)
        exchange.listeners.append(self.streams)

    def kind(self, order: EmulatedOrder) -> str:
        return self.kinds.get(order.venue_id, "LIMIT")

    def check_user_agent(self, request: web.Request) -> None:
        if not request.headers.get("User-Agent"):
            raise web.HTTPBadRequest(
                text=json_text(
                    {
                        "status": "ERROR",
                        "error": {"code": 1133, "message": "User-Agent header is required"},
                    }
                ),
                content_type="application/json",
            )

    def authenticate(self, request: web.Request) -> EmulatedAccount:
        """The account of the request's ``X-Api-Key``; HTTP 401 when missing or unknown."""
        self.check_user_agent(request)
        account = self.exchange.account_by_key(request.headers.get("X-Api-Key", ""))
        if account is None:
            raise web.HTTPUnauthorized(
                text=json_text(
                    {"status": "ERROR", "error": {"code": 401, "message": "unauthorized"}}
                ),
                content_type="application/json",
            )
        return account

    def application(self) -> web.Application:
        app = web.Application(
            middlewares=[
                load_middleware(self.load, API_PREFIX),
                rate_limit_middleware(self.limiter, API_PREFIX, self._rate_limited),
                fault_middleware(self.faults, API_PREFIX),
            ]
        )
        app.add_routes(self.rest.routes())
        app.add_routes(self.streams.routes())
        app.add_routes(admin_routes(self.faults, self.exchange, self._statistics))
        return app

    def _rate_limited(self) -> web.Response:
        # the SDK raises ApiRateLimitError on the status alone; the body's code is a [GUESS]
        limit = self.limiter.limit
        return error_response(429, 429, f"rate limit exceeded: {limit} requests per minute")

    def _statistics(self) -> dict[str, object]:
        return {
            "refused": {str(k): v for k, v in self.refused.items()},
            "rate_limited": self.limiter.refused,
        }


class ExtendedEmulatorHandle(EmulatorHandle):
    """A running Extended emulator: its protocol layer and its generated test accounts."""

    def __init__(
        self,
        server: EmulatorServer,
        emulator: ExtendedEmulator,
        credentials: list[EmulatedCredentials],
        clock: EmulatorClock,
    ) -> None:
        super().__init__(
            server, emulator.exchange, emulator.faults, emulator.hub, clock, emulator.load
        )
        self.emulator = emulator
        self.credentials = credentials

    def adapter_config(self, **overrides: object) -> ExtendedConfig:
        """An ``ExtendedConfig`` pointed at this emulator (network "local")."""
        fields: dict[str, object] = {"network": "local", "base_url": self.base_url}
        fields.update(overrides)
        return msgspec.convert(fields, ExtendedConfig)

    def account(self, i: int = 0) -> EmulatedAccount:
        return self.exchange.accounts[self.credentials[i].account_id]


def _generated(
    instruments: Mapping[str, Instrument],
    rng: random.Random,
    start_ns: int,
    walk: RandomWalkParams | Mapping[str, RandomWalkParams] | None,
) -> Iterator[Event]:
    walks = []
    for sym, inst in instruments.items():
        if isinstance(walk, RandomWalkParams):
            params = walk
        elif walk is not None and sym in walk:
            params = walk[sym]
        else:
            params = RandomWalkParams(mid_ticks=_DEFAULT_MIDS.get(sym, 60_000))
        walks.append(random_walk(inst, random.Random(rng.random()), start_ns, params))
    return heapq.merge(*walks, key=lambda e: e.ts)


async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    data_log: str | Path | None = None,
    seed: int = 0,
    *,
    clock: EmulatorClock | None = None,
    instruments: Iterable[Instrument] | None = None,
    accounts: int = 1,
    collateral: str = "1000000",
    walk: RandomWalkParams | Mapping[str, RandomWalkParams] | None = None,
    speed: float = 1.0,
    tick_s: float = 0.05,
    snapshot_interval_s: float = 60.0,
    chain_id: str = "SN_SEPOLIA",
    sim_config: SimConfig | None = None,
    rest_limit_per_min: int = REST_LIMIT_PER_MIN,
) -> ExtendedEmulatorHandle:
    """Start an Extended emulator; ``port=0`` picks a free port.

    data_log: replay this recorded event log's market data (its header names the instruments);
        None generates a seeded random walk per instrument.
    seed: seeds the random walk, the generated accounts and the matching's random draws.
    clock: the emulator's time; a ``ManualClock`` in tests, the wall clock by default.
    collateral: each account's starting balance, in quote units.
    chain_id: the Starknet domain orders must be signed for; also sets the longest order expiry
        (``SN_MAIN``: mainnet's 90 days, otherwise testnet's 28).
    rest_limit_per_min: REST calls per client IP per minute before HTTP 429 (0 = unlimited);
        Extended's standard budget by default.
    """
    clock = clock or WallClock()
    rng = random.Random(seed)
    start = clock.now_ns()
    source: Iterable[object]
    if data_log is not None:
        reader = open_log(data_log, repair=False)  # the user's data: a torn tail is skipped
        insts = {i.symbol: i for i in (instruments or reader.header.instruments)}
        source = reader
    else:
        insts = {i.symbol: i for i in (instruments or DEFAULT_INSTRUMENTS)}
        source = _generated(insts, rng, start, walk)
    feed = MarketFeed(source, start, insts, speed)
    exchange = EmulatedExchange(
        insts, feed, clock, sim_config or SimConfig(funding_interval_s=FUNDING_INTERVAL_S), seed
    )
    creds = make_credentials(rng, accounts)
    collateral_nanos = int(Decimal(collateral) * NANOS)
    for c in creds:
        exchange.add_account(c.account_id, c.api_key, collateral_nanos)
    base = MAINNET_CONFIG if chain_id == "SN_MAIN" else TESTNET_CONFIG
    domain = StarknetDomain(
        name=base.signing.starknet_domain.name,
        version=base.signing.starknet_domain.version,
        chain_id=chain_id,
        revision=base.signing.starknet_domain.revision,
    )
    faults = FaultSwitches()
    hub = WsHub()
    faults.on_drop(hub.drop_all)
    emulator = ExtendedEmulator(exchange, faults, hub, creds, domain, rest_limit_per_min)
    interval_ns = int(snapshot_interval_s * 1e9)
    server = EmulatorServer(
        emulator.application(),
        exchange,
        clock,
        tick_s,
        on_tick=lambda: emulator.streams.refresh_snapshots(interval_ns),
    )
    exchange.step()
    await server.start(host, port)
    return ExtendedEmulatorHandle(server, emulator, creds, clock)
