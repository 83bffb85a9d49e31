"""``verify_log`` on logs a crash cut short, and on frames it cannot read.

A crash can cut a session log between an inbound event and the outputs recorded after it (in a
torn frame, or cleanly between two frames). The replayed outputs of that last event cannot be
checked: "not verifiable: the log ends", no divergence. A frame of an unknown record type is
reported like every other reader reports it, as a ``LogCorruptError`` (``mm: error:``, exit 2),
never a traceback.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import msgspec
import pytest

from mmcore.cli.main import main
from mmcore.errors import LogCorruptError
from mmcore.log import LogWriter, open_log
from mmcore.log_format import FRAME, frame_crc
from mmcore.records import Record, is_output
from replay.backtest import run_session
from replay.demo import demo_config
from replay.synthetic import MarketSpec, generate_market
from replay.verify import verify_log


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = demo_config()
    out = tmp_path_factory.mktemp("verify") / "session.mmlog"
    run_session(config, config.instrument_map(), generate_market(MarketSpec(), 600, 3), out)
    return out


def first_event_with_outputs(log: Path) -> tuple[list[tuple[int, int, Record]], int]:
    """The log's frames and the index of the first inbound event followed by an output."""
    frames = list(open_log(log).frames())
    k = next(
        k for k in range(len(frames) - 1)
        if not is_output(frames[k][2]) and is_output(frames[k + 1][2])
    )
    return frames, k


def test_a_log_torn_inside_an_events_first_output_is_not_a_divergence(
    session: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames, k = first_event_with_outputs(session)
    torn = tmp_path / "torn.mmlog"
    torn.write_bytes(session.read_bytes()[: frames[k + 1][1] + 5])
    with caplog.at_level(logging.WARNING):
        result = verify_log(torn)
    assert result.divergence is None and result.ok, result
    assert result.unverified > 0
    assert result.outputs_recorded == result.outputs_replayed - result.unverified
    assert f"replayed for inbound seq {frames[k][0]}" in caplog.text
    assert f"not verifiable: the log ends after seq {frames[k][0]} and a torn tail of 5 bytes" \
        in caplog.text


def test_a_log_cut_cleanly_between_an_event_and_its_outputs_is_not_a_divergence(
    session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames, k = first_event_with_outputs(session)
    cut = tmp_path / "cut.mmlog"
    cut.write_bytes(session.read_bytes()[: frames[k + 1][1]])
    result = verify_log(cut)
    assert result.ok and result.unverified > 0 and open_log(cut).truncated_bytes == 0
    assert main(["replay", "--verify", str(cut)]) == 0
    assert capsys.readouterr().out.startswith("OK: ")


def test_an_events_missing_outputs_before_the_next_event_are_still_a_divergence(
    session: Path, tmp_path: Path
) -> None:
    # only the end of the log may be missing outputs: within it that is a divergence
    reader = open_log(session)
    records = list(reader)
    first_out = next(i for i, r in enumerate(records) if is_output(r))
    last_out = max(i for i, r in enumerate(records) if is_output(r))
    assert last_out > first_out
    out = tmp_path / "missing.mmlog"
    with LogWriter(out, reader.header) as writer:
        writer.append_many(records[:first_out])
        writer.append_many(r for r in records[first_out:] if not is_output(r))
    result = verify_log(out)
    assert result.divergence is not None and not result.ok
    assert result.divergence.expected == "(nothing)"


def test_the_divergence_shows_each_record_with_its_log_seq(session: Path, tmp_path: Path) -> None:
    reader = open_log(session)
    config = dict(reader.header.config)
    strategy = dict(config["strategy"])
    strategy["params"] = {**strategy["params"], "spread_bps": 0.9}
    config["strategy"] = strategy
    changed = tmp_path / "changed.mmlog"
    with LogWriter(changed, msgspec.structs.replace(reader.header, config=config)) as writer:
        writer.append_many(reader)
    divergence = verify_log(changed).divergence
    assert divergence is not None
    assert json.loads(divergence.cause)["log_seq"] == divergence.cause_seq
    assert json.loads(divergence.expected)["log_seq"] == divergence.seq
    assert json.loads(divergence.found)["log_seq"] == divergence.seq
    assert "log_seq\":-1" not in divergence.describe()


def test_an_unknown_record_type_is_a_log_corrupt_error_naming_offset_and_seq(
    session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = sum(1 for _ in open_log(session)) + 1
    payload = msgspec.msgpack.encode(["NewRecordType", 1, 2])  # e.g. from a newer version
    future = tmp_path / "future.mmlog"
    size = session.stat().st_size
    future.write_bytes(
        session.read_bytes() + FRAME.pack(len(payload), frame_crc(n, payload), n) + payload
    )
    with pytest.raises(LogCorruptError, match=rf"future\.mmlog: byte {size}: .*frame seq {n}"):
        verify_log(future)
    assert main(["replay", "--verify", str(future)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mm: error: ") and "Traceback" not in err
