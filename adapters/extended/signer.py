"""Turning a ``Place`` into a signed Extended order with the SDK, once per client id.

The signed ``NewOrderModel`` is kept with its nonce and expiry, so a retry resends the identical
body: same external id (our client id), same nonce, same signature, and the venue can recognise
the copy (error 1134, duplicate) instead of opening a second order.

``prepare`` does the cheap part on the caller's thread (fee cap, expiry, and the nonce draw, so
nonces follow the order of calls) and returns the SDK call that hashes and signs; the executor
runs that in a worker thread, because the SDK's Stark arithmetic (``fast_stark_crypto``, ~80% of
the ~0.5 ms) releases the GIL: the event loop keeps reading frames meanwhile, and two orders of
one re-quote are signed on two cores at once.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal

from x10.core.client_config import StarknetDomain
from x10.core.stark_account import StarkPerpetualAccount
from x10.models.market import MarketModel
from x10.models.order import NewOrderModel, OrderSide, SelfTradeProtectionLevel, TimeInForce
from x10.signing.order_object import create_order_object

from mmcore.commands import IOC, Place
from mmcore.events import BUY
from mmcore.instrument import Instrument

__all__ = ["NONCE_MAX", "OrderSigner"]

NONCE_MAX = 2**31 - 1
"""The docs allow nonces 1..2^31; we stay inside."""


class OrderSigner:
    """Builds and signs orders for one account; nonces come from a seeded ``random.Random``."""

    def __init__(
        self,
        account: StarkPerpetualAccount,
        domain: StarknetDomain,
        rng: random.Random,
        expiry_s: int,
        self_trade_protection: str,
    ) -> None:
        self._account = account
        self._domain = domain
        self._rng = rng
        self._expiry_ns = expiry_s * 1_000_000_000
        self._stp = SelfTradeProtectionLevel(self_trade_protection)
        self.signed = 0

    def __repr__(self) -> str:
        return f"OrderSigner(vault={self._account.vault}, domain={self._domain.chain_id})"

    def sign(
        self, place: Place, inst: Instrument, market: MarketModel, now_ns: int
    ) -> NewOrderModel:
        """The signed order for ``place``, on this thread (``prepare`` and call it)."""
        return self.prepare(place, inst, market, now_ns)()

    def prepare(
        self, place: Place, inst: Instrument, market: MarketModel, now_ns: int
    ) -> Callable[[], NewOrderModel]:
        """The SDK call that builds and signs ``place``'s order, safe to run in another thread;
        fee cap = maker rate if post-only, else taker rate."""
        fee = Decimal(inst.maker_fee if place.post_only else inst.taker_fee)
        expire = datetime.fromtimestamp((now_ns + self._expiry_ns) / 1e9, tz=timezone.utc)
        self.signed += 1
        return functools.partial(
            create_order_object,
            account=self._account,
            market=market,
            amount_of_synthetic=inst.lots_to_size(place.size),
            price=inst.ticks_to_price(place.price),
            side=OrderSide.BUY if place.side == BUY else OrderSide.SELL,
            starknet_domain=self._domain,
            post_only=place.post_only,
            expire_time=expire,
            order_external_id=place.client_id,
            time_in_force=TimeInForce.IOC if place.tif == IOC else TimeInForce.GTT,
            self_trade_protection_level=self._stp,
            nonce=self._rng.randint(1, NONCE_MAX),
            taker_fee=max(fee, Decimal(0)),
            reduce_only=place.reduce_only,
        )
