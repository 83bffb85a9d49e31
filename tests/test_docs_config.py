"""The configuration reference stays complete and true: docs/configuration.md has a section for
every config table, a row for every field of its struct (and none for a field the code lacks),
and each default it writes as a literal is the code's; docs/strategies.md names every strategy
parameter; every whole config shown in the reference loads."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.extended.config import ExtendedConfig
from adapters.sim.config import SimConfig
from mmcore.config import AppConfig, LogConfig, SessionConfig, StrategyConfig, parse_config
from mmcore.instrument import Instrument
from mmcore.orders import OrderManagerConfig
from mmcore.ratelimit import RateLimitConfig
from mmcore.risk_limits import RiskConfig
from replay.session import check_components
from strategies.registry import STRATEGIES

DOCS = Path(__file__).resolve().parents[1] / "docs"
REFERENCE = DOCS / "configuration.md"

TABLES: dict[str, type[msgspec.Struct]] = {
    "[session]": SessionConfig,
    "[strategy]": StrategyConfig,
    "[orders]": OrderManagerConfig,
    "[risk]": RiskConfig,
    "[risk.rate_limit]": RateLimitConfig,
    "[log]": LogConfig,
    "[sim]": SimConfig,
    "[venue]": ExtendedConfig,
    "[[instruments]]": Instrument,
}
"""Each config table's heading in the reference, and the struct that reads it."""

_HEADING = re.compile(r"^## `(\[.+\])`\s*$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_LITERAL = re.compile(r"`([^`]*)`")


def _sections() -> dict[str, list[str]]:
    """The reference's `## `[table]`` sections: heading -> the section's lines."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            match = _HEADING.match(line)
            current = sections.setdefault(match.group(1), []) if match else None
        elif current is not None:
            current.append(line)
    return sections


def _rows(lines: list[str]) -> dict[str, list[str]]:
    """The rows of the section's field tables (header ``| field | default | ...``), by the
    backticked name in their first cell: name -> the row's other cells."""
    rows: dict[str, list[str]] = {}
    header: list[str] = []
    for line in lines:
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in _CELL_SPLIT.split(line.strip().strip("|"))]
        if not header:
            header = cells
            continue
        name = _LITERAL.fullmatch(cells[0])
        if header[:2] == ["field", "default"] and name:
            rows[name.group(1)] = cells[1:]
    return rows


def _default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return field.default


def test_every_table_of_a_config_has_a_section() -> None:
    sections = _sections()
    missing = sorted(set(TABLES) - set(sections))
    assert not missing, f"{REFERENCE.name}: no `## `<table>`` section for {missing}"
    for field in msgspec.structs.fields(AppConfig):
        assert f"[{field.name}]" in TABLES or f"[[{field.name}]]" in TABLES, (
            f"AppConfig.{field.name}: a config table this test does not know; add it to TABLES "
            f"and a section for it to {REFERENCE.name}"
        )


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_field_is_documented(table: str) -> None:
    struct = TABLES[table]
    rows = _rows(_sections().get(table, []))
    fields = [f.name for f in msgspec.structs.fields(struct)]
    missing = [name for name in fields if name not in rows]
    assert not missing, (
        f"{REFERENCE.name} {table}: no row for {struct.__name__} field(s) {missing}"
    )
    unknown = sorted(set(rows) - set(fields))
    assert not unknown, (
        f"{REFERENCE.name} {table}: row(s) for {unknown}, which {struct.__name__} does not have"
    )


@pytest.mark.parametrize("table", sorted(TABLES))
def test_documented_defaults_are_the_code_s(table: str) -> None:
    """The default cell is `required`, `unset` (None), a backticked TOML literal that must equal
    the code's default, or prose (a default the code computes)."""
    struct = TABLES[table]
    rows = _rows(_sections().get(table, []))
    wrong = []
    for field in msgspec.structs.fields(struct):
        cells = rows.get(field.name)
        if not cells:
            continue  # test_every_field_is_documented names it
        cell = cells[0]
        if cell == "required":
            if not field.required:
                wrong.append(f"{field.name}: documented required, has default {_default(field)!r}")
            continue
        if field.required:
            wrong.append(f"{field.name}: required, documented default {cell}")
            continue
        code = _default(field)
        if cell == "unset":
            if code is not None:
                wrong.append(f"{field.name}: documented unset, code default {code!r}")
            continue
        literal = _LITERAL.fullmatch(cell)
        if literal is None:
            if (table, field.name) not in _COMPUTED:
                wrong.append(f"{field.name}: documented default {cell!r} is not a `literal`")
            continue  # a default the code computes, said in words
        documented = msgspec.toml.decode(f"v = {literal.group(1)}")["v"]
        if documented != code or isinstance(documented, bool) != isinstance(code, bool):
            wrong.append(f"{field.name}: documented {cell}, code default {code!r}")
    assert not wrong, f"{REFERENCE.name} {table}: " + "; ".join(wrong)


