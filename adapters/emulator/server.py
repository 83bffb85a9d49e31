"""The aiohttp side every venue emulator shares: sockets, fault middleware, admin routes, ticking.

``EmulatorServer`` binds an ``aiohttp.web.Application`` to 127.0.0.1 (an ephemeral port by
default), steps the ``EmulatedExchange`` every ``tick_s`` and keeps a registry of open WebSockets
(``WsHub``) so a fault can drop them all. The fault middleware applies ``FaultSwitches`` to the
venue's REST paths; the admin routes under ``/_emulator/`` expose the same switches (and a way to
drive the market) to tests running in another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware

from adapters.emulator.clock import EmulatorClock
from adapters.emulator.exchange import EmulatedExchange
from adapters.emulator.faults import BadFaultError, FaultSwitches
from mmcore.events import BUY, SELL, Trade

__all__ = [
    "ADMIN_PREFIX",
    "EmulatorServer",
    "WsClient",
    "WsHub",
    "admin_routes",
    "fault_middleware",
]

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_emulator"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WsClient:
    """One open WebSocket: an outgoing queue drained by its own writer, and its sequence count."""

    __slots__ = ("data", "queue", "seq", "topic", "ws")

    def __init__(self, ws: web.WebSocketResponse, topic: str) -> None:
        self.ws = ws
        self.topic = topic
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.seq = 0
        self.data: dict[str, object] = {}

    def send(self, text: str) -> None:
        self.queue.put_nowait(text)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


class WsHub:
    """Every open WebSocket of an emulator, by topic."""

    def __init__(self) -> None:
        self.clients: set[WsClient] = set()

    def of(self, topic: str) -> list[WsClient]:
        return [c for c in self.clients if c.topic == topic]

    async def serve(
        self, request: web.Request, topic: str, on_open: Callable[[WsClient], None]
    ) -> web.WebSocketResponse:
        """Run one WebSocket until either side closes it; ``on_open`` queues its first frames."""
        ws = web.WebSocketResponse(heartbeat=15.0)
        await ws.prepare(request)
        client = WsClient(ws, topic)
        self.clients.add(client)
        on_open(client)
        writer = asyncio.create_task(self._write(client))
        try:
            async for _msg in ws:  # clients send nothing we need; pings are automatic
                pass
        finally:
            self.clients.discard(client)
            client.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await writer
        return ws

    async def _write(self, client: WsClient) -> None:
        ws = client.ws
        while True:
            text = await client.queue.get()
            if text is None or ws.closed:
                return
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def drop_all(self) -> int:
        """Close every socket (code 1012, "service restart"); returns how many."""
        clients = list(self.clients)
        for c in clients:
            self.clients.discard(c)
            c.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await c.ws.close(code=aiohttp.WSCloseCode.SERVICE_RESTART, message=b"dropped")
        return len(clients)


def fault_middleware(faults: FaultSwitches, rest_prefix: str) -> Middleware:
    """Middleware: REST calls under ``rest_prefix`` get the switched-on failures and delays."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith(rest_prefix):
            return await handler(request)
        delay = faults.take_delay_s(path)
        if delay > 0:
            await request.read()  # the request has arrived; only the venue is slow
            await asyncio.sleep(delay)
        status = faults.take_failure(path)
        if status is not None:
            return web.Response(
                status=status,
                text=f"emulated fault: HTTP {status}",
                content_type="text/plain",
            )
        answer = await handler(request)
        delay = faults.take_answer_delay_s(path)
        if delay > 0:
            await asyncio.sleep(delay)  # handled at the venue; the answer is slow to come back
        return answer

    return middleware


def _int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: expected an integer, found {raw!r}") from None


def admin_routes(
    faults: FaultSwitches,
    exchange: EmulatedExchange,
    statistics: Callable[[], object],
) -> list[web.RouteDef]:
    """``/_emulator/{drop_ws,skip_seq,late_fills,fail,delay,clear,trade,step,stats}``.

    ``delay?ms=M`` sets the delay of every call, ``delay?ms=M&n=N[&prefix=P]`` of the next N
    calls (before the venue handles them), ``delay?ms=M&answer=1[&n=N][&prefix=P]`` of the next
    N answers (after it has)."""

    def ok(**extra: object) -> web.Response:
        return web.json_response({"ok": True, **extra})

    async def drop_ws(request: web.Request) -> web.Response:
        return ok(dropped=await faults.drop_connections())

    async def skip_seq(request: web.Request) -> web.Response:
        faults.skip_book_seq(_int(request, "n", 1))
        return ok()

    async def late_fills(request: web.Request) -> web.Response:
        try:
            faults.late_fill_frames(_int(request, "n", 1))
        except BadFaultError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return ok()

    async def fail(request: web.Request) -> web.Response:
        try:
            faults.fail_next(
                _int(request, "n", 1),
                _int(request, "status", 429),
                request.query.get("prefix", ""),
            )
        except BadFaultError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return ok()

    async def delay(request: web.Request) -> web.Response:
        ms = float(request.query.get("ms", "0"))
        n = _int(request, "n", 0)
        prefix = request.query.get("prefix", "")
        try:
            if request.query.get("answer", "") in ("1", "true"):
                faults.delay_answer_next(max(n, 1), ms, prefix)
            elif n:
                faults.delay_next(n, ms, prefix)
            else:
                faults.delay_ms = ms
        except BadFaultError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return ok()

    async def clear(request: web.Request) -> web.Response:
        faults.clear()
        return ok()

    async def trade(request: web.Request) -> web.Response:
        inst = request.query.get("inst", "")
        if inst not in exchange.instruments:
            raise web.HTTPBadRequest(
                text=f"inst: expected one of {sorted(exchange.instruments)}, found {inst!r}"
            )
        side = BUY if request.query.get("side", "SELL").upper() == "BUY" else SELL
        now = exchange.clock.now_ns()
        exchange.inject(
            Trade(inst, now, now, _int(request, "price", 0), _int(request, "size", 1), side)
        )
        exchange.step()
        return ok()

    async def step(request: web.Request) -> web.Response:
        exchange.step()
        return ok()

    async def stats(request: web.Request) -> web.Response:
        return web.Response(body=msgspec.json.encode(statistics()), content_type="application/json")

    p = ADMIN_PREFIX
    return [
        web.post(f"{p}/drop_ws", drop_ws),
        web.post(f"{p}/skip_seq", skip_seq),
        web.post(f"{p}/late_fills", late_fills),
        web.post(f"{p}/fail", fail),
        web.post(f"{p}/delay", delay),
        web.post(f"{p}/clear", clear),
        web.post(f"{p}/trade", trade),
        web.post(f"{p}/step", step),
        web.get(f"{p}/stats", stats),
    ]


class EmulatorServer:
    """Runs an application on a host and port and steps the exchange on a timer."""

    def __init__(
        self,
        app: web.Application,
        exchange: EmulatedExchange,
        clock: EmulatorClock,
        tick_s: float,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.exchange = exchange
        self.clock = clock
        self.tick_s = tick_s
        self._on_tick = on_tick
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.host = ""
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        runner = self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or ()
        self.host = host
        self.port = sockets[0].getsockname()[1] if sockets else port
        self._ticker = asyncio.create_task(self._tick_loop(), name="emulator-tick")

    def step(self) -> None:
        """One exchange step plus the venue's periodic duties."""
        self.exchange.step()
        if self._on_tick is not None:
            self._on_tick()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.step()
            except Exception:  # the emulator must keep serving; the error is a bug to fix
                log.exception("emulator step failed")

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
