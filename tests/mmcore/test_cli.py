"""The command line: help everywhere, and one clean line for every error a user can cause."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from adapters.extended import ExtendedConfig
from mmcore.cli.live_demo import demo_live_config
from mmcore.cli.main import build_parser
from mmcore.cli.run_cmd import venue_table
from mmcore.errors import ConfigError
from mmcore.log_format import FRAME, MAGIC_LEN
from replay.backtest import run_session
from replay.demo import demo_config
from replay.synthetic import MarketSpec, generate_market


def mm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mmcore.cli.main", *args],
        capture_output=True, text=True, timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("mm: error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def command_paths() -> list[list[str]]:
    """Every command and subcommand the parser knows, as argument lists."""
    parser = build_parser()
    paths: list[list[str]] = []

    def walk(p: object, prefix: list[str]) -> None:
        for action in getattr(p, "_actions", []):
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                for name, sub in choices.items():
                    paths.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(parser, [])
    return paths


def test_every_command_has_help() -> None:
    paths = command_paths()
    names = {" ".join(p) for p in paths}
    assert {"log info", "log cat", "replay", "backtest", "demo", "import binance"} <= names
    for path in paths:
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args([*path, "--help"])
        assert exit_info.value.code == 0


def test_a_bad_config_is_one_line_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[session]\nvenue = "sim"\nmarkets = ["BTC-USD"]\n'
        '[strategy]\nname = "simple"\n[risk]\nmax_position_lots = "lots"\n'
    )
    data = tmp_path / "data.mmlog"
    result = mm("backtest", "--config", str(config), "--data", str(data), "--out",
                str(tmp_path / "o.mmlog"))
    assert_one_line_error(result, str(config), "risk.max_position_lots")


def test_an_unknown_strategy_parameter_is_named(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[session]\nvenue = "sim"\nmarkets = ["BTC-USD"]\n'
        '[strategy]\nname = "simple"\n[strategy.params]\nspred_bps = 3\n'
        '[risk]\nmax_position_lots = 5\n'
    )
    result = mm("backtest", "--config", str(config), "--data", "x", "--out", "y")
    assert_one_line_error(result, "spred_bps")


def test_a_corrupt_log_is_one_line_naming_the_offset(tmp_path: Path) -> None:
    cfg = demo_config()
    log = tmp_path / "s.mmlog"
    run_session(cfg, cfg.instrument_map(), generate_market(MarketSpec(), 2000, 1), log)
    raw = bytearray(log.read_bytes())
    # a payload byte of the first frame past the middle (a flipped length field would be a
    # different error): frames are [u32 length][u32 crc][u64 seq][payload] after the magic
    pos = MAGIC_LEN
    while pos < len(raw) // 2:
        pos += FRAME.size + FRAME.unpack_from(raw, pos)[0]
    raw[pos + FRAME.size] ^= 0xFF
    log.write_bytes(bytes(raw))
    result = mm("replay", str(log), "--verify")
    assert_one_line_error(result, str(log), f"byte {pos}", "crc")


def test_a_missing_log_is_one_line(tmp_path: Path) -> None:
    result = mm("log", "info", str(tmp_path / "nope.mmlog"))
    assert_one_line_error(result, "nope.mmlog")


def test_a_directory_given_as_a_log_is_one_line_naming_it(tmp_path: Path) -> None:
    for command in (["replay"], ["replay", "--verify"], ["report", "--out", str(tmp_path / "r")]):
        result = mm(*command, str(tmp_path))
        assert_one_line_error(result, str(tmp_path), "directory")


def test_mm_run_refuses_a_venue_network_other_than_the_sessions(tmp_path: Path) -> None:
    """[venue] network = "mainnet" with [session] network left at its default ("local") would
    trade mainnet while the session, thinking it is local, keeps no day's PnL across restarts."""
    config = demo_live_config("http://127.0.0.1:1")
    for session, venue in (("local", "mainnet"), ("mainnet", "testnet")):
        mixed = msgspec.structs.replace(
            config,
            session=msgspec.structs.replace(config.session, network=session),
            venue={**config.venue, "network": venue},
        )
        with pytest.raises(ConfigError, match=r"venue\.network and session\.network"):
            venue_table(mixed, "test", ExtendedConfig)
    assert venue_table(config, "test", ExtendedConfig).network == "local"
    unset = msgspec.structs.replace(
        config, venue={k: v for k, v in config.venue.items() if k != "network"}
    )
    assert venue_table(unset, "test", ExtendedConfig).network == "local"  # the session's
