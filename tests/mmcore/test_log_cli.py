"""``mm log info`` and ``mm log cat``, called through their argparse handlers."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmcore.cli.log_cmd import register
from mmcore.commands import Place
from mmcore.events import BUY, SELL, BookDelta, Fill, RiskEvent
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader, LogNotFoundError, LogWriter, open_log
from mmcore.records import Record


def make_header() -> LogHeader:
    return LogHeader(
        format_version=FORMAT_VERSION,
        code_version="0.1.0+g1234abc",
        instruments=[
            Instrument(venue="sim", symbol="BTC-USD", tick_size="0.1", lot_size="0.001"),
            Instrument(venue="sim", symbol="ETH-USD", tick_size="0.01", lot_size="0.01",
                       maker_fee="-0.0001", taker_fee="0.0005"),
        ],
        config={"venue": "sim", "risk": {"max_position": 5}},
        created_ns=1_700_000_000_000_000_042,
        meta={"host": "ci"},
    )


def make_records() -> list[Record]:
    return [
        BookDelta("BTC-USD", 10, 11, 7, 6, (100_000, 3), ()),
        Place("BTC-USD", 11, "c1", BUY, 99_990, 5),
        Fill("BTC-USD", 20, 21, "c1", BUY, 99_990, 5, -10, True, "t1"),
        RiskEvent(21, 21, "BTC-USD", "POS_LIMIT", "position 5 at limit 5"),
        Place("BTC-USD", 21, "c2", SELL, 100_010, 5),
    ]


def make_log(path: Path, records: list[Record] | None = None) -> Path:
    with LogWriter(path, make_header()) as writer:
        writer.append_many(make_records() if records is None else records)
    return path


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mm")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_info_prints_the_header_and_counts_by_type(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_log(workdir / "run.log")
    assert run("log", "info", str(path)) == 0
    out = capsys.readouterr().out
    assert f"format version: {FORMAT_VERSION}\n" in out
    assert "code version: 0.1.0+g1234abc\n" in out
    assert "created: 2023-11-14T22:13:20.000000042Z" in out
    assert "  sim BTC-USD: tick 0.1, lot 0.001" in out
    assert "  sim ETH-USD: tick 0.01, lot 0.01" in out and "maker -0.0001 taker 0.0005" in out
    assert 'config: {"risk": {"max_position": 5}, "venue": "sim"}\n' in out
    assert "meta host: ci\n" in out
    assert "  BookDelta: 1\n  Fill: 1\n  Place: 2\n  RiskEvent: 1\n" in out
    assert "total records: 5\n" in out and "total frames: 6" in out
    assert "torn tail" not in out


def test_info_reports_a_torn_tail_and_leaves_the_file_unless_asked_to_repair(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_log(workdir / "torn.log")
    with open(path, "ab") as f:
        f.write(b"\x00" * 9)
    size = path.stat().st_size
    run("log", "info", str(path))
    assert "torn tail: 9 bytes ignored" in capsys.readouterr().out
    assert path.stat().st_size == size
    run("log", "info", "--repair", str(path))
    assert "torn tail: 9 bytes truncated" in capsys.readouterr().out
    assert path.stat().st_size == size - 9


def test_info_of_a_compressed_log_reads_the_same(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_log(workdir / "run.log.zst")
    run("log", "info", str(path))
    assert "total records: 5\n" in capsys.readouterr().out


def test_cat_prints_one_json_object_per_record_with_log_seq_type_and_fields(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_log(workdir / "run.log")
    assert run("log", "cat", str(path)) == 0
    rows = json_lines(capsys.readouterr().out)
    assert [row["log_seq"] for row in rows] == [1, 2, 3, 4, 5]
    assert [row["type"] for row in rows] == ["BookDelta", "Place", "Fill", "RiskEvent", "Place"]
    assert rows[0] == {
        "log_seq": 1, "type": "BookDelta", "inst": "BTC-USD", "ts": 10, "ts_recv": 11,
        "seq": 7, "prev_seq": 6, "bids": [100_000, 3], "asks": [],
    }
    assert rows[2]["fee"] == -10 and rows[2]["maker"] is True


def test_cat_limit_and_type_filter_select_records(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_log(workdir / "run.log")
    run("log", "cat", str(path), "--type", "Place")
    assert [row["client_id"] for row in json_lines(capsys.readouterr().out)] == ["c1", "c2"]
    run("log", "cat", str(path), "--limit", "2")
    assert [row["log_seq"] for row in json_lines(capsys.readouterr().out)] == [1, 2]
    run("log", "cat", str(path), "--type", "Fill", "--type", "RiskEvent", "--limit", "1")
    assert [row["type"] for row in json_lines(capsys.readouterr().out)] == ["Fill"]


def test_cat_never_modifies_a_torn_log(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_log(workdir / "torn.log")
    with open(path, "ab") as f:
        f.write(b"\x01\x02")
    run("log", "cat", str(path))
    assert len(json_lines(capsys.readouterr().out)) == 5
    assert open_log(path, repair=False).truncated_bytes == 2


def test_cat_rejects_an_unknown_type_and_a_negative_limit(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_log(workdir / "run.log")
    with pytest.raises(SystemExit):
        run("log", "cat", str(path), "--type", "Nope")
    assert "invalid choice: 'Nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run("log", "cat", str(path), "--limit", "-1")
    assert "expected a count >= 0, found -1" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["info", "cat"])
def test_a_missing_file_is_an_mm_error_naming_the_path(workdir: Path, command: str) -> None:
    with pytest.raises(LogNotFoundError, match=r"missing\.log: expected an event log file"):
        run("log", command, str(workdir / "missing.log"))
