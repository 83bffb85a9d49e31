"""``replay.session.resolved_config``: the config a log header records, its defaults written out,
so that the engine a replay builds from it does not depend on the replaying code's defaults."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from default_upgrade import make_config, upgrade_defaults

from adapters.sim import SimConfig
from mmcore.config import AppConfig, config_from_dict, config_to_dict
from mmcore.log import FORMAT_VERSION, LogHeader
from mmcore.log_format import decode_header, encode_header
from mmcore.ratelimit import RateLimitConfig, venue_defaults
from replay.session import (
    NO_RATE_LIMITS,
    build_engine,
    check_components,
    load_session,
    resolved_config,
)
from replay.synthetic import MarketSpec, generate_market
from strategies.registry import STRATEGIES

ROOT = Path(__file__).resolve().parents[2]


def outputs(config: AppConfig, events: int = 1500) -> list[bytes]:
    """Every output of a fresh engine of ``config`` over a generated market, encoded."""
    engine = build_engine(config, config.instrument_map())
    market = generate_market(MarketSpec(), events, 5)
    return [msgspec.msgpack.encode(out) for ev in market for out in engine.on_event(ev)]


def test_the_venues_rate_limits_are_written_out_when_the_config_leaves_them_at_default() -> None:
    resolved = resolved_config(make_config("extended"))
    assert resolved.risk.rate_limit == venue_defaults("extended") != RateLimitConfig()


def test_rate_limits_the_config_gives_are_kept() -> None:
    config = make_config("extended", "[risk.rate_limit]\nwindows = [[1.0, 5]]")
    assert resolved_config(config).risk.rate_limit == RateLimitConfig(windows=[(1.0, 5)])


def test_a_venue_without_published_limits_is_recorded_as_explicitly_unlimited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolved = resolved_config(make_config("sim"))
    assert resolved.risk.rate_limit == NO_RATE_LIMITS != RateLimitConfig()
    before = outputs(resolved)
    upgrade_defaults(monkeypatch)  # the venue now has limits: the recorded session had none
    engine = build_engine(resolved, resolved.instrument_map())
    assert engine.risk.budget.config == NO_RATE_LIMITS
    assert all(engine.risk.budget.try_spend(0, False) for _ in range(100))
    assert outputs(resolved) == before


def test_every_strategy_parameter_is_written_out_with_its_default() -> None:
    params = resolved_config(make_config()).strategy.params
    assert params == {"spread_bps": 0.2, "requote_bps": 0.1, "size_lots": 1}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_strategys_resolved_params_decode_to_the_same_struct(name: str) -> None:
    params_type, _ = STRATEGIES[name]
    config = make_config()
    config = msgspec.structs.replace(
        config, strategy=msgspec.structs.replace(config.strategy, name=name, params={})
    )
    params = resolved_config(config).strategy.params
    assert set(params) == set(params_type.__struct_fields__)
    assert msgspec.convert(params, params_type) == msgspec.convert({}, params_type)


def test_the_sim_table_is_written_out_when_there_is_one_and_left_out_when_not() -> None:
    assert resolved_config(make_config()).sim == {}
    sim = resolved_config(make_config(extra="[sim]\nentry_latency_ms = 2.0")).sim
    assert sim == msgspec.to_builtins(SimConfig(entry_latency_ms=2.0))
    assert sim["queue_model"] == "risk_averse" and sim["funding_interval_s"] == 28800


def test_a_bad_value_is_named_with_the_config_and_its_field() -> None:
    from mmcore.errors import ConfigError

    config = make_config(extra='[sim]\nqueue_model = "fifo"')
    with pytest.raises(ConfigError, match=r"^x\.toml: sim\.queue_model"):
        resolved_config(config, "x.toml")
    bad = msgspec.structs.replace(
        config, strategy=msgspec.structs.replace(config.strategy, params={"nope": 1})
    )
    with pytest.raises(ConfigError, match=r"^x\.toml: strategy\.params\.nope: unknown key"):
        resolved_config(bad, "x.toml")


@pytest.mark.parametrize(
    "path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name
)
def test_a_resolved_config_loads_from_a_header_validates_and_resolves_to_itself(
    path: Path,
) -> None:
    """Also with the defaults a table leaves out that are tuples in the code (symmetric_uptime's
    ``tier_minutes``): a header gives them back as lists, and the resolved config used to keep
    the tuples, so it did not equal what a replay read."""
    config = load_session(path)
    params = {k: v for k, v in config.strategy.params.items() if k != "tier_minutes"}
    config = msgspec.structs.replace(
        config, strategy=msgspec.structs.replace(config.strategy, params=params)
    )
    resolved = resolved_config(config)
    header = LogHeader(format_version=FORMAT_VERSION, code_version="t", instruments=[],
                       config=config_to_dict(resolved))
    payload = encode_header(header)
    again = config_from_dict(decode_header(payload, "<test>", 0).config)
    assert again == resolved
    check_components(again, str(path))
    assert resolved_config(again) == resolved


@pytest.mark.parametrize("venue", ["extended", "sim"])
def test_the_resolved_config_builds_an_engine_with_the_same_outputs(venue: str) -> None:
    config = make_config(venue)
    assert outputs(resolved_config(config)) == outputs(config)


def test_after_the_defaults_change_the_resolved_config_still_builds_the_engine_that_ran(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config("extended")
    resolved = config_from_dict(config_to_dict(resolved_config(config)))  # as from a header
    before = outputs(config)
    upgrade_defaults(monkeypatch)
    assert outputs(config) != before  # the config as written now builds another engine
    assert outputs(resolved) == before
