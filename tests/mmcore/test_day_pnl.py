"""The day-PnL file that carries the loss limits across restarts: round trip, a missing file, a
file from before the hour's highs (or the account) were kept, the files that must stop start-up
(unreadable, another account's, the old default every account shared), and the marks, saved
with the tick and lot sizes they are in, carried into a session whose venue changed either."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.book import Book
from mmcore.day_pnl import (
    DayPnlFile,
    DayPnlFileError,
    SavedDayPnl,
    SavedMark,
    carried_marks,
    default_day_pnl_path,
    saved_marks,
    shared_day_pnl_path,
)
from mmcore.events import MarkPrice, Position, PriorDayPnl
from mmcore.instrument import Instrument
from mmcore.risk import RiskConfig, RiskGate
from mmcore.risk_limits import DAY_NS
from mmcore.state import Ledger
from mmcore.view import View

BTC = "BTC-USD"
NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def test_no_file_yet_means_nothing_to_carry(tmp_path: Path) -> None:
    assert DayPnlFile(tmp_path / "none.json", "extended", "mainnet", "10001").load() is None


@settings(max_examples=50, deadline=None)
@given(day=st.integers(0, 100_000), pnl=st.integers(-10**18, 10**18))
def test_what_is_saved_loads_back_exactly(tmp_path_factory: pytest.TempPathFactory, day: int,
                                          pnl: int) -> None:
    path = tmp_path_factory.mktemp("d") / "sub" / "day.json"  # parent made on save
    store = DayPnlFile(path, "extended", "mainnet", "10001")
    store.save(day, pnl)
    saved = store.load()
    assert saved is not None and (saved.day, saved.pnl) == (day, pnl)
    assert [p.name for p in path.parent.iterdir()] == ["day.json"]  # no temporary file left


@settings(max_examples=50, deadline=None)
@given(highs=st.lists(st.tuples(st.integers(0, 2**63 - 1), st.integers(1, 10**18)), max_size=61))
def test_the_hours_highs_load_back_exactly(tmp_path_factory: pytest.TempPathFactory,
                                           highs: list[tuple[int, int]]) -> None:
    store = DayPnlFile(tmp_path_factory.mktemp("h") / "day.json", "extended", "mainnet", "1")
    store.save(20_429, -5, highs, [SavedMark(BTC, -3, 1_200_001, "0.1", "0.00001")])
    saved = store.load()
    assert saved is not None and saved.hour_highs == highs and saved.pnl == -5
    assert saved.marks == [SavedMark(BTC, -3, 1_200_001, "0.1", "0.00001")]


def test_a_file_saved_before_the_hours_highs_were_kept_loads_with_none(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    path.write_bytes(b'{"venue": "extended", "network": "mainnet", "day": 20429, "pnl": -7}')
    saved = DayPnlFile(path, "extended", "mainnet", "10001").load()
    assert saved is not None and (saved.pnl, saved.hour_highs, saved.marks) == (-7, [], [])


def test_the_file_says_date_and_usd_for_people(tmp_path: Path) -> None:
    store = DayPnlFile(tmp_path / "day.json", "extended", "mainnet", "10001")
    store.save(20_429, -12_500_000_000)
    content = json.loads((tmp_path / "day.json").read_text())
    assert content["date"] == "2025-12-07" and content["pnl_usd"] == -12.5


def test_saving_again_replaces_the_value(tmp_path: Path) -> None:
    store = DayPnlFile(tmp_path / "day.json", "extended", "mainnet", "10001")
    store.save(20_429, -1)
    store.save(20_429, -7)
    assert store.load() == SavedDayPnl(
        venue="extended", network="mainnet", account="10001", day=20_429, pnl=-7,
        date="2025-12-07", pnl_usd=-7e-9,
    )


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"venue": "extended", "network": "mainnet", "day": "x", "pnl": 1}',
     b'{"venue": "extended", "network": "mainnet", "day": 1}',
     b'{"venue": "extended", "network": "mainnet", "day": 1, "pnl": 2, "extra": 3}',
     b'{"venue": "extended", "network": "mainnet", "day": 1, "pnl": 2, '
     b'"marks": [["BTC-USD", 1, 2, "1"]]}',
     b'{"venue": "extended", "network": "mainnet", "day": 1, "pnl": 2, '
     b'"marks": [["BTC-USD", 1, 2, "0", "0.1"]]}',
     b'{"venue": "extended", "network": "mainnet", "day": 1, "pnl": 2, '
     b'"marks": [["BTC-USD", 1, 2, "x", "0.1"]]}',
     b'{"venue": "extended", "network": "mainnet", "day": 1, "pnl": 2, '
     b'"marks": [["BTC-USD", 1, 2, "1", "0.1", "more"]]}'],
)
def test_an_unreadable_file_stops_start_up_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "day.json"
    path.write_bytes(content)
    with pytest.raises(DayPnlFileError, match=r"day\.json: expected the day PnL saved"):
        DayPnlFile(path, "extended", "mainnet", "10001").load()
    assert path.read_bytes() == content  # left for the operator to look at


def test_another_networks_file_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    DayPnlFile(path, "extended", "testnet", "10001").save(1, -5)
    with pytest.raises(DayPnlFileError, match="expected the day PnL of extended/mainnet/10001, "
                                              "found extended/testnet/10001's"):
        DayPnlFile(path, "extended", "mainnet", "10001").load()


def test_another_accounts_file_stops_start_up_naming_both_accounts(tmp_path: Path) -> None:
    """The file saved by account 10002 (losing 260 USD today) would halt account 10001 at
    start-up, or with a gain lift its limit: refused, naming both, and left as it was."""
    path = tmp_path / "day.json"
    DayPnlFile(path, "extended", "mainnet", "10002").save(20_429, -260 * 10**9)
    before = path.read_bytes()
    assert json.loads(before)["account"] == "10002"
    with pytest.raises(DayPnlFileError) as err:
        DayPnlFile(path, "extended", "mainnet", "10001").load()
    message = str(err.value)
    assert str(path) in message
    assert "expected the day PnL of extended/mainnet/10001, found extended/mainnet/10002's" in (
        message
    )
    assert path.read_bytes() == before


def test_a_file_saved_before_the_account_was_recorded_is_this_accounts_and_the_next_save_says_so(
    tmp_path: Path,
) -> None:
    """At the path the session was given (one per account, as the documentation said), an old
    file is this account's: refusing it would leave deleting it, forgetting today's losses."""
    path = tmp_path / "day.json"
    path.write_bytes(b'{"venue": "extended", "network": "mainnet", "day": 20429, "pnl": -7}')
    store = DayPnlFile(path, "extended", "mainnet", "10001")
    saved = store.load()
    assert saved is not None and (saved.account, saved.pnl) == ("", -7)
    store.save(saved.day, saved.pnl)
    assert json.loads(path.read_text())["account"] == "10001"
    with pytest.raises(DayPnlFileError, match="found extended/mainnet/10001's"):
        DayPnlFile(path, "extended", "mainnet", "10002").load()


def test_the_old_shared_default_stops_start_up_until_the_operator_says_whose_it_is(
    tmp_path: Path,
) -> None:
    """Before the default path named the account, every account of a venue and network saved
    to one file: read here it could be another account's PnL; ignored, the losses made before
    the upgrade would be forgotten. It is named, with this account's file to rename it to."""
    own = tmp_path / "day-pnl-extended-mainnet-10001.json"
    shared = tmp_path / "day-pnl-extended-mainnet.json"
    shared.write_bytes(b'{"venue": "extended", "network": "mainnet", "day": 20429, "pnl": -7}')
    store = DayPnlFile(own, "extended", "mainnet", "10001", shared=shared)
    with pytest.raises(DayPnlFileError) as err:
        store.load()
    assert str(shared) in str(err.value) and str(own) in str(err.value)
    assert "rename it" in str(err.value)
    shared.rename(own)  # the operator: it was this account's
    saved = store.load()
    assert saved is not None and saved.pnl == -7


