"""Binance: REST snapshots that come after the stream is synced (a recorder resyncing after a
gap, a snapshot line written twice), on slices of the real capture and on synthetic files.

The book the import gives is checked against an independent rebuild: the capture's own snapshot
with every diff after it applied level by level, in ``Decimal``, without the importer.
"""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path

import pytest

from mmcore.book import APPLIED, GAP, STALE_IGNORED, Book
from mmcore.events import BUY, SELL, BookDelta, BookSnapshot, Event
from tests.replay.test_import_binance import (
    SNAPSHOT_LINE,
    apply_all,
    capture_lines,
    import_lines,
    is_depth,
    make_depth,
    make_snapshot,
    synthetic_session,
)

Sides = tuple[dict[int, int], dict[int, int]]

LINES = 3000  # the first 3000 lines of the capture hold ~250 depth diffs after the snapshot


def body(line: bytes) -> dict:  # type: ignore[type-arg]
    return json.loads(line.split(b" ", 1)[1])  # type: ignore[no-any-return]


def ticks(price: str) -> int:
    return int(Decimal(price) / Decimal("0.1"))


def lots(size: str) -> int:
    return int(Decimal(size) / Decimal("0.001"))


def rebuild(lines: list[bytes]) -> dict[int, Sides]:
    """The true book after each diff ``u`` that follows the capture's snapshot."""
    snapshot = body(lines[SNAPSHOT_LINE - 1])
    last_id = snapshot["lastUpdateId"]
    bids = {ticks(p): lots(q) for p, q in snapshot["bids"] if Decimal(q)}
    asks = {ticks(p): lots(q) for p, q in snapshot["asks"] if Decimal(q)}
    states: dict[int, Sides] = {}
    for line in lines:
        if not is_depth(line):
            continue
        diff = body(line)["data"]
        if diff["u"] < last_id:
            continue
        for key, side in (("b", bids), ("a", asks)):
            for price, size in diff[key]:
                if Decimal(size):
                    side[ticks(price)] = lots(size)
                else:
                    side.pop(ticks(price), None)
        states[diff["u"]] = (dict(bids), dict(asks))
    return states


def snapshot_line(local_ns: int, last_id: int, state: Sides) -> bytes:
    """A REST snapshot of ``state`` as of ``last_id``, as the recorder would write it."""
    bids, asks = state
    return make_snapshot(
        local_ns,
        last_id,
        [[str(Decimal(p) / 10), str(Decimal(q) / 1000)] for p, q in sorted(bids.items())[::-1]],
        [[str(Decimal(p) / 10), str(Decimal(q) / 1000)] for p, q in sorted(asks.items())],
    )


def sides(book: Book) -> Sides:
    return dict(book.levels(BUY, book.depth(BUY))), dict(book.levels(SELL, book.depth(SELL)))


def diffs_after_snapshot(lines: list[bytes]) -> list[int]:
    """Indexes of the depth lines after the capture's snapshot line."""
    return [i for i, line in enumerate(lines) if i >= SNAPSHOT_LINE and is_depth(line)]


def edit(lines: list[bytes], remove: int, after: int = -1, extra: bytes = b"") -> list[bytes]:
    """``lines`` without line ``remove`` and with ``extra`` after line ``after`` (if any)."""
    out: list[bytes] = []
    for i, line in enumerate(lines):
        if i != remove:
            out.append(line)
        if i == after:
            out.append(extra)
    return out


def u_of(line: bytes) -> int:
    return int(body(line)["data"]["u"])


def recv_of(line: bytes) -> int:
    return int(line.split(b" ", 1)[0])


def count(events: list[Event], kind: type) -> int:
    return sum(1 for e in events if type(e) is kind)


# ---------------------------------------------------------------- the real capture


