"""``mm import`` subcommands end to end into tmp_path, with the report printed."""

from __future__ import annotations

import argparse
import gzip
import itertools
from pathlib import Path

import pytest

from mmcore.events import BookSnapshot, Trade
from mmcore.log import open_log
from replay.cli_import import register
from replay.importers import ImportFormatError, OutputExistsError

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
BINANCE = DATA / "binance-usdm-btcusdt-raw" / "btcusdt_20240808.gz"
HYPERLIQUID = DATA / "hyperliquid-btc-raw" / "btcusd_20250126.gz"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mm")
    register(parser.add_subparsers(dest="command"))
    return parser


def run(argv: list[str]) -> int:
    args = make_parser().parse_args(argv)
    code: int = args.func(args)
    return code


def make_binance_slice(tmp_path: Path, lines: int = 2000) -> Path:
    path = tmp_path / "slice.gz"
    with gzip.open(BINANCE, "rb") as src, gzip.open(path, "wb") as dst:
        dst.writelines(itertools.islice(src, lines))
    return path


def test_binance_import_writes_a_log_and_prints_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "binance.mmlog"
    code = run(["import", "binance", str(make_binance_slice(tmp_path)), "--out", str(out),
                "--tick", "0.1", "--lot", "0.001"])
    printed = capsys.readouterr().out
    assert code == 0
    counts = open_log(out).counts()
    assert counts["BookSnapshot"] == 1
    assert f"  BookDelta: {counts['BookDelta']}" in printed
    assert f"  Trade: {counts['Trade']}" in printed
    assert "  book_ticker: " in printed
    assert "sequence breaks: 0" in printed
    assert f"wrote {sum(counts.values())} events to {out}" in printed


def test_hyperliquid_import_uses_btc_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hl.mmlog.zst"
    assert run(["import", "hyperliquid", str(HYPERLIQUID), "--out", str(out), "--tick", "1",
                "--lot", "0.00001"]) == 0
    log = open_log(out)
    assert log.counts() == {"BookSnapshot": 46, "Trade": 34}  # 30 trades older than the book
    assert log.header.instruments[0].symbol == "BTC"
    assert "  BookSnapshot: 46" in capsys.readouterr().out


def test_tardis_import_merges_the_trades_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "book.csv"
    book.write_text(
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
        "x,BTC-PERP,1,10,true,bid,100.0,1\n"
        "x,BTC-PERP,1,10,true,ask,100.5,1\n"
        "x,BTC-PERP,2,30,false,bid,100.0,2\n"
    )
    trades = tmp_path / "trades.csv"
    trades.write_text(
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        "x,BTC-PERP,2,20,9,sell,100.0,0.5\n"
    )
    out = tmp_path / "t.mmlog"
    assert run(["import", "tardis", str(book), "--trades", str(trades), "--out", str(out),
                "--symbol", "BTC-PERP", "--venue", "deribit", "--tick", "0.5", "--lot", "0.1"]) == 0
    assert [type(e).__name__ for e in open_log(out)] == ["BookSnapshot", "Trade", "BookDelta"]
    assert "lines read: 4" in capsys.readouterr().out


def test_snapshots_import_takes_column_names_and_a_timestamp_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "book.csv"
    table.write_text("t,bp0,bq0,ap0,aq0\n5,100.0,1,100.1,2\n6,100.2,1,100.1,2\n")
    trades = tmp_path / "trades.csv"
    trades.write_text("t,price,qty,side\n5,100.1,1,buy\n")
    out = tmp_path / "s.mmlog"
    code = run(["import", "snapshots", str(table), "--trades", str(trades), "--out", str(out),
                "--symbol", "X", "--venue", "v", "--tick", "0.1", "--lot", "1",
                "--columns", "timestamp=t", "bid_price=bp{i}", "bid_size=bq{i}",
                "ask_price=ap{i}", "ask_size=aq{i}",
                "--trade-columns", "timestamp=t", "size=qty", "--ts-unit", "s"])
    assert code == 0
    events = list(open_log(out))
    assert [type(e) for e in events] == [BookSnapshot, Trade]
    assert events[0].ts == 5 * 10**9
    printed = capsys.readouterr().out
    assert "  crossed: 1" in printed
    header = open_log(out).header
    assert header.config["import"]["settings"]["columns"]["timestamp"] == "t"


