"""The emulator's side of Extended's wire format: integer state → the JSON the SDK parses.

Shapes follow ``x10.models`` (SDK 2.6.0) field for field; numbers are decimal strings except ids,
precisions, resolutions and millisecond timestamps. Decimals come from the ``Instrument``.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from adapters.emulator.account import (
    DEAD_MAN_REASON,
    EXPIRED_REASON,
    EmulatedAccount,
    EmulatedFill,
    EmulatedFunding,
    EmulatedOrder,
    EmulatedPosition,
)
from mmcore.events import BUY
from mmcore.instrument import NANOS, PPB, Instrument

__all__ = [
    "CROSSES_OTHER_ACCOUNT",
    "CROSSES_OWN_ORDER",
    "MarketSpec",
    "balance_json",
    "funding_json",
    "market_json",
    "market_spec",
    "money",
    "order_json",
    "position_json",
    "ppb_str",
    "stats_json",
    "status_reason",
    "trade_json",
]

MS = 1_000_000

CROSSES_OTHER_ACCOUNT = "CROSSES_OTHER_ACCOUNT"
"""The emulator's engine refused a taker order that would cross or lock another account's resting
order: its matching cannot trade accounts with each other (``adapters.extended.emulator_rest``)."""
CROSSES_OWN_ORDER = "CROSSES_OWN_ORDER"
"""Likewise for one of the same account's resting orders, self-trade protection DISABLED."""

_REASONS = {
    "post_only_would_cross": "POST_ONLY_FAILED",
    "reduce_only": "REDUCE_ONLY_FAILED",
    "invalid_size": "INVALID_QTY",
    "invalid_price": "INVALID_PRICE",
    "invalid_side": "UNKNOWN",
    "invalid_tif": "UNKNOWN",
    "unknown_instrument": "UNKNOWN_MARKET",
    "duplicate_client_id": "PREV_ORDER_CONFLICT",
    "self_trade": "SELF_TRADE_PROTECTION",
    # no Extended statusReason says "the emulator cannot match this": the catch-all (§7 [DOC])
    CROSSES_OTHER_ACCOUNT: "UNKNOWN",
    CROSSES_OWN_ORDER: "UNKNOWN",
    "ORDER_REPLACED": "ORDER_REPLACED",
    "canceled": "NONE",
    "cancel_all": "NONE",
    "ioc_remainder": "NONE",
    DEAD_MAN_REASON: "NONE",
    EXPIRED_REASON: "NONE",
    "": "NONE",
}


def status_reason(reason: str) -> str:
    """Extended's ``statusReason`` for the simulated venue's reject or cancel code."""
    return _REASONS.get(reason, "UNKNOWN")


def money(nanos: int) -> str:
    """Nanos of quote as a plain decimal string (no exponent)."""
    return f"{Decimal(nanos) / NANOS:f}"


def ppb_str(ppb: int) -> str:
    return f"{Decimal(ppb) / PPB:f}"


def _ms(ns: int) -> int:
    return ns // MS


class MarketSpec(msgspec.Struct, frozen=True):
    """What the Extended market object says beyond the ``Instrument``: assets and L2 config."""

    name: str
    asset: str
    asset_precision: int
    collateral: str
    synthetic_id: str
    synthetic_resolution: int
    collateral_resolution: int = 1_000_000
    collateral_id: str = "0x1"
    limit_price_cap: str = "0.1"
    limit_price_floor: str = "0.1"
    max_num_orders: int = 200
    max_leverage: int = 50
    max_market_order_value: str = "1000000"
    max_limit_order_value: str = "5000000"


def market_spec(inst: Instrument) -> MarketSpec:
    """Asset "BTC" and synthetic id ``hex("BTC-<precision>")`` padded to 15 bytes, as mainnet."""
    asset = inst.symbol.split("-")[0]
    lot_places = max(0, -inst.lot.normalize().as_tuple().exponent)  # type: ignore[operator]
    raw = f"{asset}-{lot_places}".encode()[:15].ljust(15, b"\0")
    return MarketSpec(
        name=inst.symbol,
        asset=asset,
        asset_precision=lot_places,
        collateral=inst.quote,
        synthetic_id="0x" + raw.hex(),
        synthetic_resolution=10 ** max(6, lot_places),
    )


def stats_json(inst: Instrument, bid: int, ask: int, mark: int, index: int, rate: int) -> dict:
    p = inst.price_str
    mid = (bid + ask) // 2 if bid and ask else mark
    return {
        "dailyVolume": "0",
        "dailyVolumeBase": "0",
        "dailyPriceChange": "0",
        "dailyLow": p(mid),
        "dailyHigh": p(mid),
        "lastPrice": p(mid),
        "askPrice": p(ask),
        "bidPrice": p(bid),
        "markPrice": p(mark or mid),
        "indexPrice": p(index or mark or mid),
        "fundingRate": ppb_str(rate),
        "nextFundingRate": 0,
        "openInterest": "0",
        "openInterestBase": "0",
    }


def market_json(spec: MarketSpec, inst: Instrument, stats: dict) -> dict:
    return {
        "name": spec.name,
        "type": "PERPETUAL",
        "assetName": spec.asset,
        "assetPrecision": spec.asset_precision,
        "collateralAssetName": spec.collateral,
        "collateralAssetPrecision": 6,
        "active": True,
        "status": "ACTIVE",
        "isRfq": False,
        "isOffHours": False,
        "tradingHours": "CONTINUOUS",
        "marketStats": stats,
        "tradingConfig": {
            "minOrderSize": inst.min_size,
            "minOrderSizeChange": inst.lot_size,
            "minPriceChange": inst.tick_size,
            "maxMarketOrderValue": spec.max_market_order_value,
            "maxLimitOrderValue": spec.max_limit_order_value,
            "maxPositionValue": "10000000",
            "maxLeverage": str(spec.max_leverage),
            "maxNumOrders": spec.max_num_orders,
            "limitPriceCap": spec.limit_price_cap,
            "limitPriceFloor": spec.limit_price_floor,
            "riskFactorConfig": [{"upperBound": "10000000", "riskFactor": "0.02"}],
        },
        "l2Config": {
            "type": "STARKX",
            "collateralId": spec.collateral_id,
            "collateralResolution": spec.collateral_resolution,
            "syntheticId": spec.synthetic_id,
            "syntheticResolution": spec.synthetic_resolution,
        },
    }


