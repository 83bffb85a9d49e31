"""Exact replay: a recorded session replays through a fresh engine with identical outputs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from default_upgrade import make_config, upgrade_defaults

import mmcore.cli.main as cli
from mmcore.config import AppConfig, config_to_dict
from mmcore.events import Event
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter, open_log
from mmcore.records import is_output
from mmcore.runner import NullSink, Runner
from mmcore.version import code_version
from replay.backtest import run_session
from replay.demo import demo_config
from replay.session import build_engine
from replay.synthetic import MarketSpec, generate_market
from replay.verify import verify_log


def record_session(tmp_path: Path, events: int = 6000, seed: int = 3) -> Path:
    config = demo_config()
    out = tmp_path / "session.mmlog"
    market = generate_market(MarketSpec(), events, seed)
    run_session(config, config.instrument_map(), market, out)
    return out


def with_header(path: Path, out: Path, **fields: Any) -> Path:
    """A copy of the log whose header has other ``fields`` (``config=...``)."""
    reader = open_log(path)
    header = msgspec.structs.replace(reader.header, **fields)
    with LogWriter(out, header) as writer:
        for record in reader:
            writer.append(record)
    return out


def with_params(path: Path, out: Path, **params: Any) -> Path:
    """A copy of the log whose header config has different strategy parameters."""
    config = dict(open_log(path).header.config)
    strategy = dict(config["strategy"])
    strategy["params"] = {**strategy["params"], **params}
    config["strategy"] = strategy
    return with_header(path, out, config=config)


def test_a_recorded_backtest_replays_with_zero_divergences(tmp_path: Path) -> None:
    log = record_session(tmp_path)
    result = verify_log(log)
    assert result.divergence is None
    assert result.ok
    assert result.outputs_recorded > 10
    assert result.outputs_recorded == result.outputs_replayed


def test_replaying_many_times_gives_exactly_one_command_stream(tmp_path: Path) -> None:
    log = record_session(tmp_path, events=3000)
    reader = open_log(log)
    inbound = [r for r in reader if not is_output(r)]
    config = msgspec.convert(reader.header.config, AppConfig)
    instruments = {i.symbol: i for i in reader.header.instruments}
    streams = set()
    for _ in range(3):
        engine = build_engine(config, instruments)
        outputs = [msgspec.msgpack.encode(o) for ev in inbound for o in engine.on_event(ev)]
        streams.add(b"".join(outputs))
    assert len(streams) == 1


def test_a_changed_spread_diverges_at_the_first_quote(tmp_path: Path) -> None:
    log = record_session(tmp_path)
    changed = with_params(log, tmp_path / "changed.mmlog", spread_bps=0.9)
    result = verify_log(changed)
    assert result.divergence is not None
    # the first event (the snapshot, seq 1) makes the first quotes; the first output is seq 2
    assert result.divergence.cause_seq == 1
    assert result.divergence.seq == 2
    assert '"Place"' in result.divergence.expected and '"Place"' in result.divergence.found
    assert result.divergence.expected != result.divergence.found


def test_a_changed_requote_threshold_diverges_at_a_later_event(tmp_path: Path) -> None:
    log = record_session(tmp_path)
    changed = with_params(log, tmp_path / "changed.mmlog", requote_bps=0.35)
    result = verify_log(changed)
    assert result.divergence is not None
    cause = result.divergence.cause_seq
    assert cause > 1
    # everything recorded before the cause was reproduced exactly
    recorded_before = sum(
        1 for seq, _, r in open_log(log).frames() if seq < cause and is_output(r)
    )
    assert result.outputs_recorded >= recorded_before
    assert "BookDelta" in result.divergence.cause or "Trade" in result.divergence.cause \
        or "Timer" in result.divergence.cause or "Order" in result.divergence.cause \
        or "Fill" in result.divergence.cause


def test_a_session_recorded_by_the_async_runner_replays_exactly(tmp_path: Path) -> None:
    config = demo_config()
    instruments = config.instrument_map()
    out = tmp_path / "async.mmlog"
    header = LogHeader(
        format_version=FORMAT_VERSION,
        code_version="test",
        instruments=list(instruments.values()),
        config=config_to_dict(config),
        created_ns=time.time_ns(),
    )

    async def source() -> AsyncIterator[Event]:
        for ev in generate_market(MarketSpec(), 4000, seed=11):
            yield ev

    with LogWriter(out, header) as writer:
        runner = Runner(build_engine(config, instruments), NullSink(), writer)
        stats = asyncio.run(runner.run(source()))
    assert stats.events == 4000
    assert stats.commands > 0
    result = verify_log(out)
    assert result.ok, result.divergence


def test_an_extra_recorded_command_is_a_divergence(tmp_path: Path) -> None:
    log = record_session(tmp_path, events=2000)
    reader = open_log(log)
    records = list(reader)
    first_out = next(i for i, r in enumerate(records) if is_output(r))
    records.insert(first_out, records[first_out])  # a command recorded twice
    out = tmp_path / "tampered.mmlog"
    with LogWriter(out, reader.header) as writer:
        for record in records:
            writer.append(record)
    result = verify_log(out)
    assert result.divergence is not None
    assert not result.ok


@pytest.mark.parametrize("events", [500])
def test_the_demo_config_is_valid_and_builds(events: int) -> None:
    config = demo_config()
    engine = build_engine(config, config.instrument_map())
    outputs = [o for ev in generate_market(MarketSpec(), events, 1) for o in engine.on_event(ev)]
    assert outputs, "the simple quoter placed nothing"


def test_a_compressed_session_log_replays_exactly(tmp_path: Path) -> None:
    config = demo_config()
    config = msgspec.structs.replace(config, log=msgspec.structs.replace(config.log, compress=True))
    out = tmp_path / "session.mmlog"
    run_session(config, config.instrument_map(), generate_market(MarketSpec(), 3000, 2), out)
    assert open_log(out).compressed
    assert verify_log(out).ok


# ---------------------------------------------------------------- the code that recorded the log


def record_with_defaults(tmp_path: Path, config: AppConfig | None = None) -> Path:
    """A backtest of a session that leaves the rate limits and a strategy parameter to the
    code's defaults."""
    config = config or make_config("extended", "[sim]\nentry_latency_ms = 2.0")
    out = tmp_path / "defaults.mmlog"
    run_session(config, config.instrument_map(), generate_market(MarketSpec(), 3000, 3), out)
    return out


