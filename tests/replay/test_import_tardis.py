"""The Tardis.dev CSV importer (incremental_book_L2 and trades), on small synthetic files."""

from __future__ import annotations

import gzip
from pathlib import Path

from mmcore.book import APPLIED, GAP, Book
from mmcore.events import BUY, SELL, BookDelta, BookSnapshot, Event, Trade
from mmcore.instrument import Instrument
from replay.importers import ImportReport, read_tardis, read_tardis_book, read_tardis_trades

BOOK_HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"
TRADES_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"


def make_instrument() -> Instrument:
    return Instrument(venue="binance-futures", symbol="BTCUSDT", tick_size="0.1", lot_size="0.001")


def book_row(
    local_us: int, snapshot: bool, side: str, price: str, amount: str, symbol: str = "BTCUSDT"
) -> str:
    flag = "true" if snapshot else "false"
    return f"binance-futures,{symbol},{local_us - 50},{local_us},{flag},{side},{price},{amount}"


def trade_row(local_us: int, trade_id: str, side: str, price: str, amount: str) -> str:
    return f"binance-futures,BTCUSDT,{local_us - 50},{local_us},{trade_id},{side},{price},{amount}"


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    text = "\n".join([header, *rows]) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def make_book_rows() -> list[str]:
    """A two-level snapshot, two delta batches, a reset snapshot, one more delta."""
    return [
        book_row(1000, True, "ask", "100.2", "3"),
        book_row(1000, True, "bid", "100.0", "1"),
        book_row(1000, True, "bid", "99.9", "2"),
        book_row(1000, True, "ask", "100.3", "0"),
        book_row(2000, False, "bid", "100.1", "0.5"),
        book_row(2000, False, "ask", "100.2", "0"),
        book_row(3000, False, "bid", "99.9", "0"),
        book_row(4000, True, "bid", "98.0", "1"),
        book_row(4000, True, "ask", "99.0", "1"),
        book_row(5000, False, "ask", "99.1", "4"),
    ]


def import_book(path: Path) -> tuple[list[Event], ImportReport]:
    report = ImportReport()
    return list(read_tardis_book(path, make_instrument(), report)), report


def test_snapshot_rows_group_into_one_sorted_snapshot_and_updates_by_receive_time(
    tmp_path: Path,
) -> None:
    events, report = import_book(write_csv(tmp_path / "book.csv", BOOK_HEADER, make_book_rows()))
    assert events == [
        BookSnapshot("BTCUSDT", 950_000, 1_000_000, 1, (1000, 1000, 999, 2000), (1002, 3000)),
        BookDelta("BTCUSDT", 1_950_000, 2_000_000, 2, -1, (1001, 500), (1002, 0)),
        BookDelta("BTCUSDT", 2_950_000, 3_000_000, 3, -1, (999, 0), ()),
        BookSnapshot("BTCUSDT", 3_950_000, 4_000_000, 4, (980, 1000), (990, 1000)),
        BookDelta("BTCUSDT", 4_950_000, 5_000_000, 5, -1, (), (991, 4000)),
    ]
    assert report.lines_read == 10
    assert report.skipped == {}


def test_the_imported_stream_applies_to_the_book_and_a_missing_batch_is_a_gap(
    tmp_path: Path,
) -> None:
    events, _ = import_book(write_csv(tmp_path / "book.csv.gz", BOOK_HEADER, make_book_rows()))
    book = Book("BTCUSDT")
    statuses = [
        book.apply_snapshot(e) if isinstance(e, BookSnapshot) else book.apply_delta(e)
        for e in events
        if isinstance(e, (BookSnapshot, BookDelta))
    ]
    assert statuses == [APPLIED] * 5
    assert (book.best_bid, book.best_ask) == (980, 990)
    book = Book("BTCUSDT")
    book.apply_snapshot(events[0])  # type: ignore[arg-type]
    assert book.apply_delta(events[2]) == GAP  # type: ignore[arg-type]


