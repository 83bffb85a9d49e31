"""A broken config stops start-up with a ``ConfigError`` naming the field, never a traceback.

Each shipped config is decoded, one value is replaced (by a value of another type, a negative,
a zero, a huge or non-finite number, an empty string...), removed, or an unknown key added, and
the result goes through what start-up does with a config: load and validate, build every
component (strategy, order manager, risk gate, engine), the simulated venue of a backtest, the
``[venue]`` table of a live run, and the log header that records it all. Each step either
accepts the config or raises ``ConfigError`` whose message names the key that was changed; a
NaN, an infinity or a float beyond ``MAX_MAGNITUDE`` is always refused (a NaN limit would pass
every ``value < 0`` check), and so is an integer outside [-2**63, 2**64-1] (no log header could
record it).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.extended import ExtendedConfig
from adapters.sim import SimConfig, SimVenue
from mmcore.cli.run_cmd import venue_table
from mmcore.config import (
    MAX_MAGNITUDE,
    check_client_id_prefixes,
    config_from_dict,
    config_to_dict,
)
from mmcore.errors import ConfigError
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader
from mmcore.log_format import encode_header
from replay.session import build_engine, check_components, resolve_instruments

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))

Path_ = tuple[str | int, ...]


def leaves(node: Any, at: Path_ = ()) -> list[Path_]:
    """Paths to every value of ``node`` (tables and lists included, then their contents)."""
    out: list[Path_] = [at] if at else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += leaves(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += leaves(value, (*at, i))
    return out


def parent_and_key(table: dict[str, Any], path: Path_) -> tuple[Any, str | int]:
    node: Any = table
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


def named(path: Path_) -> str:
    """The key a message must name: the last table key on the path (list indexes skipped)."""
    return next(str(p) for p in reversed(path) if isinstance(p, str))


RELATED = {"symbol": ("session.markets",)}
"""Keys whose bad value another key's check reports: an instrument renamed leaves a configured
market without its spec, and the error names ``session.markets`` (and ``[[instruments]]``)."""


def start_up(table: dict[str, Any]) -> None:
    """What ``mm run`` / ``mm backtest`` do with a decoded config before trading."""
    where = "<fuzz>"
    config = config_from_dict(table, where)
    check_client_id_prefixes(config, where)
    check_components(config, where)
    probes = {
        m: Instrument(venue="probe", symbol=m, tick_size="0.1", lot_size="0.001")
        for m in config.session.markets
    }
    instruments = resolve_instruments(config, None if config.instruments else probes)
    build_engine(config, instruments)
    if config.session.venue == "sim" or config.sim:
        SimVenue(instruments, msgspec.convert(config.sim, SimConfig), random.Random(0))
    if config.session.venue == "extended":
        venue_table(config, where, ExtendedConfig)
    encode_header(LogHeader(format_version=FORMAT_VERSION, code_version="fuzz",
                            instruments=list(instruments.values()),
                            config=config_to_dict(config), created_ns=0, meta={}))


REPLACEMENTS = st.one_of(
    st.sampled_from(
        [-1, 0, 1, 10**30, -(10**30), 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -0.5, 0.0,
         1e308, math.inf, -math.inf, math.nan, "", "x", "-1", "0", "nan", True, False, [], [0],
         ["x"], {}, {"x": 1}]
    ),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**64 + 1),
    st.floats(),
    st.text(max_size=5),
)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_config_with_one_bad_value_starts_or_names_the_field(path: Path, data: Any) -> None:
    table = msgspec.toml.decode(path.read_bytes())
    start_up(msgspec.toml.decode(path.read_bytes()))  # the shipped file itself starts
    where = data.draw(st.sampled_from(leaves(table)), label="path")
    parent, key = parent_and_key(table, where)
    how = data.draw(st.sampled_from(["replace", "remove", "unknown key"]), label="how")
    if how == "remove" and isinstance(parent, dict):
        del parent[key]
    elif how == "unknown key" and isinstance(parent[key], dict):
        parent[key]["no_such_key"] = 1
        where = (*where, "no_such_key")
    else:
        value = data.draw(REPLACEMENTS, label="value")
        parent[key] = value
        if isinstance(value, float) and not abs(value) <= MAX_MAGNITUDE:
            # a NaN would pass every "value < 0" check: it must be refused, not accepted
            with pytest.raises(ConfigError, match=named(where)):
                start_up(table)
            return
        if isinstance(value, int) and not -(2**63) <= value <= 2**64 - 1:
            # it would start, and fail at the first write: the log header cannot encode it
            with pytest.raises(ConfigError, match=named(where)):
                start_up(table)
            return
    try:
        start_up(table)
    except ConfigError as exc:
        key = named(where)
        assert any(name in str(exc) for name in (key, *RELATED.get(key, ()))), (
            f"{exc} does not name {key!r}"
        )
