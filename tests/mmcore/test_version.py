"""``mmcore.version``: the code version names the source that runs, not only the package version."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from mmcore.version import PACKAGES, VERSION, code_version, source_hash

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def packages(tmp_path: Path) -> list[Path]:
    """A copy of the packages' source, to edit."""
    roots = []
    for name in PACKAGES:
        root = tmp_path / name
        shutil.copytree(ROOT / name, root, ignore=shutil.ignore_patterns("__pycache__"))
        roots.append(root)
    return roots


def test_a_copy_of_the_source_hashes_as_the_source_does(packages: list[Path]) -> None:
    assert source_hash(packages) == source_hash([ROOT / name for name in PACKAGES])


def test_an_edit_to_any_source_file_changes_the_hash(packages: list[Path]) -> None:
    before = source_hash(packages)
    engine = packages[0] / "engine.py"
    engine.write_bytes(engine.read_bytes() + b"\n# changed\n")
    assert source_hash(packages) != before


def test_a_new_or_renamed_file_changes_the_hash(packages: list[Path]) -> None:
    before = source_hash(packages)
    extra = packages[2] / "extra.py"
    extra.write_text("X = 1\n")
    added = source_hash(packages)
    assert added != before
    extra.rename(packages[2] / "other.py")
    assert source_hash(packages) not in (before, added)


def test_compiled_files_and_other_files_leave_the_hash_alone(packages: list[Path]) -> None:
    before = source_hash(packages)
    cache = packages[0] / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "engine.cpython-310.pyc").write_bytes(b"\x00compiled")
    (cache / "stray.py").write_text("X = 1\n")
    (packages[0] / "notes.txt").write_text("not source")
    assert source_hash(packages) == before


def test_an_editors_lock_file_leaves_the_hash_alone(packages: list[Path]) -> None:
    """Emacs marks a file being edited with ``.#engine.py``, a dangling symlink: reading it
    used to fail, and every command with it."""
    before = source_hash(packages)
    (packages[0] / ".#engine.py").symlink_to("user@host.1234:1700000000")
    (packages[0] / ".engine.py.swp.py").write_text("x")
    assert source_hash(packages) == before


def test_the_code_version_is_the_package_version_and_the_source_hash() -> None:
    version = code_version()
    source = source_hash(ROOT / name for name in PACKAGES)
    assert version == f"{metadata.version('mmengine')}+src.{source}" == f"{VERSION}+src.{source}"
    assert code_version() is version  # computed once per process


def test_a_checkout_not_installed_gives_the_same_version_as_an_installed_one(
    tmp_path: Path,
) -> None:
    """A copy of the source with no installed ``mmengine`` in sight (``-S``: no site-packages,
    and no egg-info beside it) used to say "dev+src..." and its logs' headers differed from an
    installed copy's."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    other = subprocess.run(
        [sys.executable, "-S", "-c",
         "import importlib.metadata as m, sys\n"
         "try:\n    m.version('mmengine'); sys.exit('mmengine is visible')\n"
         "except m.PackageNotFoundError: pass\n"
         "from mmcore.version import code_version; print(code_version())"],
        capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)},
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == code_version()


def test_another_process_running_the_same_code_gives_the_same_version() -> None:
    other = subprocess.run(
        [sys.executable, "-c", "from mmcore.version import code_version; print(code_version())"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    assert other.stdout.strip() == code_version()
