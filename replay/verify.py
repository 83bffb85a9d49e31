"""Exact replay: feed a log's inbound events to a fresh engine and compare every output.

The engine is rebuilt from the log's header (config and instrument specs). For each recorded
inbound event the fresh engine's outputs are encoded and compared, byte for byte, with the outputs
recorded after that event. The first difference is reported with the event that caused it and the
expected and found records.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path

import msgspec

from mmcore.config import config_from_dict
from mmcore.engine import Engine
from mmcore.errors import ConfigError
from mmcore.log import LogReader, open_log
from mmcore.records import decode, encode, is_output, to_json_line
from replay.session import build_engine

__all__ = ["Divergence", "VerifyResult", "engine_from_log", "inbound_events", "verify_log"]


class Divergence(msgspec.Struct, frozen=True):
    """Where a replay first differed from the recording.

    seq: log sequence number of the recorded output that differs (or of the inbound event after
    which the fresh engine emitted something extra); cause_seq: the inbound event that caused it.
    """

    seq: int
    cause_seq: int
    cause: str
    expected: str
    found: str

    def describe(self) -> str:
        return (
            f"divergence at log seq {self.seq} (caused by inbound seq {self.cause_seq}):\n"
            f"  event:    {self.cause}\n"
            f"  recorded: {self.expected}\n"
            f"  replayed: {self.found}"
        )


class VerifyResult(msgspec.Struct, frozen=True):
    """Counts of a verification run and its first divergence, if any."""

    inbound: int
    outputs_recorded: int
    outputs_replayed: int
    divergence: Divergence | None

    @property
    def ok(self) -> bool:
        return self.divergence is None and self.outputs_recorded == self.outputs_replayed


def engine_from_log(reader: LogReader) -> Engine:
    """A fresh engine built exactly as the recorded session's was."""
    if "import" in reader.header.config:  # ``replay.importers.output`` writes that key alone
        raise ConfigError(
            f"{reader.path}: expected a session log (mm run, mm backtest, mm demo), found a "
            "market-data log written by mm import: it records no engine to replay"
        )
    config = config_from_dict(reader.header.config, f"{reader.path} header")
    instruments = {i.symbol: i for i in reader.header.instruments}
    return build_engine(config, instruments)


def inbound_events(path: str | Path) -> Iterator[object]:
    """The recorded inbound events of a log, in order: a replay source."""
    for record in open_log(path, repair=False):
        if not is_output(record):
            yield record


def verify_log(path: str | Path) -> VerifyResult:
    reader = open_log(path, repair=False)
    engine = engine_from_log(reader)
    pending: deque[bytes] = deque()
    cause_seq = -1
    cause = b""
    inbound = recorded = replayed = 0
    for seq, _offset, payload in reader.raw_frames():
        record = decode(payload)
        if is_output(record):
            recorded += 1
            if not pending:
                return _result(inbound, recorded, replayed, seq, cause_seq, cause, payload, b"")
            mine = pending.popleft()
            if mine != payload:
                return _result(inbound, recorded, replayed, seq, cause_seq, cause, payload, mine)
            continue
        if pending:
            return _result(inbound, recorded, replayed, seq, cause_seq, cause, b"", pending[0])
        inbound += 1
        cause_seq, cause = seq, payload
        for item in engine.on_event(record):  # type: ignore[arg-type]
            replayed += 1
            pending.append(encode(item))
    if pending:
        return _result(inbound, recorded, replayed, -1, cause_seq, cause, b"", pending[0])
    return VerifyResult(inbound, recorded, replayed, None)


def _result(
    inbound: int,
    recorded: int,
    replayed: int,
    seq: int,
    cause_seq: int,
    cause: bytes,
    expected: bytes,
    found: bytes,
) -> VerifyResult:
    def show(raw: bytes) -> str:
        return to_json_line(-1, decode(raw)) if raw else "(nothing)"

    divergence = Divergence(seq, cause_seq, show(cause), show(expected), show(found))
    return VerifyResult(inbound, recorded, replayed, divergence)