def test_a_log_still_replays_exactly_after_an_upgrade_changes_the_defaults_it_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = record_with_defaults(tmp_path)
    upgrade_defaults(monkeypatch)  # the venue's limits and the default order size change
    result = verify_log(log)
    assert result.ok, result.divergence
    assert result.outputs_recorded > 10


def test_a_log_whose_header_holds_the_raw_config_replays_with_the_replaying_codes_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log recorded before headers were resolved replays as it always did; an upgrade that
    changes a default it relied on makes it diverge (what resolved headers prevent)."""
    config = make_config("extended", "[sim]\nentry_latency_ms = 2.0")
    raw = with_header(
        record_with_defaults(tmp_path, config), tmp_path / "raw.mmlog",
        config=config_to_dict(config),
    )
    assert open_log(raw).header.config["risk"]["rate_limit"]["windows"] == []
    assert verify_log(raw).ok
    upgrade_defaults(monkeypatch)
    result = verify_log(raw)
    assert result.divergence is not None and result.divergence.cause_seq == 1


def test_mm_replay_verify_notes_a_log_recorded_by_other_code_before_the_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = with_header(record_session(tmp_path, events=1000), tmp_path / "old.mmlog",
                      code_version="0.1.0")
    assert cli.main(["replay", str(log), "--verify"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("OK:")
    assert lines[0].startswith("note: ") and "0.1.0" in lines[0] and code_version() in lines[0]
    assert verify_log(log).code_version == "0.1.0"


def test_mm_replay_verify_of_a_log_recorded_by_this_code_has_no_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = record_session(tmp_path, events=1000)
    assert open_log(log).header.code_version == code_version()
    assert cli.main(["replay", str(log), "--verify"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK:") and "note" not in out
