"""Importers of recorded market data into the event log.

Each ``read_<format>(path_or_paths, inst, report, ...)`` streams one source's files as
``mmcore.events`` (integer ticks, lots and nanoseconds, converted exactly: off-grid values are
skipped and counted, never rounded) and counts what it read and skipped in ``report``;
``import_to_log`` writes such a stream to a new event log with the report in its header.

    report = ImportReport("binance")
    events = read_binance("btcusdt_20240808.gz", inst, report)
    import_to_log(events, "btcusdt.mmlog", inst, "binance", "btcusdt_20240808.gz", report)
    print(report.summary().render())
"""

from __future__ import annotations

from replay.importers.binance import read_binance
from replay.importers.errors import ImportFormatError, MissingDependencyError, OutputExistsError
from replay.importers.hyperliquid import read_hyperliquid
from replay.importers.merge import merge_by_time
from replay.importers.output import code_version, import_to_log
from replay.importers.report import ImportReport, ImportSummary
from replay.importers.snapshots import read_snapshots
from replay.importers.table_columns import SnapshotColumns, TradeColumns
from replay.importers.tardis import read_tardis, read_tardis_book, read_tardis_trades
from replay.importers.trade_table import read_trade_table

__all__ = [
    "ImportFormatError",
    "ImportReport",
    "ImportSummary",
    "MissingDependencyError",
    "OutputExistsError",
    "SnapshotColumns",
    "TradeColumns",
    "code_version",
    "import_to_log",
    "merge_by_time",
    "read_binance",
    "read_hyperliquid",
    "read_snapshots",
    "read_tardis",
    "read_tardis_book",
    "read_tardis_trades",
    "read_trade_table",
]
