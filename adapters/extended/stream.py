"""One reconnecting WebSocket subscription (aiohttp), with heartbeats and stale detection.

Extended's v1 streams use one socket per topic. Each ``Subscription`` keeps its socket open
forever: it reconnects with exponential backoff and jitter after any close or error, pings the
server every ``heartbeat_s`` (aiohttp closes the socket when a pong is missed), and, when
``stale_after_s`` is set, treats that long a silence as a dead socket. ``reconnect()`` forces a
fresh socket (a book gap: the new socket starts with a snapshot). Messages and state changes go to
callbacks; a callback that raises is logged and the message dropped, never the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import aiohttp
import msgspec

from adapters.extended.backoff import Backoff

__all__ = ["Subscription", "SubscriptionStatistics"]

log = logging.getLogger(__name__)


class SubscriptionStatistics(msgspec.Struct, frozen=True):
    """Counters of one subscription."""

    name: str
    connects: int
    disconnects: int
    messages: int
    dropped: int
    stale: int
    forced: int


class Subscription:
    """A named stream URL, kept connected until ``close``."""

    def __init__(
        self,
        name: str,
        url: str,
        session: aiohttp.ClientSession,
        headers: Mapping[str, str],
        on_message: Callable[[str], None],
        on_state: Callable[[str, str, str], None],
        backoff: Backoff,
        heartbeat_s: float,
        stale_after_s: float | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self._session = session
        self._headers = dict(headers)
        self._on_message = on_message
        self._on_state = on_state
        self._backoff = backoff
        self._heartbeat = heartbeat_s
        self._stale = stale_after_s
        self._ws: aiohttp.ClientWebSocketResponse[bool] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._force_reason = ""
        self._closer: asyncio.Future[bool] | None = None
        self.connected = asyncio.Event()
        self.on_read: Callable[[str], None] | None = None
        """Benchmark hook: called with the name right after each text frame is read."""
        self._connects = 0
        self._disconnects = 0
        self._messages = 0
        self._dropped = 0
        self._stale_n = 0
        self._forced = 0

    def __repr__(self) -> str:
        return f"Subscription({self.name!r}, {self.url!r})"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"extended-ws-{self.name}")

    def reconnect(self, reason: str) -> None:
        """Close the current socket; the loop opens a fresh one at once (no backoff)."""
        ws = self._ws
        if ws is not None and not ws.closed:
            self._forced += 1
            self._force_reason = reason
            self._closer = asyncio.ensure_future(ws.close())

    async def close(self) -> None:
        self._closing = True
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    async def _run(self) -> None:
        while not self._closing:
            reason = await self._session_once()
            if self._closing:
                break
            self.connected.clear()
            self._disconnects += 1
            self._on_state("down", self.name, reason)
            if self._force_reason:
                self._force_reason = ""
                continue
            delay = self._backoff.next_delay()
            log.info("extended %s: %s; reconnecting in %.2fs", self.name, reason, delay)
            await asyncio.sleep(delay)

    async def _session_once(self) -> str:
        try:
            ws = await self._session.ws_connect(
                self.url, headers=self._headers, heartbeat=self._heartbeat, autoping=True
            )
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            return f"connect failed: {type(exc).__name__}: {exc}"
        self._ws = ws
        self._connects += 1
        self.connected.set()
        self._on_state("up", self.name, "")
        got_message = False
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(ws.receive(), self._stale)
                except asyncio.TimeoutError:
                    self._stale_n += 1
                    return f"stale: no message for {self._stale}s"
                if msg.type == aiohttp.WSMsgType.TEXT:
                    on_read = self.on_read
                    if on_read is not None:
                        on_read(self.name)
                    if not got_message:
                        got_message = True
                        self._backoff.reset()
                    self._messages += 1
                    self._deliver(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    self._messages += 1
                    self._deliver(msg.data.decode("utf-8", "replace"))
                elif msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                ):
                    return self._force_reason or f"closed by server (code {ws.close_code})"
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    return f"socket error: {ws.exception()}"
        finally:
            self._ws = None
            if not ws.closed:
                await ws.close()

    def _deliver(self, data: str) -> None:
        try:
            self._on_message(data)
        except Exception:  # a bad message must not kill the stream
            self._dropped += 1
            log.exception("extended %s: dropped a message that failed to process", self.name)

    def statistics(self) -> SubscriptionStatistics:
        return SubscriptionStatistics(
            name=self.name,
            connects=self._connects,
            disconnects=self._disconnects,
            messages=self._messages,
            dropped=self._dropped,
            stale=self._stale_n,
            forced=self._forced,
        )
