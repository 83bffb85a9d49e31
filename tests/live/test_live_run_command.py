"""``mm run``'s command line: configs, venue selection and credential errors, without a venue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

import mmcore.cli.main as cli
from adapters.extended import ExtendedConfig
from mmcore.cli.live_demo import demo_live_config
from mmcore.cli.run_cmd import _testnet, venue_table
from mmcore.errors import ConfigError
from replay.session import load_session

ROOT = Path(__file__).resolve().parents[2]
SECRET_LOOKING = "0x5eed5eed5eed"


@pytest.fixture
def mm() -> Callable[..., int]:
    """``mm(*argv)`` → exit code of the ``mm`` command line."""
    return lambda *argv: cli.main(list(argv))


def test_a_missing_credential_is_a_one_line_error_naming_the_variable(
    mm: Callable[..., int],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = ['api_key_env = "H10_KEY"', 'stark_private_key_env = "H10_PRIV"']
    names += ['stark_public_key_env = "H10_PUB"', 'vault_env = "H10_VAULT"']
    config = write_config("http://127.0.0.1:9", "\n".join(names))
    monkeypatch.delenv("H10_KEY", raising=False)
    monkeypatch.setenv("H10_PRIV", SECRET_LOOKING)
    monkeypatch.setenv("H10_PUB", "0x1234")
    monkeypatch.setenv("H10_VAULT", "7")
    code = mm("run", "--config", str(config), "--out", str(config.parent / "never.mmlog"))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("mm: error:")]
    assert code == 2
    assert len(lines) == 1 and "H10_KEY" in lines[0]
    assert SECRET_LOOKING not in err
    assert not (config.parent / "never.mmlog").exists()


def test_a_venue_without_an_adapter_is_refused_naming_the_field(
    mm: Callable[..., int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "sim.toml"
    config.write_text(
        '[session]\nvenue = "sim"\nmarkets = ["X"]\n[strategy]\nname = "simple"\n'
        "[risk]\nmax_position_lots = 10\n"
    )
    assert mm("run", "--config", str(config)) == 2
    err = capsys.readouterr().err
    assert "session.venue" in err and "'sim'" in err and str(config) in err


def test_a_bad_venue_value_in_mm_run_names_the_file_and_the_field(
    mm: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "configs" / "extended.toml").read_text()
    config = tmp_path / "bad.toml"
    assert "dead_man_switch_s = 60\n" in text
    config.write_text(text.replace("dead_man_switch_s = 60\n", "dead_man_switch_s = -1\n", 1))
    assert mm("run", "--config", str(config), "--out", str(tmp_path / "never.mmlog")) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("mm:")]
    assert len(errors) == 1, errors
    assert str(config) in errors[0] and "venue.dead_man_switch_s" in errors[0]
    assert not (tmp_path / "never.mmlog").exists()


def test_configs_extended_toml_is_a_valid_live_session_with_env_var_names_only() -> None:
    config = load_session(ROOT / "configs" / "extended.toml")
    assert config.session.venue == "extended"
    assert config.strategy.name == "avellaneda_stoikov"
    venue = venue_table(config, "extended.toml", ExtendedConfig)
    assert venue.network == config.session.network == "mainnet"
    assert venue.api_key_env == "EXTENDED_API_KEY" and venue.vault_env == "EXTENDED_VAULT"
    testnet = venue_table(_testnet(config), "extended.toml", ExtendedConfig)
    assert testnet.network == "testnet" and testnet.testnet


def test_a_bad_venue_value_names_the_venue_field() -> None:
    config = demo_live_config("http://127.0.0.1:1")
    bad = msgspec.structs.replace(config, venue={**config.venue, "book_depth": "deep"})
    with pytest.raises(ConfigError, match=r"venue\.book_depth"):
        venue_table(bad, "test", ExtendedConfig)


def test_the_demo_config_file_is_the_embedded_live_demo_config() -> None:
    on_disk = load_session(ROOT / "configs" / "demo-extended.toml")
    embedded = demo_live_config("http://127.0.0.1:8080")
    assert on_disk == embedded


def test_a_dry_run_without_the_accounts_fee_rates_is_refused_naming_them(
    mm: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "configs" / "extended.toml").read_text()
    assert 'maker_fee = "0.0002"\n' in text
    config = tmp_path / "dry.toml"
    config.write_text(text.replace('maker_fee = "0.0002"\n', "", 1))
    # refused before any venue is contacted (the config's network is mainnet, unreachable here)
    assert mm("run", "--config", str(config), "--dry-run", "--out", str(tmp_path / "d")) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("mm:")]
    assert len(errors) == 1 and "sim.maker_fee" in errors[0] and "--dry-run" in errors[0]
    assert str(config) in errors[0]
    assert not (tmp_path / "d").exists()


def test_a_dry_run_settles_funding_at_the_venues_interval_unless_the_config_says(
    tmp_path: Path,
) -> None:
    """Extended pays funding every hour; the simulated venue's default is 8 hours, so a dry run
    on Extended without the field used to charge an eighth of the funding."""
    from adapters.sim import SimConfig
    from mmcore.cli.run_cmd import dry_run_config
    from mmcore.config import load_config

    text = (ROOT / "configs" / "extended.toml").read_text()
    assert "\nfunding_interval_s = 3600" in text
    path = tmp_path / "dry.toml"
    path.write_text(text.replace("\nfunding_interval_s = 3600", "\n", 1))
    config = load_config(path)
    assert msgspec.convert(config.sim, SimConfig).funding_interval_s == 28800
    assert msgspec.convert(dry_run_config(config).sim, SimConfig).funding_interval_s == 3600
    path.write_text(text.replace("\nfunding_interval_s = 3600", "\nfunding_interval_s = 0", 1))
    config = load_config(path)  # said in the config: kept, even 0 (no funding)
    assert msgspec.convert(dry_run_config(config).sim, SimConfig).funding_interval_s == 0
