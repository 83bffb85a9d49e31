"""Writing imported events to an event log, with the import's report in the log header.

The header is the log's first frame, but the counts it should carry are known only at the end.
So ``import_to_log`` streams the events into ``<out>.partial`` first, then copies that log into
``<out>`` under the final header (constant memory both ways) and removes the partial file. The
header's ``config["import"]`` holds the importer, sources, settings and the full summary;
``meta`` holds the same facts flattened to strings (``written.Trade``, ``skipped.book_ticker``...).
``created_ns`` stays 0 so the same input always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from mmcore.events import Event
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter, open_log
from mmcore.version import code_version
from replay.importers.errors import OutputExistsError
from replay.importers.report import ImportReport, ImportSummary
from replay.importers.source import Paths

__all__ = ["code_version", "import_to_log"]



def import_to_log(
    events: Iterable[Event],
    out_path: str | Path,
    inst: Instrument,
    importer_name: str,
    source: Paths,
    report: ImportReport,
    *,
    settings: Mapping[str, Any] | None = None,
) -> ImportReport:
    """Write ``events`` to a new log at ``out_path``; return ``report`` with the final counts.

    ``source`` names the input file(s) for the header; ``settings`` records importer options.
    Raises ``OutputExistsError`` if ``out_path`` already holds data.
    """
    out = Path(out_path)
    if out.exists() and out.stat().st_size > 0:
        raise OutputExistsError(f"import output {out}: expected a new file, found an existing one")
    if not report.importer:
        report.importer = importer_name
    sources = [str(source)] if isinstance(source, (str, Path)) else [str(p) for p in source]
    options = dict(settings or {})
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    done = False
    try:
        first = _header(inst, importer_name, sources, options, None)
        with LogWriter(partial, first, fsync="never") as writer:
            wrote = report.wrote
            append = writer.append
            for event in events:
                wrote(event)
                append(event)
        final = _header(inst, importer_name, sources, options, report.summary())
        reader = open_log(partial, repair=False)
        with LogWriter(out, final) as writer:
            writer.append_many(iter(reader))
        done = True
    finally:
        partial.unlink(missing_ok=True)
        if not done:
            out.unlink(missing_ok=True)
    return report


def _header(
    inst: Instrument,
    importer_name: str,
    sources: list[str],
    settings: dict[str, Any],
    summary: ImportSummary | None,
) -> LogHeader:
    meta = {"importer": importer_name, "source": ", ".join(sources)}
    record: dict[str, Any] = {
        "importer": importer_name,
        "sources": sources,
        "settings": settings,
    }
    if summary is not None:
        record["summary"] = msgspec.to_builtins(summary)
        meta["lines_read"] = str(summary.lines_read)
        meta["sequence_breaks"] = str(summary.sequence_breaks)
        meta["time_regressions"] = str(summary.time_regressions)
        meta.update({f"written.{k}": str(v) for k, v in summary.written.items()})
        meta.update({f"skipped.{k}": str(v) for k, v in summary.skipped.items()})
    else:
        meta["status"] = "partial"
    return LogHeader(
        format_version=FORMAT_VERSION,
        code_version=code_version(),
        instruments=[inst],
        config={"import": record},
        meta=meta,
    )
