"""The emulator's order intake: decode a POST ``/user/order`` body and check it as Extended does.

Checks, in order, each failing with Extended's error code: the body's shape (1133), a duplicate
external id (1134), the market (1001), the order type and time in force (1133, 1139), the nonce's
range (1133), the Stark key and vault against the account (1100, 1102), the signature (1101), size
minimum and step (1120, 1121), price step and band (1124, 1141: the market's limit price cap and
floor for LIMIT, mark ±5% for MARKET), the order's value against the market's
``maxLimitOrderValue`` / ``maxMarketOrderValue`` (1122), the fee cap (1128), the expiry against
the network's maximum (1135: 90 days on mainnet, 28 on testnet) and the open order limit (1126).
The signature is recomputed from the body alone with the SDK's own amount rounding and
``fast_stark_crypto``, under the emulator's Starknet domain.

Source of each rule: the Extended protocol notes (shared/venues/extended.md) §3 (codes, [DOC])
and §6 (nonce 1..2^31 and expiry 90 d mainnet / 28 d testnet, [DOC]). What the venue's matching
engine refuses after the REST OK (post-only that would cross, self-trade protection) is not
checked here but in ``adapters.extended.emulator_rest`` (§6: "Engine rejects ... arrive later on
the account stream").
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import msgspec
from fast_stark_crypto import get_order_msg_hash, verify
from x10.core.amount import (
    ROUNDING_BUY_CONTEXT,
    ROUNDING_FEE_CONTEXT,
    ROUNDING_SELL_CONTEXT,
    InternalAmount,
    SettlementAsset,
)
from x10.core.client_config import StarknetDomain

from adapters.emulator.account import EmulatedAccount
from adapters.extended.emulator_wire import MarketSpec
from mmcore.errors import MMError
from mmcore.events import BUY, SELL

__all__ = [
    "MARKET_PRICE_BAND",
    "MAX_EXPIRY_MS",
    "MAX_EXPIRY_MS_TESTNET",
    "OrderBody",
    "OrderRefused",
    "ValidOrder",
    "check_order",
    "max_expiry_ms",
    "order_hash",
]

SETTLEMENT_BUFFER_S = 14 * 86400
MAX_EXPIRY_MS = 90 * 86400 * 1000
"""Mainnet's longest order lifetime (extended.md §6 [DOC]: 90 days mainnet, 28 testnet)."""
MAX_EXPIRY_MS_TESTNET = 28 * 86400 * 1000
"""Testnet's (any domain but ``SN_MAIN``; the emulator signs with Sepolia's by default)."""
MARKET_PRICE_BAND = Decimal("0.05")
"""A MARKET order's price must lie within mark*(1 ± this) (extended.md §6 [DOC]: "market orders
within ±5% of mark"); outside it, 1141 (bad price) as for the limit band."""
NONCE_MIN = 1
NONCE_MAX = 2**31
"""The nonce range the docs give (extended.md §6 [DOC]: "the docs say 1..2^31"; the SDK's own
default draws up to 2^32-1, which the venue may refuse). Refused with 1133 (bad params) [GUESS]."""


def max_expiry_ms(domain: StarknetDomain) -> int:
    """The longest order lifetime the network of ``domain`` accepts."""
    return MAX_EXPIRY_MS if domain.chain_id == "SN_MAIN" else MAX_EXPIRY_MS_TESTNET


class OrderRefused(MMError, ValueError):
    """The emulator refuses an order; ``code`` is Extended's error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class _Signature(msgspec.Struct):
    r: str
    s: str


class _Settlement(msgspec.Struct, rename="camel"):
    signature: _Signature
    stark_key: str
    collateral_position: str | int


class OrderBody(msgspec.Struct, rename="camel"):
    """The fields of the SDK's ``NewOrderModel`` JSON that the emulator reads."""

    id: str
    market: str
    type: str
    side: str
    qty: str
    price: str
    time_in_force: str
    expiry_epoch_millis: int
    fee: str
    nonce: str | int
    reduce_only: bool = False
    post_only: bool = False
    self_trade_protection_level: str = "ACCOUNT"
    cancel_id: str | None = None
    settlement: _Settlement | None = None
    builder_fee: str | None = None


