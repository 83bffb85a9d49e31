"""One ``Subscription`` against the Extended emulator's book stream on 127.0.0.1: the reader
never dies of an error, and forced reconnects back off until a socket stays up a while."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from adapters.emulator.clock import ManualClock
from adapters.emulator.random_walk import RandomWalkParams
from adapters.extended.backoff import Backoff
from adapters.extended.emulator import ExtendedEmulatorHandle, serve
from adapters.extended.markets import STREAM_PATH
from adapters.extended.stream import Subscription
from mmcore.instrument import Instrument

START = 1_700_000_000_000_000_000
SYM = "BTC-USD"


class Harness:
    def __init__(self, h: ExtendedEmulatorHandle, clock: ManualClock) -> None:
        self.h = h
        self.clock = clock
        self.messages: list[str] = []
        self.states: list[str] = []

    async def step(self) -> None:
        self.clock.advance(100_000_000)
        await self.h.step()

    async def wait_for(self, done: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; states {self.states}")
            await self.step()
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def emulator() -> AsyncIterator[tuple[Harness, aiohttp.ClientSession, str]]:
    clock = ManualClock(START)
    inst = Instrument(
        venue="extended", symbol=SYM, tick_size="1", lot_size="0.00001", min_size="0.0001"
    )
    h = await serve(
        clock=clock,
        seed=5,
        instruments=[inst],
        walk=RandomWalkParams(mid_ticks=60_000, trade_prob=0.0, move_prob=0.0),
        tick_s=0.02,
    )
    session = aiohttp.ClientSession()
    url = "ws" + h.base_url[4:] + STREAM_PATH + f"/orderbooks/{SYM}"
    try:
        yield Harness(h, clock), session, url
    finally:
        await session.close()
        await h.close()


def subscribe(
    harness: Harness,
    session: aiohttp.ClientSession,
    url: str,
    on_state: Callable[[str, str, str], None] | None = None,
    **kwargs: Any,
) -> Subscription:
    def record(state: str, name: str, reason: str) -> None:
        harness.states.append(state)

    sub = Subscription(
        f"book:{SYM}",
        url,
        session,
        {},
        harness.messages.append,
        on_state or record,
        Backoff(0.05, 0.4, random.Random(3)),
        5.0,
        **kwargs,
    )
    sub.start()
    return sub


def test_a_state_handler_that_raises_is_logged_and_the_stream_keeps_reading(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with emulator() as (harness, session, url):

            def buggy(state: str, name: str, reason: str) -> None:
                harness.states.append(state)
                if len(harness.states) == 1:
                    raise RuntimeError("a bug in the state handler")

            sub = subscribe(harness, session, url, buggy)
            try:
                await harness.wait_for(lambda: len(harness.messages) >= 3, "book messages")
                assert sub.statistics().errors == 1
            finally:
                await sub.close()

    with caplog.at_level(logging.WARNING, logger="adapters.extended"):
        asyncio.run(main())
    assert "'up' state handler failed" in caplog.text


def test_an_error_of_the_reader_itself_reopens_the_socket_instead_of_ending_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with emulator() as (harness, session, url):
            sub = subscribe(harness, session, url)
            reads: list[str] = []

            def on_read(name: str) -> None:  # fails on the first frame read, once
                reads.append(name)
                if len(reads) == 1:
                    raise RuntimeError("a bug in the read hook")

            sub.on_read = on_read
            try:
                await harness.wait_for(lambda: len(harness.messages) >= 3, "book messages")
                assert harness.states[:3] == ["up", "down", "up"]
                assert sub.statistics().errors == 1 and sub.statistics().connects == 2
            finally:
                await sub.close()

    with caplog.at_level(logging.WARNING, logger="adapters.extended"):
        asyncio.run(main())
    assert "stream reader failed" in caplog.text and "a bug in the read hook" in caplog.text


def test_forced_reconnects_back_off_and_start_over_after_a_healthy_socket() -> None:
    async def main() -> None:
        async with emulator() as (harness, session, url):
            sub = subscribe(harness, session, url, healthy_s=0.5)
            try:
                for i in range(4):
                    await harness.wait_for(lambda: bool(sub.statistics().messages), "a message")
                    connects = sub.statistics().connects
                    sub.reconnect("test")
                    await harness.wait_for(
                        lambda: sub.statistics().connects > connects,  # noqa: B023
                        f"reconnect {i}",
                    )
                delays = list(sub.forced_delays)
                assert delays[0] == 0.0
                for i, delay in enumerate(delays[1:]):  # 0.05, 0.1, 0.2 (each drawn in [c/2, c])
                    ceiling = min(0.4, 0.05 * 2**i)
                    assert ceiling / 2 <= delay <= ceiling
                await asyncio.sleep(0.6)  # the socket stays up past healthy_s
                sub.reconnect("test")
                await harness.wait_for(lambda: len(sub.forced_delays) == 5, "the forced close")
                assert sub.forced_delays[-1] == 0.0  # healthy: at once again
            finally:
                await sub.close()

    asyncio.run(main())


@contextlib.asynccontextmanager
async def loopback_server(
    on_connection: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any] | None = None,
) -> AsyncIterator[tuple[str, list[int]]]:
    """A peer on 127.0.0.1: by default a WebSocket endpoint that accepts, sends one frame and
    closes (a venue in maintenance); with ``on_connection``, a raw TCP server. Yields its URL
    and a list that grows by one per connection."""
    from aiohttp import web

    connections: list[int] = []
    if on_connection is not None:

        async def raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(1)
            await on_connection(reader, writer)

        server = await asyncio.start_server(raw, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}/s", connections
        finally:
            server.close()
        return

    async def one_frame(request: web.Request) -> web.WebSocketResponse:
        connections.append(1)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str('{"type":"ERROR","data":{},"ts":1,"seq":1}')
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/s", one_frame)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/s", connections
    finally:
        await runner.cleanup()


async def _watch(url: str, seconds: float, **kwargs: Any) -> list[tuple[str, str]]:
    """Subscribe to ``url`` for ``seconds`` (backoff 0.05 s doubling to 5 s); the states seen."""
    states: list[tuple[str, str]] = []
    async with aiohttp.ClientSession() as session:
        sub = Subscription(
            "account", url, session, {}, lambda data: None,
            lambda state, name, reason: states.append((state, reason)),
            Backoff(0.05, 5.0, random.Random(3)), 5.0, **kwargs,
        )
        sub.start()
        await asyncio.sleep(seconds)
        await sub.close()
    return states


def test_a_venue_that_closes_each_socket_after_one_frame_is_retried_ever_more_slowly() -> None:
    async def main() -> int:
        async with loopback_server() as (url, connections):
            await _watch(url, 1.5)
            return len(connections)

    # waits of at least 0.025, 0.05, 0.1, 0.2, 0.4, 0.8 s (half jitter): 7 sockets at most in
    # 1.5 s; had each frame started the backoff over, every wait would be 0.025-0.05 s (~30)
    assert 2 <= asyncio.run(main()) <= 8


def test_a_handshake_never_answered_is_given_up_and_retried() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)  # takes the TCP connection, never answers the upgrade

    async def main() -> tuple[int, list[tuple[str, str]]]:
        async with loopback_server(hang) as (url, connections):
            states = await _watch(url, 1.5, connect_timeout_s=0.3)
            return len(connections), states

    connections, states = asyncio.run(main())
    assert connections >= 2
    assert ("down", "connect failed: no handshake within 0.3s") in states


def test_after_a_healthy_socket_ended_by_a_forced_reconnect_the_backoff_starts_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An outage long ago took the backoff to its ceiling; a socket then stays up an hour and
    ends in a forced reconnect (a book gap). If the next connect fails, its wait must be the
    backoff's first again, not the outage's."""
    import adapters.extended.stream as stream_module

    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded(delay: float, *args: object) -> None:
        waits.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(stream_module.asyncio, "sleep", recorded)

    async def main() -> None:
        sub = Subscription("book", "ws://unused", None, {}, lambda data: None,  # type: ignore[arg-type]
                           lambda state, name, reason: None,
                           Backoff(0.25, 30.0, random.Random(1)), 5.0)
        script = ["fail"] * 8 + ["healthy, then forced", "fail", "stop"]
        loop = asyncio.get_running_loop()

        async def session_once() -> str:
            step = script.pop(0)
            if step == "healthy, then forced":
                sub._up_since = loop.time() - 3600.0
                sub._force_reason = "book gap"
                return "book gap"
            if step == "stop":
                sub._closing = True
            return f"connect failed: {step}"

        sub._session_once = session_once  # type: ignore[method-assign]
        await sub._run()

    asyncio.run(main())
    assert max(waits[:8]) > 10.0  # the outage reached the ceiling's neighbourhood
    # the forced reconnect after a healthy socket went at once (no wait), and the failure after
    # it waited the backoff's first wait again
    assert len(waits) == 9 and 0.125 <= waits[8] <= 0.25
