"""The code version recorded in every log header."""

from __future__ import annotations

from importlib import metadata

__all__ = ["code_version"]


def code_version() -> str:
    """The installed ``mmengine`` version, or ``"dev"`` when it is not installed."""
    try:
        return metadata.version("mmengine")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "dev"