def test_snapshots_import_of_a_pandas_style_parquet_table_with_ns_times(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = tmp_path / "book.parquet"
    pq.write_table(pa.table({
        "timestamp": pa.array([1723161255123456789], pa.timestamp("ns", tz="UTC")),
        "bid_price_0": [61800.2], "bid_size_0": [1.5],
        "ask_price_0": [61800.3], "ask_size_0": [0.5],
    }), table)
    out = tmp_path / "s.mmlog"
    code = run(["import", "snapshots", str(table), "--out", str(out), "--symbol", "X",
                "--venue", "v", "--tick", "0.1", "--lot", "0.001"])
    assert code == 0
    # No receive time in the table: ts_recv is ts, a feed latency of 0, which the receive
    # clock's alignment raises to its floor of 1 ms.
    ts = 1723161255123456789
    assert [(e.ts, e.ts_recv) for e in open_log(out)] == [(ts, ts + 1_000_000)]


def test_an_import_that_writes_nothing_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hl.mmlog"
    assert run(["import", "hyperliquid", str(HYPERLIQUID), "--out", str(out), "--tick", "1",
                "--lot", "0.00001", "--symbol", "ETH"]) == 1
    captured = capsys.readouterr()
    assert "  other_symbol: 110" in captured.out  # 46 snapshots and 64 trades
    assert "no events to write" in captured.err
    assert not out.exists()


def test_errors_are_mm_errors_with_clear_messages(tmp_path: Path) -> None:
    out = tmp_path / "x.mmlog"
    out.write_bytes(b"x")
    with pytest.raises(OutputExistsError, match="expected a new file"):
        run(["import", "hyperliquid", str(HYPERLIQUID), "--out", str(out), "--tick", "1",
             "--lot", "0.00001"])
    with pytest.raises(ImportFormatError, match=r"--columns: expected key=column, found 'ts'"):
        run(["import", "snapshots", str(HYPERLIQUID), "--out", str(tmp_path / "y"), "--symbol",
             "X", "--venue", "v", "--tick", "1", "--lot", "1", "--columns", "ts"])
    with pytest.raises(ImportFormatError, match=r"nope\.gz: expected an existing file"):
        run(["import", "binance", str(tmp_path / "nope.gz"), "--out", str(tmp_path / "z"),
             "--tick", "0.1", "--lot", "0.001"])


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_max_buffer_below_one_is_refused_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    out = tmp_path / "b.mmlog"
    with pytest.raises(SystemExit) as exit_info:
        run(["import", "binance", str(make_binance_slice(tmp_path)), "--out", str(out),
             "--tick", "0.1", "--lot", "0.001", "--max-buffer", value])
    assert exit_info.value.code == 2
    assert f"argument --max-buffer: expected a whole number >= 1, found {value!r}" in (
        capsys.readouterr().err
    )
    assert not out.exists()


def test_a_capture_that_is_not_gzip_is_an_mm_error_and_leaves_no_log(tmp_path: Path) -> None:
    capture = tmp_path / "capture.gz"
    capture.write_text("1 {}\n")
    out = tmp_path / "b.mmlog"
    with pytest.raises(ImportFormatError, match=r"capture\.gz: expected a gzip file"):
        run(["import", "hyperliquid", str(capture), "--out", str(out), "--tick", "1",
             "--lot", "0.00001"])
    assert not out.exists()
    assert not (tmp_path / "b.mmlog.partial").exists()


def test_the_out_folder_is_made_when_missing_but_a_file_in_its_way_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from replay.cli_import import ImportPathError

    data = make_binance_slice(tmp_path, 200)
    out = tmp_path / "out" / "day" / "binance.mmlog"  # as in configs/backtest.toml's recipe
    assert run(["import", "binance", str(data), "--out", str(out), "--tick", "0.1",
                "--lot", "0.001"]) == 0
    assert open_log(out).counts()["BookSnapshot"] == 1
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ImportPathError, match=rf"found a file at {blocker}"):
        run(["import", "binance", str(data), "--out", str(blocker / "x.mmlog"), "--tick", "0.1",
             "--lot", "0.001"])
