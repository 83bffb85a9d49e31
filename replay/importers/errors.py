"""Errors of the market-data importers."""

from __future__ import annotations

from mmcore.errors import MMError

__all__ = ["ImportFormatError", "MissingDependencyError", "OutputExistsError"]


class ImportFormatError(MMError, ValueError):
    """An input file does not have the shape its importer expects; the message says where."""


class MissingDependencyError(MMError, ImportError):
    """An optional package needed for this input (such as pyarrow for Parquet) is not installed."""


class OutputExistsError(MMError, FileExistsError):
    """The output event log already exists; importers never overwrite a log."""