def test_the_old_shared_default_is_not_read_once_the_account_has_its_own_file(
    tmp_path: Path,
) -> None:
    own = tmp_path / "own.json"
    shared = tmp_path / "shared.json"
    shared.write_bytes(b"{}")  # unreadable too: it is not even opened
    store = DayPnlFile(own, "extended", "mainnet", "10001", shared=shared)
    store.save(20_429, -3)
    saved = store.load()
    assert saved is not None and saved.pnl == -3
    assert DayPnlFile(tmp_path / "none.json", "extended", "mainnet", "10001").load() is None


def test_a_file_that_cannot_be_written_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(DayPnlFileError, match="cannot save the day PnL"):
        DayPnlFile(blocker / "day.json", "extended", "mainnet", "10001").save(1, -5)


def test_the_default_path_names_venue_network_and_account_so_two_accounts_never_share_it() -> None:
    env = {"XDG_STATE_HOME": "/var/state"}
    assert default_day_pnl_path("extended", "mainnet", "10001", env) == Path(
        "/var/state/mmengine/day-pnl/extended-mainnet-10001.json"
    )
    assert default_day_pnl_path("extended", "mainnet", "10002") != default_day_pnl_path(
        "extended", "mainnet", "10001"
    )


def test_the_default_path_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart from another directory must find the day's losses: the default is absolute."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    here = default_day_pnl_path("extended", "mainnet", "10001")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert here.is_absolute() and default_day_pnl_path("extended", "mainnet", "10001") == here


