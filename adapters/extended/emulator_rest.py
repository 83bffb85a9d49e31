"""The emulator's Extended REST API under ``/api/v1``: the routes and shapes the SDK uses.

Envelope ``{"status":"OK","data":...}``; errors ``{"status":"ERROR","error":{"code":<int>,
"message":...}}`` with HTTP 400 (validation), 401 (key), 404 (not found), 429 (past the per-IP
budget, ``adapters.extended.emulator``). ``/user/*`` needs a known ``X-Api-Key``; every call needs
a ``User-Agent``. A place the REST checks accept can still be refused by the venue's engine
afterwards, on the account stream only (post-only crossing, self-trade protection:
``RestApi._engine_refusal``). Besides the SDK's routes, the two the adapter calls itself: the dead
man's switch (``POST /user/deadmanswitch``) and the account's funding payments (``GET
/user/funding/history``, ``fromTime`` required, as on the venue).

The emulator's limit: its matching runs each account against the market feed alone, so it cannot
trade two accounts' orders with each other, nor an account's order with its own. An order that
would cross or lock a resting order of another account, or (``selfTradeProtectionLevel``
DISABLED) one of the same account, would otherwise rest crossed under it or trade past it; the
emulator's engine refuses it instead (REJECTED, statusReason UNKNOWN, the order's reason
``CROSSES_OTHER_ACCOUNT`` / ``CROSSES_OWN_ORDER``), where the venue would have traded it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from adapters.emulator.account import EmulatedAccount, EmulatedOrder
from adapters.extended.emulator_orders import OrderRefused, ValidOrder, check_order
from adapters.extended.emulator_wire import (
    CROSSES_OTHER_ACCOUNT,
    CROSSES_OWN_ORDER,
    balance_json,
    funding_json,
    market_json,
    order_json,
    position_json,
    ppb_str,
    stats_json,
    trade_json,
)
from mmcore.events import BUY

if TYPE_CHECKING:
    from adapters.extended.emulator import ExtendedEmulator

__all__ = ["API_PREFIX", "RestApi", "error_response", "json_text", "ok_response"]

API_PREFIX = "/api/v1"
_MS = 1_000_000


def json_text(obj: object) -> str:
    return msgspec.json.encode(obj).decode()


def ok_response(data: object = None, pagination: dict[str, int] | None = None) -> web.Response:
    body: dict[str, object] = {"status": "OK"}
    if data is not None:
        body["data"] = data
    if pagination is not None:
        body["pagination"] = pagination
    return web.Response(text=json_text(body), content_type="application/json")


def error_response(status: int, code: int, message: str) -> web.Response:
    body = {"status": "ERROR", "error": {"code": code, "message": message}}
    return web.Response(
        status=status, text=json_text(body), content_type="application/json"
    )


class _MassCancel(msgspec.Struct, rename="camel"):
    order_ids: list[int] | None = None
    external_order_ids: list[str] | None = None
    markets: list[str] | None = None
    cancel_all: bool | None = None


class RestApi:
    """Handlers bound to one emulator."""

    def __init__(self, emu: ExtendedEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[web.RouteDef]:
        p = API_PREFIX
        return [
            web.get(f"{p}/info/markets", self.markets),
            web.get(f"{p}/info/markets/{{m}}/stats", self.stats),
            web.get(f"{p}/info/markets/{{m}}/orderbook", self.orderbook),
            web.get(f"{p}/info/markets/{{m}}/trades", self.public_trades),
            web.get(f"{p}/info/{{m}}/funding", self.funding_history),
            web.post(f"{p}/user/order", self.place),
            web.delete(f"{p}/user/order/{{id:\\d+}}", self.cancel_by_id),
            web.delete(f"{p}/user/order", self.cancel_by_external_id),
            web.post(f"{p}/user/order/massCancel", self.mass_cancel),
            web.post(f"{p}/user/deadmanswitch", self.dead_man),
            web.get(f"{p}/user/balance", self.balance),
            web.get(f"{p}/user/positions", self.positions),
            web.get(f"{p}/user/orders", self.open_orders),
            web.get(f"{p}/user/orders/history", self.orders_history),
            web.get(f"{p}/user/orders/external/{{ext}}", self.order_by_external_id),
            web.get(f"{p}/user/orders/{{id:\\d+}}", self.order_by_id),
            web.get(f"{p}/user/trades", self.trades),
            web.get(f"{p}/user/funding/history", self.funding_payments),
            web.get(f"{p}/user/fees", self.fees),
            web.get(f"{p}/user/leverage", self.leverage),
            web.patch(f"{p}/user/leverage", self.set_leverage),
            web.get(f"{p}/user/account/info", self.account_info),
        ]

    # ------------------------------------------------------------ helpers

    def _markets(self, request: web.Request) -> list[str]:
        names = request.query.getall("market", [])
        known = self.emu.exchange.instruments
        return [n for n in names if n in known] if names else list(known)

    def _market(self, request: web.Request) -> str:
        m = request.match_info["m"]
        if m not in self.emu.exchange.instruments:
            raise web.HTTPNotFound(
                text=json_text(
                    {"status": "ERROR", "error": {"code": 1001, "message": f"market {m} not found"}}
                ),
                content_type="application/json",
            )
        return m

    def _order(self, account: EmulatedAccount, order: EmulatedOrder) -> dict[str, Any]:
        return order_json(order, account, account.instruments[order.inst], self.emu.kind(order))

    # ------------------------------------------------------------ public

    async def markets(self, request: web.Request) -> web.Response:
        self.emu.check_user_agent(request)
        return ok_response([self._market_json(m) for m in self._markets(request)])

    def _market_json(self, sym: str) -> dict[str, Any]:
        ex = self.emu.exchange
        inst = ex.instruments[sym]
        return market_json(self.emu.specs[sym], inst, self._stats(sym))

    def _stats(self, sym: str) -> dict[str, Any]:
        ex = self.emu.exchange
        book = ex.public[sym]
        rate = ex.funding[sym].rate_ppb if sym in ex.funding else 0
        return stats_json(
            ex.instruments[sym],
            book.best_bid(),
            book.best_ask(),
            ex.marks.get(sym, 0),
            ex.index.get(sym, 0),
            rate,
        )

    async def stats(self, request: web.Request) -> web.Response:
        self.emu.check_user_agent(request)
        return ok_response(self._stats(self._market(request)))

    async def orderbook(self, request: web.Request) -> web.Response:
        self.emu.check_user_agent(request)
        sym = self._market(request)
        inst = self.emu.exchange.instruments[sym]
        bids, asks = self.emu.exchange.public[sym].depth()

        def side(flat: tuple[int, ...]) -> list[dict[str, str]]:
            return [
                {"qty": inst.size_str(flat[i + 1]), "price": inst.price_str(flat[i])}
                for i in range(0, len(flat), 2)
            ]

        return ok_response({"market": sym, "bid": side(bids), "ask": side(asks)})

    async def public_trades(self, request: web.Request) -> web.Response:
        """The recent public trades, oldest first, with the ids the trades stream gave them."""
        self.emu.check_user_agent(request)
        sym = self._market(request)
        return ok_response(list(self.emu.streams.public_trades[sym]))

    async def funding_history(self, request: web.Request) -> web.Response:
        self.emu.check_user_agent(request)
        sym = self._market(request)
        fr = self.emu.exchange.funding.get(sym)
        out = [] if fr is None else [{"m": sym, "T": fr.ts // _MS, "f": ppb_str(fr.rate_ppb)}]
        return ok_response(out)

    # ------------------------------------------------------------ orders

    async def place(self, request: web.Request) -> web.Response:
        emu = self.emu
        account = emu.authenticate(request)
        keys = emu.keys[account.account_id]
        ex = emu.exchange
        now = ex.clock.now_ns()
        raw = await request.read()
        try:
            v = check_order(
                raw,
                account,
                int(keys.stark_public_key, 16),
                keys.vault,
                emu.specs,
                emu.domain,
                ex.valuation_marks(),
                now,
            )
        except OrderRefused as exc:
            emu.refused[exc.code] = emu.refused.get(exc.code, 0) + 1
            return error_response(400, exc.code, exc.message)
        if v.cancel_id is not None:
            old = account.by_client.get(v.cancel_id)
            if old is None or not old.is_open:
                return error_response(400, 1142, f"order {v.cancel_id!r} to replace not found")
            ex.cancel(account, old, "ORDER_REPLACED")
        order = account.new_order(
            v.external_id,
            v.inst,
            v.side,
            v.price,
            v.size,
            v.post_only,
            v.reduce_only,
            v.tif,
            now,
            v.expiry_ns,
        )
        emu.kinds[order.venue_id] = v.kind
        refusal = self._engine_refusal(account, v)
        if refusal:
            ex.refuse(account, order, refusal)
        else:
            ex.place(account, order)
        return ok_response({"id": order.venue_id, "externalId": order.client_id})

    def _engine_refusal(self, account: EmulatedAccount, v: ValidOrder) -> str:
        """Why Extended's matching engine would refuse ``v`` after the REST OK, or "".

        Source: extended.md §6 [DOC] "Engine rejects (post-only cross, STP) arrive later on the
        account stream as REJECTED/CANCELLED + statusReason"; §6 enum ``selfTradeProtectionLevel``
        (ACCOUNT, the SDK default, "blocks trades within one sub-account"; the taker's level
        applies). The simulated matching behind each account sees only the feed, not the resting
        orders of any account, so without this a post-only order crossing a resting order (ours
        or another account's) would rest, crossed, and an order crossing a resting order would
        rest under it or trade past it. Here a post-only order is checked against the public book
        (feed plus every account's resting orders): crossing it is POST_ONLY_FAILED. A taker
        order with protection on that would meet one of the account's own resting orders is
        refused whole (SELF_TRADE_PROTECTION); the venue may first fill it against better prices
        [GUESS], and with one client per emulated account CLIENT protects as ACCOUNT does. A
        taker order that would meet another account's resting order, or its own with protection
        DISABLED, would trade on the venue; the emulator cannot match them, so it refuses the
        order (``CROSSES_OTHER_ACCOUNT``, ``CROSSES_OWN_ORDER``: the module's limit).
        """
        buy = v.side == BUY
        if v.post_only:
            book = self.emu.exchange.public[v.inst]
            best = book.best_ask() if buy else book.best_bid()
            if best and (v.price >= best if buy else v.price <= best):
                return "post_only_would_cross"
            return ""
        own = other = False
        for holder in self.emu.exchange.accounts.values():
            for o in holder.open_orders(v.inst):
                if (
                    o.side != v.side
                    and o.tif != "IOC"
                    and (v.price >= o.price if buy else v.price <= o.price)
                ):
                    if holder is account:
                        own = True
                    else:
                        other = True
        if own:
            return CROSSES_OWN_ORDER if v.self_trade_protection == "DISABLED" else "self_trade"
        return CROSSES_OTHER_ACCOUNT if other else ""

    def _cancel(self, account: EmulatedAccount, order: EmulatedOrder | None) -> web.Response:
        if order is None or not order.is_open:
            return error_response(404, 1142, "order not found or not open")
        self.emu.exchange.cancel(account, order)
        return ok_response()

    async def cancel_by_id(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        return self._cancel(account, account.orders.get(int(request.match_info["id"])))

    async def cancel_by_external_id(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        ext = request.query.get("externalId")
        if ext is None:
            return error_response(400, 1133, "externalId: expected a query parameter")
        return self._cancel(account, account.by_client.get(ext))

    async def mass_cancel(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        try:
            body = msgspec.json.decode(await request.read(), type=_MassCancel)
        except msgspec.DecodeError as exc:
            return error_response(400, 1133, f"mass cancel body: {exc}")
        if not (body.order_ids or body.external_order_ids or body.markets or body.cancel_all):
            return error_response(400, 1133, "mass cancel: expected at least one selector")
        ex = self.emu.exchange
        if body.cancel_all:
            ex.cancel_all(account)
            return ok_response()
        for m in body.markets or ():
            ex.cancel_all(account, m)
        ids = set(body.order_ids or ())
        exts = set(body.external_order_ids or ())
        for order in account.open_orders():
            if order.venue_id in ids or order.client_id in exts:
                ex.cancel(account, order)
        return ok_response()

    async def dead_man(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        raw = request.query.get("countdownTime", "")
        try:
            seconds = int(raw)
            if seconds < 0:
                raise ValueError(raw)
        except ValueError:
            return error_response(400, 1133, f"countdownTime: expected seconds >= 0, found {raw!r}")
        account.dead_man.arm(seconds, self.emu.exchange.clock.now_ns())
        return web.Response(status=200, text="")  # the venue answers with an empty body (ccxt)

    # ------------------------------------------------------------ account reads

    async def balance(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        ex = self.emu.exchange
        if account.collateral_nanos == 0 and not any(p.size for p in account.positions.values()):
            return error_response(404, 404, "balance not found")
        return ok_response(balance_json(account, ex.valuation_marks(), ex.clock.now_ns()))

    async def positions(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        marks = self.emu.exchange.valuation_marks()
        wanted = set(self._markets(request))
        side = request.query.get("side")
        out = []
        for pos in account.positions.values():
            if not pos.size or pos.inst not in wanted:
                continue
            if side and side != ("LONG" if pos.size > 0 else "SHORT"):
                continue
            out.append(position_json(pos, account, account.instruments[pos.inst], marks[pos.inst]))
        return ok_response(out)

    def _filtered(self, request: web.Request, orders: list[EmulatedOrder]) -> list[EmulatedOrder]:
        wanted = set(self._markets(request))
        side = request.query.get("side")
        return [
            o
            for o in orders
            if o.inst in wanted and (not side or side == ("BUY" if o.side == BUY else "SELL"))
        ]

    async def open_orders(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        orders = self._filtered(request, account.open_orders())
        return ok_response([self._order(account, o) for o in orders])

    async def orders_history(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        closed = [o for o in account.orders.values() if not o.is_open]
        orders = self._filtered(request, closed)
        return ok_response([self._order(account, o) for o in reversed(orders)])

    async def order_by_id(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        order = account.orders.get(int(request.match_info["id"]))
        if order is None:
            return error_response(404, 1142, "order not found")
        return ok_response(self._order(account, order))

    async def order_by_external_id(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        order = account.by_client.get(request.match_info["ext"])
        if order is None:
            return error_response(404, 1142, "order not found")
        return ok_response([self._order(account, order)])

    async def trades(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        wanted = set(self._markets(request))
        side = request.query.get("side")
        limit = int(request.query.get("limit", "100"))
        cursor = int(request.query.get("cursor", "0")) or None
        fills = [
            f
            for f in reversed(account.fills)
            if f.inst in wanted
            and (not side or side == ("BUY" if f.side == BUY else "SELL"))
            and (cursor is None or f.trade_id < cursor)
        ][:limit]
        out = [trade_json(f, account, account.instruments[f.inst]) for f in fills]
        pagination = {"cursor": fills[-1].trade_id if fills else 0, "count": len(fills)}
        return ok_response(out, pagination)

    async def funding_payments(self, request: web.Request) -> web.Response:
        """``GET /user/funding/history?market=&side=LONG|SHORT&fromTime=<ms>``: the account's
        funding payments paid at or after ``fromTime`` (required by the venue, extended.md §4:
        refused here with 1133, as a missing ``externalId`` is), newest first with a
        ``pagination`` as the trades [GUESS: the order and the pagination]."""
        account = self.emu.authenticate(request)
        raw = request.query.get("fromTime")
        if raw is None:
            return error_response(400, 1133, "fromTime: expected a query parameter (epoch ms)")
        try:
            from_ms = int(raw)
            if from_ms < 0:
                raise ValueError(raw)
        except ValueError:
            return error_response(
                400, 1133, f"fromTime: expected epoch milliseconds >= 0, found {raw!r}"
            )
        wanted = set(self._markets(request))
        side = request.query.get("side")
        paid = [
            f
            for f in reversed(account.funding)
            if f.inst in wanted
            and (not side or side == ("LONG" if f.size >= 0 else "SHORT"))
            and f.paid_ns // _MS >= from_ms
        ]
        out = [funding_json(f, account, account.instruments[f.inst]) for f in paid]
        pagination = {"cursor": paid[-1].payment_id if paid else 0, "count": len(paid)}
        return ok_response(out, pagination)

    async def fees(self, request: web.Request) -> web.Response:
        self.emu.authenticate(request)
        insts = self.emu.exchange.instruments
        out = [
            {
                "market": m,
                "makerFeeRate": insts[m].maker_fee,
                "takerFeeRate": insts[m].taker_fee,
                "builderFeeRate": "0",
            }
            for m in self._markets(request)
        ]
        return ok_response(out)

    async def leverage(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        out = [
            {"market": m, "leverage": str(account.leverage_of(m))} for m in self._markets(request)
        ]
        return ok_response(out)

    async def set_leverage(self, request: web.Request) -> web.Response:
        """PATCH ``{"market","leverage"}``: one market's leverage, 1..its ``maxLeverage``.

        extended.md §3 [DOC] gives only "1049–1053 leverage errors". Their order in the venue's
        error table (as a third-party client lists the names: below min, exceeds max, max
        position value, insufficient margin, precision) gives 1049 below 1, 1050 above the
        market's ``maxLeverage`` and 1053 a fractional value [GUESS]; a bad body is 1133.
        """
        account = self.emu.authenticate(request)
        try:
            body = msgspec.json.decode(await request.read())
            market, raw = body["market"], body["leverage"]
            value = Decimal(str(raw))
        except (msgspec.DecodeError, KeyError, TypeError, ArithmeticError) as exc:
            return error_response(400, 1133, f"leverage: expected {{market, leverage}}: {exc}")
        spec = self.emu.specs.get(market) if isinstance(market, str) else None
        if spec is None:
            return error_response(404, 1001, f"market {market!r} not found")
        if not value.is_finite() or value < 1:
            return error_response(400, 1049, f"leverage {raw}: expected at least 1")
        if value > spec.max_leverage:
            return error_response(
                400, 1050, f"leverage {raw}: above {market}'s maxLeverage {spec.max_leverage}"
            )
        if value != value.to_integral_value():
            return error_response(400, 1053, f"leverage {raw}: expected a whole number")
        account.leverages[market] = int(value)
        return ok_response()

    async def account_info(self, request: web.Request) -> web.Response:
        account = self.emu.authenticate(request)
        keys = self.emu.keys[account.account_id]
        return ok_response(
            {
                "status": "ACTIVE",
                "l2Key": keys.stark_public_key,
                "l2Vault": keys.vault,
                "accountId": account.account_id,
                "accountIndex": 0,
                "description": "emulated account",
            }
        )
