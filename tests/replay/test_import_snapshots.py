"""The generic snapshot-table importer (wide and list columns) and its trades table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mmcore.book import Book
from mmcore.events import BUY, SELL, BookSnapshot, Event, Trade
from mmcore.instrument import Instrument
from replay.importers import (
    ImportFormatError,
    ImportReport,
    MissingDependencyError,
    SnapshotColumns,
    read_snapshots,
    read_trade_table,
)

MS = 10**6


def make_instrument() -> Instrument:
    return Instrument(venue="test", symbol="BTCUSDT", tick_size="0.1", lot_size="0.001")


def write_table(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    lines = [",".join(header)] + [",".join(_quote(cell) for cell in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _quote(cell: str) -> str:
    if "," in cell or '"' in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def wide_header(levels: int, bid: str = "bid_{}_{}", ask: str = "ask_{}_{}") -> list[str]:
    names = ["timestamp"]
    for i in range(levels):
        names += [bid.format("price", i), bid.format("size", i)]
        names += [ask.format("price", i), ask.format("size", i)]
    return names


def wide_row(ts: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> list[str]:
    row = [ts]
    for (bp, bs), (ap, asz) in zip(bids, asks):
        row += [bp, bs, ap, asz]
    return row


def import_snapshots(path: Path, **options: object) -> tuple[list[Event], ImportReport]:
    report = ImportReport()
    events = list(read_snapshots(path, make_instrument(), report, **options))  # type: ignore[arg-type]
    return events, report


def test_wide_rows_become_sorted_snapshots_and_crossed_or_locked_rows_are_skipped(
    tmp_path: Path,
) -> None:
    asks = [("100.2", "3"), ("100.4", "4")]
    rows = [
        wide_row("1723161255000", [("100.0", "1"), ("99.9", "2")], [asks[0], ("100.1", "4")]),
        wide_row("1723161255100", [("100.3", "1"), ("99.9", "2")], asks),
        wide_row("1723161255200", [("100.2", "1"), ("99.9", "2")], asks),
        wide_row("1723161255300", [("100.0", "1"), ("", "")], [("100.1", "0"), ("100.2", "nan")]),
        wide_row("1723161255400", [("99.0", "1"), ("nan", "nan")], [("100.5", "2"), ("", "")]),
    ]
    path = write_table(tmp_path / "book.csv", wide_header(2), rows)
    events, report = import_snapshots(path)
    assert events == [
        BookSnapshot("BTCUSDT", 1723161255000 * MS, 1723161255000 * MS, 1, (1000, 1000, 999, 2000),
                     (1001, 4000, 1002, 3000)),
        BookSnapshot("BTCUSDT", 1723161255300 * MS, 1723161255300 * MS, 2, (1000, 1000), ()),
        BookSnapshot("BTCUSDT", 1723161255400 * MS, 1723161255400 * MS, 3, (990, 1000),
                     (1005, 2000)),
    ]
    summary = report.summary()
    assert summary.skipped == {"crossed": 1, "locked": 1}
    assert summary.notes["ts_unit"] == "ms"
    assert summary.lines_read == 5


def test_list_columns_with_renamed_headers_and_a_local_timestamp(tmp_path: Path) -> None:
    header = ["ts", "recv", "bp", "bq", "ap", "aq"]
    rows = [
        ["1723161255.5", "1723161255.75", "[100.0, 99.9]", "['1', '2']", "[100.1 100.2]",
         '["3","4"]'],
        ["1723161256", "1723161256", "[]", "[]", "[100.1]", "[0.005]"],
        ["1723161257", "1723161257", "[100.0, 99.9]", "[1]", "[100.1]", "[1]"],
    ]
    path = write_table(tmp_path / "book.csv", header, rows)
    columns = {"timestamp": "ts", "local_timestamp": "recv", "bid_prices": "bp",
               "bid_sizes": "bq", "ask_prices": "ap", "ask_sizes": "aq"}
    events, report = import_snapshots(path, columns=columns, ts_unit="s")
    assert events == [
        BookSnapshot("BTCUSDT", 1723161255_500_000_000, 1723161255_750_000_000, 1,
                     (1000, 1000, 999, 2000), (1001, 3000, 1002, 4000)),
        BookSnapshot("BTCUSDT", 1723161256 * 10**9, 1723161256 * 10**9, 2, (), (1001, 5)),
    ]
    assert report.skipped == {"malformed": 1}
    assert "as many sizes as prices" in report.summary().examples["malformed"][0]


def test_wide_templates_can_name_tardis_style_columns_counted_from_one(tmp_path: Path) -> None:
    header = ["timestamp", "bids[1].price", "bids[1].amount", "asks[1].price", "asks[1].amount"]
    path = write_table(tmp_path / "book.csv", header, [["1700000000000000", "1", "1", "2", "1"]])
    columns = SnapshotColumns(bid_price="bids[{i}].price", bid_size="bids[{i}].amount",
                              ask_price="asks[{i}].price", ask_size="asks[{i}].amount")
    events, report = import_snapshots(path, columns=columns)
    assert events == [BookSnapshot("BTCUSDT", 1700000000000000 * 1000, 1700000000000000 * 1000, 1,
                                   (10, 1000), (20, 1000))]
    assert report.notes["ts_unit"] == "us"


def test_off_grid_values_skip_the_row_and_are_reported(tmp_path: Path) -> None:
    rows = [wide_row("1", [("100.05", "1")], [("100.2", "1")]),
            wide_row("2", [("100.0", "0.0001")], [("100.2", "1")])]
    events, report = import_snapshots(write_table(tmp_path / "b.csv", wide_header(1), rows))
    assert events == []
    assert report.skipped == {"off_grid": 2}
    examples = report.summary().examples["off_grid"]
    assert "b.csv:2" in examples[0] and "found 100.05" in examples[0]
    assert "lot_size=0.001, found 0.0001" in examples[1]


def test_a_level_no_book_would_take_skips_the_row_as_malformed(tmp_path: Path) -> None:
    # a negative size (some exports sign the ask side) or a price <= 0 used to be written, and
    # the backtest then stopped on the snapshot with a BookDataError
    rows = [wide_row("1", [("100.0", "1")], [("100.2", "-1")]),
            wide_row("2", [("-100.0", "1")], [("100.2", "1")]),
            wide_row("3", [("100.0", "1")], [("100.2", "1")])]
    events, report = import_snapshots(write_table(tmp_path / "b.csv", wide_header(1), rows))
    assert [e.ts for e in events] == [3 * 10**9]
    assert report.skipped == {"malformed": 2}
    assert "b.csv:2" in report.summary().examples["malformed"][0]
    book = Book("BTCUSDT")
    for event in events:
        assert isinstance(event, BookSnapshot)
        book.apply_snapshot(event)


def test_a_trades_table_is_merged_in_time_order_with_its_aggressor_side(tmp_path: Path) -> None:
    book = write_table(tmp_path / "book.csv", wide_header(1), [
        wide_row("1000", [("100.0", "1")], [("100.1", "1")]),
        wide_row("3000", [("100.0", "2")], [("100.1", "1")]),
    ])
    trades = write_table(tmp_path / "trades.csv", ["timestamp", "price", "quantity",
                                                   "is_buyer_maker", "id"], [
        ["500", "100.1", "0.5", "false", "a"],
        ["1000", "100.0", "1", "true", "b"],
        ["2000", "100.0", "1", "maybe", "c"],
        ["4000", "100.1", "2", "False", "d"],
    ])
    report = ImportReport()
    events = list(read_snapshots(book, make_instrument(), report, trades=trades, ts_unit="s"))
    assert [(type(e).__name__, e.ts_recv // 10**9) for e in events] == [
        ("Trade", 500), ("BookSnapshot", 1000), ("Trade", 1000), ("BookSnapshot", 3000),
        ("Trade", 4000),
    ]
    trade_events = [e for e in events if isinstance(e, Trade)]
    assert [(t.side, t.price, t.size, t.trade_id) for t in trade_events] == [
        (BUY, 1001, 500, "a"), (SELL, 1000, 1000, "b"), (BUY, 1001, 2000, "d")
    ]
    assert report.skipped == {"unknown_side": 1}


@pytest.mark.parametrize(
    ("column", "values", "sides"),
    [
        ("side", ["buy", "S", "A", "bid"], [BUY, SELL, SELL, BUY]),
        ("is_buyer_taker", ["true", "0", "1", "FALSE"], [BUY, SELL, BUY, SELL]),
    ],
)
def test_trade_sides_come_from_a_side_column_or_a_buyer_taker_flag(
    tmp_path: Path, column: str, values: list[str], sides: list[int]
) -> None:
    rows = [[str(i), "100.0", "1", value] for i, value in enumerate(values, 1)]
    path = write_table(tmp_path / "t.csv", ["time", "px", "qty", column], rows)
    report = ImportReport()
    trades = read_trade_table(path, make_instrument(), report, ts_unit="ns",
                              columns={"timestamp": "time", "price": "px", "size": "qty"})
    assert [t.side for t in trades if isinstance(t, Trade)] == sides


def test_a_trade_cell_with_a_trailing_space_keeps_its_price(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("timestamp,price,quantity,side\n1,61800.00 ,0.010 ,buy\n")
    report = ImportReport()
    trades = list(read_trade_table(path, make_instrument(), report, ts_unit="ns"))
    assert [(t.price, t.size) for t in trades if isinstance(t, Trade)] == [(618000, 10)]
    assert report.skipped == {}


def test_a_table_saved_with_a_byte_order_mark_finds_its_first_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbftimestamp,price,quantity,side\n1,100.0,1,buy\n")
    trades = list(read_trade_table(path, make_instrument(), ImportReport(), ts_unit="ns"))
    assert trades == [Trade("BTCUSDT", 1, 1, 1000, 1000, BUY, "")]


def test_a_table_without_level_columns_is_an_error_naming_what_it_found(tmp_path: Path) -> None:
    path = write_table(tmp_path / "x.csv", ["timestamp", "mid"], [["1", "2"]])
    with pytest.raises(ImportFormatError, match=r"expected wide columns like 'bid_price_0'.*'mid'"):
        import_snapshots(path)


def test_unknown_column_keys_and_timestamp_units_are_errors(tmp_path: Path) -> None:
    path = write_table(tmp_path / "x.csv", wide_header(1), [])
    with pytest.raises(ImportFormatError, match=r"expected column keys among .* found \['bids'\]"):
        import_snapshots(path, columns={"bids": "b"})
    with pytest.raises(ImportFormatError, match=r"ts_unit: expected one of"):
        import_snapshots(path, ts_unit="minutes")


def test_parquet_without_pyarrow_asks_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    path = tmp_path / "book.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(MissingDependencyError, match="install pyarrow"):
        import_snapshots(path)


def test_a_parquet_table_imports_like_the_same_csv(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    header = wide_header(2)
    asks = [("100.1", "4"), ("100.2", "3")]
    rows = [
        wide_row("1723161255000", [("100.0", "1"), ("99.9", "2")], asks),
        wide_row("1723161255100", [("100.0", "2"), ("99.8", "2")], asks),
    ]
    csv_events, _ = import_snapshots(write_table(tmp_path / "book.csv", header, rows))
    columns = {
        name: [int(r[i]) if name == "timestamp" else float(r[i]) for r in rows]
        for i, name in enumerate(header)
    }
    pq.write_table(pa.table(columns), tmp_path / "book.parquet")
    parquet_events, _ = import_snapshots(tmp_path / "book.parquet")
    assert len(csv_events) == 2
    assert parquet_events == csv_events


def test_trade_rows_with_a_price_or_size_no_market_trades_at_are_skipped_as_malformed(
    tmp_path: Path,
) -> None:
    path = write_table(tmp_path / "t.csv", ["timestamp", "price", "quantity", "side"], [
        ["1", "-100.1", "1", "buy"],
        ["2", "0.0", "1", "buy"],
        ["3", "100.1", "-1", "sell"],
        ["4", "100.1", "0", "sell"],
        ["5", "100.1", "1", "sell"],
    ])
    report = ImportReport()
    trades = list(read_trade_table(path, make_instrument(), report, ts_unit="ns"))
    assert trades == [Trade("BTCUSDT", 5, 5, 1001, 1000, SELL, "")]
    assert report.skipped == {"malformed": 4}
    examples = report.summary().examples["malformed"]
    assert examples[0].startswith("t.csv:2: ") and "-100.1" in examples[0]


def write_parquet(path: Path, columns: dict[str, object]) -> Path:
    """A one-level wide Parquet snapshot table with the given time columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = len(next(iter(columns.values())))  # type: ignore[arg-type]
    levels = {"bid_price_0": [100.0] * rows, "bid_size_0": [1.5] * rows,
              "ask_price_0": [100.1] * rows, "ask_size_0": [0.5] * rows}
    pq.write_table(pa.table({**columns, **levels}), path)
    return path


