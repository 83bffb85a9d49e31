"""The Binance USD-M importer, on the real capture in shared/data and on small synthetic files."""

from __future__ import annotations

import gzip
import itertools
import json
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.book import APPLIED, GAP, Book
from mmcore.events import BUY, SELL, BookDelta, BookSnapshot, Event, FundingRate, MarkPrice, Trade
from mmcore.instrument import Instrument
from replay.importers import ImportFormatError, ImportReport, read_binance

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CAPTURE = DATA / "binance-usdm-btcusdt-raw" / "btcusdt_20240808.gz"
SNAPSHOT_LINE = 55  # SOURCE.md: line 55 is the REST depth snapshot
SNAPSHOT_ID = 5123107852948
GZIP_HEADER = 10  # bytes a gzip writer puts down before any data


def make_instrument() -> Instrument:
    return Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.1", lot_size="0.001")


def capture_lines(limit: int | None = None) -> list[bytes]:
    with gzip.open(CAPTURE, "rb") as f:
        return list(itertools.islice(f, limit))


def write_gz(path: Path, lines: Iterable[bytes]) -> Path:
    with gzip.open(path, "wb") as f:
        f.writelines(lines)
    return path


def is_depth(line: bytes) -> bool:
    return b'"stream":"btcusdt@depth' in line


def apply_all(events: Iterable[Event]) -> tuple[Book, list[tuple[BookDelta, int]]]:
    """Apply book events to a fresh Book; return it and each delta with its status."""
    book = Book("BTCUSDT")
    statuses = []
    for event in events:
        if type(event) is BookSnapshot:
            book.apply_snapshot(event)
        elif type(event) is BookDelta:
            statuses.append((event, book.apply_delta(event)))
    return book, statuses


# ---------------------------------------------------------------- synthetic lines


def make_line(local_ns: int, payload: dict[str, Any], stream: str | None = None) -> bytes:
    body = payload if stream is None else {"stream": stream, "data": payload}
    return f"{local_ns} {json.dumps(body, separators=(',', ':'))}\n".encode()


def make_depth(
    local_ns: int, first: int, last: int, prev: int, bids: list[list[str]], asks: list[list[str]]
) -> bytes:
    data = {
        "e": "depthUpdate",
        "E": local_ns // 1_000_000,
        "T": local_ns // 1_000_000,
        "s": "BTCUSDT",
        "U": first,
        "u": last,
        "pu": prev,
        "b": bids,
        "a": asks,
    }
    return make_line(local_ns, data, "btcusdt@depth@0ms")


