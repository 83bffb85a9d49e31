"""Exact replay: feed a log's inbound events to a fresh engine and compare every output.

The engine is rebuilt from the log's header (config and instrument specs). For each recorded
inbound event the fresh engine's outputs are encoded and compared, byte for byte, with the outputs
recorded after that event. The first difference is reported with the event that caused it and the
expected and found records.

A log a crash cut short (a torn tail, or a clean cut between an event and its outputs) ends
before some of the last event's outputs were recorded. Those outputs cannot be checked: they are
counted in ``VerifyResult.unverified`` and logged as "not verifiable: the log ends", and are no
divergence. A frame that is not a known record (a newer version's record type) is
``LogCorruptError`` naming its offset and seq, as in every other reader of the log.

A log recorded by other code than the replaying code (``VerifyResult.code_version`` differs from
``mmcore.version.code_version()``) may diverge because the code changed, not because the engine
is not deterministic: ``version_note`` says so, for the verdict to be read for what it is.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import msgspec

from mmcore.config import config_from_dict
from mmcore.engine import Engine
from mmcore.errors import ConfigError, LogCorruptError
from mmcore.log import LogReader, open_log
from mmcore.records import decode, encode, is_output, tag_of, to_json_line
from mmcore.version import code_version
from replay.session import build_engine

__all__ = [
    "Divergence",
    "VerifyResult",
    "engine_from_log",
    "inbound_events",
    "verify_log",
    "version_note",
]

logger = logging.getLogger("replay.verify")


class Divergence(msgspec.Struct, frozen=True):
    """Where a replay first differed from the recording.

    seq: log sequence number of the recorded output that differs (or of the inbound event after
    which the fresh engine emitted something extra); cause_seq: the inbound event that caused it.
    The records are shown as ``mm log cat`` lines: the event with its ``log_seq`` (``cause_seq``),
    the recorded and the replayed output with ``seq``, the place in the log where they differ.
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
    """Counts of a verification run and its first divergence, if any.

    ``unverified``: outputs the replay made for the log's last event that the log ends before
    (a crash cut it); they are counted in ``outputs_replayed`` but could not be checked.
    ``code_version``: the version of the code that recorded the log (its header's).
    """

    inbound: int
    outputs_recorded: int
    outputs_replayed: int
    divergence: Divergence | None
    unverified: int = 0
    code_version: str = ""

    @property
    def ok(self) -> bool:
        """No divergence, and every output recorded or replayed was checked, but those the log
        ends before."""
        return (
            self.divergence is None
            and self.outputs_recorded == self.outputs_replayed - self.unverified
        )


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


def version_note(result: VerifyResult) -> str:
    """One line saying that the log was recorded by other code than this, so a divergence may
    come from the change of code; "" when the code versions are the same."""
    running = code_version()
    if result.code_version == running:
        return ""
    return (
        f"note: the log was recorded by code version {result.code_version or '?'}, this is "
        f"{running}: a divergence may come from the code change, not from nondeterminism"
    )


def inbound_events(path: str | Path) -> Iterator[object]:
    """The recorded inbound events of a log, in order: a replay source."""
    for record in open_log(path, repair=False):
        if not is_output(record):
            yield record


def verify_log(path: str | Path) -> VerifyResult:
    """Replay the log at ``path`` on a fresh engine and compare every output (see the module)."""
    reader = open_log(path, repair=False)
    result = _compare(reader, engine_from_log(reader))
    return msgspec.structs.replace(result, code_version=reader.header.code_version)


def _compare(reader: LogReader, engine: Engine) -> VerifyResult:
    """Feed the log's inbound events to ``engine``; compare its outputs with those recorded."""
    pending: deque[bytes] = deque()
    cause_seq = -1
    cause = b""
    inbound = recorded = replayed = 0
    seq = 0  # after the loop: the log's last seq
    for seq, offset, payload in reader.raw_frames():
        try:
            record = decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise LogCorruptError(
                f"{reader.path}: byte {offset}: expected a known record in frame seq {seq}, "
                f"found {exc}"
            ) from None
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
        # The log ends before these outputs of its last event: a crash cut it, which is no
        # divergence; whatever was recorded matched.
        torn = reader.truncated_bytes
        tail = f" and a torn tail of {torn} bytes" if torn else ""
        logger.warning(
            "%s: %d output(s) replayed for inbound seq %d (%s) not verifiable: the log ends "
            "after seq %d%s",
            reader.path,
            len(pending),
            cause_seq,
            tag_of(decode(cause)),
            seq,
            tail,
        )
    return VerifyResult(inbound, recorded, replayed, None, len(pending))


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
    def show(at: int, raw: bytes) -> str:
        return to_json_line(at, decode(raw)) if raw else "(nothing)"

    divergence = Divergence(
        seq, cause_seq, show(cause_seq, cause), show(seq, expected), show(seq, found)
    )
    return VerifyResult(inbound, recorded, replayed, divergence)
