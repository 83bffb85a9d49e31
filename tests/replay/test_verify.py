"""Exact replay: a recorded session replays through a fresh engine with identical outputs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mmcore.config import AppConfig, config_to_dict
from mmcore.events import Event
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter, open_log
from mmcore.records import is_output
from mmcore.runner import NullSink, Runner
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


def with_params(path: Path, out: Path, **params: Any) -> Path:
    """A copy of the log whose header config has different strategy parameters."""
    reader = open_log(path)
    config = dict(reader.header.config)
    strategy = dict(config["strategy"])
    strategy["params"] = {**strategy["params"], **params}
    config["strategy"] = strategy
    header = msgspec.structs.replace(reader.header, config=config)
    with LogWriter(out, header) as writer:
        for record in reader:
            writer.append(record)
    return out


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