def test_a_snapshot_line_written_twice_is_skipped_and_changes_nothing(tmp_path: Path) -> None:
    lines = capture_lines(LINES)
    assert b'"lastUpdateId"' in lines[SNAPSHOT_LINE - 1]
    once, report_once = import_lines(tmp_path, lines)
    (tmp_path / "capture.gz").unlink()
    twice_lines = [*lines[:SNAPSHOT_LINE], lines[SNAPSHOT_LINE - 1], *lines[SNAPSHOT_LINE:]]
    twice, report = import_lines(tmp_path, twice_lines)
    assert twice == once
    assert report.sequence_breaks == 0
    assert report.skipped == {**report_once.skipped, "stale_snapshot": 1}
    assert "capture.gz:56: lastUpdateId=" in report.summary().examples["stale_snapshot"][0]
    book, statuses = apply_all(twice)
    assert statuses and all(status == APPLIED for _, status in statuses)
    assert sides(book) == rebuild(lines)[book.seq]


def test_a_snapshot_after_a_gap_that_follows_the_diff_holding_it_brings_the_book_back(
    tmp_path: Path,
) -> None:
    # a diff is lost; the recorder asks for a snapshot, and the REST reply (as of diff 20's u)
    # only comes after diffs 20 to 23 are written: they are written again after it
    lines = capture_lines(LINES)
    truth = rebuild(lines)
    depth = diffs_after_snapshot(lines)
    removed, held, arrives_after = depth[10], u_of(lines[depth[20]]), depth[23]
    resync = snapshot_line(recv_of(lines[arrives_after]), held, truth[held])
    edited = edit(lines, removed, arrives_after, resync)
    events, report = import_lines(tmp_path, edited)
    assert report.sequence_breaks == 1
    assert f"found pu={u_of(lines[removed])}" in report.summary().examples["sequence_break"][0]
    assert "stale_snapshot" not in report.skipped
    assert report.notes["rewritten_diffs"] == "4"
    diff_lines = sum(1 for line in edited if is_depth(line))
    assert count(events, BookDelta) == diff_lines - report.skipped["sync_dropped"] + 4
    assert count(events, BookSnapshot) == 2
    assert all(a.ts_recv <= b.ts_recv for a, b in itertools.pairwise(events))
    book, statuses = apply_all(events)
    assert [status for _, status in statuses].count(GAP) == 1
    assert not book.stale
    assert book.seq == u_of(lines[depth[-1]])
    assert sides(book) == truth[book.seq]


@pytest.mark.parametrize(
    ("held", "arrives_after", "max_buffer"),
    [
        (5, 12, 1000),  # the snapshot is older than the gap at diff 10
        (20, 30, 5),  # the diff holding it is no longer among the 5 diffs kept
    ],
)
def test_a_snapshot_the_kept_diffs_cannot_continue_is_skipped_not_written(
    tmp_path: Path, held: int, arrives_after: int, max_buffer: int
) -> None:
    lines = capture_lines(LINES)
    truth = rebuild(lines)
    depth = diffs_after_snapshot(lines)
    removed, held_u = depth[10], u_of(lines[depth[held]])
    expected, _ = import_lines(tmp_path, edit(lines, removed), max_buffer=max_buffer)
    (tmp_path / "capture.gz").unlink()
    resync = snapshot_line(recv_of(lines[depth[arrives_after]]), held_u, truth[held_u])
    edited = edit(lines, removed, depth[arrives_after], resync)
    events, report = import_lines(tmp_path, edited, max_buffer=max_buffer)
    assert events == expected  # nothing written for it, and no diff written again
    assert report.skipped["stale_snapshot"] == 1
    assert report.sequence_breaks == 1  # the gap, counted once
    book, _ = apply_all(events)
    assert book.stale


# ---------------------------------------------------------------- synthetic files


