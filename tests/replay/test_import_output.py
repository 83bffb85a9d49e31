"""Writing imported events to an event log with the import report in the header."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmcore.events import BUY, BookDelta, BookSnapshot, Event, Trade
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, open_log
from replay.importers import ImportReport, OutputExistsError, code_version, import_to_log


def make_instrument() -> Instrument:
    return Instrument(venue="test", symbol="BTCUSDT", tick_size="0.1", lot_size="0.001")


def make_events() -> list[Event]:
    return [
        BookSnapshot("BTCUSDT", 1, 10, 1, (1000, 5), (1001, 5)),
        Trade("BTCUSDT", 2, 20, 1001, 1, BUY, "t1"),
        BookDelta("BTCUSDT", 3, 30, 2, -1, (1000, 0), ()),
    ]


def run_import(out: Path, events: list[Event] | Iterator[Event]) -> ImportReport:
    report = ImportReport("test")
    report.lines_read = 7
    report.skip("book_ticker")
    # The receive clock as given (these events' 9 ns feed latencies are below the default
    # floor of its alignment, which test_import_clock_align covers).
    return import_to_log(events, out, make_instrument(), "test", ["in.gz"], report,
                         settings={"option": 1}, min_feed_latency_ns=None)


@pytest.mark.parametrize("name", ["out.mmlog", "out.mmlog.zst"])
def test_the_log_holds_the_events_and_a_header_with_the_report(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    report = run_import(out, make_events())
    log = open_log(out)
    assert list(log) == make_events()
    header = log.header
    assert header.format_version == FORMAT_VERSION
    assert header.code_version == code_version()
    assert header.instruments == [make_instrument()]
    assert header.meta["importer"] == "test"
    assert header.meta["source"] == "in.gz"
    assert header.meta["written.Trade"] == "1"
    assert header.meta["skipped.book_ticker"] == "1"
    assert header.meta["lines_read"] == "7"
    record = header.config["import"]
    assert record["settings"] == {"option": 1}
    assert record["summary"]["written"] == {"BookSnapshot": 1, "Trade": 1, "BookDelta": 1}
    assert report.summary().total_written == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no partial file left


def test_the_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    run_import(tmp_path / "a.mmlog", make_events())
    run_import(tmp_path / "b.mmlog", make_events())
    assert (tmp_path / "a.mmlog").read_bytes() == (tmp_path / "b.mmlog").read_bytes()


def test_an_existing_log_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "out.mmlog"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match=r"out\.mmlog: expected a new file"):
        run_import(out, make_events())
    assert out.read_bytes() == b"precious"


def test_a_failing_input_leaves_no_files_behind(tmp_path: Path) -> None:
    def failing() -> Iterator[Event]:
        yield from make_events()
        raise RuntimeError("input broke")

    with pytest.raises(RuntimeError, match="input broke"):
        run_import(tmp_path / "out.mmlog", failing())
    assert list(tmp_path.iterdir()) == []


def test_receive_time_regressions_are_counted(tmp_path: Path) -> None:
    events = make_events()
    report = run_import(tmp_path / "out.mmlog", [events[1], events[0], events[2]])
    summary = report.summary()
    assert summary.time_regressions == 1
    assert (summary.first_ts_recv, summary.last_ts_recv) == (20, 30)
    assert "receive-time regressions: 1" in summary.render()


# ---------------------------------------------------------------- review: concurrent imports


@pytest.mark.parametrize("first_fails", [False, True], ids=["first-finishes", "first-fails"])
def test_two_imports_to_one_out_never_delete_each_others_finished_log(
    tmp_path: Path, first_fails: bool
) -> None:
    """The first import is halfway (its writer open) when a second one to the same out runs to
    the end: both wrote to one ``<out>.partial``, the second removing the first's, and the first
    then removed ``out`` (the second's finished log) in its clean-up. Now the second's log stays
    whatever the first does next, and the first, finishing, is refused naming the file."""
    out = tmp_path / "out.mmlog"
    second = make_events()[:2]

    def first() -> Iterator[Event]:
        yield from make_events()
        run_import(out, second)  # another run to the same --out, from start to finish
        if first_fails:
            raise RuntimeError("input broke")

    refused = (
        pytest.raises(RuntimeError, match="input broke") if first_fails
        else pytest.raises(OutputExistsError, match=re.escape(
            f"import output {out}: expected a new file, found one written there while this "
            "import ran"))
    )
    with refused:
        run_import(out, first())
    assert list(open_log(out)) == second
    assert open_log(out).header.meta["written.Trade"] == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mmlog"]  # no temporary file left


def test_an_import_leaves_files_it_did_not_make_alone(tmp_path: Path) -> None:
    """``<out>.partial`` was every import's one temporary name, unlinked at the start while
    another run's writer could be filling it."""
    out = tmp_path / "out.mmlog"
    other = tmp_path / "out.mmlog.partial"
    other.write_bytes(b"another run's")
    run_import(out, make_events())
    assert other.read_bytes() == b"another run's"
    assert list(open_log(out)) == make_events()


def test_an_empty_file_at_out_is_written_as_before(tmp_path: Path) -> None:
    out = tmp_path / "out.mmlog"
    out.touch()
    run_import(out, make_events())
    assert list(open_log(out)) == make_events()
    assert [p.name for p in tmp_path.iterdir()] == ["out.mmlog"]


def test_an_out_that_is_a_symlink_is_written_where_it_points_and_the_link_stays(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    link = tmp_path / "latest.mmlog"
    link.symlink_to(data / "day1.mmlog")  # dangling until the import writes its target
    run_import(link, make_events())
    assert link.is_symlink() and (data / "day1.mmlog").is_file()
    assert list(open_log(link, repair=False)) == make_events()
    empty = tmp_path / "empty.mmlog"
    empty.touch()
    other = tmp_path / "other.mmlog"
    other.symlink_to(empty)  # an empty file is written as before, through the link
    run_import(other, make_events())
    assert other.is_symlink() and list(open_log(empty, repair=False)) == make_events()
