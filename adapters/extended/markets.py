"""Extended endpoints and markets: the SDK config for a network, and markets → ``Instrument``."""

from __future__ import annotations

from dataclasses import replace

from x10.config import MAINNET_CONFIG, TESTNET_CONFIG
from x10.core.client_config import ClientConfig, DefaultsConfig, EndpointsConfig
from x10.models.fee import TradingFeeModel
from x10.models.market import MarketModel

from adapters.extended.config import ExtendedConfig
from adapters.extended.errors import ExtendedMarketError
from mmcore.instrument import Instrument

__all__ = [
    "API_PATH",
    "FUNDING_INTERVAL_S",
    "STREAM_PATH",
    "VENUE",
    "instrument_from_market",
    "sdk_config",
]

VENUE = "extended"
API_PATH = "/api/v1"
STREAM_PATH = "/stream.extended.exchange/v1"
FUNDING_INTERVAL_S = 3600
"""Extended settles funding every hour; its funding stream's rates are per hour."""


def sdk_config(config: ExtendedConfig) -> ClientConfig:
    """The SDK's ``ClientConfig`` for ``config.network``, pointed at ``base_url`` when set."""
    base = MAINNET_CONFIG if config.network == "mainnet" else TESTNET_CONFIG
    endpoints = base.endpoints
    if config.base_url:
        http = config.base_url.rstrip("/")
        ws = "ws" + http[4:]  # http→ws, https→wss
        endpoints = EndpointsConfig(
            api_base_url=http + API_PATH,
            api_base_order_management_url=http + API_PATH,
            stream_url=ws + STREAM_PATH,
            stream_rpc_url=ws + "/stream.extended.exchange/v2/rpc",
            onboarding_url=http,
            vault_asset_name=base.endpoints.vault_asset_name,
        )
    defaults = DefaultsConfig(
        market_price_slippage=base.defaults.market_price_slippage,
        request_timeout_seconds=config.rest_timeout_s,  # type: ignore[arg-type]
    )
    return replace(base, endpoints=endpoints, defaults=defaults)


def instrument_from_market(market: MarketModel, fee: TradingFeeModel | None) -> Instrument:
    """tick = ``minPriceChange``, lot = ``minOrderSizeChange``, min size = ``minOrderSize``,
    fee rates from ``/user/fees`` (0 for a public-only adapter, which reads none: the adapter
    refuses to start a trading session without them). Extended's public book holds our
    resting orders, so the engine takes them out of its copy (``own_orders_in_book``)."""
    if not market.active:
        raise ExtendedMarketError(f"market {market.name}: expected active, found inactive")
    tc = market.trading_config
    try:
        return Instrument(
            venue=VENUE,
            symbol=market.name,
            tick_size=str(tc.min_price_change),
            lot_size=str(tc.min_order_size_change),
            min_size=str(tc.min_order_size),
            maker_fee=str(fee.maker_fee_rate) if fee is not None else "0",
            taker_fee=str(fee.taker_fee_rate) if fee is not None else "0",
            quote=market.collateral_asset_name,
            own_orders_in_book=True,
        )
    except ValueError as exc:
        raise ExtendedMarketError(f"market {market.name}: {exc}") from None
