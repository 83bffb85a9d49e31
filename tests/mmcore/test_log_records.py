"""``mmcore.records``: the union the log holds, outputs vs inputs, and JSON lines."""

from __future__ import annotations

import json
import typing

import msgspec
import pytest

from mmcore import commands, events
from mmcore.commands import Cancel, CancelAll, Place, Resync
from mmcore.events import BUY, BookSnapshot, Position, RiskEvent, StrategyEvent, Timer
from mmcore.records import (
    OUTPUT_TYPES,
    RECORD_TYPES,
    TAGS,
    Record,
    decode,
    encode,
    is_output,
    tag_of,
    to_json_line,
)


def make_snapshot() -> BookSnapshot:
    return BookSnapshot("ETH-USD", 1, 2, 40, (3000_00, 5, 2999_00, 1), (3001_00, 2))


def make_place() -> Place:
    return Place("ETH-USD", 2, "q-1", BUY, 2999_00, 4, post_only=False, tif="IOC")


def test_records_are_every_event_and_every_command() -> None:
    expected = set(typing.get_args(events.Event)) | set(typing.get_args(commands.Command))
    assert set(RECORD_TYPES) == expected
    assert set(typing.get_args(Record)) == expected


def test_every_record_type_has_its_own_tag() -> None:
    assert len(set(TAGS.values())) == len(RECORD_TYPES)
    assert tag_of(make_snapshot()) == "BookSnapshot"


def test_outputs_are_commands_and_risk_and_strategy_decisions() -> None:
    assert frozenset({Place, Cancel, CancelAll, Resync, RiskEvent, StrategyEvent}) == OUTPUT_TYPES
    assert is_output(make_place())
    assert is_output(RiskEvent(1, 1, "ETH-USD", "HALT", "drawdown"))
    assert not is_output(make_snapshot())
    assert not is_output(Timer(5, 5))


@pytest.mark.parametrize("record", [make_snapshot(), make_place(), Timer(1, 2, "quote")])
def test_encode_then_decode_gives_back_an_equal_record_of_the_same_type(record: Record) -> None:
    back = decode(encode(record))
    assert back == record and type(back) is type(record)


def test_a_json_line_names_log_seq_type_and_every_field() -> None:
    row = json.loads(to_json_line(12, make_snapshot()))
    assert row == {
        "log_seq": 12, "type": "BookSnapshot", "inst": "ETH-USD", "ts": 1, "ts_recv": 2,
        "seq": 40, "bids": [300000, 5, 299900, 1], "asks": [300100, 2],
    }
    assert "\n" not in to_json_line(1, make_place())
    assert json.loads(to_json_line(3, make_place()))["tif"] == "IOC"


class _PositionBeforeEntryPrice(
    msgspec.Struct, frozen=True, array_like=True, tag_field="t", tag="Position"
):
    """``Position`` as logs wrote it before ``entry_x2`` was appended."""

    inst: str
    ts: int
    ts_recv: int
    size: int


def test_a_position_of_an_old_log_decodes_with_its_entry_price_unknown() -> None:
    old = msgspec.msgpack.encode(_PositionBeforeEntryPrice("ETH-USD", 1, 2, -7))
    assert decode(old) == Position("ETH-USD", 1, 2, -7, 0)
    new = Position("ETH-USD", 1, 2, -7, entry_x2=6001)
    assert decode(encode(new)) == new
