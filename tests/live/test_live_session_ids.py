"""Per-session client id prefixes and log paths of the live runner."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.client_ids import check_prefix
from mmcore.config import parse_config
from mmcore.session_ids import session_log_path, session_prefix, with_client_prefix

MS = 1_000_000
NOW = 1_763_900_000_123 * MS


def make_config_text() -> str:
    return (
        '[session]\nvenue = "sim"\nmarkets = ["X"]\n[strategy]\nname = "simple"\n'
        "[risk]\nmax_position_lots = 10\n"
    )


def test_the_prefix_is_base_36_of_the_start_time_in_milliseconds() -> None:
    assert int(session_prefix(NOW), 36) == NOW // MS
    assert session_prefix(0) == "0"
    assert session_prefix(35 * MS + 999_999) == "z"


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**62), st.integers(min_value=1, max_value=10**12))
def test_sessions_started_a_millisecond_or_more_apart_never_share_a_prefix(
    start: int, gap_ms: int
) -> None:
    assert session_prefix(start) != session_prefix(start + gap_ms * MS)


def test_the_prefixed_config_gives_orders_and_risk_distinct_valid_prefixes() -> None:
    config = parse_config(make_config_text())
    prefixed = with_client_prefix(config, session_prefix(NOW))
    orders, risk = prefixed.orders.client_id_prefix, prefixed.risk.client_id_prefix
    assert orders != risk and orders.endswith(session_prefix(NOW))
    check_prefix(orders, "orders")
    check_prefix(risk, "risk")
    assert prefixed.session == config.session and prefixed.strategy == config.strategy


def test_a_directory_log_path_gets_a_file_named_after_the_session(tmp_path: Path) -> None:
    assert session_log_path(tmp_path, "abc") == tmp_path / "session-abc.mmlog"
    fresh = tmp_path / "new" / "logs"
    assert session_log_path(f"{fresh}/", "abc") == fresh / "session-abc.mmlog"
    assert fresh.is_dir()
    named = tmp_path / "deep" / "x.mmlog"
    assert session_log_path(named, "abc") == named and named.parent.is_dir()
