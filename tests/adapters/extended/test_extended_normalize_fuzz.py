"""Bad input from the venue: any one field of a real-format message (tests/fixtures/extended)
replaced by a wrong value, or dropped, either still parses to events or raises
``MalformedMessageError`` (which the adapter logs and drops, resyncing a book). No other exception
may escape: the adapter would then drop a book delta without resyncing, leaving the book wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.extended.normalize import MalformedMessageError, Normalizer
from adapters.extended.tracker import OrderTracker
from mmcore.commands import Place
from mmcore.events import BUY, Event
from mmcore.instrument import Instrument

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "extended"
RECV = 1_737_900_001_000_000_000


def make_btc() -> Instrument:
    return Instrument(venue="extended", symbol="BTC-USD", tick_size="1", lot_size="0.00001",
                      min_size="0.0001", maker_fee="0.0002", taker_fee="0.00025")


def public(kind: str) -> Callable[[bytes], list[Event]]:
    def parse(raw: bytes) -> list[Event]:
        norm = Normalizer({"BTC-USD": make_btc()})
        if kind == "book":
            return [norm.book_event(norm.decode_book(raw), RECV)]
        if kind == "trades":
            return list(norm.trades(raw, RECV))
        if kind == "funding":
            return list(norm.funding(raw, RECV))
        return list(norm.mark(raw, RECV))

    return parse


def funding_history(raw: bytes) -> list[Event]:
    """What ``adapters.extended.funding`` does with a ``/user/funding/history`` answer."""
    norm = Normalizer({"BTC-USD": make_btc()})
    out: list[Event] = []
    for w in norm.decode_funding_history(raw):
        ev = norm.funding_payment(w, RECV)
        if ev is not None:
            out.append(ev)
    return out


def account(raw: bytes) -> list[Event]:
    """What ``ExtendedAdapter._on_account`` does with a message, on an order we placed."""
    inst = make_btc()
    norm = Normalizer({"BTC-USD": inst})
    tracker = OrderTracker({"BTC-USD": inst})
    tracker.placing(Place("BTC-USD", 0, "mm-7", BUY, 84000, 100))
    msg = norm.decode_account(raw)
    d = msg.data
    out: list[Event] = []
    for o in d.orders or ():
        out += tracker.on_order(o, RECV)
    for t in d.trades or ():
        out += tracker.on_trade(t, RECV)
    for p in d.positions or ():
        ev = norm.position(p, RECV)
        if ev is not None:
            out.append(ev)
    if d.balance is not None:
        out.append(norm.balance(d.balance, RECV))
    return out


CASES: dict[str, Callable[[bytes], list[Event]]] = {
    "book_snapshot": public("book"),
    "book_delta": public("book"),
    "trades": public("trades"),
    "funding": public("funding"),
    "mark_price": public("mark"),
    "account_order": account,
    "account_trade": account,
    "account_position": account,
    "account_balance": account,
    "funding_history": funding_history,
}


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in a decoded JSON document."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "NaN", "Infinity", "-1", "0", "1e999", "-0.00001", "84000.5", "abc",
                     "1" * 400, "0x10", " 1", "BUY", "SELL", "NEW", "FILLED", "CLOSED"]),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
    st.just([{"p": "1", "q": "1", "c": "1"}]),
)


@settings(max_examples=400, deadline=None)
@given(case=st.sampled_from(sorted(CASES)), pick=st.integers(min_value=0), value=BAD_VALUES,
       drop=st.booleans())
def test_a_wrong_or_missing_field_parses_or_is_malformed_never_anything_else(
    case: str, pick: int, value: Any, drop: bool
) -> None:
    doc = json.loads((FIXTURES / f"{case}.json").read_bytes())
    where = paths(doc)
    path = where[pick % len(where)]
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if drop and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    raw = json.dumps(doc).encode()
    try:
        events = CASES[case](raw)
    except MalformedMessageError:
        return
    assert all(isinstance(e, Event.__args__) for e in events)  # type: ignore[attr-defined]
