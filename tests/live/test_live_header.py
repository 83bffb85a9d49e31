"""A live session's log header records its config with the defaults it used written out (``mm run``
resolves the config before the runner sees it), so the session replays exactly after an upgrade
changes those defaults."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fake_venue import SIMPLE_SESSION, SYM, InstantVenue

import replay.session as session
from mmcore.cli.run_cmd import ADAPTERS, run_live
from mmcore.config import AppConfig, config_from_dict, parse_config
from mmcore.events import BookSnapshot
from mmcore.log import open_log
from mmcore.ratelimit import RateLimitConfig, venue_defaults
from mmcore.version import code_version
from replay.verify import verify_log
from strategies.registry import STRATEGIES
from strategies.simple import SimpleParams

# on a venue with published rate limits, the order size left to the strategy's default
CONFIG = SIMPLE_SESSION.replace('venue = "sim"', 'venue = "extended"').replace(
    "size_lots = 5\n", ""
) + '[sim]\nmaker_fee = "0.0002"\ntaker_fee = "0.0005"\n'


class UpgradedSimpleParams(SimpleParams, frozen=True, forbid_unknown_fields=True):
    """``SimpleParams`` as a later version might have them: another default order size."""

    size_lots: int = 3


def upgrade_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The venue publishes tighter limits (one new order a minute) and the default size grows."""
    tighter = RateLimitConfig(windows=[(60.0, 2)])
    monkeypatch.setattr(session, "venue_defaults", lambda venue: tighter)
    monkeypatch.setitem(STRATEGIES, "simple", (UpgradedSimpleParams, STRATEGIES["simple"][1]))


def run_quoting(
    config: AppConfig, path: Path, dry_run: bool, monkeypatch: pytest.MonkeyPatch
) -> str:
    """``mm run``'s session (``run_live``) on an instant fake venue that hands it a book at
    start-up (the quoter places a bid and an ask), for a moment; returns the log's path."""
    venue = InstantVenue()
    monkeypatch.setitem(ADAPTERS, config.session.venue, lambda *_: venue)

    def book() -> None:
        assert venue.put is not None
        now = time.time_ns()
        venue.put(BookSnapshot(SYM, now, now, 1, (600_000, 10), (600_010, 10)))

    venue.on_start = book
    result = asyncio.run(
        run_live(config, path, dry_run=dry_run, duration_s=0.3, environ={}, handle_signals=False)
    )
    return result.log_path


@pytest.mark.parametrize("dry_run", [False, True], ids=["live", "dry-run"])
def test_the_header_records_the_defaults_used_and_the_log_replays_after_they_change(
    dry_run: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = run_quoting(parse_config(CONFIG), tmp_path / "session.mmlog", dry_run, monkeypatch)
    header = open_log(log).header
    recorded = config_from_dict(header.config)
    assert recorded.risk.rate_limit == venue_defaults("extended")
    assert recorded.strategy.params == {"spread_bps": 10.0, "requote_bps": 2.0, "size_lots": 1}
    # a dry run's simulated venue settles at the venue's interval (Extended: hourly)
    funding_interval_s = 3600 if dry_run else 28800
    assert recorded.sim["funding_interval_s"] == funding_interval_s
    assert recorded.sim["maker_fee"] == "0.0002"
    assert header.code_version == code_version()
    assert open_log(log).counts()["Place"] >= 2
    upgrade_defaults(monkeypatch)
    result = verify_log(log)
    assert result.ok, result.divergence
