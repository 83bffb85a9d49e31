"""Selecting and building strategies by name, with errors that name the field."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import msgspec
import pytest
from test_strategy_factories import make_instrument

from mmcore.errors import ConfigError
from strategies.avellaneda_stoikov import AvellanedaStoikovStrategy
from strategies.inventory import InventoryGuard
from strategies.ping_pong import PingPongStrategy
from strategies.registry import STRATEGIES, build_strategy
from strategies.simple import SimpleStrategy
from strategies.symmetric_uptime import SymmetricUptimeStrategy

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def build(name: str, params: dict[str, Any] | None = None) -> object:
    return build_strategy(name, params or {}, make_instrument(), random.Random(3))


def test_every_registered_strategy_builds_with_default_params() -> None:
    kinds = {
        "simple": SimpleStrategy,
        "avellaneda_stoikov": AvellanedaStoikovStrategy,
        "ping_pong": PingPongStrategy,
        "symmetric_uptime": SymmetricUptimeStrategy,
    }
    assert set(STRATEGIES) == set(kinds)
    for name, kind in kinds.items():
        strategy = build(name)
        assert type(strategy) is kind and strategy.inst == "BTC-USD"  # type: ignore[attr-defined]


def test_an_unknown_name_is_refused_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"strategy.name: expected one of \[.*'ping_pong'"):
        build("martingale")


def test_an_inventory_table_wraps_the_strategy_in_the_state_machine() -> None:
    for name in ("avellaneda_stoikov", "ping_pong", "symmetric_uptime"):
        strategy = build(name, {"inventory": {"soft_timeout_s": 60}})
        assert isinstance(strategy, InventoryGuard)
        assert strategy.params.soft_timeout_s == 60.0


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("avellaneda_stoikov", {"gamma": 0}, "strategy.params.gamma: expected"),
        ("avellaneda_stoikov", {"gama": 1}, "strategy.params.gama: unknown key"),
        ("avellaneda_stoikov", {"gamma": "x"}, "strategy.params.gamma: Expected `float`"),
        ("avellaneda_stoikov", {"kappa": {"min_r2": 3}}, "strategy.params.kappa.min_r2: exp"),
        ("avellaneda_stoikov", {"kappa": {"fit": 1}}, "strategy.params.kappa.fit: unknown key"),
        ("ping_pong", {"initial_side": "up"}, "strategy.params.initial_side: Invalid enum"),
        ("symmetric_uptime", {"inventory": {"maker_exit_s": -1}}, "inventory.maker_exit_s"),
        ("simple", {"spread_bps": -1}, "strategy.params.spread_bps: expected"),
    ],
)
def test_bad_params_raise_a_config_error_naming_the_field(
    name: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        build(name, params)


def test_a_simple_size_below_the_instruments_minimum_stops_start_up_naming_it() -> None:
    inst = msgspec.structs.replace(make_instrument(), min_size="0.01")  # 10 lots
    with pytest.raises(ConfigError, match=r"strategy.params.size_lots: expected at least .*10 "
                                          r"lots .*found 4"):
        build_strategy("simple", {"size_lots": 4}, inst, random.Random(3))
    assert build_strategy("simple", {"size_lots": 10}, inst, random.Random(3))


def test_every_example_config_selects_a_registered_strategy_that_builds() -> None:
    files = sorted(CONFIGS.glob("strategy-*.toml"))
    assert {f.stem.removeprefix("strategy-") for f in files} >= set(STRATEGIES)
    for path in files:
        table = msgspec.toml.decode(path.read_bytes())
        assert "strategy" in table, path.name
        section = table["strategy"]
        assert section["name"] == path.stem.removeprefix("strategy-")
        build(section["name"], section.get("params", {}))


@pytest.mark.parametrize(
    ("name", "field", "bound", "extra"),
    [
        ("simple", "spread_bps", 20000.0, {}),
        ("ping_pong", "offset_bps", 10000.0, {}),
        ("avellaneda_stoikov", "min_half_spread_bps", 10000.0, {"max_half_spread_bps": 20000.0}),
        ("avellaneda_stoikov", "warmup_half_spread_bps", 10000.0, {}),
        ("symmetric_uptime", "half_spread_bps", 10000.0, {}),
    ],
)
def test_a_quote_distance_that_puts_the_bid_at_or_below_zero_is_refused(
    name: str, field: str, bound: float, extra: dict[str, float]
) -> None:
    with pytest.raises(ConfigError, match=rf"strategy\.params\.{field}: expected .*< {int(bound)}"):
        build(name, {field: bound, **extra})
    build(name, {field: bound - 1, **extra})  # just inside: a bid above 0, accepted