def make_snapshot(
    local_ns: int, last_id: int, bids: list[list[str]], asks: list[list[str]]
) -> bytes:
    data = {"lastUpdateId": last_id, "E": local_ns // 10**6, "T": 0, "bids": bids, "asks": asks}
    return make_line(local_ns, data)


def make_trade(local_ns: int, price: str, qty: str, buyer_is_maker: bool, trade_id: int) -> bytes:
    data = {
        "e": "trade",
        "E": local_ns // 1_000_000,
        "T": local_ns // 1_000_000,
        "s": "BTCUSDT",
        "t": trade_id,
        "p": price,
        "q": qty,
        "m": buyer_is_maker,
    }
    return make_line(local_ns, data, "btcusdt@trade")


def synthetic_session() -> Iterator[bytes]:
    """Two diffs before the snapshot (one stale, one covering it), then two chained diffs."""
    yield make_depth(1_000_000_000, 90, 95, 89, [["100.0", "1.000"]], [])
    yield make_depth(2_000_000_000, 96, 105, 95, [["100.1", "2.000"]], [["100.5", "0.000"]])
    yield make_snapshot(3_000_000_000, 100, [["100.0", "1.000"]], [["100.5", "3.000"]])
    yield make_depth(4_000_000_000, 106, 110, 105, [], [["100.6", "1.500"]])
    yield make_depth(5_000_000_000, 111, 120, 110, [["100.1", "0.000"]], [])


def import_lines(
    tmp_path: Path, lines: Iterable[bytes], **options: Any
) -> tuple[list[Event], ImportReport]:
    path = write_gz(tmp_path / "capture.gz", lines)
    report = ImportReport()
    events = list(read_binance(path, make_instrument(), report, **options))
    return events, report


# ---------------------------------------------------------------- the real capture


@pytest.fixture(scope="module")
def whole_capture() -> tuple[list[Event], ImportReport]:
    report = ImportReport()
    return list(read_binance(CAPTURE, make_instrument(), report)), report


def test_the_whole_capture_imports_with_the_counts_its_source_notes_give(
    whole_capture: tuple[list[Event], ImportReport],
) -> None:
    events, report = whole_capture
    summary = report.summary()
    assert summary.lines_read == 93_954
    assert summary.sequence_breaks == 0
    assert set(summary.skipped) == {"book_ticker", "sync_dropped"}
    assert summary.skipped["book_ticker"] == 66_089
    assert sum(1 for e in events if type(e) is Trade) == 21_313
    assert sum(1 for e in events if type(e) is BookSnapshot) == 1
    deltas = sum(1 for e in events if type(e) is BookDelta)
    assert deltas + summary.skipped["sync_dropped"] == 6_551
    assert summary.skipped["sync_dropped"] == 4


def test_the_first_delta_after_the_snapshot_covers_it_and_chains_to_it(
    whole_capture: tuple[list[Event], ImportReport],
) -> None:
    events, _ = whole_capture
    snapshot_at = next(i for i, e in enumerate(events) if type(e) is BookSnapshot)
    snapshot = events[snapshot_at]
    first = events[snapshot_at + 1]
    assert type(snapshot) is BookSnapshot and type(first) is BookDelta
    assert snapshot.seq == SNAPSHOT_ID
    assert first.prev_seq == SNAPSHOT_ID < first.seq
    assert first.ts_recv == snapshot.ts_recv  # buffered diff released when the snapshot came
    later = [e for e in events[snapshot_at + 2 :] if type(e) is BookDelta]
    assert [d.prev_seq for d in later] == [first.seq] + [d.seq for d in later[:-1]]


def test_receive_times_never_go_backwards(whole_capture: tuple[list[Event], ImportReport]) -> None:
    events, _ = whole_capture
    assert all(a.ts_recv <= b.ts_recv for a, b in itertools.pairwise(events))


def test_trades_take_the_aggressor_side_from_the_buyer_is_maker_flag(
    whole_capture: tuple[list[Event], ImportReport],
) -> None:
    events, _ = whole_capture
    trades = [e for e in events if type(e) is Trade]
    # line 3: {"t":5266583935,"p":"61800.30","q":"0.006","m":false} -> buyer lifted the ask
    assert trades[0] == Trade(
        "BTCUSDT", 1723161256322 * 10**6, 1723161255088176367, 618003, 6, BUY, "5266583935"
    )
    assert {t.side for t in trades} == {BUY, SELL}


def test_the_imported_book_applies_without_a_gap_and_matches_the_book_ticker(
    whole_capture: tuple[list[Event], ImportReport],
) -> None:
    events, _ = whole_capture
    inst = make_instrument()
    tickers = {}
    for line in capture_lines():
        if b"@bookTicker" in line[:60]:
            data = msgspec.json.decode(line.split(b" ", 1)[1])["data"]
            tickers[data["u"]] = (inst.price_to_ticks(data["b"]), inst.price_to_ticks(data["a"]))
    book = Book("BTCUSDT")
    compared = 0
    for event in events:
        if type(event) is BookSnapshot:
            assert book.apply_snapshot(event) == APPLIED
        elif type(event) is BookDelta:
            assert book.apply_delta(event) == APPLIED, event.seq
            best = tickers.get(event.seq)
            if best is not None:
                assert (book.best_bid, book.best_ask) == best, event.seq
                compared += 1
    assert compared > 600  # the capture has 629 bookTicker ids equal to a depth u
    assert book.statistics().gaps == 0


def test_a_removed_depth_line_is_a_sequence_break_and_a_book_gap(tmp_path: Path) -> None:
    lines = capture_lines(3000)
    after_snapshot = [i for i, line in enumerate(lines) if i >= SNAPSHOT_LINE and is_depth(line)]
    removed = after_snapshot[10]
    missing_u = json.loads(lines[removed].split(b" ", 1)[1])["data"]["u"]
    events, report = import_lines(tmp_path, lines[:removed] + lines[removed + 1 :])
    assert report.sequence_breaks == 1
    assert f"found pu={missing_u}" in report.summary().examples["sequence_break"][0]
    _, statuses = apply_all(events)
    gaps = [delta for delta, status in statuses if status == GAP]
    assert len(gaps) == 1
    assert gaps[0].prev_seq == missing_u


def test_a_buffer_that_keeps_the_covering_diff_still_syncs(tmp_path: Path) -> None:
    events, report = import_lines(tmp_path, capture_lines(200), max_buffer=2)
    assert report.skipped["buffer_overflow"] == 4  # six diffs precede the snapshot line
    assert report.sequence_breaks == 0
    _, statuses = apply_all(events)
    assert statuses and all(status == APPLIED for _, status in statuses)


def test_a_buffer_too_small_for_the_covering_diff_shows_as_a_sequence_break(tmp_path: Path) -> None:
    events, report = import_lines(tmp_path, capture_lines(200), max_buffer=1)
    assert report.skipped["buffer_overflow"] == 5
    assert report.sequence_breaks == 1
    _, statuses = apply_all(events)
    assert statuses[0][1] == GAP


# ---------------------------------------------------------------- synthetic files


def test_the_sync_drops_stale_diffs_and_chains_the_rest(tmp_path: Path) -> None:
    events, report = import_lines(tmp_path, synthetic_session())
    assert report.skipped == {"sync_dropped": 1}
    assert events[0] == BookSnapshot(
        "BTCUSDT", 3_000_000_000, 3_000_000_000, 100, (1000, 1000), (1005, 3000)
    )
    deltas = [e for e in events[1:] if isinstance(e, BookDelta)]
    assert deltas[0] == BookDelta(
        "BTCUSDT", 2_000_000_000, 3_000_000_000, 105, 100, (1001, 2000), (1005, 0)
    )
    assert [(d.seq, d.prev_seq) for d in deltas] == [(105, 100), (110, 105), (120, 110)]
    book, statuses = apply_all(events)
    assert [s for _, s in statuses] == [APPLIED] * 3
    assert (book.best_bid, book.best_ask) == (1000, 1006)


def test_diffs_without_a_snapshot_are_counted_at_the_end(tmp_path: Path) -> None:
    lines = [line for line in synthetic_session() if is_depth(line)]
    events, report = import_lines(tmp_path, lines)
    assert events == []
    assert report.skipped == {"no_snapshot": 4}


def test_an_off_grid_diff_is_skipped_and_the_next_one_breaks_the_sequence(tmp_path: Path) -> None:
    lines = list(synthetic_session())
    lines[3] = make_depth(4_000_000_000, 106, 110, 105, [], [["100.65", "1.500"]])
    events, report = import_lines(tmp_path, lines)
    assert report.skipped["off_grid"] == 1
    assert "tick_size=0.1, found 100.65" in report.summary().examples["off_grid"][0]
    assert report.sequence_breaks == 1
    _, statuses = apply_all(events)
    assert [s for _, s in statuses] == [APPLIED, GAP]


def test_a_later_snapshot_resyncs_the_book_after_a_break(tmp_path: Path) -> None:
    lines = list(synthetic_session())
    lines += [
        make_depth(6_000_000_000, 130, 140, 129, [["99.9", "1.000"]], []),
        make_snapshot(7_000_000_000, 150, [["99.9", "1.000"]], [["100.6", "1.000"]]),
        make_depth(8_000_000_000, 141, 149, 140, [["99.8", "1.000"]], []),
        make_depth(9_000_000_000, 150, 160, 149, [["99.7", "1.000"]], []),
    ]
    events, report = import_lines(tmp_path, lines)
    assert report.sequence_breaks == 1
    assert report.skipped["sync_dropped"] == 2
    book, statuses = apply_all(events)
    assert [s for _, s in statuses] == [APPLIED, APPLIED, APPLIED, GAP, APPLIED]
    assert not book.stale
    assert book.levels(BUY, 2) == [(999, 1000), (997, 1000)]


def test_trades_before_the_snapshot_are_written_in_file_order(tmp_path: Path) -> None:
    lines = [make_trade(500_000_000, "100.2", "0.010", True, 7), *synthetic_session()]
    events, _ = import_lines(tmp_path, lines)
    assert events[0] == Trade("BTCUSDT", 500_000_000, 500_000_000, 1002, 10, SELL, "7")


def test_book_ticker_lines_are_skipped_or_become_top_of_book_snapshots(tmp_path: Path) -> None:
    ticker = {"e": "bookTicker", "u": 42, "s": "BTCUSDT", "b": "100.0", "B": "1.000",
              "a": "100.1", "A": "2.000", "T": 1000, "E": 1000}
    line = make_line(10, ticker, "btcusdt@bookTicker")
    events, report = import_lines(tmp_path, [line])
    assert (events, report.skipped) == ([], {"book_ticker": 1})
    (tmp_path / "capture.gz").unlink()
    events, report = import_lines(tmp_path, [line], book_ticker_snapshots=True)
    assert events == [BookSnapshot("BTCUSDT", 1000 * 10**6, 10, 42, (1000, 1000), (1001, 2000))]


def test_mark_price_updates_give_mark_and_funding_events(tmp_path: Path) -> None:
    mark = {"e": "markPriceUpdate", "E": 2000, "s": "BTCUSDT", "p": "100.04", "i": "100.06",
            "r": "0.00010000", "T": 28_800_000}
    events, _ = import_lines(tmp_path, [make_line(7, mark, "btcusdt@markPrice@1s")])
    assert events == [
        MarkPrice("BTCUSDT", 2000 * 10**6, 7, 1000, 1001),
        FundingRate("BTCUSDT", 2000 * 10**6, 7, 100_000, 28_800_000 * 10**6),
    ]


@pytest.mark.parametrize("rate", ["n/a", "NaN", "Infinity", "1e30"])
def test_a_funding_rate_that_is_not_a_number_is_counted_as_malformed(
    tmp_path: Path, rate: str
) -> None:
    # the whole import used to stop on decimal.InvalidOperation (or write a rate no log holds)
    mark = {"e": "markPriceUpdate", "E": 2000, "s": "BTCUSDT", "p": "100.04", "i": "100.06",
            "r": rate, "T": 28_800_000}
    lines = [make_line(7, mark, "btcusdt@markPrice@1s"), *synthetic_session()]
    events, report = import_lines(tmp_path, lines)
    assert report.skipped == {"malformed": 1, "sync_dropped": 1}
    example = report.summary().examples["malformed"][0]
    assert example == f"capture.gz:1: funding rate r: expected a number, found {rate!r}"
    assert len(events) == 4 and not any(isinstance(e, (MarkPrice, FundingRate)) for e in events)


def test_bare_messages_agg_trades_and_other_symbols_are_handled(tmp_path: Path) -> None:
    agg = {"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": 99, "p": "100.0", "q": "0.002",
           "T": 1, "m": False}
    other = {"e": "trade", "E": 1, "T": 1, "s": "ETHUSDT", "t": 1, "p": "1.0", "q": "1.000",
             "m": False}
    events, report = import_lines(tmp_path, [make_line(5, agg), make_line(6, other)])
    assert events == [Trade("BTCUSDT", 10**6, 5, 1000, 2, BUY, "99")]
    assert report.skipped == {"other_symbol": 1}


def test_malformed_and_unknown_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    lines = [
        b"not-a-number {}\n",
        b"12 {broken json\n",
        make_line(13, {"x": 1}, "btcusdt@forceOrder"),
        make_line(14, {"hello": "world"}),
        *synthetic_session(),
    ]
    events, report = import_lines(tmp_path, lines)
    assert report.skipped == {
        "malformed": 2,
        "unknown_stream": 1,
        "unknown_message": 1,
        "sync_dropped": 1,
    }
    assert len(events) == 4


def test_several_files_are_read_as_one_stream(tmp_path: Path) -> None:
    lines = list(synthetic_session())
    first = write_gz(tmp_path / "a.gz", lines[:3])
    second = tmp_path / "b.txt"
    second.write_bytes(b"".join(lines[3:]))
    report = ImportReport()
    events = list(read_binance([first, second], make_instrument(), report))
    assert [type(e).__name__ for e in events] == ["BookSnapshot"] + ["BookDelta"] * 3
    assert report.sequence_breaks == 0


def test_a_missing_file_is_an_error_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match=r"missing\.gz: expected an existing file"):
        read_binance(tmp_path / "missing.gz", make_instrument(), ImportReport())


