"""Damaged ``.gz`` input: an error when nothing whole was read, else the whole lines and a count.

Captures (``recorded_lines``) and tables (``open_table``) share the rule: a file named ``.gz``
that is not gzip, or is cut inside its 10-byte header, is an ``ImportFormatError`` naming the
file; compressed data damaged after some whole lines keeps those lines and counts the damage as
``"corrupt"`` with file and line, like a file cut short counts ``"truncated"``.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest

from mmcore.events import Event, Trade
from mmcore.instrument import Instrument
from replay.importers import ImportFormatError, ImportReport, read_binance, read_trade_table

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # magic, deflate, no flags, no name
BAD_BLOCK = b"\xff" * 16  # a deflate block of the reserved type 3: "invalid block type"


def make_instrument() -> Instrument:
    return Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.1", lot_size="0.001")


def trade_lines(n: int) -> list[bytes]:
    """``n`` distinct trade lines (distinct enough that they compress past one read buffer)."""
    out = []
    for i in range(n):
        data = {"e": "trade", "E": 1000 + i, "T": 1000 + i, "s": "BTCUSDT", "t": i * 7919,
                "p": f"{60000 + (i * 37) % 1000}.{i % 10}", "q": f"0.{(i * 13) % 1000:03d}",
                "m": i % 3 == 0}
        out.append(f"{10**18 + i * 1_000_003} {json.dumps(data)}\n".encode())
    return out


def deflate_then_damage(payload: bytes) -> bytes:
    """A gzip file whose deflate stream holds ``payload`` whole, then turns to garbage."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(payload) + compressor.flush(zlib.Z_FULL_FLUSH)
    return GZIP_HEADER + body + BAD_BLOCK


def import_binance(path: Path) -> tuple[list[Event], ImportReport]:
    report = ImportReport()
    return list(read_binance(path, make_instrument(), report)), report


# ------------------------------------------------------------------ captures


def test_a_capture_named_gz_that_is_not_gzip_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.gz"
    path.write_bytes(b"".join(trade_lines(3)))
    with pytest.raises(ImportFormatError, match=r"plain\.gz: expected a gzip file"):
        import_binance(path)


@pytest.mark.parametrize("size", [1, 2, 5, 9])
def test_a_capture_cut_inside_its_gzip_header_is_an_error_naming_the_file(
    tmp_path: Path, size: int
) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(b"".join(trade_lines(3)))[:size])
    with pytest.raises(ImportFormatError, match=r"cut\.gz: expected a 10-byte gzip header"):
        import_binance(path)


def test_a_capture_damaged_before_its_first_line_is_an_error_naming_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.gz"
    path.write_bytes(GZIP_HEADER + BAD_BLOCK)
    with pytest.raises(ImportFormatError, match=r"bad\.gz: expected gzip-compressed data"):
        import_binance(path)


def test_a_capture_damaged_mid_stream_keeps_its_whole_lines_and_counts_the_damage(
    tmp_path: Path,
) -> None:
    lines = trade_lines(6000)
    whole = tmp_path / "whole.gz"
    whole.write_bytes(gzip.compress(b"".join(lines)))
    all_events, _ = import_binance(whole)
    path = tmp_path / "damaged.gz"
    path.write_bytes(deflate_then_damage(b"".join(lines)))
    events, report = import_binance(path)
    assert 0 < len(events) <= len(all_events)
    assert events == all_events[: len(events)]
    assert report.skipped == {"corrupt": 1}
    (example,) = report.summary().examples["corrupt"]
    assert example.startswith(f"damaged.gz:{len(events) + 1}: ")
    assert "invalid block type" in example


def test_garbage_after_a_whole_gzip_member_keeps_the_lines_and_counts_it(tmp_path: Path) -> None:
    lines = trade_lines(20)
    path = tmp_path / "tail.gz"
    path.write_bytes(gzip.compress(b"".join(lines)) + b"not gzip at all")
    events, report = import_binance(path)
    assert len(events) == 20
    assert report.skipped == {"corrupt": 1}
    assert report.summary().examples["corrupt"][0].startswith("tail.gz:21: ")


# ------------------------------------------------------------------ tables

TRADES_CSV = "timestamp,price,quantity,side\n" + "".join(
    f"{i},{60000 + i % 500}.0,0.{i % 900 + 100},{'buy' if i % 2 else 'sell'}\n"
    for i in range(1, 20001)
)


def import_trade_table(path: Path) -> tuple[list[Event], ImportReport]:
    report = ImportReport()
    return list(read_trade_table(path, make_instrument(), report, ts_unit="ns")), report


def test_a_table_named_gz_that_is_not_gzip_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv.gz"
    path.write_text(TRADES_CSV)
    with pytest.raises(ImportFormatError, match=r"trades\.csv\.gz: expected a gzip file"):
        import_trade_table(path)


def test_a_table_cut_inside_its_gzip_header_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv.gz"
    path.write_bytes(gzip.compress(TRADES_CSV.encode())[:6])
    with pytest.raises(ImportFormatError, match=r"trades\.csv\.gz: expected a 10-byte gzip"):
        import_trade_table(path)


def test_a_table_damaged_before_its_header_row_is_an_error_naming_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "trades.csv.gz"
    path.write_bytes(GZIP_HEADER + BAD_BLOCK)
    with pytest.raises(ImportFormatError, match=r"trades\.csv\.gz: expected gzip-compressed"):
        import_trade_table(path)


def test_a_table_damaged_mid_stream_keeps_its_whole_rows_and_counts_the_damage(
    tmp_path: Path,
) -> None:
    whole = tmp_path / "whole.csv"
    whole.write_text(TRADES_CSV)
    all_events, _ = import_trade_table(whole)
    path = tmp_path / "damaged.csv.gz"
    path.write_bytes(deflate_then_damage(TRADES_CSV.encode()))
    events, report = import_trade_table(path)
    assert 0 < len(events) < len(all_events)
    assert all(isinstance(e, Trade) for e in events)
    assert events == all_events[: len(events)]
    assert report.skipped == {"corrupt": 1}
    assert report.summary().examples["corrupt"][0].startswith("damaged.csv.gz:")


def test_a_table_cut_short_before_its_header_row_is_whole_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv.gz"
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(b"timestamp,price,qua") + compressor.flush(zlib.Z_SYNC_FLUSH)
    path.write_bytes(GZIP_HEADER + body)
    with pytest.raises(ImportFormatError, match=r"trades\.csv\.gz: expected a header row, found"):
        import_trade_table(path)
