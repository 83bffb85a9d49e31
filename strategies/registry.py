"""Strategy names, their parameter structs and factories: how a config selects a strategy.

``build_strategy(name, params, inst, rng)`` converts the ``[strategy.params]`` table into the
strategy's frozen params struct and builds it; ``resolved_params(name, params)`` gives that
table back with the defaults it left out written in (what a log header records). The quoting
strategies that take an ``inventory`` table (``avellaneda_stoikov``, ``ping_pong``,
``symmetric_uptime``) come wrapped in ``strategies.inventory.InventoryGuard`` when the table is
present.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from msgspec import Struct

from mmcore.config import field_message
from mmcore.errors import ConfigError
from mmcore.instrument import Instrument
from mmcore.protocols import Strategy
from strategies.avellaneda_stoikov import AvellanedaStoikovParams, AvellanedaStoikovStrategy
from strategies.inventory import InventoryGuard, InventoryParams
from strategies.ping_pong import PingPongParams, PingPongStrategy
from strategies.simple import SimpleParams, SimpleStrategy
from strategies.symmetric_uptime import SymmetricUptimeParams, SymmetricUptimeStrategy

__all__ = ["STRATEGIES", "build_strategy", "resolved_params"]

Factory = Callable[[Instrument, Any, random.Random], Strategy]


def _guarded(inner: Strategy, inst: Instrument, inventory: InventoryParams | None) -> Strategy:
    return inner if inventory is None else InventoryGuard(inner, inst, inventory)


def _simple(inst: Instrument, params: SimpleParams, rng: random.Random) -> Strategy:
    return SimpleStrategy(inst, params, rng)


def _avellaneda_stoikov(
    inst: Instrument, params: AvellanedaStoikovParams, rng: random.Random
) -> Strategy:
    return _guarded(AvellanedaStoikovStrategy(inst, params, rng), inst, params.inventory)


def _ping_pong(inst: Instrument, params: PingPongParams, rng: random.Random) -> Strategy:
    return _guarded(PingPongStrategy(inst, params, rng), inst, params.inventory)


def _symmetric_uptime(
    inst: Instrument, params: SymmetricUptimeParams, rng: random.Random
) -> Strategy:
    return _guarded(SymmetricUptimeStrategy(inst, params, rng), inst, params.inventory)


STRATEGIES: dict[str, tuple[type[Struct], Factory]] = {
    "simple": (SimpleParams, _simple),
    "avellaneda_stoikov": (AvellanedaStoikovParams, _avellaneda_stoikov),
    "ping_pong": (PingPongParams, _ping_pong),
    "symmetric_uptime": (SymmetricUptimeParams, _symmetric_uptime),
}


def build_strategy(
    name: str, params: Mapping[str, Any], inst: Instrument, rng: random.Random
) -> Strategy:
    """The strategy ``name`` for ``inst`` with ``params`` (a ``[strategy.params]`` table).

    Raises ``ConfigError`` naming ``strategy.name`` for an unknown strategy (listing the valid
    names) or ``strategy.params.<field>`` for a bad or unknown parameter.
    """
    typed, factory = _decoded(name, params)
    return factory(inst, typed, rng)


def resolved_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[strategy.params]`` table of ``name`` with every parameter written out, those it
    leaves out at this code's defaults: what a log header records, so that the strategy a
    replay builds from it does not depend on the replaying code's defaults. Decoding the result
    gives the same params struct as decoding ``params``. Errors as ``build_strategy``."""
    typed, _ = _decoded(name, params)
    # through JSON, as a log header gives it back: tuples become lists, so the resolved table
    # equals the one a replay reads
    resolved: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(typed))
    return resolved


def _decoded(name: str, params: Mapping[str, Any]) -> tuple[Struct, Factory]:
    """``params`` decoded into the params struct of strategy ``name``, and its factory."""
    entry = STRATEGIES.get(name)
    if entry is None:
        raise ConfigError(
            f"strategy.name: expected one of {sorted(STRATEGIES)}, found {name!r}"
        )
    params_type, factory = entry
    try:
        return msgspec.convert(dict(params), params_type), factory
    except msgspec.ValidationError as exc:
        raise ConfigError(field_message(exc, "strategy.params")) from None