def order_json(
    order: EmulatedOrder, account: EmulatedAccount, inst: Instrument, kind: str = "LIMIT"
) -> dict:
    avg = ""
    if order.filled:
        avg = f"{Decimal(order.filled_notional) / order.filled * inst.tick:f}"
    cancelled = order.size - order.filled if order.status in ("CANCELLED", "EXPIRED") else 0
    out: dict[str, object] = {
        "id": order.venue_id,
        "accountId": account.account_id,
        "externalId": order.client_id,
        "market": order.inst,
        "type": kind,
        "side": "BUY" if order.side == BUY else "SELL",
        "status": order.status if order.status != "PENDING" else "NEW",
        "statusReason": status_reason(order.reason),
        "price": inst.price_str(order.price),
        "qty": inst.size_str(order.size),
        "filledQty": inst.size_str(order.filled),
        "cancelledQty": inst.size_str(cancelled),
        "reduceOnly": order.reduce_only,
        "postOnly": order.post_only,
        "payedFee": money(order.fee_nanos),
        "createdTime": _ms(order.created_ns),
        "updatedTime": _ms(order.updated_ns),
        "expiryTime": _ms(order.expiry_ns),
        "timeInForce": "IOC" if order.tif == "IOC" else "GTT",
    }
    if avg:
        out["averagePrice"] = avg
    return out


def trade_json(fill: EmulatedFill, account: EmulatedAccount, inst: Instrument) -> dict:
    value = fill.price * fill.size * inst.nanos_per_tick_lot
    return {
        "id": fill.trade_id,
        "accountId": account.account_id,
        "market": fill.inst,
        "orderId": fill.venue_order_id,  # no external id: the SDK's trade model has none
        "side": "BUY" if fill.side == BUY else "SELL",
        "price": inst.price_str(fill.price),
        "qty": inst.size_str(fill.size),
        "value": money(value),
        "fee": money(fill.fee_nanos),
        "isTaker": not fill.maker,
        "tradeType": "TRADE",
        "createdTime": _ms(fill.ts_ns),
    }


def position_json(
    pos: EmulatedPosition, account: EmulatedAccount, inst: Instrument, mark: int
) -> dict:
    size = abs(pos.size)
    unit = inst.nanos_per_tick_lot
    direction = 1 if pos.size >= 0 else -1
    unrealised = (mark * size - pos.entry_notional) * direction * unit if size else 0
    open_price = Decimal(pos.entry_notional) / size * inst.tick if size else Decimal(0)
    return {
        "id": pos.id,
        "accountId": account.account_id,
        "market": pos.inst,
        "status": "OPENED" if size else "CLOSED",
        "side": "LONG" if pos.size >= 0 else "SHORT",
        "leverage": str(account.leverage_of(pos.inst)),
        "size": inst.size_str(size),
        "value": money(mark * size * unit),
        "openPrice": f"{open_price:f}",
        "markPrice": inst.price_str(mark),
        "unrealisedPnl": money(unrealised),
        "realisedPnl": money(pos.realized_nanos),
        "createdAt": _ms(pos.created_ns),
        "updatedAt": _ms(pos.updated_ns),
    }


def balance_json(account: EmulatedAccount, marks: dict[str, int], now_ns: int) -> dict:
    equity = account.equity_nanos(marks)
    margin = account.initial_margin_nanos(marks)
    available = equity - margin
    ratio = f"{Decimal(margin) / equity:f}" if equity > 0 else "0"
    return {
        "collateralName": next(iter(account.instruments.values())).quote,
        "balance": money(account.collateral_nanos),
        "equity": money(equity),
        "availableForTrade": money(available),
        "availableForWithdrawal": money(max(0, available)),
        "unrealisedPnl": money(account.unrealized_nanos(marks)),
        "initialMargin": money(margin),
        "marginRatio": ratio,
        "exposure": money(account.exposure_nanos(marks)),
        "leverage": str(account.leverage),
        "updatedTime": _ms(now_ns),
    }


def funding_json(f: EmulatedFunding, account: EmulatedAccount, inst: Instrument) -> dict:
    """One record of ``GET /user/funding/history`` (extended.md §4: ``id, accountId, market,
    positionId, side, size, value, markPrice, fundingFee, fundingRate, paidTime``).

    ``fundingFee`` is positive when the account received funding [GUESS: the notes do not say;
    the adapter reads only its size, and the direction from ``side`` and ``fundingRate``].
    ``value`` is the position's notional at
    ``markPrice`` [GUESS: the venue's records do not say more]."""
    size = abs(f.size)
    return {
        "id": f.payment_id,
        "accountId": account.account_id,
        "market": f.inst,
        "positionId": f.position_id,
        "side": "LONG" if f.size >= 0 else "SHORT",
        "size": inst.size_str(size),
        "value": money(size * f.mark_x2 * inst.nanos_per_tick_lot // 2),
        "markPrice": f"{Decimal(f.mark_x2) * inst.tick / 2:f}",
        "fundingFee": money(f.amount),
        "fundingRate": ppb_str(f.rate_ppb),
        "paidTime": _ms(f.paid_ns),
    }
