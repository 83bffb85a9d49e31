"""The Hyperliquid importer, on the real capture in shared/data and on synthetic lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmcore.book import APPLIED, Book
from mmcore.events import BUY, SELL, BookSnapshot, Event, Trade
from mmcore.instrument import Instrument
from replay.importers import ImportReport, read_hyperliquid

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CAPTURE = DATA / "hyperliquid-btc-raw" / "btcusd_20250126.gz"


def make_instrument(tick: str = "1", lot: str = "0.00001") -> Instrument:
    """BTC perp: prices are whole dollars at this level (5 significant figures), sizes 5 dp."""
    return Instrument(venue="hyperliquid", symbol="BTC", tick_size=tick, lot_size=lot)


def import_capture(inst: Instrument | None = None) -> tuple[list[Event], ImportReport]:
    report = ImportReport()
    return list(read_hyperliquid(CAPTURE, inst or make_instrument(), report)), report


def make_line(local_ns: int, channel: str, data: Any) -> str:
    return f"{local_ns} {json.dumps({'channel': channel, 'data': data})}\n"


def make_level(px: str, sz: str) -> dict[str, Any]:
    return {"px": px, "sz": sz, "n": 1}


def make_trade(
    side: str, px: str, sz: str, tid: int, coin: str = "BTC", time: int = 1000
) -> dict[str, Any]:
    return {"coin": coin, "side": side, "px": px, "sz": sz, "time": time, "tid": tid}


def test_the_capture_gives_46_snapshots_and_34_live_trades() -> None:
    events, report = import_capture()
    assert sum(1 for e in events if type(e) is BookSnapshot) == 46
    assert sum(1 for e in events if type(e) is Trade) == 34
    summary = report.summary()
    assert summary.lines_read == 55
    # the first trades message (line 3) replays the 30 trades of the ~50 s before the capture
    assert summary.skipped == {"stale_trade": 30}
    assert summary.examples["stale_trade"][0].startswith("btcusd_20250126.gz:3: ")


def test_every_snapshot_applies_uncrossed_with_twenty_levels_a_side() -> None:
    events, _ = import_capture()
    book = Book("BTC")
    snapshots = [e for e in events if isinstance(e, BookSnapshot)]
    for snapshot in snapshots:
        assert book.apply_snapshot(snapshot) == APPLIED
        assert 0 < book.best_bid < book.best_ask
        assert len(snapshot.bids) == len(snapshot.asks) == 40
    assert [s.seq for s in snapshots] == list(range(1, 47))
    first = snapshots[0]
    assert first.bids[:4] == (105055, 303622, 105054, 14280)  # "105055.0" x "3.03622"
    assert first.ts == 1737918843542 * 10**6
    assert first.ts_recv == 1737918843893903000


def test_trades_take_side_price_size_and_id_from_the_message() -> None:
    events, _ = import_capture()
    trades = [e for e in events if isinstance(e, Trade)]
    assert trades[0] == Trade(
        "BTC", 1737918847000 * 10**6, 1737918847319919000, 105056, 2222, BUY, "917211710228416"
    )
    assert {t.side for t in trades} == {BUY, SELL}


def test_no_imported_trade_happened_before_the_first_book_snapshot() -> None:
    # a backtest must not fill our quotes against trades that were over before we saw a book
    events, _ = import_capture()
    first_book = next(e for e in events if isinstance(e, BookSnapshot))
    trades = [e for e in events if isinstance(e, Trade)]
    assert trades and all(t.ts >= first_book.ts for t in trades)
    assert all(0 < t.ts_recv - t.ts < 10**9 for t in trades)  # live: received within a second


def test_trades_older_than_the_first_book_or_before_any_book_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "hl.txt"
    book = {"coin": "BTC", "levels": [[make_level("99", "1")], [make_level("101", "1")]],
            "time": 5000}
    path.write_text(
        make_line(10, "trades", [make_trade("B", "100", "1", 1, time=4000)])
        + make_line(20, "l2Book", book)
        + make_line(30, "trades", [make_trade("A", "100", "1", 2, time=1000),
                                   make_trade("B", "100", "1", 3, time=4999),
                                   make_trade("B", "100", "1", 4, time=5000)])
        + make_line(40, "trades", [make_trade("A", "100", "1", 5, time=6000)])
    )
    report = ImportReport()
    events = list(read_hyperliquid(path, make_instrument(), report))
    assert [e.trade_id for e in events if isinstance(e, Trade)] == ["4", "5"]
    assert report.skipped == {"before_book": 1, "stale_trade": 2}
    assert report.summary().examples["before_book"][0].startswith("hl.txt:1: ")
    assert report.summary().examples["stale_trade"][0].startswith("hl.txt:3: ")


def test_a_reconnect_mid_capture_replays_history_that_is_skipped(tmp_path: Path) -> None:
    """A socket that reconnected gets the recent trades again, without a marker: the ones
    imported already are duplicates, the older ones stale; live trades received a little after
    a book that is newer than they are still count."""

    def book(ms: int) -> dict[str, Any]:
        return {"coin": "BTC", "levels": [[make_level("99", "1")], [make_level("101", "1")]],
                "time": ms}

    path = tmp_path / "hl.txt"
    path.write_text(
        make_line(10, "l2Book", book(10_000))
        + make_line(20, "trades", [make_trade("B", "100", "1", 1, time=10_200)])
        + make_line(30, "l2Book", book(10_500))
        + make_line(40, "trades", [make_trade("A", "100", "1", 2, time=10_400)])  # live, late
        + make_line(50, "l2Book", book(20_000))  # the socket came back ~10 s later
        + make_line(60, "trades", [make_trade("B", "100", "1", 1, time=10_200),
                                   make_trade("A", "100", "1", 2, time=10_400),
                                   make_trade("A", "100", "1", 3, time=15_000),  # in the outage
                                   make_trade("B", "100", "1", 4, time=19_500)])  # live
        + make_line(70, "trades", [make_trade("B", "100", "1", 5, time=20_100)])
    )
    report = ImportReport()
    events = list(read_hyperliquid(path, make_instrument(), report))
    assert [e.trade_id for e in events if isinstance(e, Trade)] == ["1", "2", "4", "5"]
    assert report.skipped == {"duplicate_trade": 2, "stale_trade": 1}
    assert "replayed after a reconnect" in report.summary().examples["stale_trade"][0]


def test_a_coarser_tick_than_the_data_counts_off_grid_messages() -> None:
    events, report = import_capture(make_instrument(tick="10"))
    assert report.skipped["off_grid"] > 0
    assert "expected a multiple of tick_size=10" in report.summary().examples["off_grid"][0]
    # only the 21 trades at 105050.0 lie on a 10-dollar grid; every snapshot has a level off it
    assert [e.price for e in events if isinstance(e, Trade)] == [10505] * 21
    assert not any(isinstance(e, BookSnapshot) for e in events)


def test_other_coins_unknown_channels_and_sides_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "hl.txt"
    book = {"coin": "ETH", "levels": [[make_level("1.0", "1")], []], "time": 1}
    btc_book = {"coin": "BTC", "levels": [[make_level("99", "1")], []], "time": 1}
    trades = [make_trade("B", "100", "0.5", 1), make_trade("X", "100", "1", 2),
              make_trade("A", "99", "1", 3, coin="ETH")]
    path.write_text(
        make_line(4, "l2Book", btc_book)
        + make_line(5, "l2Book", book)
        + make_line(6, "subscriptionResponse", {})
        + make_line(7, "trades", trades)
    )
    report = ImportReport()
    events = list(read_hyperliquid(path, make_instrument(lot="0.1"), report))
    assert events[1:] == [Trade("BTC", 1000 * 10**6, 7, 100, 5, BUY, "1")]
    assert report.skipped == {"other_symbol": 2, "unknown_channel": 1, "unknown_side": 1}


@pytest.mark.parametrize("payload", ["{not json", '{"channel": "l2Book", "data": {"coin": 1}}'])
def test_malformed_messages_are_counted(tmp_path: Path, payload: str) -> None:
    path = tmp_path / "hl.txt"
    path.write_text(f"5 {payload}\n")
    report = ImportReport()
    assert list(read_hyperliquid(path, make_instrument(), report)) == []
    assert report.skipped == {"malformed": 1}
