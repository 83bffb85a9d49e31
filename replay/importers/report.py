"""What an import did: lines read, events written by type, lines skipped and why, sequence breaks.

``ImportReport`` is the mutable counter the importers and ``import_to_log`` update while they run;
``summary()`` freezes it into an ``ImportSummary`` that goes into the log header and is printed by
``mm import``. Skips are counted by a short stable reason code (``"book_ticker"``, ``"off_grid"``,
``"crossed"``, ...) and the first few of each reason keep an example naming file and line.
"""

from __future__ import annotations

import msgspec

from mmcore.events import Event
from replay.importers.clock_align import CLOCK_SHIFT_NOTE, SMALLEST_LATENCY_NOTE, describe_shift

__all__ = ["ImportReport", "ImportSummary"]

MAX_EXAMPLES = 3
SEQUENCE_BREAK = "sequence_break"


class ImportSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Frozen counters of one import.

    lines_read: input lines (or table rows) read. written: events written, by type name.
    skipped: input lines (or rows, or levels) skipped, by reason. sequence_breaks: venue sequence
    numbers that did not follow on (the events were still written so the book sees the gap).
    time_regressions: written events whose ``ts_recv`` is below the previous one's.
    first_ts_recv / last_ts_recv: receive-time range of the written events (0 when none).
    examples: up to three ``"file:line: detail"`` strings per skip reason or sequence break.
    notes: facts the importer found worth keeping (detected timestamp unit, snapshot id, the
    receive clock's shift: ``clock_shift_ns`` and ``smallest_feed_latency_ns``, see
    ``clock_align``).
    """

    importer: str = ""
    lines_read: int = 0
    written: dict[str, int] = {}
    skipped: dict[str, int] = {}
    sequence_breaks: int = 0
    time_regressions: int = 0
    first_ts_recv: int = 0
    last_ts_recv: int = 0
    examples: dict[str, list[str]] = {}
    notes: dict[str, str] = {}

    @property
    def total_written(self) -> int:
        return sum(self.written.values())

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def render(self) -> str:
        """Human-readable text, one fact per line, for ``mm import``."""
        out = [f"importer: {self.importer}", f"lines read: {self.lines_read}"]
        out.append(f"events written: {self.total_written}")
        out.extend(f"  {name}: {n}" for name, n in sorted(self.written.items()))
        out.append(f"skipped: {self.total_skipped}")
        out.extend(f"  {reason}: {n}" for reason, n in sorted(self.skipped.items()))
        out.append(f"sequence breaks: {self.sequence_breaks}")
        if self.time_regressions:
            out.append(f"receive-time regressions: {self.time_regressions}")
        if self.written:
            out.append(f"ts_recv range: {self.first_ts_recv} .. {self.last_ts_recv}")
        shift = self.notes.get(CLOCK_SHIFT_NOTE)
        if shift is not None:
            out.append(describe_shift(int(shift), int(self.notes[SMALLEST_LATENCY_NOTE])))
        out.extend(f"note {key}: {value}" for key, value in sorted(self.notes.items()))
        for reason, lines in sorted(self.examples.items()):
            out.extend(f"example {reason}: {line}" for line in lines)
        return "\n".join(out)


class ImportReport:
    """Mutable counters of an import in progress; see ``ImportSummary`` for the fields."""

    __slots__ = (
        "examples",
        "first_ts_recv",
        "importer",
        "last_ts_recv",
        "lines_read",
        "notes",
        "sequence_breaks",
        "skipped",
        "time_regressions",
        "written",
    )

    def __init__(self, importer: str = "") -> None:
        self.importer = importer
        self.lines_read = 0
        self.written: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        self.sequence_breaks = 0
        self.time_regressions = 0
        self.first_ts_recv = 0
        self.last_ts_recv = 0
        self.examples: dict[str, list[str]] = {}
        self.notes: dict[str, str] = {}

    def skip(self, reason: str, where: str = "", detail: str = "", count: int = 1) -> None:
        """Count ``count`` skipped lines (or rows, or levels) for ``reason``."""
        self.skipped[reason] = self.skipped.get(reason, 0) + count
        if where or detail:
            self._example(reason, where, detail)

    def sequence_break(self, where: str, detail: str) -> None:
        """Count one venue sequence number that does not follow on from the previous one."""
        self.sequence_breaks += 1
        self._example(SEQUENCE_BREAK, where, detail)

    def note(self, key: str, value: str) -> None:
        self.notes[key] = value

    def wrote(self, event: Event) -> None:
        """Count one written event; track its receive time."""
        written = self.written
        ts = event.ts_recv
        if not written:
            self.first_ts_recv = ts
            self.last_ts_recv = ts
        name = type(event).__name__
        written[name] = written.get(name, 0) + 1
        if ts < self.last_ts_recv:
            self.time_regressions += 1
        else:
            self.last_ts_recv = ts

    def clock_shifted(self, shift_ns: int, smallest_ns: int) -> None:
        """Every written event's ``ts_recv`` was moved by ``shift_ns``: the smallest feed latency
        recorded was ``smallest_ns`` (see ``clock_align``)."""
        self.first_ts_recv += shift_ns
        self.last_ts_recv += shift_ns
        self.note(CLOCK_SHIFT_NOTE, str(shift_ns))
        self.note(SMALLEST_LATENCY_NOTE, str(smallest_ns))

    def summary(self) -> ImportSummary:
        """A frozen copy of the counters."""
        return ImportSummary(
            importer=self.importer,
            lines_read=self.lines_read,
            written=dict(self.written),
            skipped=dict(self.skipped),
            sequence_breaks=self.sequence_breaks,
            time_regressions=self.time_regressions,
            first_ts_recv=self.first_ts_recv,
            last_ts_recv=self.last_ts_recv,
            examples={k: list(v) for k, v in self.examples.items()},
            notes=dict(self.notes),
        )

    statistics = summary

    def _example(self, reason: str, where: str, detail: str) -> None:
        kept = self.examples.setdefault(reason, [])
        if len(kept) < MAX_EXAMPLES:
            kept.append(f"{where}: {detail}" if where else detail)
