"""Config files: typed, validated, and every error names the file and the field."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from mmcore.config import config_from_dict, config_to_dict, load_config, parse_config
from mmcore.errors import ConfigError
from mmcore.log import FORMAT_VERSION, LogHeader
from mmcore.log_format import encode_header

GOOD = """
[session]
venue = "sim"
markets = ["BTC-USD"]

[[instruments]]
venue = "sim"
symbol = "BTC-USD"
tick_size = "0.1"
lot_size = "0.001"

[strategy]
name = "simple"
[strategy.params]
spread_bps = 4.0

[risk]
max_position_lots = 10
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "session.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads_into_typed_structs(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.session.markets == ["BTC-USD"]
    assert config.instrument_map()["BTC-USD"].tick_size == "0.1"
    assert config.strategy.params == {"spread_bps": 4.0}
    assert config.risk.max_position_lots == 10


def test_an_unknown_key_is_named_with_its_table(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("max_position_lots = 10", "max_position_lot = 10"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert "risk.max_position_lot" in str(err.value)


def test_a_value_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('markets = ["BTC-USD"]', 'markets = "BTC-USD"'))
    with pytest.raises(ConfigError, match=r"session\.markets"):
        load_config(path)


def test_a_value_out_of_range_is_named(tmp_path: Path) -> None:
    text = GOOD.replace("[risk]", "[log]\nflush_every = 0\n[risk]")
    with pytest.raises(ConfigError, match=r"log.*flush_every"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("max_in_flight = 0", "max_in_flight"),
        ("status_interval_s = -1.0", "status_interval_s"),
        ("status_interval_s = nan", "status_interval_s"),
        ("status_interval_s = inf", "status_interval_s"),
    ],
)
def test_the_live_sending_and_status_settings_are_range_checked(line: str, field: str) -> None:
    text = GOOD.replace('markets = ["BTC-USD"]', f'markets = ["BTC-USD"]\n{line}')
    with pytest.raises(ConfigError, match=rf"session.*{field}: expected "):
        parse_config(text, "x.toml")


def test_a_missing_table_is_named() -> None:
    with pytest.raises(ConfigError, match="strategy"):
        parse_config('[session]\nvenue = "sim"\nmarkets = ["X"]\n', "x.toml")


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[session\nvenue=")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_a_literal_secret_is_refused_and_its_value_never_shown(tmp_path: Path) -> None:
    text = GOOD + '\n[venue]\napi_key = "sk-live-123456"\n'
    with pytest.raises(ConfigError, match=r"venue\.api_key.*environment variable") as err:
        load_config(write(tmp_path, text))
    assert "sk-live-123456" not in str(err.value)


@pytest.mark.parametrize("value", ["0x0123abcdef0123abcdef0123abcdef", "9876543210987", "1.5"])
def test_an_unquoted_secret_is_refused_and_its_value_never_shown(
    tmp_path: Path, value: str
) -> None:
    """TOML reads an unquoted hex key as an integer; before, only text was refused, and the
    range check of integers then printed the key in decimal."""
    text = GOOD + f"\n[venue]\nstark_private_key = {value}\n"
    with pytest.raises(ConfigError, match=r"venue\.stark_private_key.*environment") as err:
        load_config(write(tmp_path, text))
    decimal = str(int(value, 16)) if value.startswith("0x") else value
    assert value not in str(err.value) and decimal not in str(err.value)


def test_secrets_by_environment_variable_name_are_fine(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + '\n[venue]\napi_key_env = "MY_KEY"\n'))
    assert config.venue == {"api_key_env": "MY_KEY"}


def test_the_config_survives_a_trip_through_a_log_header() -> None:
    config = parse_config(GOOD)
    assert config_from_dict(config_to_dict(config)) == config


def test_a_negative_book_depth_is_refused_on_load_naming_the_field(tmp_path: Path) -> None:
    # found only when the engine was built, by Book, without the file or the field
    text = GOOD.replace('markets = ["BTC-USD"]', 'markets = ["BTC-USD"]\nbook_max_levels = -1')
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"session.*book_max_levels: expected >= 0") as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_two_specs_for_one_instrument_are_refused_naming_it(tmp_path: Path) -> None:
    # the last one used to win silently: a tick size typo in the first went unnoticed
    spec = GOOD[GOOD.index("[[instruments]]") : GOOD.index("[strategy]")]
    path = write(tmp_path, GOOD + "\n" + spec.replace('"0.1"', '"0.5"'))
    with pytest.raises(ConfigError, match=r"instruments: expected one entry per symbol.*BTC-USD"):
        load_config(path)


def with_prefixes(orders: str, risk: str) -> str:
    """``GOOD`` with ``[orders]`` and ``[risk]`` client id prefixes."""
    text = GOOD.replace("[risk]\n", f'[orders]\nclient_id_prefix = "{orders}"\n\n[risk]\n')
    return text + f'client_id_prefix = "{risk}"\n'