@settings(max_examples=40, deadline=None)
@given(cut=st.floats(0, 1, exclude_max=True))
def test_a_gz_capture_cut_short_imports_a_prefix_and_counts_the_cut(cut: float) -> None:
    # a recorder killed mid-write leaves a .gz without its end: import what is whole
    lines = list(synthetic_session()) + [
        make_trade(6_000_000_000 + i, "100.2", "0.001", i % 2 == 0, i) for i in range(40)
    ]
    with tempfile.TemporaryDirectory() as d:
        whole = write_gz(Path(d) / "whole.gz", lines)
        all_events = list(read_binance(whole, make_instrument(), ImportReport()))
        data = whole.read_bytes()
        path = Path(d) / "cut.gz"
        path.write_bytes(data[: GZIP_HEADER + int(cut * (len(data) - GZIP_HEADER))])
        report = ImportReport()
        events = list(read_binance(path, make_instrument(), report))
    assert events == all_events[: len(events)]
    assert report.skipped.get("truncated") == 1
    assert report.lines_read <= len(lines)


@pytest.mark.parametrize("max_buffer", [0, -5])
def test_a_buffer_of_no_diffs_is_refused_not_made_one(tmp_path: Path, max_buffer: int) -> None:
    path = write_gz(tmp_path / "c.gz", synthetic_session())
    with pytest.raises(ImportFormatError, match=rf"max_buffer: expected .*found {max_buffer}"):
        read_binance(path, make_instrument(), ImportReport(), max_buffer=max_buffer)
