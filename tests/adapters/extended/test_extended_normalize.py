"""Real-format Extended stream messages (tests/fixtures/extended) become the right events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from x10.models.account import AccountStreamDataModel
from x10.models.funding_rate import FundingRateModel
from x10.models.http import WrappedStreamResponseModel
from x10.models.orderbook import OrderbookUpdateModel
from x10.models.position import PositionModel
from x10.models.trade import PublicTradeModel

from adapters.extended.normalize import MalformedMessageError, Normalizer
from adapters.extended.reconcile import wire_position
from adapters.extended.tracker import OrderTracker
from adapters.extended.wire import WirePosition
from mmcore.commands import Place
from mmcore.events import (
    BUY,
    SELL,
    Balance,
    BookDelta,
    BookSnapshot,
    Fill,
    FundingPayment,
    FundingRate,
    MarkPrice,
    OrderAccepted,
    Position,
    Trade,
)
from mmcore.instrument import Instrument

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "extended"
RECV = 1_737_900_001_000_000_000
MS = 1_000_000


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def make_btc() -> Instrument:
    return Instrument(
        venue="extended",
        symbol="BTC-USD",
        tick_size="1",
        lot_size="0.00001",
        min_size="0.0001",
        maker_fee="0.0002",
        taker_fee="0.00025",
    )


def make_normalizer() -> Normalizer:
    return Normalizer({"BTC-USD": make_btc()})


def make_tracker_with(client_id: str, side: int = BUY, size: int = 100) -> OrderTracker:
    tracker = OrderTracker({"BTC-USD": make_btc()})
    tracker.placing(Place("BTC-USD", 0, client_id, side, 84000, size))
    return tracker


def test_the_fixtures_are_shapes_the_sdk_itself_parses() -> None:
    WrappedStreamResponseModel[OrderbookUpdateModel].model_validate_json(fixture("book_snapshot"))
    WrappedStreamResponseModel[OrderbookUpdateModel].model_validate_json(fixture("book_delta"))
    WrappedStreamResponseModel[list[PublicTradeModel]].model_validate_json(fixture("trades"))
    WrappedStreamResponseModel[FundingRateModel].model_validate_json(fixture("funding"))
    for name in ("account_order", "account_trade", "account_position", "account_balance"):
        WrappedStreamResponseModel[AccountStreamDataModel].model_validate_json(fixture(name))


def test_a_book_snapshot_becomes_integer_ticks_and_lots_with_non_canonical_prices() -> None:
    norm = make_normalizer()
    ev = norm.book_event(norm.decode_book(fixture("book_snapshot")), RECV)
    assert ev == BookSnapshot(
        "BTC-USD",
        1737900000123 * MS,
        RECV,
        1,
        (84050, 12345, 84049, 150000),
        (84052, 50000, 84053, 200000),
    )


def test_a_book_delta_uses_the_absolute_size_c_and_zero_deletes() -> None:
    norm = make_normalizer()
    ev = norm.book_event(norm.decode_book(fixture("book_delta")), RECV)
    assert ev == BookDelta(
        "BTC-USD", 1737900000223 * MS, RECV, 2, -1, (84050, 10000), (84052, 0, 84054, 20000)
    )


def test_a_delta_level_without_c_is_malformed() -> None:
    norm = make_normalizer()
    raw = b'{"type":"DELTA","data":{"m":"BTC-USD","b":[{"p":"1","q":"1"}],"a":[]},"ts":1,"seq":2}'
    with pytest.raises(MalformedMessageError, match="'c'"):
        norm.book_event(norm.decode_book(raw), RECV)


def test_public_trades_keep_big_integer_ids_exactly_and_the_aggressor_side() -> None:
    trades = make_normalizer().trades(fixture("trades"), RECV)
    assert trades == [
        Trade("BTC-USD", 1737900000300 * MS, RECV, 84052, 1000, BUY, "1844674407370955161"),
        Trade("BTC-USD", 1737900000301 * MS, RECV, 84049, 500, SELL, "1844674407370955162"),
    ]


def test_a_funding_message_becomes_a_rate_in_parts_per_billion() -> None:
    assert make_normalizer().funding(fixture("funding"), RECV) == [
        FundingRate("BTC-USD", 1737900000000 * MS, RECV, 13_000)
    ]


@pytest.mark.parametrize("rate", ["Infinity", "-Infinity", "NaN", "sNaN", "1e999999", "abc"])
def test_a_funding_rate_that_is_no_number_is_a_malformed_message(rate: str) -> None:
    raw = fixture("funding")
    text = (raw.decode() if isinstance(raw, bytes) else raw).replace('"0.000013"', f'"{rate}"')
    assert f'"{rate}"' in text
    with pytest.raises(MalformedMessageError, match="funding"):
        make_normalizer().funding(text, RECV)


def test_a_mark_price_is_rounded_to_the_nearest_tick() -> None:
    assert make_normalizer().mark(fixture("mark_price"), RECV) == [
        MarkPrice("BTC-USD", 1737900000400 * MS, RECV, 84052)
    ]


def test_an_order_update_for_our_order_becomes_order_accepted_once() -> None:
    norm = make_normalizer()
    tracker = make_tracker_with("mm-7")
    msg = norm.decode_account(fixture("account_order"))
    assert msg.data.orders is not None
    first = tracker.on_order(msg.data.orders[0], RECV)
    again = tracker.on_order(msg.data.orders[0], RECV)
    assert first == [
        OrderAccepted("BTC-USD", 1737900000500 * MS, RECV, "mm-7", "2101234567890123457")
    ]
    assert again == []


def test_an_account_trade_becomes_a_fill_with_fee_in_nanos_and_the_maker_flag() -> None:
    norm = make_normalizer()
    tracker = make_tracker_with("mm-7")
    msg = norm.decode_account(fixture("account_trade"))
    assert msg.data.trades is not None
    fills = tracker.on_trade(msg.data.trades[0], RECV)
    assert fills == [
        Fill(
            "BTC-USD",
            1737900000600 * MS,
            RECV,
            "mm-7",
            BUY,
            84000,
            100,
            16_800_000,
            True,
            "2101234567890123999",
        )
    ]
    assert tracker.on_trade(msg.data.trades[0], RECV) == []  # the same trade id twice


def test_a_short_position_becomes_negative_lots() -> None:
    norm = make_normalizer()
    msg = norm.decode_account(fixture("account_position"))
    assert msg.data.positions is not None
    assert norm.position(msg.data.positions[0], RECV) == Position(
        "BTC-USD", 1737900000700 * MS, RECV, -200, entry_x2=2 * 84050
    )


def make_wire_position(open_price: str | None, status: str = "OPENED") -> WirePosition:
    return WirePosition("BTC-USD", "LONG", "0.002", status, 1737900000700, open_price)


@pytest.mark.parametrize(
    ("open_price", "entry_x2"),
    [
        ("84050", 168100),
        ("84050.5", 168101),  # a half tick is exact
        ("84050.3", 168101),  # an average entry is off the grid: the nearest half tick
        ("84050.2", 168100),
        ("84050.25", 168100),  # half-even between two half ticks
        ("84050.75", 168102),
        ("84050.333333333333333333333", 168101),
        (None, 0),  # not sent: unknown
        ("", 0),  # unreadable: unknown, and the size still counts
        ("abc", 0),
        ("NaN", 0),
        ("0", 0),
        ("-5", 0),
    ],
)
def test_a_positions_entry_price_becomes_twice_its_ticks_to_the_nearest_half_tick(
    open_price: str | None, entry_x2: int
) -> None:
    ev = make_normalizer().position(make_wire_position(open_price), RECV)
    assert ev == Position("BTC-USD", 1737900000700 * MS, RECV, 200, entry_x2)


def test_a_closed_position_has_no_entry_price() -> None:
    ev = make_normalizer().position(make_wire_position("84050", "CLOSED"), RECV)
    assert ev is not None and (ev.size, ev.entry_x2) == (0, 0)


def test_a_rest_position_keeps_its_open_price_on_the_way_to_the_event() -> None:
    model = PositionModel.model_validate_json(
        json.dumps(json.loads(fixture("account_position"))["data"]["positions"][0])
    )
    ev = make_normalizer().position(wire_position(model), RECV)
    assert ev == Position("BTC-USD", 1737900000700 * MS, RECV, -200, entry_x2=168100)


def test_a_balance_becomes_equity_and_available_in_nanos() -> None:
    norm = make_normalizer()
    msg = norm.decode_account(fixture("account_balance"))
    assert msg.data.balance is not None
    assert norm.balance(msg.data.balance, RECV) == Balance(
        1737900000800 * MS, RECV, "USD", 1_000_500_000_000, 900_250_000_000
    )


def test_broken_json_and_unknown_markets_raise_malformed_message() -> None:
    norm = make_normalizer()
    with pytest.raises(MalformedMessageError):
        norm.trades(b'{"data":[{"i":1', RECV)
    with pytest.raises(MalformedMessageError, match="ETH-USD"):
        norm.mark(b'{"data":{"m":"ETH-USD","p":"1"},"ts":1,"seq":1}', RECV)
    with pytest.raises(MalformedMessageError, match="side"):
        norm.trades(
            b'{"data":[{"i":1,"m":"BTC-USD","S":"UP","T":1,"p":"1","q":"0.001"}],"ts":1,"seq":1}',
            RECV,
        )


def test_a_funding_history_answer_becomes_a_payment_per_record_in_nanos_at_its_paid_time() -> None:
    """``GET /user/funding/history`` (extended.md §4): ``fundingFee`` in USD becomes nanos,
    signed by side and rate (a short receives a positive rate and pays a negative one),
    ``paidTime`` the event's ``ts``; big integer ids stay exact."""
    norm = make_normalizer()
    records = norm.decode_funding_history(fixture("funding_history"))
    assert [(r.id, r.paid_time) for r in records] == [
        (1990000000000008342, 1737903600000),
        (1990000000000008341, 1737900000000),
    ]
    assert [norm.funding_payment(r, RECV) for r in records] == [
        FundingPayment("BTC-USD", 1737903600000 * MS, RECV, 1_681_000),
        FundingPayment("BTC-USD", 1737900000000 * MS, RECV, -840_000),
    ]


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("side", ["LONG", "SHORT"])
def test_a_funding_payments_direction_comes_from_side_and_rate_not_the_fees_sign(
    side: str, flip: bool
) -> None:
    """Whichever sign convention the venue's ``fundingFee`` follows (the notes do not say), a
    positive rate makes a long pay and a short receive, and a negative rate the reverse."""
    norm = make_normalizer()
    text = fixture("funding_history").decode().replace('"SHORT"', f'"{side}"')
    if flip:
        text = text.replace('"0.001681"', '"-0.001681"').replace('"-0.000840"', '"0.000840"')
    amounts = [norm.funding_payment(r, RECV).amount  # type: ignore[union-attr]
               for r in norm.decode_funding_history(text)]
    # the first record's rate is +0.00001, the second's -0.000005
    assert amounts == ([-1_681_000, 840_000] if side == "LONG" else [1_681_000, -840_000])