_COMPUTED = {("[risk]", "rate_limit"), ("[venue]", "network")}
"""Fields whose default the code computes, so the reference says it in words."""


def _structs_in(tp: Any) -> list[type[msgspec.Struct]]:
    """The Struct types a field's type names (``X``, ``X | None``, ...)."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return [tp]
    return [s for arg in typing.get_args(tp) for s in _structs_in(arg)]


def test_every_strategy_parameter_is_in_strategies_md() -> None:
    """The reference links docs/strategies.md for ``[strategy.params]``: every parameter of
    every strategy, and of the tables inside it (estimators, inventory), is named there."""
    text = (DOCS / "strategies.md").read_text(encoding="utf-8")
    missing = []
    seen: set[type[msgspec.Struct]] = set()
    todo = [params for params, _ in STRATEGIES.values()]
    while todo:
        struct = todo.pop()
        if struct in seen:
            continue
        seen.add(struct)
        for field in msgspec.structs.fields(struct):
            if f"`{field.name}`" not in text:
                missing.append(f"{struct.__name__}.{field.name}")
            todo.extend(_structs_in(field.type))
    assert not missing, f"strategies.md: no `name` for parameter(s) {sorted(missing)}"


def test_whole_configs_shown_in_the_reference_load() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", REFERENCE.read_text(encoding="utf-8"), re.S)
    whole = [b for b in blocks if "[session]" in b]
    assert whole, f"{REFERENCE.name}: expected a whole config example"
    for block in whole:
        config = parse_config(block, f"{REFERENCE.name} example")
        check_components(config, f"{REFERENCE.name} example")


def _param_tables() -> list[dict[str, str]]:
    """strategies.md's parameter tables (header ``| param | default | ...``): name -> default
    cell, for rows naming one parameter."""
    tables: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in (DOCS / "strategies.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            current = None
            continue
        cells = [c.strip() for c in _CELL_SPLIT.split(line.strip().strip("|"))]
        if current is None:
            if cells[:2] == ["param", "default"]:
                current = {}
                tables.append(current)
            continue
        name = _LITERAL.fullmatch(cells[0])
        if name:
            current[name.group(1)] = cells[1]
    return tables


def _all_params() -> list[type[msgspec.Struct]]:
    seen: list[type[msgspec.Struct]] = []
    todo = [params for params, _ in STRATEGIES.values()]
    while todo:
        struct = todo.pop()
        if struct not in seen:
            seen.append(struct)
            for field in msgspec.structs.fields(struct):
                todo.extend(_structs_in(field.type))
    return seen


def test_strategy_parameter_defaults_in_strategies_md_are_the_code_s() -> None:
    """Each parameter table of strategies.md is the table of the one params struct holding all
    its names; every default it gives as a value (a number, a quoted string, a list) must be the
    code's (words such as "defaults" or "absent" name a sub-table's)."""
    structs = _all_params()
    wrong = []
    for rows in _param_tables():
        owners = [s for s in structs if set(rows) <= {f.name for f in msgspec.structs.fields(s)}]
        assert owners, f"strategies.md: no params struct has every parameter of {sorted(rows)}"
        owner = min(owners, key=lambda s: len(msgspec.structs.fields(s)))
        fields = {f.name: f for f in msgspec.structs.fields(owner)}
        for name, cell in rows.items():
            text = cell.strip("`")
            try:
                documented = msgspec.toml.decode(f"v = {text}")["v"]
            except msgspec.DecodeError:
                continue  # words: a sub-table's defaults, or an optional table left out
            code = _default(fields[name])
            if isinstance(code, tuple):
                code = list(code)
            if documented != code:
                wrong.append(f"{owner.__name__}.{name}: documented {cell}, code {code!r}")
    assert not wrong, "strategies.md: " + "; ".join(wrong)
