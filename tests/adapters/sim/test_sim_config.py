"""SimConfig: defaults as documented, and every bad value named in its error."""

from __future__ import annotations

import msgspec
import pytest

from adapters.sim.config import SimConfig
from mmcore.errors import ConfigError, MMError


def test_the_defaults_are_the_documented_ones() -> None:
    config = SimConfig()
    assert config.queue_model == "risk_averse"
    assert config.queue_power == 2.0
    assert (config.entry_latency_ms, config.response_latency_ms) == (5.0, 5.0)
    assert (config.latency_model, config.latency_sigma, config.latency_cap_ms) == (
        "constant",
        0.5,
        100.0,
    )
    assert (config.maker_fee, config.taker_fee) == (None, None)
    assert config.funding_interval_s == 28800


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("queue_model", "optimistic"),
        ("latency_model", "gamma"),
        ("queue_power", -1.0),
        ("entry_latency_ms", -0.1),
        ("response_latency_ms", float("nan")),
        ("latency_cap_ms", float("inf")),
        ("latency_sigma", -2.0),
        ("funding_interval_s", -1),
        ("taker_fee", "abc"),
        ("maker_fee", "1.5"),
    ],
)
def test_a_bad_value_raises_config_error_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"sim.{field}") as info:
        SimConfig(**{field: value})  # type: ignore[arg-type]
    assert isinstance(info.value, MMError) and isinstance(info.value, ValueError)
    assert "found" in str(info.value)


def test_a_table_converts_and_unknown_keys_are_refused() -> None:
    config = msgspec.convert({"queue_model": "probabilistic", "funding_interval_s": 0}, SimConfig)
    assert (config.queue_model, config.funding_interval_s) == ("probabilistic", 0)
    # the timers' cadence is the session's ([session] timer_interval_ms), not a second setting
    with pytest.raises(msgspec.ValidationError, match="timer_interval_ms"):
        msgspec.convert({"timer_interval_ms": 0}, SimConfig)
    with pytest.raises(msgspec.ValidationError, match="queue_modle"):
        msgspec.convert({"queue_modle": "probabilistic"}, SimConfig)
    with pytest.raises(msgspec.ValidationError, match="queue_model"):
        msgspec.convert({"queue_model": "nope"}, SimConfig)
