"""The root of every error the engine raises on purpose.

Each package derives its errors from ``MMError`` and from the builtin they resemble, so callers
can catch either. Messages say what was expected, what was found and where.
"""

from __future__ import annotations

__all__ = ["ConfigError", "LogCorruptError", "MMError"]


class MMError(Exception):
    """Root of the engine's own errors."""


class ConfigError(MMError, ValueError):
    """A configuration file is missing, malformed or has a bad value; the message names it."""


class LogCorruptError(MMError, ValueError):
    """An event log is damaged somewhere other than its tail; the message names the byte offset."""
