"""Session configuration: one TOML file → typed, validated, frozen structs.

A file selects the venue and network, the markets, the strategy and its parameters, the order
manager, risk limits, recording and (for backtests and dry runs) the simulated venue. Unknown keys
and bad values stop start-up with a ``ConfigError`` naming the file and the field.

Tables whose schema belongs to a component above ``mmcore`` (``[strategy.params]``, ``[sim]``,
``[venue]``) are kept as raw tables here and validated by the code that builds that component
(``replay.session``), with the same kind of error.

Secrets never appear in a config file: credentials are referenced by the *name* of an
environment variable (``api_key_env = "EXTENDED_API_KEY"``) or a key-file path. A key that looks
like a secret with a literal value is refused.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import msgspec

from mmcore.errors import ConfigError
from mmcore.instrument import Instrument
from mmcore.orders import OrderManagerConfig
from mmcore.risk import RiskConfig

__all__ = [
    "MAX_MAGNITUDE",
    "AppConfig",
    "LogConfig",
    "SessionConfig",
    "StrategyConfig",
    "check_client_id_prefixes",
    "config_to_dict",
    "field_message",
    "load_config",
    "parse_config",
]

_SECRET_KEY = re.compile(r"(secret|private_key|api_key|passphrase|password|seed_phrase|token)$")

MAX_MAGNITUDE = 1e15
"""Largest float a setting may hold (no USD amount, duration or bps a session needs is near it)."""


class SessionConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Which venue, network and markets this session trades.

    venue: "sim" (simulated venue), "extended", "paradex" or "standx".
    network: "local" (an emulator on 127.0.0.1), "testnet" or "mainnet"; default "local".
    markets: symbols to trade, as the venue names them.
    seed: seed of the engine's random generator (strategies, simulated latency); default 1.
    timer_interval_ms: cadence of Timer events; default 1000.
    book_max_levels: depth kept per book side (0 = all); default 0.
    max_in_flight: live only: commands sent to the venue at once (1 = one at a time, in the
        order emitted; see ``mmcore.send_queue`` for what may overlap); default 8.
    status_interval_s: live only: log where the session stands (``mmcore.status``) this often;
        0 = never; default 30.
    day_pnl_file: live on testnet or mainnet only, when ``[risk] max_loss_day_usd`` or
        ``max_loss_hour_usd`` is set: the file that carries the UTC day's PnL and the last
        hour's PnL highs from one session to the next, so that a restart resets neither loss
        limit (``mmcore.day_pnl``); one per account (it records the account, and refuses
        another's); default "" = ``<state dir>/day-pnl/<venue>-<network>-<account>.json``
        (``mmcore.day_pnl.default_day_pnl_path``: ``~/.local/state/mmengine`` or under
        ``$XDG_STATE_HOME``), the account being the venue's id of it (Extended: the vault).
    """

    venue: Literal["sim", "extended", "paradex", "standx"]
    markets: list[str]
    network: Literal["local", "testnet", "mainnet"] = "local"
    seed: int = 1
    timer_interval_ms: int = 1000
    book_max_levels: int = 0
    max_in_flight: int = 8
    status_interval_s: float = 30.0
    day_pnl_file: str = ""

    def __post_init__(self) -> None:
        if not self.markets:
            raise ValueError("markets: expected at least one symbol, found none")
        if len(set(self.markets)) != len(self.markets):
            raise ValueError(f"markets: expected distinct symbols, found {self.markets}")
        if self.timer_interval_ms < 0:
            raise ValueError(f"timer_interval_ms: expected >= 0, found {self.timer_interval_ms}")
        if not (self.status_interval_s >= 0 and math.isfinite(self.status_interval_s)):
            raise ValueError(
                f"status_interval_s: expected >= 0 and finite, found {self.status_interval_s}"
            )
        if self.book_max_levels < 0:
            raise ValueError(f"book_max_levels: expected >= 0, found {self.book_max_levels}")
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight: expected >= 1, found {self.max_in_flight}")


class StrategyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """name: a registered strategy (see docs/strategies.md); params: its parameter table."""

    name: str
    params: dict[str, Any] = {}


class LogConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Recording of the session's event log.

    path: where to write it (a directory gets a timestamped file); default "out/session.mmlog".
    flush_every: frames buffered before a write; default 65536.
    fsync: "never", "flush" (every flush) or "close"; default "close".
    compress: zstd-compress blocks; default false (a ".zst" suffix also turns it on).
    """

    path: str = "out/session.mmlog"
    flush_every: int = 65536
    fsync: Literal["never", "flush", "close"] = "close"
    compress: bool = False

    def __post_init__(self) -> None:
        if self.flush_every < 1:
            raise ValueError(f"flush_every: expected >= 1, found {self.flush_every}")


class AppConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A whole session: see each table's struct for its fields and defaults."""

    session: SessionConfig
    strategy: StrategyConfig
    risk: RiskConfig
    instruments: list[Instrument] = []
    orders: OrderManagerConfig = OrderManagerConfig()
    log: LogConfig = LogConfig()
    sim: dict[str, Any] = {}
    venue: dict[str, Any] = {}

    def __post_init__(self) -> None:
        symbols = [i.symbol for i in self.instruments]
        twice = sorted({s for s in symbols if symbols.count(s) > 1})
        if twice:
            # instrument_map keeps one spec per symbol: which one would be silently arbitrary
            raise ValueError(
                f"instruments: expected one entry per symbol, found several for {twice}"
            )

    def instrument_map(self) -> dict[str, Instrument]:
        return {i.symbol: i for i in self.instruments}


def load_config(path: str | Path) -> AppConfig:
    """Read and validate a TOML config file; every error names the file and the field."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror}") from None
    return parse_config(raw, str(p))


def parse_config(raw: bytes | str, where: str = "<config>") -> AppConfig:
    try:
        table = msgspec.toml.decode(raw)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # an event log given as the config, say
        raise ConfigError(
            f"{where}: expected UTF-8 TOML text, found a byte that is not text at offset "
            f"{exc.start} ({exc.reason})"
        ) from None
    _refuse_secrets(table, where, "")
    _refuse_wild_numbers(table, where, "")
    _refuse_unknown_instrument_keys(table, where)
    try:
        config = msgspec.convert(table, AppConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {field_message(exc)}") from None
    check_client_id_prefixes(config, where)
    return config


def _refuse_unknown_instrument_keys(table: dict[str, Any], where: str) -> None:
    """A misspelt key of an ``[[instruments]]`` entry is refused like any other table's.
    ``Instrument`` itself accepts unknown fields (it is also read from log headers, which a
    later version may extend), so the config file's entries are checked here."""
    entries = table.get("instruments")
    if not isinstance(entries, list):
        return  # not a list: the conversion names the field
    known = {f.encode_name for f in msgspec.structs.fields(Instrument)}
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            for key in entry:
                if key not in known:
                    raise ConfigError(f"{where}: instruments[{i}].{key}: unknown key")


def check_client_id_prefixes(config: AppConfig, where: str) -> None:
    """The order manager's and the risk gate's client ids must never collide: with one prefix
    both count ``prefix-1, prefix-2, ...`` and the ledger drops the second order of an id, the
    forced exit. (Distinct prefixes cannot collide: an id's prefix is what precedes its last
    ``-``.) Checked at load (and by ``replay.session.check_components`` for configs a sweep
    builds), not in ``AppConfig``, so a log header that has such a config still converts and its
    session replays as it ran."""
    prefix = config.orders.client_id_prefix
    if prefix == config.risk.client_id_prefix:
        raise ConfigError(
            f"{where}: orders.client_id_prefix and risk.client_id_prefix: expected different "
            f"prefixes (the client ids would collide), found both {prefix!r}"
        )


