"""ExtendedConfig validates on construction; credentials never show in reprs."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from adapters.extended import ExtendedAdapter
from adapters.extended.backoff import Backoff
from adapters.extended.config import ExtendedConfig
from adapters.extended.credentials import Secret, account_id, load_credentials, redact_hex
from adapters.extended.errors import ExtendedConfigError, ExtendedCredentialsError
from adapters.extended.markets import sdk_config
from adapters.extended.rest import parse_api_error

API_KEY = "k3y-that-must-not-leak"
PRIVATE = "0x1234abcd5678ef"


def make_env(**overrides: str) -> dict[str, str]:
    env = {
        "EXTENDED_API_KEY": API_KEY,
        "EXTENDED_STARK_PRIVATE_KEY": PRIVATE,
        "EXTENDED_STARK_PUBLIC_KEY": "0xabc",
        "EXTENDED_VAULT": "42",
    }
    env.update(overrides)
    return env


def test_a_local_network_needs_a_base_url() -> None:
    with pytest.raises(ExtendedConfigError, match="base_url"):
        ExtendedConfig(network="local")


def test_unknown_fields_are_refused_when_decoding_a_config_table() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown"):
        msgspec.convert({"network": "testnet", "netwrok": "x"}, ExtendedConfig)


def test_a_rearm_interval_longer_than_the_countdown_is_refused() -> None:
    with pytest.raises(ExtendedConfigError, match="dead_man_rearm_s"):
        ExtendedConfig(dead_man_switch_s=10, dead_man_rearm_s=20)


@pytest.mark.parametrize("decode", [False, True])
def test_an_order_expiry_beyond_testnets_28_days_is_refused_naming_the_field(
    decode: bool,
) -> None:
    """Testnet refuses every order living longer than 28 days (1135): such a config would trade
    nothing, so it is refused at load, as a table decoded from a file or when built."""
    day = 86400
    table = {"network": "testnet", "order_expiry_s": 28 * day + 1}
    with pytest.raises((ExtendedConfigError, msgspec.ValidationError)) as err:
        if decode:
            msgspec.convert(table, ExtendedConfig)
        else:
            ExtendedConfig(**table)  # type: ignore[arg-type]
    assert "order_expiry_s" in str(err.value) and "28 days" in str(err.value)
    assert ExtendedConfig(network="testnet", order_expiry_s=28 * day).order_expiry_s == 28 * day
    assert ExtendedConfig(network="mainnet", order_expiry_s=90 * day).order_expiry_s == 90 * day
    with pytest.raises(ExtendedConfigError, match="order_expiry_s"):
        ExtendedConfig(network="mainnet", order_expiry_s=90 * day + 1)
    with pytest.raises(ExtendedConfigError, match="order_expiry_s"):  # the emulator: testnet's
        ExtendedConfig(network="local", base_url="http://127.0.0.1:1", order_expiry_s=28 * day + 1)


def test_base_url_points_rest_and_streams_at_the_emulator_with_the_testnet_domain() -> None:
    sdk = sdk_config(ExtendedConfig(network="local", base_url="http://127.0.0.1:9"))
    assert sdk.endpoints.api_base_url == "http://127.0.0.1:9/api/v1"
    assert sdk.endpoints.stream_url == "ws://127.0.0.1:9/stream.extended.exchange/v1"
    assert sdk.signing.starknet_domain.chain_id == "SN_SEPOLIA"
    assert sdk_config(ExtendedConfig(network="mainnet")).signing.starknet_domain.chain_id == (
        "SN_MAIN"
    )


def test_credentials_come_from_the_configured_environment_names() -> None:
    config = ExtendedConfig(api_key_env="MY_KEY")
    env = make_env()
    env["MY_KEY"] = env.pop("EXTENDED_API_KEY")
    creds = load_credentials(config, env)
    assert creds.api_key.reveal() == API_KEY
    assert creds.vault == 42
    assert API_KEY not in repr(creds) and PRIVATE not in repr(creds)


def test_missing_credentials_name_the_variables_but_not_any_value() -> None:
    with pytest.raises(ExtendedCredentialsError) as err:
        load_credentials(ExtendedConfig(), make_env(EXTENDED_VAULT=""))
    assert "EXTENDED_VAULT" in str(err.value)
    assert API_KEY not in str(err.value)


def write_key_file(path: Path, data: bytes | dict[str, str], mode: int = 0o600) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    path.chmod(mode)
    return path


KEY_FILE = {
    "api_key": API_KEY + "\n",  # a trailing newline, as an editor leaves it
    "stark_private_key": "1234abcd5678ef",
    "stark_public_key": "0xabc",
    "vault": "7",
}


def test_credentials_can_come_from_a_key_file(tmp_path: Path) -> None:
    path = write_key_file(tmp_path / "keys.json", KEY_FILE)
    creds = load_credentials(ExtendedConfig(key_file=str(path)), {})
    assert creds.stark_private_key.reveal() == PRIVATE
    assert creds.api_key.reveal() == API_KEY
    assert creds.vault == 7


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660, 0o620, 0o666])
def test_a_key_file_other_users_may_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    """As ssh refuses such a private key: another user could read the keys, or swap them."""
    path = write_key_file(tmp_path / "keys.json", KEY_FILE, mode)
    with pytest.raises(ExtendedCredentialsError, match=rf"chmod 600.*found mode {mode:04o}"):
        load_credentials(ExtendedConfig(key_file=str(path)), {})
    path.chmod(0o400)
    assert load_credentials(ExtendedConfig(key_file=str(path)), {}).vault == 7


def test_a_group_may_read_a_key_file_only_when_root_owns_it(tmp_path: Path) -> None:
    """A Kubernetes secret mounted with an fsGroup is 0440, owned by root, whatever its
    defaultMode says: refusing it left no way to use a mounted secret."""
    path = write_key_file(tmp_path / "keys.json", KEY_FILE, 0o440)
    config = ExtendedConfig(key_file=str(path))
    if path.stat().st_uid == 0:
        assert load_credentials(config, {}).vault == 7
    else:
        with pytest.raises(ExtendedCredentialsError, match="fsGroup"):
            load_credentials(config, {})


HEX_KEY = "0x0123abcd" + "ef" * 28


@pytest.mark.parametrize(
    "content",
    [
        json.dumps({HEX_KEY: "x", **KEY_FILE}).encode(),  # the key as a field name
        json.dumps({**KEY_FILE, "vault": [HEX_KEY]}).encode(),
        b'{"api_key": "' + HEX_KEY.encode() + b'\xff\xfe", "vault": 1}',  # not UTF-8
        b'{"api_key": ' + HEX_KEY.encode() + b"}",  # not JSON
    ],
)
def test_a_malformed_key_file_is_refused_without_quoting_what_it_holds(
    tmp_path: Path, content: bytes
) -> None:
    path = write_key_file(tmp_path / "keys.json", content)
    with pytest.raises(ExtendedCredentialsError, match="key_file") as err:
        load_credentials(ExtendedConfig(key_file=str(path)), {})
    assert HEX_KEY[2:] not in str(err.value) and API_KEY not in str(err.value)


def test_a_private_key_with_underscores_or_spaces_is_refused_as_not_hex() -> None:
    """``int(x, 16)`` takes "_"; the SDK then fails on it with a bare assertion."""
    for bad in ("0x1234_abcd", "12 34"):
        with pytest.raises(ExtendedCredentialsError, match="expected a hex number"):
            load_credentials(ExtendedConfig(), make_env(EXTENDED_STARK_PRIVATE_KEY=bad))


def test_a_key_pasted_as_the_key_file_is_refused_without_showing_it() -> None:
    with pytest.raises(ExtendedConfigError, match=r"venue\.key_file") as err:
        ExtendedConfig(key_file=HEX_KEY)
    assert HEX_KEY[2:] not in str(err.value)


@pytest.mark.parametrize(
    ("network", "url", "ok"),
    [
        ("mainnet", "https://proxy.example:8443", True),
        ("mainnet", "http://proxy.example:8080", False),  # the API key in clear
        ("testnet", "http://10.0.0.5", False),
        ("mainnet", "http://127.0.0.1:8080", True),  # a TLS proxy on this machine
        ("local", "http://127.0.0.1:9", True),
        ("mainnet", "https://user:t0ken-5ca1ab1e@proxy.example", False),
        ("local", "http://t0ken-5ca1ab1e@127.0.0.1:9", False),
    ],
)
def test_base_url_must_not_send_credentials_in_clear_or_hold_them(
    network: str, url: str, ok: bool
) -> None:
    if ok:
        assert ExtendedConfig(network=network, base_url=url).base_url == url  # type: ignore[arg-type]
        return
    with pytest.raises(ExtendedConfigError, match=r"venue\.base_url") as err:
        ExtendedConfig(network=network, base_url=url)  # type: ignore[arg-type]
    assert "t0ken-5ca1ab1e" not in str(err.value)


LONG_KEY = "7" + "a3" * 32 + "5"  # 66 hex digits: a key with a stray digit, past the curve


@pytest.mark.parametrize(
    "env",
    [
        {"EXTENDED_STARK_PRIVATE_KEY": "0x" + LONG_KEY},  # a stray digit
        {"EXTENDED_STARK_PRIVATE_KEY": "0x0"},
        {"EXTENDED_VAULT": "0x" + LONG_KEY},  # the key put in the vault's variable
    ],
)
def test_a_private_key_the_curve_cannot_use_stops_start_up_without_quoting_it(
    env: dict[str, str],
) -> None:
    with pytest.raises(ExtendedCredentialsError) as err:
        load_credentials(ExtendedConfig(), make_env(**env))
    name = next(iter(env))
    assert name in str(err.value) and "characters" in str(err.value)
    assert LONG_KEY not in str(err.value) and PRIVATE not in str(err.value)


def test_long_hex_runs_are_withheld_from_library_messages() -> None:
    text = f"Failed to convert hex string 0x{LONG_KEY} to FieldElement (id 12345)"
    assert redact_hex(text) == "Failed to convert hex string <hex withheld> to FieldElement " \
        "(id 12345)"
    assert redact_hex("price 60000.5 below 0xabc") == "price 60000.5 below 0xabc"


def test_a_secret_hides_its_value_in_repr_str_and_format() -> None:
    s = Secret(API_KEY)
    assert API_KEY not in f"{s!r} {s} {s:>40}"
    assert s.reveal() == API_KEY


def test_backoff_grows_exponentially_within_half_jitter_and_is_reproducible() -> None:
    import random

    a = Backoff(0.1, 1.0, random.Random(3))
    b = Backoff(0.1, 1.0, random.Random(3))
    delays = [a.next_delay() for _ in range(6)]
    assert delays == [b.next_delay() for _ in range(6)]
    for i, d in enumerate(delays):
        ceiling = min(1.0, 0.1 * 2**i)
        assert ceiling / 2 <= d <= ceiling
    a.reset()
    assert a.next_delay() <= 0.1


def test_sdk_error_texts_yield_the_http_status_and_the_venue_code() -> None:
    non_2xx = (
        'Error response from http://x/api/v1/user/order: code 400 - '
        '{"status":"ERROR","error":{"code":1101,"message":"invalid Starknet signature"}}'
    )
    assert parse_api_error(non_2xx) == (400, "1101", "invalid Starknet signature")
    ok_with_error = "Error response from POST u: code=1134 message='duplicate' debug_info=None"
    assert parse_api_error(ok_with_error) == (200, "1134", "duplicate")
    assert parse_api_error("code 503 - emulated fault")[:2] == (503, "503")


def test_an_unknown_key_in_the_venue_table_is_named_with_its_table() -> None:
    from mmcore.cli.run_cmd import venue_table
    from mmcore.config import parse_config
    from mmcore.errors import ConfigError

    text = (Path(__file__).resolve().parents[3] / "configs" / "extended.toml").read_text()
    config = parse_config(text.replace("[venue]\n", "[venue]\nx = 1\n", 1), "extended.toml")
    with pytest.raises(ConfigError, match=r"venue\.x: unknown key"):
        venue_table(config, "extended", ExtendedConfig)


@pytest.mark.parametrize(
    "value",
    ["0x5f3a9c0e1b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a",
     "5f3a9c0e1b2d4f6a8c0e2b4d6f8a0c2e", "abcdef0123456789abcdef0123456789", "my key", ""],
)
def test_a_secret_pasted_where_a_variable_name_goes_is_refused_without_showing_it(
    value: str,
) -> None:
    from mmcore.cli.run_cmd import venue_table
    from mmcore.config import parse_config
    from mmcore.errors import ConfigError

    text = (Path(__file__).resolve().parents[3] / "configs" / "extended.toml").read_text()
    text = text.replace('api_key_env = "EXTENDED_API_KEY"', f'api_key_env = "{value}"', 1)
    config = parse_config(text, "extended.toml")
    with pytest.raises(ConfigError, match=r"venue\.api_key_env: expected the name") as info:
        venue_table(config, "extended", ExtendedConfig)
    assert not value or value not in str(info.value)


def test_variable_names_of_any_case_are_accepted() -> None:
    config = ExtendedConfig(api_key_env="my_key_2", vault_env="_VAULT")
    assert config.api_key_env == "my_key_2"


def test_a_negative_late_place_watch_is_refused_naming_the_field() -> None:
    with pytest.raises(ExtendedConfigError, match=r"venue\.late_place_watch_s: expected >= 0"):
        ExtendedConfig(late_place_watch_s=-1.0)
    assert ExtendedConfig(late_place_watch_s=0).late_place_watch_s == 0


def test_the_account_is_the_vault_and_on_an_emulator_the_vault_at_its_address() -> None:
    """What ``mm run`` keys the session lock and the day-PnL file by: every emulator numbers
    its accounts from 10001, so there the address tells two emulators' accounts apart."""
    creds = load_credentials(ExtendedConfig(), make_env())
    assert account_id(ExtendedConfig(network="mainnet"), creds) == "42"
    proxied = ExtendedConfig(network="testnet", base_url="https://proxy.example:8443")
    assert account_id(proxied, creds) == "42"  # the same account, however it is reached
    local = ExtendedConfig(network="local", base_url="http://127.0.0.1:9")
    assert account_id(local, creds) == "42@127.0.0.1:9"


def test_the_adapter_names_its_account_but_no_secret_and_none_when_public_only() -> None:
    config = ExtendedConfig(network="mainnet")
    adapter = ExtendedAdapter(config, lambda: 0, make_env())
    assert adapter.account_id == "42"
    assert API_KEY not in adapter.account_id and PRIVATE not in adapter.account_id
    assert ExtendedAdapter(config, lambda: 0, {}, public_only=True).account_id == ""
