"""One reconnecting WebSocket subscription (aiohttp), with heartbeats and stale detection.

Extended's v1 streams use one socket per topic. Each ``Subscription`` keeps its socket open
forever: it reconnects with exponential backoff and jitter after any close or error, pings the
server every ``heartbeat_s`` (aiohttp closes the socket when a pong is missed), and, when
``stale_after_s`` is set, treats that long a silence as a dead socket. ``reconnect()`` forces a
fresh socket (a book gap: the new socket starts with a snapshot). The first forced reconnect after
a healthy period is immediate; each further one waits on a second backoff (``min_s, 2*min_s, ...``
up to ``max_s``, seeded jitter), so a venue that gaps on every socket, or a snapshot that keeps
coming back crossed, cannot drive a tight reconnect loop. Both backoffs start over only once a
socket stayed up ``healthy_s`` (default: the backoff's ``max_s``), so a venue that accepts a
socket and closes it at once is retried ever more slowly. A handshake not answered within
``connect_timeout_s`` is given up and retried. Messages and state changes go to
callbacks; a callback that raises is logged and the message dropped, never the stream; any other
error of the reader is logged and the socket reopened after the backoff: the reader only ends at
``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
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
    errors: int = 0


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
        healthy_s: float | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.url = url
        self._session = session
        self._headers = dict(headers)
        self._on_message = on_message
        self._on_state = on_state
        self._backoff = backoff
        self._forced_backoff = backoff.fresh()
        self._forced_streak = 0  # forced reconnects since the last healthy socket
        self._healthy = backoff.max_s if healthy_s is None else healthy_s
        self._up_since: float | None = None  # loop time the current socket opened
        self.forced_delays: deque[float] = deque(maxlen=64)
        """The waits before the latest forced reconnects, oldest first (0 = at once)."""
        self._heartbeat = heartbeat_s
        self._stale = stale_after_s
        self._connect_timeout = connect_timeout_s
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
        self._errors = 0

    def __repr__(self) -> str:
        return f"Subscription({self.name!r}, {self.url!r})"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"extended-ws-{self.name}")

    def reconnect(self, reason: str) -> None:
        """Close the current socket; the loop opens a fresh one, at once the first time after a
        healthy period and after the forced-reconnect backoff when they repeat."""
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
        loop = asyncio.get_running_loop()
        while not self._closing:
            try:
                reason = await self._session_once()
            except Exception as exc:  # a bug or an aiohttp surprise: never end the reader
                self._errors += 1
                log.exception("extended %s: stream reader failed; reopening the socket", self.name)
                reason = f"reader error: {type(exc).__name__}: {exc}"
            if self._closing:
                break
            up_since, self._up_since = self._up_since, None
            lived = loop.time() - up_since if up_since is not None else 0.0
            forced = bool(self._force_reason)
            self._force_reason = ""
            self.connected.clear()
            self._disconnects += 1
            self._notify("down", reason)
            # the backoff starts over only after a socket that stayed up (however it ended): a
            # venue that accepts a socket, sends a frame and closes it must not be retried at
            # once forever (on the account stream each reconnect also costs a REST reconcile)
            if lived >= self._healthy:
                self._backoff.reset()
            delay = self._forced_delay(lived) if forced else self._backoff.next_delay()
            if delay > 0:
                log.info("extended %s: %s; reconnecting in %.2fs", self.name, reason, delay)
                await asyncio.sleep(delay)

    def _forced_delay(self, lived_s: float) -> float:
        """The wait before a forced reconnect: none for the first since a socket stayed up
        ``healthy_s``, then the forced-reconnect backoff."""
        if lived_s >= self._healthy:
            self._forced_streak = 0
            self._forced_backoff.reset()
        delay = self._forced_backoff.next_delay() if self._forced_streak else 0.0
        self._forced_streak += 1
        self.forced_delays.append(delay)
        return delay

    def _notify(self, state: str, reason: str) -> None:
        try:
            self._on_state(state, self.name, reason)
        except Exception:  # a bad state handler must not kill the stream
            self._errors += 1
            log.exception("extended %s: the %r state handler failed", self.name, state)

    async def _session_once(self) -> str:
        try:
            # bounded: a peer that takes the connection but never answers the upgrade would
            # otherwise hold the stream down, with no retry, for the session's 300 s default
            ws = await asyncio.wait_for(
                self._session.ws_connect(
                    self.url, headers=self._headers, heartbeat=self._heartbeat, autoping=True
                ),
                self._connect_timeout,
            )
        except asyncio.TimeoutError:
            return f"connect failed: no handshake within {self._connect_timeout}s"
        except (aiohttp.ClientError, OSError) as exc:
            return f"connect failed: {type(exc).__name__}: {exc}"
        self._ws = ws
        self._connects += 1
        self._up_since = asyncio.get_running_loop().time()
        try:
            self.connected.set()
            self._notify("up", "")
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
            errors=self._errors,
        )
