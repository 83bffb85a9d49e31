"""The day-PnL file that carries the loss limits across restarts: round trip, a missing file, a
file from before the hour's highs were kept, and the files that must stop start-up (unreadable,
another account's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.day_pnl import DayPnlFile, DayPnlFileError, SavedDayPnl, default_day_pnl_path


def test_no_file_yet_means_nothing_to_carry(tmp_path: Path) -> None:
    assert DayPnlFile(tmp_path / "none.json", "extended", "mainnet").load() is None


@settings(max_examples=50, deadline=None)
@given(day=st.integers(0, 100_000), pnl=st.integers(-10**18, 10**18))
def test_what_is_saved_loads_back_exactly(tmp_path_factory: pytest.TempPathFactory, day: int,
                                          pnl: int) -> None:
    path = tmp_path_factory.mktemp("d") / "sub" / "day.json"  # parent made on save
    store = DayPnlFile(path, "extended", "mainnet")
    store.save(day, pnl)
    saved = store.load()
    assert saved is not None and (saved.day, saved.pnl) == (day, pnl)
    assert [p.name for p in path.parent.iterdir()] == ["day.json"]  # no temporary file left


@settings(max_examples=50, deadline=None)
@given(highs=st.lists(st.tuples(st.integers(0, 2**63 - 1), st.integers(1, 10**18)), max_size=61))
def test_the_hours_highs_load_back_exactly(tmp_path_factory: pytest.TempPathFactory,
                                           highs: list[tuple[int, int]]) -> None:
    store = DayPnlFile(tmp_path_factory.mktemp("h") / "day.json", "extended", "mainnet")
    store.save(20_429, -5, highs, [("BTC-USD", -3, 1_200_001)])
    saved = store.load()
    assert saved is not None and saved.hour_highs == highs and saved.pnl == -5
    assert saved.marks == [("BTC-USD", -3, 1_200_001)]


def test_a_file_saved_before_the_hours_highs_were_kept_loads_with_none(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    path.write_bytes(b'{"venue": "extended", "network": "mainnet", "day": 20429, "pnl": -7}')
    saved = DayPnlFile(path, "extended", "mainnet").load()
    assert saved is not None and (saved.pnl, saved.hour_highs, saved.marks) == (-7, [], [])


def test_the_file_says_date_and_usd_for_people(tmp_path: Path) -> None:
    store = DayPnlFile(tmp_path / "day.json", "extended", "mainnet")
    store.save(20_429, -12_500_000_000)
    content = json.loads((tmp_path / "day.json").read_text())
    assert content["date"] == "2025-12-07" and content["pnl_usd"] == -12.5


def test_saving_again_replaces_the_value(tmp_path: Path) -> None:
    store = DayPnlFile(tmp_path / "day.json", "extended", "mainnet")
    store.save(20_429, -1)
    store.save(20_429, -7)
    assert store.load() == SavedDayPnl(
        venue="extended", network="mainnet", day=20_429, pnl=-7, date="2025-12-07",
        pnl_usd=-7e-9,
    )


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"venue": "extended", "network": "mainnet", "day": "x", "pnl": 1}',
     b'{"venue": "extended", "network": "mainnet", "day": 1}',
     b'{"venue": "extended", "network": "mainnet", "day": 1, "pnl": 2, "extra": 3}'],
)
def test_an_unreadable_file_stops_start_up_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "day.json"
    path.write_bytes(content)
    with pytest.raises(DayPnlFileError, match=r"day\.json: expected the day PnL saved"):
        DayPnlFile(path, "extended", "mainnet").load()
    assert path.read_bytes() == content  # left for the operator to look at


def test_another_accounts_file_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    DayPnlFile(path, "extended", "testnet").save(1, -5)
    with pytest.raises(DayPnlFileError, match="expected the day PnL of extended/mainnet, found "
                                              "extended/testnet"):
        DayPnlFile(path, "extended", "mainnet").load()


def test_a_file_that_cannot_be_written_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(DayPnlFileError, match="cannot save the day PnL"):
        DayPnlFile(blocker / "day.json", "extended", "mainnet").save(1, -5)


def test_the_default_path_names_venue_and_network() -> None:
    assert default_day_pnl_path("extended", "mainnet") == Path("out/day-pnl-extended-mainnet.json")
