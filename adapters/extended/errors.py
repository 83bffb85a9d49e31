"""Errors of the Extended adapter and emulator; each names what was expected and what was found."""

from __future__ import annotations

from mmcore.errors import ConfigError, MMError

__all__ = [
    "ExtendedConfigError",
    "ExtendedCredentialsError",
    "ExtendedError",
    "ExtendedMarketError",
    "ExtendedUnavailableError",
    "ExtendedVenueError",
]


class ExtendedError(MMError, RuntimeError):
    """Root of the Extended adapter's own errors."""


class ExtendedConfigError(ExtendedError, ConfigError):
    """An ``ExtendedConfig`` field has a value the adapter cannot use."""


class ExtendedCredentialsError(ExtendedError, LookupError):
    """A credential is missing from the environment or the key file, or is malformed."""


class ExtendedMarketError(ExtendedError, ValueError):
    """The venue's market list lacks a requested market or describes it in a way we cannot use."""


class ExtendedVenueError(ExtendedError, ValueError):
    """The venue refused a request; carries its error code, its text and the HTTP status."""

    def __init__(self, code: str, message: str, where: str, http_status: int = 0) -> None:
        super().__init__(f"{where}: venue error {code} (HTTP {http_status}): {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


class ExtendedUnavailableError(ExtendedError, ConnectionError):
    """A request kept failing (429, 5xx, timeout, network) through every retry; fate unknown."""
