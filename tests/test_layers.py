"""The import rules of DESIGN.md, checked on the source: pure parts stay pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Modules that must be deterministic and free of I/O.
PURE = [
    "mmcore/events.py", "mmcore/commands.py", "mmcore/instrument.py", "mmcore/intents.py",
    "mmcore/book.py", "mmcore/state.py", "mmcore/order_state.py", "mmcore/pnl.py",
    "mmcore/orders.py", "mmcore/risk.py", "mmcore/ratelimit.py", "mmcore/engine.py",
    "mmcore/view.py", "mmcore/protocols.py",
]
PURE_DIRS = ["strategies", "adapters/sim"]
FORBIDDEN_IN_PURE = {"asyncio", "aiohttp", "websockets", "x10", "paradex_py", "nacl", "socket",
                     "threading", "random", "time", "datetime", "secrets", "os"}
# random is allowed only as a type for a seeded generator passed in: see ALLOWED_RANDOM.
ALLOWED_RANDOM = {"random"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def pure_files() -> list[Path]:
    files = [ROOT / p for p in PURE if (ROOT / p).exists()]
    for d in PURE_DIRS:
        files.extend(sorted((ROOT / d).rglob("*.py")))
    return files


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_import_no_io_clock_or_sdk(path: Path) -> None:
    bad = (imports_of(path) & FORBIDDEN_IN_PURE) - ALLOWED_RANDOM
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_pure_modules_never_call_the_global_random_generator() -> None:
    for path in pure_files():
        source = path.read_text()
        for call in ("random.random(", "random.randint(", "random.choice(", "random.seed(",
                     "random.uniform(", "random.gauss(", "time.time(", "time.perf_counter("):
            assert call not in source, f"{path.relative_to(ROOT)} calls {call}"


@pytest.mark.parametrize("path", sorted((ROOT / "mmcore").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_mmcore_imports_nothing_above_it(path: Path) -> None:
    if path.parent.name == "cli":
        return  # the command line is the composition root
    assert not imports_of(path) & {"strategies", "replay", "adapters"}


@pytest.mark.parametrize("path", sorted((ROOT / "strategies").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_strategies_import_only_mmcore(path: Path) -> None:
    assert not imports_of(path) & {"replay", "adapters"}


@pytest.mark.parametrize("path", sorted((ROOT / "adapters").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_never_import_strategies_or_replay(path: Path) -> None:
    assert not imports_of(path) & {"strategies", "replay"}


def test_adapters_know_no_other_venue() -> None:
    venues = ["extended", "paradex", "standx"]
    for venue in venues:
        folder = ROOT / "adapters" / venue
        if not folder.exists():
            continue
        others = {f"adapters.{v}" for v in venues if v != venue}
        for path in folder.rglob("*.py"):
            text = path.read_text()
            assert not any(o in text for o in others), path


def test_event_and_command_modules_export_what_they_define() -> None:
    import mmcore.commands as commands
    import mmcore.events as events

    for module in (events, commands):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.__all__ names missing {name}"