def test_parquet_timestamp_columns_are_read_exactly_to_the_nanosecond(tmp_path: Path) -> None:
    # pandas writes datetimes as timestamp[ns]; pyarrow refuses to make a datetime of one with
    # nanoseconds, which used to stop `mm import snapshots` with a traceback
    import pyarrow as pa

    exchange = [1723161256299, 1723161256300]
    receive = [1723161255030314667, 1723161255123456789]
    path = write_parquet(tmp_path / "book.parquet", {
        "timestamp": pa.array(exchange, pa.timestamp("ms", tz="UTC")),
        "local_timestamp": pa.array(receive, pa.timestamp("ns")),
    })
    events, report = import_snapshots(path, columns={"local_timestamp": "local_timestamp"})
    assert [(e.ts, e.ts_recv) for e in events] == [
        (exchange[0] * MS, receive[0]), (exchange[1] * MS, receive[1])
    ]
    assert report.notes["ts_unit"] == report.notes["local_ts_unit"] == "iso"


def test_a_parquet_timestamp_column_with_a_receive_time_in_integer_ns(tmp_path: Path) -> None:
    import pyarrow as pa

    path = write_parquet(tmp_path / "book.parquet", {
        "timestamp": pa.array([-1, 1723161255123456789], pa.timestamp("ns", tz="UTC")),
        "recv": pa.array([1723161255123456790, 1723161255123456791], pa.int64()),
    })
    events, report = import_snapshots(path, columns={"local_timestamp": "recv"})
    assert [(e.ts, e.ts_recv) for e in events] == [
        (-1, 1723161255123456790), (1723161255123456789, 1723161255123456791)
    ]
    assert report.notes["local_ts_unit"] == "ns"