def test_the_earlier_default_in_the_working_directory_is_read_until_the_new_one_exists(
    tmp_path: Path,
) -> None:
    """An upgrade keeps the day's losses saved at the old default; saves go to the new one."""
    earlier = tmp_path / "out" / "day-pnl-extended-mainnet-10001.json"
    DayPnlFile(earlier, "extended", "mainnet", "10001").save(20_429, -260 * 10**9)
    own = tmp_path / "state" / "day.json"
    store = DayPnlFile(own, "extended", "mainnet", "10001", earlier=earlier)
    saved = store.load()
    assert saved is not None and saved.pnl == -260 * 10**9
    store.save(20_429, -300 * 10**9)
    loaded = store.load()
    assert own.exists() and loaded is not None and loaded.pnl == -300 * 10**9
    other = DayPnlFile(own.with_name("b.json"), "extended", "mainnet", "10002", earlier=earlier)
    with pytest.raises(DayPnlFileError, match="expected the day PnL of extended/mainnet/10002"):
        other.load()  # the earlier file names its account, checked as always


def test_a_save_is_synced_before_and_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unsynced, a crash right after a save can leave an empty or zero-filled file, which stops
    the next start-up until deleted (forgetting the day's losses)."""
    path = tmp_path / "day.json"
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync file")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        calls.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    DayPnlFile(path, "extended", "mainnet", "10001").save(1, -5)
    assert calls == ["fsync file", "rename", "fsync dir"]
    assert shared_day_pnl_path("extended", "mainnet") == Path("out/day-pnl-extended-mainnet.json")


# ------------------------------------------------------------ marks across a change of spec


def make_btc(tick: str = "1", lot: str = "0.00001") -> Instrument:
    return Instrument(venue="extended", symbol=BTC, tick_size=tick, lot_size=lot)


def test_each_mark_is_saved_with_the_tick_and_lot_size_its_integers_are_in(tmp_path: Path) -> None:
    store = DayPnlFile(tmp_path / "day.json", "extended", "mainnet", "10001")
    store.save(20_429, 0, (), saved_marks([(BTC, 100_000, 120_000)], {BTC: make_btc()}))
    content = json.loads((tmp_path / "day.json").read_text())
    assert content["marks"] == [[BTC, 100_000, 120_000, "1", "0.00001"]]


def test_a_mark_of_a_market_without_a_spec_is_not_saved_and_the_file_is_kept(
    tmp_path: Path,
) -> None:
    store = DayPnlFile(tmp_path / "day.json", "extended", "mainnet", "10001")
    store.save(20_429, -5)
    before = (tmp_path / "day.json").read_bytes()
    with pytest.raises(DayPnlFileError, match="ETH-USD: cannot save its mark: expected the spec"):
        store.save(20_429, -7, (), saved_marks([("ETH-USD", 1, 2)], {BTC: make_btc()}))
    assert (tmp_path / "day.json").read_bytes() == before


def test_a_file_saved_before_the_marks_spec_was_kept_reads_them_in_the_sessions_units(
    tmp_path: Path,
) -> None:
    path = tmp_path / "day.json"
    path.write_bytes(b'{"venue": "extended", "network": "mainnet", "day": 20429, "pnl": -7, '
                     b'"marks": [["BTC-USD", 100000, 120000]]}')
    saved = DayPnlFile(path, "extended", "mainnet", "10001").load()
    assert saved is not None and saved.marks == [SavedMark(BTC, 100_000, 120_000)]
    assert carried_marks(saved.marks, {BTC: make_btc("0.1")}) == (((BTC, 100_000, 120_000),), [])


@pytest.mark.parametrize(
    ("tick", "lot", "expected"),
    [("1", "0.00001", (BTC, 100_000, 120_000)),  # unchanged
     ("1.0", "0.000010", (BTC, 100_000, 120_000)),  # the same spec, written otherwise
     ("0.1", "0.00001", (BTC, 100_000, 1_200_000)),  # a finer tick
     ("1", "0.0001", (BTC, 10_000, 120_000)),  # a coarser lot the position fills exactly
     ("0.5", "0.000001", (BTC, 1_000_000, 240_000))],
)
def test_a_saved_mark_is_carried_as_the_same_position_at_the_same_price_in_the_new_units(
    tick: str, lot: str, expected: tuple[str, int, int]
) -> None:
    saved = [SavedMark(BTC, 100_000, 120_000, "1", "0.00001")]  # 1 BTC at $60,000
    assert carried_marks(saved, {BTC: make_btc(tick, lot)}) == ((expected,), [])


@pytest.mark.parametrize(
    ("saved", "tick", "lot", "why"),
    [(SavedMark(BTC, 100_005, 120_000, "1", "0.00001"), "1", "0.0001",
      r"BTC-USD: expected a position that is a whole number of this session's lots of "
      r"0\.0001, found 1\.00005 \(100005 lots of 0\.00001\)"),
     (SavedMark(BTC, 100_000, 1_200_006, "0.1", "0.00001"), "1", "0.00001",
      r"BTC-USD: expected a mark on this session's half ticks of 1, found 60000\.3 "
      r"\(mark_x2 1200006 in ticks of 0\.1\)")],
)
def test_a_mark_off_the_new_grid_is_dropped_with_its_reason(
    saved: SavedMark, tick: str, lot: str, why: str
) -> None:
    marks, dropped = carried_marks([saved], {BTC: make_btc(tick, lot)})
    assert marks == () and len(dropped) == 1
    assert re.match(why, dropped[0]) and "mark is dropped" in dropped[0]
    assert "not counted (the day's PnL carried still is)" in dropped[0]


def test_the_marks_of_markets_the_session_does_not_trade_are_left_out() -> None:
    saved = [SavedMark("ETH-USD", 3, 6_000, "0.1", "0.001"), SavedMark(BTC, 1, 2, "1", "0.00001")]
    assert carried_marks(saved, {BTC: make_btc()}) == (((BTC, 1, 2),), [])


class _Session:
    """One live session's risk gate and view over ``instrument``, under a $500 daily limit."""

    def __init__(self, instrument: Instrument, now: int) -> None:
        self.instrument = instrument
        instruments = {BTC: instrument}
        self.view = View(instruments, {BTC: Book(BTC)}, Ledger(instruments))
        self.view.now = now
        config = RiskConfig(max_position_usd=10_000_000.0, max_loss_day_usd=500.0)
        self.gate = RiskGate(config, instruments)

    def inherit(self, btc: str, mark_usd: str) -> None:
        """The start-up reconcile reports ``btc`` (no entry price); then the first mark."""
        now = self.view.now
        lots = self.instrument.size_to_lots(btc)
        for ev in (Position(BTC, now, now, lots, 0),
                   MarkPrice(BTC, now + 1, now + 1, self.instrument.price_to_ticks(mark_usd))):
            self.view.now = ev.ts_recv
            self.view.ledger.apply(ev)
            self.gate.on_event(ev, self.view)


def _restart(before: Instrument, after: Instrument, btc: str, mark_before: str,
             mark_after: str, path: Path) -> tuple[int, list[str]]:
    """Session 1 (spec ``before``) ends holding ``btc`` marked at ``mark_before`` and saves the
    file; session 2 (spec ``after``, fresh from the venue) carries it, inherits the same
    position and first values it at ``mark_after``. Returns the PnL session 2 counts on top of
    the carried day's PnL (nanos), and the reasons of the marks left out."""
    store = DayPnlFile(path, "extended", "mainnet", "10001")
    first = _Session(before, T0)
    first.inherit(btc, mark_before)
    carry = first.gate.loss_carry()
    assert carry is not None and carry.marks
    store.save(carry.day, carry.pnl, carry.hour_highs, saved_marks(carry.marks, {BTC: before}))
    saved = store.load()
    assert saved is not None
    second = _Session(after, T0 + 60 * NS)
    marks, dropped = carried_marks(saved.marks, {BTC: after})
    now = second.view.now
    second.gate.on_event(PriorDayPnl(now, now, saved.day, saved.pnl, (), marks), second.view)
    second.inherit(btc, mark_after)
    day_pnl = second.gate.day_pnl()
    assert day_pnl is not None and day_pnl[0] == T0 // DAY_NS
    return day_pnl[1] - saved.pnl, dropped


@pytest.mark.parametrize("btc", ["1", "-1"])
@pytest.mark.parametrize(
    ("tick", "lot"), [("1", "0.00001"), ("0.1", "0.00001"), ("1", "0.0001"), ("0.5", "0.001")]
)
@pytest.mark.parametrize(("mark_after", "move_usd"), [("60000", 0), ("60100", 100)])
def test_a_position_carried_across_a_tick_or_lot_change_counts_only_its_price_move(
    tmp_path: Path, btc: str, tick: str, lot: str, mark_after: str, move_usd: int
) -> None:
    # session 1 on Extended's BTC-USD spec (tick 1, lot 0.00001) left 1 BTC at $60,000
    pnl, dropped = _restart(make_btc(), make_btc(tick, lot), btc, "60000", mark_after,
                            tmp_path / "day.json")
    assert dropped == []
    assert pnl == int(btc) * move_usd * NS  # 1 BTC * $100, or nothing when the price held


def test_a_mark_the_new_spec_cannot_hold_is_dropped_without_inventing_pnl(tmp_path: Path) -> None:
    # session 1 valued 1 BTC at $60,000.30 on a 0.1 tick; session 2's tick is 1
    pnl, dropped = _restart(make_btc("0.1"), make_btc("1"), "1", "60000.3", "60100",
                            tmp_path / "day.json")
    assert len(dropped) == 1 and "60000.3" in dropped[0]
    assert pnl == 0  # the move since the last mark is lost, not guessed


def test_after_a_rollback_and_upgrade_the_file_saved_last_is_read(tmp_path: Path) -> None:
    """Upgraded (saves in the state dir), rolled back the same day (saves to the earlier
    default), upgraded again: the losses the old version saved last must be carried."""
    earlier = tmp_path / "out" / "day-pnl-extended-mainnet-10001.json"
    own = tmp_path / "state" / "day.json"
    store = DayPnlFile(own, "extended", "mainnet", "10001", earlier=earlier)
    store.save(20_000, -100 * 10**9)  # the new version
    DayPnlFile(earlier, "extended", "mainnet", "10001").save(20_000, -900 * 10**9)  # rolled back
    os.utime(own, ns=(1, 1))  # saved before the rollback's file, whatever the clock's grain
    saved = store.load()
    assert saved is not None and saved.pnl == -900 * 10**9
    store.save(20_000, -950 * 10**9)  # the new version again: its file is the last saved now
    loaded = store.load()
    assert loaded is not None and loaded.pnl == -950 * 10**9
