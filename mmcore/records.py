"""What the event log holds: every inbound event and every output of the engine.

A ``Record`` is one msgspec struct from ``mmcore.events`` or ``mmcore.commands``. They share the
tag field ``"t"`` and every tag is distinct, so one msgpack decoder for the whole union reads any
frame. *Outputs* are what the engine emitted (commands, risk and strategy decisions); everything
else was fed into it. The replay verifier compares outputs; the replay runner feeds the rest.
"""

from __future__ import annotations

import typing
from typing import Any, Union

import msgspec

from mmcore.commands import Command
from mmcore.events import Event, RiskEvent, StrategyEvent

__all__ = [
    "OUTPUT_TYPES",
    "RECORD_TYPES",
    "TAGS",
    "Record",
    "decode",
    "decoder",
    "encode",
    "encoder",
    "is_output",
    "tag_of",
    "to_json_line",
]

Record = Union[Event, Command]
"""Everything a log holds: inbound events and the engine's commands (flattened union)."""

RECORD_TYPES: tuple[type[msgspec.Struct], ...] = typing.get_args(Record)
"""Every record class, in the order of ``Record``."""

OUTPUT_TYPES: frozenset[type] = frozenset((*typing.get_args(Command), RiskEvent, StrategyEvent))
"""Record classes the engine emits; every other record is an input to the engine."""

TAGS: dict[type, str] = {cls: str(cls.__struct_config__.tag) for cls in RECORD_TYPES}
"""The stable tag written into each frame, by record class."""

encoder = msgspec.msgpack.Encoder()
decoder: msgspec.msgpack.Decoder[Record] = msgspec.msgpack.Decoder(Record)
_json_encoder = msgspec.json.Encoder()


def is_output(record: Record) -> bool:
    """True when the engine emitted ``record``; False when it was fed to the engine."""
    return type(record) in OUTPUT_TYPES


def tag_of(record: Record) -> str:
    """The record's stable type tag (``"BookDelta"``, ``"Place"``...)."""
    return TAGS[type(record)]


def encode(record: Record) -> bytes:
    """The msgpack payload of one frame."""
    return encoder.encode(record)


def decode(payload: bytes | bytearray | memoryview) -> Record:
    """The record in one frame's msgpack payload; raises msgspec errors on a bad payload."""
    return decoder.decode(payload)


def to_json_line(seq: int, record: Record) -> str:
    """One JSON object for ``mm log cat``: ``log_seq``, ``type`` (the tag), then the fields.

    The log's own sequence number is ``log_seq``, not ``seq``, because book events already have a
    ``seq`` field (the venue's sequence number) and both must be visible.
    """
    row: dict[str, Any] = {"log_seq": seq, "type": TAGS[type(record)]}
    row.update(msgspec.structs.asdict(record))
    return _json_encoder.encode(row).decode()
