"""Building a session's engine from its config: the composition root of the pure parts.

``mmcore`` must not import strategies or adapters, so the function that turns a config into a
working engine lives here, one layer up. Live runs, backtests and the replay verifier all build
their engine with ``build_engine``, which is what makes their code paths identical.

A config leaves things to the code's defaults: the venue's published rate limits (an all-default
``[risk.rate_limit]``), the strategy parameters and ``[sim]`` fields it does not give. A log
header records ``resolved_config(config)``, those defaults written out, so that a replay builds
the engine that ran, whatever defaults the replaying code has. A header written before that
(the raw config) still replays with the replaying code's defaults, as it always did.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from mmcore.config import AppConfig, check_client_id_prefixes, field_message, load_config
from mmcore.engine import Engine
from mmcore.errors import ConfigError
from mmcore.instrument import Instrument, spec_differences
from mmcore.orders import QuoteOrderManager
from mmcore.ratelimit import RateLimitConfig, venue_defaults
from mmcore.risk import RiskConfig, RiskGate
from strategies.registry import build_strategy, resolved_params

__all__ = [
    "NO_RATE_LIMITS",
    "build_engine",
    "load_session",
    "resolve_instruments",
    "resolved_config",
]

NO_RATE_LIMITS = RateLimitConfig(reserve_for_cancels=0.0)
"""No request limits, as a resolved config records them: the all-default table means "the
venue's published limits" (``venue_defaults``), which a later version may publish for a venue
that has none today; with nothing to share out, the reserve changes nothing."""


def load_session(path: str | Path) -> AppConfig:
    """Load a config and validate the tables ``mmcore`` keeps raw (strategy params, sim)."""
    config = load_config(path)
    check_components(config, str(path))
    return config


def check_components(config: AppConfig, where: str) -> None:
    """Build each raw-table component once so a bad value fails at start-up, naming the field;
    check what the config's own checks leave to load time (the client id prefixes) or to the
    components themselves: the order manager and the risk gate (both position limits 0), which
    would otherwise refuse the config only when a run builds its engine, after a backtest had
    removed the log it replaces or a sweep had started its runs."""
    check_client_id_prefixes(config, where)
    probe = Instrument(venue="probe", symbol="PROBE", tick_size="0.1", lot_size="0.001")
    probes = {probe.symbol: probe}
    try:
        build_strategy(config.strategy.name, config.strategy.params, probe, random.Random(0))
        QuoteOrderManager(config.orders, probes)
        RiskGate(_risk_config(config), probes)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if config.sim:
        _resolved_sim(config.sim, where)


def resolved_config(config: AppConfig, where: str = "<config>") -> AppConfig:
    """``config`` with the defaults its engine takes from this code written out (see the module
    doc): the rate limits ``build_engine`` uses, every strategy parameter, and every ``[sim]``
    field when the table is there. It loads and validates like any config, builds the same
    engine as ``config`` and resolves to itself. A bad strategy parameter or ``[sim]`` value
    raises ``ConfigError`` naming ``where`` and the field, as ``check_components`` does."""
    try:
        params = resolved_params(config.strategy.name, config.strategy.params)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    limits = _risk_config(config).rate_limit
    risk = msgspec.structs.replace(
        config.risk, rate_limit=NO_RATE_LIMITS if limits == RateLimitConfig() else limits
    )
    return msgspec.structs.replace(
        config,
        strategy=msgspec.structs.replace(config.strategy, params=params),
        risk=risk,
        sim=_resolved_sim(config.sim, where) if config.sim else {},
    )


def _resolved_sim(table: dict[str, Any], where: str) -> dict[str, Any]:
    """The ``[sim]`` table checked by the simulated venue's own schema, every field written out;
    a bad value raises ``ConfigError`` naming ``where`` and ``sim.<field>``."""
    from adapters.sim import SimConfig  # imported only by the sessions that have a [sim] table

    try:
        typed = msgspec.convert(table, SimConfig)
        resolved: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(typed))  # as a header
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {field_message(exc, 'sim')}") from None
    return resolved


def resolve_instruments(
    config: AppConfig,
    data: Mapping[str, Instrument] | None = None,
    *,
    source: str = "the data log",
) -> dict[str, Instrument]:
    """The instruments of the configured markets: the spec ``data`` (the data logs' headers)
    gives, else the config's ``[[instruments]]`` entry.

    The data's spec wins because the data's prices and sizes are recorded in its ticks and lots;
    a config entry for the same market must then agree with it (``_check_declared_specs``), or
    every setting the config gives in lots would silently mean another size. ``source`` names
    where ``data`` came from, for that error."""
    known = dict(config.instrument_map())
    if data:
        _check_declared_specs(config, data, source)
        known.update(data)
    missing = [m for m in config.session.markets if m not in known]
    if missing:
        raise ConfigError(
            f"session.markets: no instrument spec for {missing}; add [[instruments]] entries "
            "or load them from the venue"
        )
    return {m: known[m] for m in config.session.markets}


def _check_declared_specs(
    config: AppConfig, data: Mapping[str, Instrument], source: str = "the data log"
) -> None:
    """Refuse an ``[[instruments]]`` entry of a session market that ``data`` gives with other
    numbers (tick, lot, minimums, fees; by value): the run would use the data's, so a config
    written for lot 0.00001 would quote 100x larger over data in lots of 0.001, and its fees
    would be dropped, without a word. Entries of markets the session does not trade are unused."""
    markets = set(config.session.markets)
    for index, declared in enumerate(config.instruments):
        given = data.get(declared.symbol)
        if given is None or declared.symbol not in markets:
            continue
        differ = spec_differences(declared, given)
        if differ:
            raise ConfigError(_spec_conflict(index, declared, given, differ, source))


def _spec_conflict(
    index: int, declared: Instrument, given: Instrument, differ: list[str], source: str
) -> str:
    """One line: the first differing field as the location, the others after it."""
    first, *rest = differ
    also = ", ".join(
        f"{name} {getattr(declared, name)!r} vs {getattr(given, name)!r}" for name in rest
    )
    return (
        f"instruments[{index}].{first}: {getattr(declared, first)!r} but {source} gives "
        f"{getattr(given, first)!r} for {declared.symbol}" + (f" (also {also})" if rest else "")
        + ": a backtest uses the data's spec (its prices and sizes are recorded in those ticks "
        "and lots); remove this [[instruments]] entry or make it agree (the simulated venue's "
        "fees: [sim] maker_fee / taker_fee)"
    )


def build_engine(config: AppConfig, instruments: Mapping[str, Instrument]) -> Engine:
    """A fresh engine for ``config`` over ``instruments`` (one strategy per market)."""
    insts = dict(instruments)
    root = random.Random(config.session.seed)
    strategies = {
        sym: build_strategy(
            config.strategy.name,
            config.strategy.params,
            insts[sym],
            random.Random(root.getrandbits(64)),
        )
        for sym in config.session.markets
    }
    return Engine(
        insts,
        strategies,
        QuoteOrderManager(config.orders, insts),
        RiskGate(_risk_config(config), insts),
        book_max_levels=config.session.book_max_levels,
    )


def _risk_config(config: AppConfig) -> RiskConfig:
    """``config.risk``, with the venue's rate limits when the config leaves them at default (a
    config as written, or the header of a log recorded before headers were resolved)."""
    risk_config = config.risk
    if risk_config.rate_limit == RateLimitConfig():
        risk_config = msgspec.structs.replace(
            risk_config, rate_limit=venue_defaults(config.session.venue)
        )
    return risk_config