def test_a_funding_payment_of_another_market_is_none_and_a_bad_fee_is_malformed() -> None:
    norm = make_normalizer()
    text = fixture("funding_history").decode()
    other = norm.decode_funding_history(text.replace('"BTC-USD"', '"ETH-USD"'))
    assert [norm.funding_payment(r, RECV) for r in other] == [None, None]
    bad = norm.decode_funding_history(text.replace('"0.001681"', '"NaN"'))
    with pytest.raises(MalformedMessageError, match="fundingFee"):
        norm.funding_payment(bad[0], RECV)
    for field, value in (('"0.00001"', '"NaN"'), ('"0.00001"', '"x"'), ('"SHORT"', '"FLAT"')):
        bad = norm.decode_funding_history(text.replace(field, value, 1))
        with pytest.raises(MalformedMessageError, match=r"fundingRate|side"):
            norm.funding_payment(bad[0], RECV)
    with pytest.raises(MalformedMessageError, match="status"):
        norm.decode_funding_history(b'{"status":"ERROR","error":{"code":1133,"message":"x"}}')


def test_a_venue_time_in_microseconds_gives_way_to_the_receive_time_and_the_fill_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A time 1,000 times too big made a number no log record can hold: the session stopped
    at its next write, and again after every restart while the venue kept sending it."""
    from mmcore.log import LogHeader, LogWriter, open_log
    from mmcore.log_format import FORMAT_VERSION

    norm = make_normalizer()
    trades = fixture("trades").decode().replace('"T":1737900000300', '"T":1737900000300000', 1)
    events = norm.trades(trades, RECV)
    assert [e.ts for e in events] == [RECV, 1737900000301 * MS]
    raw = fixture("account_trade").decode().replace("1737900000600", "1737900000600000", 1)
    msg = norm.decode_account(raw)
    assert msg.data.trades is not None
    fills = make_tracker_with("mm-7").on_trade(msg.data.trades[0], RECV)
    assert [(f.ts, f.size) for f in fills] == [(RECV, 100)]  # the fill itself is kept
    assert "expected a time in epoch milliseconds" in caplog.text
    path = tmp_path / "t.mmlog"
    header = LogHeader(format_version=FORMAT_VERSION, code_version="t", instruments=[],
                       config={})
    with LogWriter(path, header) as log:
        for ev in [*events, *fills]:
            log.append(ev)
    assert list(open_log(path)) == [*events, *fills]