def test_a_parquet_column_python_cannot_hold_is_an_error_naming_it(tmp_path: Path) -> None:
    import pyarrow as pa

    year_10000 = 253_402_300_800
    path = write_parquet(tmp_path / "book.parquet", {
        "timestamp": pa.array([1723161255, year_10000], pa.timestamp("s")),
    })
    with pytest.raises(ImportFormatError, match=r"book\.parquet: column 'timestamp' \(rows from 2"):
        import_snapshots(path)


@pytest.mark.parametrize(
    ("exchange", "receive", "units"),
    [
        ("1723161256299", "1723161255030314667", ("ms", "ns")),
        ("1723161256299000000", "1723161255030", ("ns", "ms")),
        ("2024-08-08T23:54:16.299Z", "1723161255030314.667", ("iso", "us")),
    ],
)
def test_timestamp_and_local_timestamp_each_have_their_own_unit(
    tmp_path: Path, exchange: str, receive: str, units: tuple[str, str]
) -> None:
    # one unit judged from `timestamp` used to be applied to both: ms + ns gave a receive time
    # of ~1.7e24 ns (an OverflowError when written), ns + ms a date in 1970
    path = tmp_path / "book.csv"
    path.write_text("timestamp,local_timestamp,bid_price_0,bid_size_0,ask_price_0,ask_size_0\n"
                    f"{exchange},{receive},61800.2,1.5,61800.3,0.5\n")
    events, report = import_snapshots(path, columns={"local_timestamp": "local_timestamp"})
    whole_ms = units[1] == "ms"
    assert [(e.ts, e.ts_recv) for e in events] == [
        (1723161256299 * MS, 1723161255030 * MS if whole_ms else 1723161255030314667)
    ]
    assert (report.notes["ts_unit"], report.notes["local_ts_unit"]) == units
    trades = tmp_path / "trades.csv"
    trades.write_text(f"timestamp,local_timestamp,price,quantity,side\n"
                      f"{exchange},{receive},61800.2,1,buy\n")
    report = ImportReport()
    trade_events = list(read_trade_table(trades, make_instrument(), report,
                                         columns={"local_timestamp": "local_timestamp"}))
    assert [(e.ts, e.ts_recv) for e in trade_events] == [(events[0].ts, events[0].ts_recv)]
    assert (report.notes["trades_ts_unit"], report.notes["trades_local_ts_unit"]) == units


