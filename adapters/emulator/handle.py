"""What ``serve`` hands back: the running emulator, its switches and its counters."""

from __future__ import annotations

import asyncio

import msgspec

from adapters.emulator.account import AccountStatistics
from adapters.emulator.clock import EmulatorClock
from adapters.emulator.exchange import EmulatedExchange, ExchangeStatistics
from adapters.emulator.faults import FaultStatistics, FaultSwitches
from adapters.emulator.feed import FeedStatistics
from adapters.emulator.rest_load import RestLoad, RestLoadStatistics
from adapters.emulator.server import EmulatorServer, WsHub

__all__ = ["EmulatorHandle", "EmulatorStatistics"]


class EmulatorStatistics(msgspec.Struct, frozen=True):
    """Counters of a running emulator."""

    exchange: ExchangeStatistics
    feed: FeedStatistics
    faults: FaultStatistics
    rest: RestLoadStatistics
    accounts: list[AccountStatistics]
    ws_clients: int


class EmulatorHandle:
    """A running emulator on ``host:port``; ``close()`` stops it."""

    def __init__(
        self,
        server: EmulatorServer,
        exchange: EmulatedExchange,
        faults: FaultSwitches,
        hub: WsHub,
        clock: EmulatorClock,
        load: RestLoad,
    ) -> None:
        self.server = server
        self.exchange = exchange
        self.faults = faults
        self.hub = hub
        self.clock = clock
        self.load = load

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def step(self) -> None:
        """Run one exchange step now and let the socket writers send what it produced."""
        self.server.step()
        for _ in range(3):
            await asyncio.sleep(0)

    async def close(self) -> None:
        await self.hub.drop_all()
        await self.server.close()

    def statistics(self) -> EmulatorStatistics:
        return EmulatorStatistics(
            exchange=self.exchange.statistics(),
            feed=self.exchange.feed.statistics(),
            faults=self.faults.statistics(),
            rest=self.load.statistics(),
            accounts=[a.statistics() for a in self.exchange.accounts.values()],
            ws_clients=len(self.hub.clients),
        )
