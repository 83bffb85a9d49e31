"""What the header tests share: a session config that leaves defaults to the code, and an
"upgrade" that changes those defaults (the venue's rate limits, a strategy parameter)."""

from __future__ import annotations

import pytest

import replay.session as session
from mmcore.config import AppConfig, parse_config
from mmcore.ratelimit import RateLimitConfig
from strategies.registry import STRATEGIES
from strategies.simple import SimpleParams

TIGHTER = RateLimitConfig(windows=[(60.0, 2)])
"""Limits a later version might publish: one new order a minute (the rest kept for cancels)."""


def make_config(venue: str = "extended", extra: str = "") -> AppConfig:
    """A simple quoter on BTC-USD that leaves the rate limits and ``size_lots`` at default."""
    return parse_config(
        f"""
[session]
venue = "{venue}"
markets = ["BTC-USD"]
seed = 7
[[instruments]]
venue = "sim"
symbol = "BTC-USD"
tick_size = "0.1"
lot_size = "0.001"
[strategy]
name = "simple"
[strategy.params]
spread_bps = 0.2
requote_bps = 0.1
[orders]
replace_threshold_bps = 0.1
[risk]
max_position_lots = 100
price_band_bps = 200
{extra}
"""
    )


class UpgradedSimpleParams(SimpleParams, frozen=True, forbid_unknown_fields=True):
    """``SimpleParams`` as a later version might have them: another default order size."""

    size_lots: int = 3


def upgrade_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Change what the code takes for a config's defaults: the venue's limits and a strategy
    parameter, as an upgrade might."""
    monkeypatch.setattr(session, "venue_defaults", lambda venue: TIGHTER)
    monkeypatch.setitem(STRATEGIES, "simple", (UpgradedSimpleParams, STRATEGIES["simple"][1]))
