"""Parameter grids for ``mm sweep``: a TOML file of value lists keyed by dotted config paths.

```toml
"strategy.params.spread_bps" = [0.5, 1.0]
"risk.max_position_lots" = [50, 100]
```

Unquoted dotted keys (``strategy.params.spread_bps = [...]``) are TOML tables and mean the same.
Numeric path parts index lists (``instruments.0.maker_fee``; but a backtest takes a market's
instrument from its data log when the log has one, so ``mm sweep`` refuses such keys then). A
key must name a field that the base config has (every field of a typed table exists, with its
default) or a parameter inside a raw table that its component validates (``strategy.params``,
``sim``, and the tables inside them, such as ``strategy.params.kappa``, whether or not the base
config has them).

The grid is the Cartesian product of the lists, in key order (the last key varies fastest).
``check_grid`` builds and validates every combination before any work starts: first each key's
values alone, so a bad key or value is named by itself, then every combination.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import msgspec

from mmcore.config import AppConfig, config_from_dict, config_to_dict
from mmcore.errors import ConfigError
from replay.session import check_components

__all__ = ["Grid", "SweepGridError", "apply_params", "check_grid", "load_grid", "parse_grid"]

OPEN_TABLES = ("strategy.params", "sim")
"""Raw tables whose keys are checked by the component that owns them, not by ``AppConfig``."""


class SweepGridError(ConfigError):
    """A sweep grid is malformed, names a config key that does not exist or gives a bad value."""


class Grid(msgspec.Struct, frozen=True):
    """Dotted config keys and, for each, the values to try (same order as ``keys``)."""

    keys: list[str]
    values: list[list[Any]]

    def combinations(self) -> list[dict[str, Any]]:
        """Every assignment of one value per key, the last key varying fastest."""
        return [dict(zip(self.keys, combo)) for combo in itertools.product(*self.values)]

    def __len__(self) -> int:
        n = 1
        for values in self.values:
            n *= len(values)
        return n


def load_grid(path: str | Path) -> Grid:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SweepGridError(f"{p}: cannot read grid: {exc.strerror}") from None
    return parse_grid(raw, str(p))


def parse_grid(raw: bytes | str, where: str = "<grid>") -> Grid:
    try:
        table = msgspec.toml.decode(raw)
    except msgspec.DecodeError as exc:
        raise SweepGridError(f"{where}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SweepGridError(
            f"{where}: expected UTF-8 TOML text, found a byte that is not text at offset "
            f"{exc.start} ({exc.reason})"
        ) from None
    keys: list[str] = []
    values: list[list[Any]] = []
    _flatten(table, "", keys, values, where)
    if not keys:
        raise SweepGridError(
            f"{where}: expected at least one key with a list of values, found none"
        )
    return Grid(keys, values)


def _flatten(
    table: dict[str, Any], prefix: str, keys: list[str], values: list[list[Any]], where: str
) -> None:
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(value, dict):
            _flatten(value, key, keys, values, where)
        elif isinstance(value, list) and value:
            if key in keys:  # a quoted "a.b" and a table [a] b: one key, which values to use?
                raise SweepGridError(f"{where}: {key}: expected each key once, found it twice")
            keys.append(key)
            values.append(value)
        else:
            raise SweepGridError(
                f"{where}: {key}: expected a non-empty list of values, found {value!r}"
            )


def apply_params(base: dict[str, Any], params: dict[str, Any], where: str = "<grid>") -> dict:
    """A deep copy of the config dict ``base`` with each dotted key set to its value."""
    data = copy.deepcopy(base)
    for key, value in params.items():
        node: Any = data
        parts = key.split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            at = ".".join(parts[:depth])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise SweepGridError(
                        f"{where}: {key}: expected an index below {len(node)} of {at}, "
                        f"found {part!r}"
                    )
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if part not in node and not _open(at):
                    raise SweepGridError(
                        f"{where}: {key}: no such config key ({at or 'the config'} has "
                        f"{sorted(node)})"
                    )
                if last:
                    node[part] = value
                else:  # a table the base config leaves out, inside an open one: its defaults
                    node = node.setdefault(part, {})
            else:
                raise SweepGridError(
                    f"{where}: {key}: expected {at} to be a table or a list, found {node!r}"
                )
    return data


def _open(at: str) -> bool:
    """Whether the table at dotted path ``at`` is (inside) a raw table whose component checks
    its keys: any key may be set there."""
    return any(at == t or at.startswith(t + ".") for t in OPEN_TABLES)


def check_grid(base: AppConfig, grid: Grid, where: str = "<grid>") -> list[AppConfig]:
    """Validate every combination of ``grid`` over ``base``; returns their configs in order."""
    data = config_to_dict(base)
    for key, values in zip(grid.keys, grid.values):
        for value in values:
            _build(data, {key: value}, f"{where}: {key} = {value!r}")
    configs = []
    for params in grid.combinations():
        shown = ", ".join(f"{k} = {v!r}" for k, v in params.items())
        configs.append(_build(data, params, f"{where}: combination {{{shown}}}"))
    return configs


def _build(data: dict[str, Any], params: dict[str, Any], where: str) -> AppConfig:
    try:
        config = config_from_dict(apply_params(data, params, where), where)
        check_components(config, where)
    except SweepGridError:
        raise
    except ConfigError as exc:
        raise SweepGridError(str(exc)) from None
    return config