class ValidOrder(msgspec.Struct, frozen=True):
    """An accepted body in integer units."""

    external_id: str
    inst: str
    side: int
    price: int
    size: int
    post_only: bool
    reduce_only: bool
    tif: str
    kind: str
    expiry_ns: int
    cancel_id: str | None
    self_trade_protection: str = "ACCOUNT"


_decoder = msgspec.json.Decoder(OrderBody)


def _dec(value: str | int, field: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise OrderRefused(1133, f"{field}: expected a decimal, found {value!r}") from None
    if not d.is_finite():
        raise OrderRefused(1133, f"{field}: expected a finite decimal, found {value!r}")
    return d


def _hex(value: str, field: str) -> int:
    try:
        return int(value, 16)
    except ValueError:
        raise OrderRefused(1133, f"{field}: expected 0x-hex, found {value!r}") from None


def order_hash(
    body: OrderBody, spec: MarketSpec, stark_key: int, vault: int, domain: StarknetDomain
) -> int:
    """The SNIP-12 order hash the body's signature must sign (``x10.signing`` rules)."""
    qty = _dec(body.qty, "qty")
    price = _dec(body.price, "price")
    fee = _dec(body.fee, "fee") + (_dec(body.builder_fee, "builderFee") if body.builder_fee else 0)
    synthetic = SettlementAsset(
        name=spec.asset,
        precision=spec.asset_precision,
        is_collateral=False,
        starkex_id=spec.synthetic_id,
        starkex_resolution=spec.synthetic_resolution,
    )
    collateral = SettlementAsset(
        name=spec.collateral,
        precision=6,
        is_collateral=True,
        starkex_id=spec.collateral_id,
        starkex_resolution=spec.collateral_resolution,
    )
    buying = body.side == "BUY"
    rounding = ROUNDING_BUY_CONTEXT if buying else ROUNDING_SELL_CONTEXT
    quote_human = InternalAmount(qty * price, collateral)
    base = InternalAmount(qty, synthetic).to_stark_amount(rounding_context=rounding).value
    quote = quote_human.to_stark_amount(rounding_context=rounding).value
    fee_amount = (
        InternalAmount(fee * quote_human.value, collateral)
        .to_stark_amount(rounding_context=ROUNDING_FEE_CONTEXT)
        .value
    )
    if buying:
        quote = -quote
    else:
        base = -base
    expiration = -(-body.expiry_epoch_millis // 1000) + SETTLEMENT_BUFFER_S
    return get_order_msg_hash(
        position_id=vault,
        base_asset_id=int(spec.synthetic_id, 16),
        base_amount=base,
        quote_asset_id=int(spec.collateral_id, 16),
        quote_amount=quote,
        fee_asset_id=int(spec.collateral_id, 16),
        fee_amount=fee_amount,
        expiration=expiration,
        salt=int(_dec(body.nonce, "nonce")),
        user_public_key=stark_key,
        domain_name=domain.name,
        domain_version=domain.version,
        domain_chain_id=domain.chain_id,
        domain_revision=domain.revision,
    )


def check_order(
    raw: bytes,
    account: EmulatedAccount,
    stark_key: int,
    vault: int,
    specs: dict[str, MarketSpec],
    domain: StarknetDomain,
    mark: dict[str, int],
    now_ns: int,
) -> ValidOrder:
    """Decode and validate one order body; raise ``OrderRefused`` with the venue's code."""
    try:
        body = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise OrderRefused(1133, f"order body: {exc}") from None
    if body.id in account.by_client:
        raise OrderRefused(1134, f"order with external id {body.id!r} already exists")
    spec = specs.get(body.market)
    inst = account.instruments.get(body.market)
    if spec is None or inst is None:
        raise OrderRefused(1001, f"market {body.market!r} not found")
    if body.side not in ("BUY", "SELL"):
        raise OrderRefused(1133, f"side: expected BUY or SELL, found {body.side!r}")
    if body.type not in ("LIMIT", "MARKET"):
        raise OrderRefused(1133, f"type: expected LIMIT or MARKET here, found {body.type!r}")
    if body.time_in_force not in ("GTT", "IOC", "TOB"):
        raise OrderRefused(
            1133, f"timeInForce: expected GTT, IOC or TOB, found {body.time_in_force!r}"
        )
    if body.type == "MARKET" and (body.time_in_force != "IOC" or body.post_only):
        raise OrderRefused(1139, "market orders must be IOC and not post-only")
    if body.self_trade_protection_level not in ("DISABLED", "ACCOUNT", "CLIENT"):
        raise OrderRefused(
            1133,
            "selfTradeProtectionLevel: expected DISABLED, ACCOUNT or CLIENT, found "
            f"{body.self_trade_protection_level!r}",
        )
    nonce = _dec(body.nonce, "nonce")
    if nonce != nonce.to_integral_value() or not NONCE_MIN <= nonce <= NONCE_MAX:
        raise OrderRefused(1133, f"nonce: expected an integer in 1..2^31, found {body.nonce}")
    st = body.settlement
    if st is None:
        raise OrderRefused(1101, "settlement: expected a signature, found none")
    if _hex(st.stark_key, "starkKey") != stark_key:
        raise OrderRefused(1100, "starkKey does not match the account's public key")
    if str(st.collateral_position) != str(vault):
        raise OrderRefused(
            1102, f"collateralPosition: expected our vault, found {st.collateral_position}"
        )
    msg_hash = order_hash(body, spec, stark_key, vault, domain)
    r = _hex(st.signature.r, "signature.r")
    s = _hex(st.signature.s, "signature.s")
    if not verify(stark_key, msg_hash, r, s):
        raise OrderRefused(1101, "invalid Starknet signature")
    qty = _dec(body.qty, "qty")
    price = _dec(body.price, "price")
    if qty < Decimal(inst.min_size) or qty <= 0:
        raise OrderRefused(1120, f"qty {body.qty} is below the minimum {inst.min_size}")
    if qty % inst.lot:
        raise OrderRefused(1121, f"qty {body.qty} is not a multiple of {inst.lot_size}")
    if price <= 0:
        raise OrderRefused(1141, f"price {body.price} is not positive")
    if price % inst.tick:
        raise OrderRefused(1124, f"price {body.price} is not a multiple of {inst.tick_size}")
    ticks = int(price / inst.tick)
    max_value = Decimal(
        spec.max_market_order_value if body.type == "MARKET" else spec.max_limit_order_value
    )
    if qty * price > max_value:
        raise OrderRefused(1122, f"order value {qty * price} above the maximum {max_value}")
    m = mark.get(body.market, 0)
    if m and body.type == "LIMIT":
        cap = Decimal(spec.limit_price_cap)
        floor = Decimal(spec.limit_price_floor)
        if body.side == "BUY" and ticks > m * (1 + cap):
            raise OrderRefused(1141, f"buy price {body.price} above the cap of mark*(1+{cap})")
        if body.side == "SELL" and ticks < m * (1 - floor):
            raise OrderRefused(1141, f"sell price {body.price} below the floor of mark*(1-{floor})")
    elif m:  # MARKET
        band = MARKET_PRICE_BAND
        if ticks > m * (1 + band):
            raise OrderRefused(1141, f"market price {body.price} above the band of mark*(1+{band})")
        if ticks < m * (1 - band):
            raise OrderRefused(1141, f"market price {body.price} below the band of mark*(1-{band})")
    needed = Decimal(inst.maker_fee if body.post_only else inst.taker_fee)
    if _dec(body.fee, "fee") < needed:
        raise OrderRefused(1128, f"fee {body.fee} is below the account's rate {needed}")
    now_ms = now_ns // 1_000_000
    longest = max_expiry_ms(domain)
    if not now_ms < body.expiry_epoch_millis <= now_ms + longest:
        raise OrderRefused(
            1135,
            f"expiryEpochMillis {body.expiry_epoch_millis}: expected in (now, now + "
            f"{longest // 86_400_000} days] on {domain.chain_id}",
        )
    if len(account.open_orders(body.market)) >= spec.max_num_orders:
        raise OrderRefused(1126, f"more than {spec.max_num_orders} open orders on {body.market}")
    ioc = body.time_in_force == "IOC"
    return ValidOrder(
        external_id=body.id,
        inst=body.market,
        side=BUY if body.side == "BUY" else SELL,
        price=ticks,
        size=int(qty / inst.lot),
        post_only=body.post_only or body.time_in_force == "TOB",
        reduce_only=body.reduce_only,
        tif="IOC" if ioc else "GTC",
        kind=body.type,
        expiry_ns=body.expiry_epoch_millis * 1_000_000,
        cancel_id=body.cancel_id,
        self_trade_protection=body.self_trade_protection_level,
    )
