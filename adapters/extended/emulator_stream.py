"""The emulator's Extended WebSocket v1 streams: one socket per topic, as on the venue.

Routes under ``/stream.extended.exchange/v1``: ``orderbooks/{market?}[?depth=1]``,
``publicTrades/{market?}``, ``funding/{market?}``, ``prices/mark/{market?}``,
``prices/index/{market?}`` and the private ``account`` (``X-Api-Key`` header); every socket needs
a ``User-Agent`` (HTTP 400 without). Every frame is
``{"type"?, "data", "ts", "seq"}`` with ``seq`` counting from 1 per socket. A book socket starts
with a ``SNAPSHOT`` of the whole book (``q`` absolute), then ``DELTA``s whose levels carry ``q``
(signed change) and ``c`` (absolute size); a fresh snapshot follows every ``snapshot_interval_s``.
A depth=1 socket gets only ``SNAPSHOT``s of the best bid and offer: on every change, and again
every ``BBO_INTERVAL_NS`` of the emulator's clock (at most once a step) in a quiet market.
The account socket starts with the open orders, positions and balance, then sends TRADE, ORDER,
POSITION and BALANCE updates in that order; the ``late_fill_frames`` fault holds a fill's TRADE,
POSITION and BALANCE back until the account's next update has sent its ORDER frames (the order
update overtakes the fill), before that update's own TRADE, POSITION and BALANCE, so positions
still arrive oldest first; a new account socket starts without the frames held for the old one,
as frames in flight die with their socket.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from adapters.emulator.account import AccountUpdate, EmulatedAccount
from adapters.emulator.server import WsClient
from adapters.extended.emulator_wire import (
    balance_json,
    order_json,
    position_json,
    ppb_str,
    trade_json,
)
from mmcore.events import BUY, BookDelta, BookSnapshot, Event, FundingRate, MarkPrice, Trade

if TYPE_CHECKING:
    from adapters.extended.emulator import ExtendedEmulator

__all__ = ["BBO_INTERVAL_NS", "STREAM_PREFIX", "StreamPublisher"]

STREAM_PREFIX = "/stream.extended.exchange/v1"
BBO_INTERVAL_NS = 10_000_000
"""extended.md §8 [DOC]: "depth=1 is a BBO snapshot every 10 ms". The emulator re-sends the
snapshot when a step of its clock finds this long passed since the last one: so at most once a
step (every ``tick_s`` of the server), however quiet the market, and only when its clock moves."""
_MS = 1_000_000
_encode = msgspec.json.encode


def _frame(client: WsClient, data: object, ts_ms: int, kind: str | None, skip: int = 0) -> str:
    client.seq += skip
    frame: dict[str, Any] = {"data": data, "ts": ts_ms, "seq": client.next_seq()}
    if kind is not None:
        frame["type"] = kind
    return _encode(frame).decode()


class StreamPublisher:
    """Renders exchange activity as Extended stream frames for every open socket."""

    def __init__(self, emu: ExtendedEmulator) -> None:
        self.emu = emu
        self._public_trade_id = 1_800_000_000_000_000_000
        self._source_event = 0
        self._last_snapshot_ns: dict[int, int] = {}
        self._late: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        """Per account, frames of a fill held back by the ``late_fill_frames`` fault."""
        self.public_trades: dict[str, deque[dict[str, Any]]] = {
            s: deque(maxlen=t.maxlen) for s, t in emu.exchange.trades.items()
        }
        """The recent public trades per market as sent on the stream, ids included: REST
        ``/info/markets/{m}/trades`` serves these, so both carry the same ids."""

    # ------------------------------------------------------------ routes

    def routes(self) -> list[web.RouteDef]:
        p = STREAM_PREFIX
        out: list[web.RouteDef] = []
        for path, kind in (
            ("orderbooks", "book"),
            ("publicTrades", "trades"),
            ("funding", "funding"),
            ("prices/mark", "mark"),
            ("prices/index", "index"),
        ):
            out.append(web.get(f"{p}/{path}", self._public(kind)))
            out.append(web.get(f"{p}/{path}/{{market}}", self._public(kind)))
        out.append(web.get(f"{p}/account", self._account))
        return out

    def _public(self, kind: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            # extended.md §2 [DOC]: "User-Agent is mandatory for REST and WS", public streams too
            self.emu.check_user_agent(request)
            market = request.match_info.get("market", "*")
            if market != "*" and market not in self.emu.exchange.instruments:
                raise web.HTTPNotFound(text=f"market {market!r} not found")
            if kind == "book" and request.query.get("depth") == "1":
                topic = f"bbo:{market}"
            else:
                topic = f"{kind}:{market}"
            return await self.emu.hub.serve(request, topic, self._opened)

        return handler

    async def _account(self, request: web.Request) -> web.StreamResponse:
        account = self.emu.authenticate(request)
        return await self.emu.hub.serve(request, f"account:{account.account_id}", self._opened)

    # ------------------------------------------------------------ first frames

    def _opened(self, client: WsClient) -> None:
        kind, _, market = client.topic.partition(":")
        now_ms = self.emu.exchange.clock.now_ns() // _MS
        if kind in ("book", "bbo"):
            for sym in self._markets(market):
                self._snapshot(client, sym, now_ms)
        elif kind == "account":
            account = self.emu.exchange.accounts[int(market)]
            self._late.pop(account.account_id, None)  # died with the socket they were due on
            self._account_snapshot(client, account, now_ms)

    def _markets(self, market: str) -> list[str]:
        return list(self.emu.exchange.instruments) if market == "*" else [market]

    def _snapshot(self, client: WsClient, sym: str, now_ms: int, skip: int = 0) -> None:
        book = self.emu.exchange.public[sym]
        if not book.seq:
            return
        inst = self.emu.exchange.instruments[sym]
        bids, asks = book.depth(1 if client.topic.startswith("bbo:") else 0)
        data = {"m": sym, "b": _levels(inst, bids), "a": _levels(inst, asks)}
        client.data[sym] = bids[:2] + asks[:2]
        client.send(_frame(client, data, now_ms, "SNAPSHOT", skip))
        self._last_snapshot_ns[id(client)] = self.emu.exchange.clock.now_ns()

    def _account_snapshot(self, client: WsClient, account: EmulatedAccount, now_ms: int) -> None:
        emu = self.emu
        insts = account.instruments
        orders = [order_json(o, account, insts[o.inst], emu.kind(o)) for o in account.open_orders()]
        client.send(_frame(client, {"orders": orders}, now_ms, "ORDER"))
        marks = emu.exchange.valuation_marks()
        positions = [
            position_json(p, account, insts[p.inst], marks.get(p.inst, 0))
            for p in account.positions.values()
            if p.size
        ]
        client.send(_frame(client, {"positions": positions}, now_ms, "POSITION"))
        bal = balance_json(account, marks, emu.exchange.clock.now_ns())
        client.send(_frame(client, {"balance": bal}, now_ms, "BALANCE"))

    # ------------------------------------------------------------ ExchangeListener

    def on_market(self, ev: Event, old: tuple[tuple[int, ...], tuple[int, ...]] | None) -> None:
        t = type(ev)
        e: Any = ev
        hub = self.emu.hub
        sym = e.inst
        ts_ms = e.ts // _MS
        inst = self.emu.exchange.instruments[sym]
        if t is BookSnapshot or t is BookDelta:
            clients = hub.of(f"book:{sym}") + hub.of("book:*")
            skip = self.emu.faults.take_seq_skip() if clients else 0
            for c in clients:
                if t is BookSnapshot or sym not in c.data:
                    self._snapshot(c, sym, ts_ms, skip)
                else:
                    assert old is not None
                    data = {
                        "m": sym,
                        "b": _delta_levels(inst, e.bids, old[0]),
                        "a": _delta_levels(inst, e.asks, old[1]),
                    }
                    c.send(_frame(c, data, ts_ms, "DELTA", skip))
            for c in hub.of(f"bbo:{sym}") + hub.of("bbo:*"):
                book = self.emu.exchange.public[sym]
                bids, asks = book.depth(1)
                if c.data.get(sym) != bids + asks:
                    self._snapshot(c, sym, ts_ms)
        elif t is Trade:
            self._public_trade_id += 1  # each public trade's id, given once for WS and REST
            trade = {
                "i": self._public_trade_id,
                "m": sym,
                "S": "BUY" if e.side == BUY else "SELL",
                "tT": "TRADE",
                "T": ts_ms,
                "p": inst.price_str(e.price),
                "q": inst.size_str(e.size),
            }
            self.public_trades[sym].append(trade)
            for c in hub.of(f"trades:{sym}") + hub.of("trades:*"):
                c.send(_frame(c, [trade], ts_ms, None))
        elif t is MarkPrice:
            self._source_event += 1
            for kind, topic, price in (
                ("MP", "mark", e.price),
                ("IP", "index", e.index_price or e.price),
            ):
                data = {"m": sym, "p": inst.price_str(price), "ts": ts_ms}
                for c in hub.of(f"{topic}:{sym}") + hub.of(f"{topic}:*"):
                    frame = _frame(c, data, ts_ms, kind)
                    c.send(frame[:-1] + f',"sourceEventId":{self._source_event}}}')
        elif t is FundingRate:
            data = {"m": sym, "T": ts_ms, "f": ppb_str(e.rate_ppb)}
            for c in hub.of(f"funding:{sym}") + hub.of("funding:*"):
                c.send(_frame(c, data, ts_ms, None))

    def on_account(self, account: EmulatedAccount, update: AccountUpdate) -> None:
        clients = self.emu.hub.of(f"account:{account.account_id}")
        if not clients:
            return
        emu = self.emu
        now_ns = emu.exchange.clock.now_ns()
        now_ms = now_ns // _MS
        insts = account.instruments
        marks = emu.exchange.valuation_marks()
        frames: list[tuple[str, dict[str, Any]]] = []
        if update.fills:
            trades = [trade_json(f, account, insts[f.inst]) for f in update.fills]
            frames.append(("TRADE", {"trades": trades}))
        if update.orders:
            orders = [order_json(o, account, insts[o.inst], emu.kind(o)) for o in update.orders]
            frames.append(("ORDER", {"orders": orders}))
        if update.positions:
            positions = [
                position_json(p, account, insts[p.inst], marks.get(p.inst, 0))
                for p in update.positions
            ]
            frames.append(("POSITION", {"positions": positions}))
        if update.balance:
            frames.append(("BALANCE", {"balance": balance_json(account, marks, now_ns)}))
        frames = self._reorder(account.account_id, frames, bool(update.fills))
        for c in clients:
            for kind, data in frames:
                c.send(_frame(c, data, now_ms, kind))

    def _reorder(
        self, account_id: int, frames: list[tuple[str, dict[str, Any]]], fills: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        """The ORDER frames of an update, then the frames held back from the one before, then
        the update's others; those held back in turn (a fill's, ``fills``) when the
        ``late_fill_frames`` fault says so. Held frames go out before any newer TRADE or
        POSITION, so a position never reaches the adapter after a newer one. Frames are numbered
        as they are sent, so a late one makes no sequence gap."""
        held = self._late.pop(account_id, [])
        late = fills and self.emu.faults.take_late_fill()
        if not (held or late):
            return frames  # the venue's own order: TRADE, ORDER, POSITION, BALANCE
        orders = [f for f in frames if f[0] == "ORDER"]
        others = [f for f in frames if f[0] != "ORDER"]
        if late:
            self._late[account_id] = held + others
            return orders
        return orders + held + others

    # ------------------------------------------------------------ periodic duties

    def refresh_snapshots(self, interval_ns: int) -> None:
        """Send a fresh snapshot on every book socket that has not had one for ``interval_ns``,
        and on every depth=1 socket that has not had one for ``BBO_INTERVAL_NS``."""
        now = self.emu.exchange.clock.now_ns()
        for c in list(self.emu.hub.clients):
            kind, _, market = c.topic.partition(":")
            if kind == "book":
                every = interval_ns
            elif kind == "bbo":
                every = BBO_INTERVAL_NS
            else:
                continue
            last = self._last_snapshot_ns.get(id(c), now)
            if now - last >= every:
                for sym in self._markets(market):
                    self._snapshot(c, sym, now // _MS)


def _levels(inst: Any, flat: tuple[int, ...]) -> list[dict[str, str]]:
    return [
        {"p": inst.price_str(flat[i]), "q": inst.size_str(flat[i + 1])}
        for i in range(0, len(flat), 2)
    ]


def _delta_levels(inst: Any, flat: tuple[int, ...], old: tuple[int, ...]) -> list[dict[str, str]]:
    out = []
    for i in range(0, len(flat), 2):
        price, size = flat[i], flat[i + 1]
        before = old[i + 1] if i + 1 < len(old) and old[i] == price else 0
        out.append(
            {
                "p": inst.price_str(price),
                "q": inst.size_str(size - before),
                "c": inst.size_str(size),
            }
        )
    return out