def test_a_time_beyond_what_an_event_holds_skips_the_row_naming_the_column(
    tmp_path: Path,
) -> None:
    path = tmp_path / "book.csv"
    path.write_text("timestamp,local_timestamp,bid_price_0,bid_size_0,ask_price_0,ask_size_0\n"
                    "1723161256299,1723161255030,61800.2,1.5,61800.3,0.5\n"
                    "1723161256300,1723161255030314667,61800.2,1.5,61800.3,0.5\n"
                    "1723161256301,1723161255031,61800.2,1.5,61800.3,0.5\n")
    events, report = import_snapshots(path, columns={"local_timestamp": "local_timestamp"})
    assert [e.ts_recv for e in events] == [1723161255030 * MS, 1723161255031 * MS]
    assert report.skipped == {"malformed": 1}
    example = report.summary().examples["malformed"][0]
    assert example.startswith("book.csv:3: column 'local_timestamp': expected a timestamp in ms")
    assert "'1723161255030314667'" in example
    trades = tmp_path / "trades.csv"
    trades.write_text("timestamp,price,quantity,side\n9999999999999999999,61800.2,1,buy\n")
    report = ImportReport()
    assert list(read_trade_table(trades, make_instrument(), report, ts_unit="ns")) == []
    assert report.skipped == {"malformed": 1}
    assert "column 'timestamp': expected a timestamp in ns within the int64" in (
        report.summary().examples["malformed"][0]
    )