def test_updates_before_any_snapshot_other_symbols_and_off_grid_rows_are_counted(
    tmp_path: Path,
) -> None:
    rows = [
        book_row(500, False, "bid", "100.0", "1"),
        book_row(600, True, "bid", "1.0", "1", symbol="ETHUSDT"),
        *make_book_rows()[:4],
        book_row(2000, False, "bid", "100.05", "1"),
        book_row(2000, False, "middle", "100.0", "1"),
        book_row(2000, False, "bid", "100.1", "0.5"),
    ]
    events, report = import_book(write_csv(tmp_path / "book.csv", BOOK_HEADER, rows))
    assert report.skipped == {"before_snapshot": 1, "other_symbol": 1, "off_grid": 1,
                              "malformed": 1}
    assert [type(e).__name__ for e in events] == ["BookSnapshot", "BookDelta"]
    assert "found 100.05" in report.summary().examples["off_grid"][0]


def test_trades_merge_with_the_book_in_receive_time_order(tmp_path: Path) -> None:
    book = write_csv(tmp_path / "book.csv", BOOK_HEADER, make_book_rows())
    trades = write_csv(
        tmp_path / "trades.csv",
        TRADES_HEADER,
        [
            trade_row(1500, "t1", "buy", "100.2", "0.25"),
            trade_row(3000, "t2", "sell", "100.1", "0.5"),
            trade_row(3500, "t3", "unknown", "100.1", "0.5"),
        ],
    )
    report = ImportReport()
    events = list(read_tardis(book, make_instrument(), report, trades=trades))
    assert [e.ts_recv for e in events] == [1_000_000, 1_500_000, 2_000_000, 3_000_000, 3_000_000,
                                          4_000_000, 5_000_000]
    trade_events = [e for e in events if isinstance(e, Trade)]
    assert trade_events == [
        Trade("BTCUSDT", 1_450_000, 1_500_000, 1002, 250, BUY, "t1"),
        Trade("BTCUSDT", 2_950_000, 3_000_000, 1001, 500, SELL, "t2"),
    ]
    assert isinstance(events[3], BookDelta)  # on equal times the book comes first
    assert report.skipped == {"unknown_side": 1}
    assert report.lines_read == 13


def test_a_csv_gz_cut_short_imports_its_whole_rows_and_counts_the_cut(tmp_path: Path) -> None:
    rows = make_book_rows() + [book_row(6000 + i, False, "bid", "99.5", "1") for i in range(200)]
    whole = write_csv(tmp_path / "whole.csv.gz", BOOK_HEADER, rows)
    all_events, _ = import_book(whole)
    data = whole.read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    events, report = import_book(cut)
    assert 0 < len(events) < len(all_events)
    assert events == all_events[: len(events)]
    assert report.skipped == {"truncated": 1}
    assert report.summary().examples["truncated"][0].startswith("cut.csv.gz:")


def test_book_rows_with_a_level_no_book_would_take_are_skipped_as_malformed(
    tmp_path: Path,
) -> None:
    rows = [
        book_row(1000, True, "bid", "100.0", "1"),
        book_row(1000, True, "ask", "100.2", "-3"),
        book_row(1000, True, "ask", "0", "3"),
        book_row(1000, True, "ask", "100.3", "2"),
    ]
    events, report = import_book(write_csv(tmp_path / "book.csv", BOOK_HEADER, rows))
    assert events == [BookSnapshot("BTCUSDT", 950_000, 1_000_000, 1, (1000, 1000), (1003, 2000))]
    assert report.skipped == {"malformed": 2}


def test_trades_with_a_price_or_amount_no_market_trades_at_are_skipped_as_malformed(
    tmp_path: Path,
) -> None:
    trades = write_csv(
        tmp_path / "trades.csv",
        TRADES_HEADER,
        [
            trade_row(1000, "t1", "buy", "-100.1", "0.5"),
            trade_row(1100, "t2", "buy", "0", "0.5"),
            trade_row(1200, "t3", "sell", "100.1", "-0.5"),
            trade_row(1300, "t4", "sell", "100.1", "0.000"),
            trade_row(1400, "t5", "sell", "100.1", "0.5"),
        ],
    )
    report = ImportReport()
    events = list(read_tardis_trades(trades, make_instrument(), report))
    assert events == [Trade("BTCUSDT", 1_350_000, 1_400_000, 1001, 500, SELL, "t5")]
    assert report.skipped == {"malformed": 4}
    examples = report.summary().examples["malformed"]
    assert examples[0].startswith("trades.csv:2: ") and "-100.1" in examples[0]
