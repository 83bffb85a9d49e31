"""Writing imported events to an event log, with the import's report in the log header.

The header is the log's first frame, but the counts it should carry are known only at the end.
So ``import_to_log`` streams the events into a temporary file beside ``out`` first, then copies
that log into a second one under the final header (constant memory both ways), removes the first
and gives the second the name ``out`` (``replay.publish``: names of this process's own, so two
imports to one ``out`` never remove each other's files, and a finished log is never replaced: the
import that finishes second is refused). The header's ``config["import"]`` holds the importer,
sources, settings and the full summary; ``meta`` holds the same facts flattened to strings
(``written.Trade``, ``skipped.book_ticker``...).
``created_ns`` stays 0 so the same input always gives the same bytes.

The first pass also measures the smallest feed latency (``ts_recv - ts``) of the events; when it
is below ``min_feed_latency_ns`` the copy adds one constant to every ``ts_recv`` so that it is
exactly that (``replay.importers.clock_align``: the recorder's clock ran behind the exchange's),
recorded as the report's notes and the header's ``meta["clock_shift_ns"]``. When no shift is
needed the log is what it was without alignment, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import msgspec

from mmcore.events import Event
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter, open_log
from mmcore.log_format import LogWriteError
from mmcore.version import code_version
from replay.importers.clock_align import (
    CLOCK_SHIFT_NOTE,
    DEFAULT_MIN_FEED_LATENCY_NS,
    SMALLEST_LATENCY_NOTE,
    FeedLatency,
    clock_shift,
    shifted,
)
from replay.importers.errors import ImportFormatError, OutputExistsError
from replay.importers.report import ImportReport, ImportSummary
from replay.importers.source import Paths
from replay.importers.timestamps import NS_MAX
from replay.publish import (
    Check,
    check_existing,
    discard,
    not_written,
    output_path,
    publish,
    temp_beside,
)

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
    min_feed_latency_ns: int | None = DEFAULT_MIN_FEED_LATENCY_NS,
    clock_shift_ns: int | None = None,
) -> ImportReport:
    """Write ``events`` to a new log at ``out_path``; return ``report`` with the final counts.

    ``source`` names the input file(s) for the header; ``settings`` records importer options.
    ``min_feed_latency_ns`` is the floor of the receive clock's alignment (``None``: keep
    ``ts_recv`` as recorded); ``clock_shift_ns``, when given, is the shift itself, whatever the
    latencies (several logs of one recorder share its clock's error: imported apart, each would
    measure its own shift, and their events would no longer merge in the order received).
    Raises ``OutputExistsError`` if ``out_path`` already holds data, at
    the start or (written by another run meanwhile) at the end; a failed import removes only its
    own temporary files.
    """
    if min_feed_latency_ns is not None and min_feed_latency_ns < 0:
        raise ImportFormatError(
            f"min_feed_latency_ns: expected a floor >= 0 (or None for no alignment), found "
            f"{min_feed_latency_ns}"
        )
    out = output_path(out_path)
    check_existing(out, _refuse_existing)
    if not report.importer:
        report.importer = importer_name
    sources = [str(source)] if isinstance(source, (str, Path)) else [str(p) for p in source]
    options = dict(settings or {})
    partial: Path | None = None
    final: Path | None = None
    try:
        partial = temp_beside(out)
        first = _header(inst, importer_name, sources, options, None)
        latency = FeedLatency()
        with LogWriter(partial, first, fsync="never", compress=False) as writer:
            wrote = report.wrote
            see = latency.see
            append = writer.append
            for event in events:
                wrote(event)
                see(event)
                append(event)
        shift = _shift(report, latency, min_feed_latency_ns, clock_shift_ns)
        final = temp_beside(out)
        header = _header(inst, importer_name, sources, options, report.summary())
        # The temporary log holds only the events written above.
        records = cast(Iterator[Event], iter(open_log(partial, repair=False)))
        with LogWriter(final, header, compress=out.suffix == ".zst") as writer:
            writer.append_many(shifted(records, shift) if shift else records)
        discard(partial)
        publish(final, out, _refuse_appeared)
    except LogWriteError as exc:
        raise not_written(exc, out) from exc
    finally:  # only this import's own files: never ``out``, which may be another run's
        discard(partial)
        discard(final)
    return report


def _shift(
    report: ImportReport, latency: FeedLatency, floor_ns: int | None, fixed_ns: int | None
) -> int:
    """The receive clock's shift for the events written (0: none): ``fixed_ns`` when given,
    else to the floor; noted in ``report``."""
    smallest = latency.smallest
    shift = clock_shift(smallest, floor_ns) if fixed_ns is None else fixed_ns
    if not shift or smallest is None:
        return 0
    if report.last_ts_recv > NS_MAX - shift:
        raise ImportFormatError(
            f"receive clock alignment: expected receive times within int64 ns after a shift "
            f"of {shift} ns, found the latest at {report.last_ts_recv} ns (smallest feed "
            f"latency {smallest} ns: an exchange time far ahead of its receive time?)"
        )
    report.clock_shifted(shift, smallest)
    return shift


def _refuse_data(found: str) -> Check:
    """The check of an import's ``out``: a file there with data, or one being written, stays
    (an import writes a new log); the error says what was ``found``."""

    def check(out: Path, busy: bool) -> None:
        if busy or out.stat().st_size > 0:
            raise OutputExistsError(f"import output {out}: expected a new file, found {found}")

    return check


_refuse_existing = _refuse_data("an existing one")
_refuse_appeared = _refuse_data(
    "one written there while this import ran (another run to the same --out?): it is kept and "
    "this import's log is discarded"
)


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
        if CLOCK_SHIFT_NOTE in summary.notes:
            meta[CLOCK_SHIFT_NOTE] = summary.notes[CLOCK_SHIFT_NOTE]
            meta[SMALLEST_LATENCY_NOTE] = summary.notes[SMALLEST_LATENCY_NOTE]
    else:
        meta["status"] = "partial"
    return LogHeader(
        format_version=FORMAT_VERSION,
        code_version=code_version(),
        instruments=[inst],
        config={"import": record},
        meta=meta,
    )