def config_to_dict(config: AppConfig) -> dict[str, Any]:
    """The config as plain data, as it goes into a log header (secret-free by construction)."""
    data: dict[str, Any] = msgspec.to_builtins(config)
    return data


def config_from_dict(data: dict[str, Any], where: str = "<log header>") -> AppConfig:
    _refuse_wild_numbers(data, where, "")
    try:
        return msgspec.convert(data, AppConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {field_message(exc)}") from None


def field_message(exc: msgspec.ValidationError, table: str = "") -> str:
    """msgspec says '... - at `$.risk.max_position_lots`'; say 'risk.max_position_lots: ...'.
    ``table``: the config table the converted value came from (``venue``), put before the path;
    an unknown key is '<path>.<key>: unknown key' (msgspec gives no path for one at the top); a
    struct's own check that names its field by its bare name ('gamma: expected > 0') is put
    under the path ('strategy.params.gamma: expected > 0')."""
    text = str(exc)
    match = re.search(r"(.*?) - at `\$\.?(.*)`$", text)
    what, at = match.groups() if match else (text, "")
    at = ".".join(part for part in (table, at) if part)
    unknown = re.match(r"Object contains unknown field `(\w+)`", what)
    if unknown:
        field = f"{at}.{unknown.group(1)}" if at else unknown.group(1)
        return f"{field}: unknown key"
    if not match and not table:
        return text
    if at and what.startswith(f"{at}."):  # a check of the struct's own that names its field
        return what
    named = re.fullmatch(r"(\w+): (.*)", what, re.S)
    if at and named:  # a nested struct's own check, naming its field by its bare name
        return f"{at}.{named.group(1)}: {named.group(2)}"
    return f"{at}: {what}" if at else what


def _refuse_secrets(table: Any, where: str, at: str) -> None:
    if isinstance(table, dict):
        for key, value in table.items():
            name = f"{at}.{key}" if at else str(key)
            # any scalar, not only text: an unquoted hex key is a TOML integer, and a check of
            # its range further on would print it
            secret = isinstance(value, (str, int, float)) and not isinstance(value, bool)
            if secret and value != "" and _SECRET_KEY.search(str(key)):
                raise ConfigError(
                    f"{where}: {name}: secrets are not allowed in config files; name an "
                    f"environment variable instead ({key}_env = \"VAR_NAME\")"
                )
            _refuse_secrets(value, where, name)
    elif isinstance(table, list):
        for i, value in enumerate(table):
            _refuse_secrets(value, where, f"{at}[{i}]")


def _refuse_wild_numbers(table: Any, where: str, at: str) -> None:
    """No setting is a NaN, an infinity (TOML can write both) or a float beyond
    ``MAX_MAGNITUDE``: a NaN limit compares False with everything, so a check like
    ``value < 0`` would let it through as fine, and a huge one overflows where it is turned into
    nanoseconds or nanos. No integer is outside [-2**63, 2**64-1] (the TOML decoder gives
    Python's unbounded ints): the log header that records the config could not encode it, and
    the session would fail at its first write, leaving a partial log."""
    if isinstance(table, dict):
        for key, value in table.items():
            _refuse_wild_numbers(value, where, f"{at}.{key}" if at else str(key))
    elif isinstance(table, list):
        for i, value in enumerate(table):
            _refuse_wild_numbers(value, where, f"{at}[{i}]")
    elif isinstance(table, float) and not abs(table) <= MAX_MAGNITUDE:
        raise ConfigError(
            f"{where}: {at}: expected a finite number within +-{MAX_MAGNITUDE:g}, found {table}"
        )
    elif isinstance(table, int) and not -(2**63) <= table <= 2**64 - 1:
        raise ConfigError(
            f"{where}: {at}: expected an integer within [-2**63, 2**64-1] (what a log header "
            f"can record), found {table}"
        )