def test_one_client_id_prefix_for_orders_and_risk_is_refused_naming_both(tmp_path: Path) -> None:
    # both would count "q-1, q-2, ...": the ledger drops the forced exit that reuses a quote's id
    text = with_prefixes("q", "q")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message and "'q'" in message
    assert "orders.client_id_prefix" in message and "risk.client_id_prefix" in message


def test_distinct_client_id_prefixes_load_and_a_log_header_is_never_refused() -> None:
    text = with_prefixes("q", "q-1")
    config = parse_config(text)
    assert (config.orders.client_id_prefix, config.risk.client_id_prefix) == ("q", "q-1")
    # a session logged with one prefix for both still replays as it ran
    data = config_to_dict(config)
    data["risk"]["client_id_prefix"] = "q"
    assert config_from_dict(data).risk.client_id_prefix == "q"


@pytest.mark.parametrize(
    ("table", "line", "at"),
    [
        ("[session]", f"seed = {2**64}", "session.seed"),
        ("[session]", f"seed = -{2**63 + 1}", "session.seed"),
        ("[risk.rate_limit]", f"windows = [[1.0, {2**70}]]", "risk.rate_limit.windows[0][1]"),
    ],
)
def test_an_integer_a_log_header_cannot_record_is_refused_naming_it(
    table: str, line: str, at: str
) -> None:
    """TOML's decoder gives unbounded ints: a seed of 2**64 loaded, then the session's log header
    could not encode it (an OverflowError traceback and a partial log)."""
    if table == "[session]":
        text = GOOD.replace('markets = ["BTC-USD"]', f'markets = ["BTC-USD"]\n{line}')
    else:
        text = f"{GOOD}\n{table}\n{line}\n"
    with pytest.raises(ConfigError, match=rf"^x\.toml: {re.escape(at)}: expected an integer "):
        parse_config(text, "x.toml")


def test_a_config_dict_with_an_integer_beyond_64_bits_is_refused() -> None:
    """The way a sweep builds each grid combination's config."""
    data = config_to_dict(parse_config(GOOD))
    data["session"]["seed"] = 2**64
    with pytest.raises(ConfigError, match=r"^<log header>: session\.seed: expected an integer "):
        config_from_dict(data)


@pytest.mark.parametrize("seed", [2**64 - 1, -(2**63), 0])
def test_integers_at_the_ends_of_the_range_load_and_fit_a_log_header(seed: int) -> None:
    text = GOOD.replace('markets = ["BTC-USD"]', f'markets = ["BTC-USD"]\nseed = {seed}')
    config = parse_config(text)
    assert config.session.seed == seed
    header = LogHeader(format_version=FORMAT_VERSION, code_version="test", instruments=[],
                       config=config_to_dict(config), created_ns=0, meta={})
    assert encode_header(header)



class _Inner(msgspec.Struct, forbid_unknown_fields=True):
    gamma: float = 1.0

    def __post_init__(self) -> None:
        if self.gamma <= 0:
            raise ValueError(f"gamma: expected > 0, found {self.gamma}")


class _Outer(msgspec.Struct, forbid_unknown_fields=True):
    inner: _Inner = msgspec.field(default_factory=_Inner)


def test_field_message_puts_a_structs_own_check_under_the_tables_path() -> None:
    """One parser for every table's messages (the strategy registry used to keep its own copy):
    a check of a nested struct naming its field by its bare name goes under the path."""
    from mmcore.config import field_message

    def message(data: dict[str, object]) -> str:
        try:
            msgspec.convert(data, _Outer)
        except msgspec.ValidationError as exc:
            return field_message(exc, "strategy.params")
        raise AssertionError("converted")

    gamma = message({"inner": {"gamma": 0}})
    assert gamma == "strategy.params.inner.gamma: expected > 0, found 0.0"
    assert message({"inner": {"gama": 1}}) == "strategy.params.inner.gama: unknown key"
    assert message({"inner": {"gamma": "x"}}).startswith("strategy.params.inner.gamma: Expected")


def test_a_misspelt_key_of_an_instruments_entry_is_refused_naming_it() -> None:
    text = (
        '[session]\nvenue = "sim"\nmarkets = ["X"]\n[strategy]\nname = "simple"\n'
        "[risk]\nmax_position_lots = 10\n"
        '[[instruments]]\nvenue = "sim"\nsymbol = "X"\ntick_size = "0.1"\nlot_size = "1"\n'
        'min_sise = "5"\n'
    )
    with pytest.raises(ConfigError, match=r"c\.toml: instruments\[0\]\.min_sise: unknown key"):
        parse_config(text, "c.toml")
