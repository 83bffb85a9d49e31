"""The code version recorded in every log header: which code wrote the log.

The package version alone is the same for every commit ("0.1.0"), so a log that stops replaying
after an upgrade could not be told from a determinism bug. The code version is the package version
(``VERSION``, kept here in the hashed source, which ``pyproject.toml`` reads: a checkout run as it
is and an installed copy of the same code give the same version) plus a short hash of the source
of the packages a session runs (``PACKAGES``): the bytes of their ``.py`` files with their
paths, in sorted path order. It needs no git, reads the files where
Python imports them from (a checkout or an installed copy), is computed once per process (5 to
13 ms to hash the ~160 files, 1.4 MB, on the project's 2-core VM) and is the same in every
process running the same code.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PACKAGES", "VERSION", "code_version", "source_hash"]

VERSION = "0.1.0"
"""The package version (``pyproject.toml`` takes it from here)."""

PACKAGES = ("mmcore", "adapters", "strategies", "replay")
"""The packages whose source makes the code version."""

HASH_DIGITS = 12


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``<VERSION>+src.<hash of PACKAGES' source>``: the same for the same code, however it is
    installed (before, an uninstalled checkout said "dev" and its logs' headers differed)."""
    return f"{VERSION}+src.{source_hash(_package_roots())}"


def source_hash(roots: Iterable[Path]) -> str:
    """``HASH_DIGITS`` hex digits of the SHA-256 of every ``.py`` file under the package folders
    ``roots`` (``__pycache__`` left out): each file's path from its package's parent
    (``mmcore/engine.py``), its length and its bytes, in sorted path order, so that an edit, a
    new file and a rename each change it, and nothing else does."""
    files = sorted(
        (path.relative_to(root.parent).as_posix(), path)
        for root in roots
        for path in root.rglob("*.py")
        if "__pycache__" not in path.parts and _is_module(path)
    )
    digest = hashlib.sha256()
    for name, path in files:
        data = path.read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:HASH_DIGITS]


def _is_module(path: Path) -> bool:
    """A regular file Python could import: not an editor's lock or backup file such as Emacs'
    ``.#engine.py`` (a dangling symlink, which made every command fail to start)."""
    return not path.name.startswith(".") and path.is_file()


def _package_roots() -> list[Path]:
    """The folders ``PACKAGES`` are imported from (found without importing them)."""
    roots: list[Path] = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            roots.extend(Path(p) for p in spec.submodule_search_locations)
    return roots