def test_a_resync_snapshot_after_the_diff_holding_it_is_followed_by_that_diff_again(
    tmp_path: Path,
) -> None:
    lines = [
        make_depth(1_000, 90, 100, 80, [["100.0", "1.000"]], []),
        make_snapshot(2_000, 95, [["100.0", "0.500"]], [["101.0", "1.000"]]),
        make_depth(3_000, 101, 110, 100, [["100.1", "2.000"]], []),
        make_depth(4_000, 121, 130, 120, [["99.0", "1.000"]], []),  # 111..120 lost: a gap
        make_depth(5_000, 131, 140, 130, [], [["101.0", "3.000"]]),  # holds id 135
        make_snapshot(6_000, 135, [["100.1", "2.000"], ["100.0", "1.000"], ["99.0", "1.000"]],
                      [["101.0", "3.000"]]),
        make_depth(7_000, 141, 150, 140, [["100.2", "1.000"]], []),
    ]
    events, report = import_lines(tmp_path, lines)
    assert report.sequence_breaks == 1
    assert report.skipped == {}
    assert report.notes["rewritten_diffs"] == "1"
    assert [(type(e).__name__, e.seq, e.ts_recv) for e in events] == [
        ("BookSnapshot", 95, 2_000),
        ("BookDelta", 100, 2_000),
        ("BookDelta", 110, 3_000),
        ("BookDelta", 130, 4_000),
        ("BookDelta", 140, 5_000),
        ("BookSnapshot", 135, 6_000),
        ("BookDelta", 140, 6_000),  # written again, now chained to the snapshot
        ("BookDelta", 150, 7_000),
    ]
    rewritten = events[6]
    assert isinstance(rewritten, BookDelta) and rewritten.prev_seq == 135
    book, statuses = apply_all(events)
    assert [s for _, s in statuses] == [APPLIED, APPLIED, GAP, STALE_IGNORED, APPLIED, APPLIED]
    assert not book.stale
    assert book.levels(BUY, 10) == [(1002, 1000), (1001, 2000), (1000, 1000), (990, 1000)]
    assert book.levels(SELL, 10) == [(1010, 3000)]


def test_a_snapshot_at_the_last_u_of_an_unbroken_chain_is_skipped_not_a_break(
    tmp_path: Path,
) -> None:
    lines = [
        make_depth(1_000, 90, 100, 80, [["100.0", "1.000"]], []),
        make_snapshot(2_000, 95, [["100.0", "0.500"]], [["101.0", "1.000"]]),
        make_snapshot(3_000, 100, [["100.0", "1.000"]], [["101.0", "1.000"]]),
        make_depth(4_000, 101, 110, 100, [["100.1", "2.000"]], []),
    ]
    events, report = import_lines(tmp_path, lines)
    assert report.sequence_breaks == 0
    assert report.skipped == {"stale_snapshot": 1}
    assert report.summary().examples["stale_snapshot"] == [
        "capture.gz:3: lastUpdateId=100: the book written is at update 100 with no break since"
    ]
    assert count(events, BookSnapshot) == 1
    book, statuses = apply_all(events)
    assert [s for _, s in statuses] == [APPLIED, APPLIED]
    assert not book.stale


def test_a_snapshot_written_twice_before_its_first_diff_is_written_once(tmp_path: Path) -> None:
    snapshot = make_snapshot(2_000, 100, [["100.0", "1.000"]], [["101.0", "1.000"]])
    lines = [
        make_depth(1_000, 90, 95, 89, [["100.0", "0.500"]], []),
        snapshot,
        snapshot,
        make_depth(3_000, 96, 105, 95, [["100.1", "2.000"]], []),
    ]
    events, report = import_lines(tmp_path, lines)
    assert report.skipped == {"sync_dropped": 1, "stale_snapshot": 1}
    assert report.sequence_breaks == 0
    assert [(type(e).__name__, e.seq) for e in events] == [
        ("BookSnapshot", 100), ("BookDelta", 105)
    ]


def test_a_first_diff_that_starts_right_after_the_snapshot_continues_it(tmp_path: Path) -> None:
    # diff 106..110 is skipped (off-grid); a snapshot as of 110 mends that, and the next diff,
    # 111..120, does not hold 110 but its pu says it follows on from it
    lines = list(synthetic_session())
    lines[3] = make_depth(4_000_000_000, 106, 110, 105, [], [["100.65", "1.500"]])
    lines.insert(4, make_snapshot(4_500_000_000, 110, [["100.1", "2.000"], ["100.0", "1.000"]],
                                  [["100.6", "1.500"]]))
    events, report = import_lines(tmp_path, lines)
    assert report.skipped == {"sync_dropped": 1, "off_grid": 1}
    assert report.sequence_breaks == 0
    book, statuses = apply_all(events)
    assert [s for _, s in statuses] == [APPLIED, APPLIED]
    assert events[-1] == BookDelta("BTCUSDT", 5_000_000_000, 5_000_000_000, 120, 110,
                                   (1001, 0), ())
    assert not book.stale
    assert (book.best_bid, book.best_ask) == (1000, 1006)
