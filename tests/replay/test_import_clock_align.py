"""Aligning the recorder's receive clock on import: on the real Binance capture, whose recorder
ran about 1.27 s behind the exchange, and on input whose feed latencies are already positive."""

from __future__ import annotations

import argparse
import gzip
import io
import itertools
from contextlib import redirect_stdout
from pathlib import Path
from typing import NamedTuple

import msgspec
import pytest

from mmcore.commands import Place
from mmcore.events import BUY, Event, OrderAccepted, Trade
from mmcore.instrument import Instrument
from mmcore.log import open_log
from replay.backtest import run_backtest
from replay.cli_import import register
from replay.importers import ImportFormatError, ImportReport, import_to_log, read_binance
from replay.session import load_session

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
BINANCE = DATA / "binance-usdm-btcusdt-raw" / "btcusdt_20240808.gz"
HYPERLIQUID = DATA / "hyperliquid-btc-raw" / "btcusd_20250126.gz"
CONFIG = ROOT / "configs" / "backtest.toml"
FLOOR_NS = 1_000_000  # the default floor, --min-feed-latency-ms 1
MS = 1_000_000


class Imported(NamedTuple):
    source: Path
    log: Path
    printed: str


def make_instrument() -> Instrument:
    return Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.1", lot_size="0.001",
                      min_size="0.001")


def make_trade(ts: int, ts_recv: int, trade_id: str = "t") -> Trade:
    return Trade("BTCUSDT", ts, ts_recv, 1000, 1, BUY, trade_id)


def make_binance_slice(path: Path, lines: int) -> Path:
    with gzip.open(BINANCE, "rb") as src, gzip.open(path, "wb") as dst:
        dst.writelines(itertools.islice(src, lines))
    return path


def mm_import(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="mm")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["import", *argv])
    printed = io.StringIO()
    with redirect_stdout(printed):
        code: int = args.func(args)
    return code, printed.getvalue()


def import_binance(source: Path, out: Path, *options: str) -> str:
    code, printed = mm_import("binance", str(source), "--out", str(out), "--tick", "0.1",
                              "--lot", "0.001", "--min-size", "0.001", *options)
    assert code == 0
    return printed


def feed_latencies(events: list[Event]) -> list[int]:
    return [e.ts_recv - e.ts for e in events if e.ts]


@pytest.fixture(scope="module")
def aligned(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    """The first 30,000 lines of the real Binance capture, imported by ``mm import binance``."""
    tmp = tmp_path_factory.mktemp("aligned")
    source = make_binance_slice(tmp / "slice.gz", 30_000)
    out = tmp / "btcusdt.mmlog"
    return Imported(source, out, import_binance(source, out))


# ---------------------------------------------------------------- the real capture


def test_every_event_of_the_capture_is_received_at_least_the_floor_after_its_exchange_time(
    aligned: Imported,
) -> None:
    latencies = feed_latencies(list(open_log(aligned.log)))
    assert len(latencies) > 5_000
    assert min(latencies) == FLOOR_NS


def test_the_shift_moves_every_receive_time_by_one_constant_and_is_in_the_header_and_report(
    aligned: Imported,
) -> None:
    recorded = list(read_binance([aligned.source], make_instrument(), ImportReport()))
    smallest = min(feed_latencies(recorded))
    assert -1_300 * MS < smallest < -1_200 * MS  # the recorder ran ~1.27 s behind
    shift = FLOOR_NS - smallest
    log = open_log(aligned.log)
    assert list(log) == [msgspec.structs.replace(e, ts_recv=e.ts_recv + shift) for e in recorded]
    assert log.header.meta["clock_shift_ns"] == str(shift)
    assert log.header.meta["smallest_feed_latency_ns"] == str(smallest)
    notes = log.header.config["import"]["summary"]["notes"]
    assert notes["clock_shift_ns"] == str(shift)
    assert (
        f"receive clock shifted +{shift / 1e9:.3f} s: the recorder's clock ran behind the "
        f"exchange (smallest feed latency -{-smallest / 1e9:.3f} s, now +1.000 ms)"
    ) in aligned.printed
    first = log.header.config["import"]["summary"]["first_ts_recv"]
    assert first == recorded[0].ts_recv + shift


def test_a_backtest_of_the_aligned_capture_hears_of_a_place_after_the_venues_latencies(
    aligned: Imported, tmp_path: Path
) -> None:
    # On the recorder's clock a Place reached the venue 1.27 s in its past and was heard of
    # 1.27 s late; aligned, its OrderAccepted comes entry + response latency after it.
    config = load_session(CONFIG)
    expected = round((config.sim["entry_latency_ms"] + config.sim["response_latency_ms"]) * MS)
    out = tmp_path / "bt.mmlog"
    run_backtest(config, [aligned.log], out, progress=None)
    sent: dict[str, int] = {}
    heard: list[int] = []
    for record in open_log(out):
        if type(record) is Place:
            sent[record.client_id] = record.ts
        elif type(record) is OrderAccepted:
            heard.append(record.ts_recv - sent[record.client_id])
    assert len(heard) > 10
    assert all(expected <= delay <= expected + MS for delay in heard), (min(heard), max(heard))


# ---------------------------------------------------------------- no shift, or another floor


def test_no_shift_when_every_feed_latency_is_at_or_above_the_floor(tmp_path: Path) -> None:
    # ts 0 (exchange time unknown) has no feed latency: its 500 ns does not count.
    events = [make_trade(5 * MS, 5 * MS + FLOOR_NS, "a"), make_trade(0, 500, "b"),
              make_trade(6 * MS, 9 * MS, "c")]
    inst = make_instrument()
    for name, floor in (("aligned.mmlog", FLOOR_NS), ("as_recorded.mmlog", None)):
        report = ImportReport("test")
        import_to_log(iter(events), tmp_path / name, inst, "test", "in.gz", report,
                      min_feed_latency_ns=floor)
        assert "clock_shift_ns" not in report.notes
        assert "receive clock shifted" not in report.summary().render()
    assert list(open_log(tmp_path / "aligned.mmlog")) == events
    assert "clock_shift_ns" not in open_log(tmp_path / "aligned.mmlog").header.meta
    aligned = (tmp_path / "aligned.mmlog").read_bytes()
    assert aligned == (tmp_path / "as_recorded.mmlog").read_bytes()


def test_the_hyperliquid_capture_received_after_the_exchange_imports_unshifted(
    tmp_path: Path,
) -> None:
    outs = [tmp_path / "aligned.mmlog", tmp_path / "as_recorded.mmlog"]
    for out, options in zip(outs, ([], ["--no-clock-align"])):
        code, printed = mm_import("hyperliquid", str(HYPERLIQUID), "--out", str(out), "--tick",
                                  "1", "--lot", "0.00001", *options)
        assert code == 0 and "receive clock shifted" not in printed
    assert min(feed_latencies(list(open_log(outs[0])))) > 200 * MS
    assert outs[0].read_bytes() == outs[1].read_bytes()


@pytest.mark.parametrize(
    ("options", "smallest"),
    [(["--min-feed-latency-ms", "0"], 0), (["--min-feed-latency-ms", "2.5"], 2_500_000)],
    ids=["floor-0", "floor-2.5ms"],
)
def test_the_floor_is_set_by_min_feed_latency_ms(
    tmp_path: Path, options: list[str], smallest: int
) -> None:
    out = tmp_path / "b.mmlog"
    import_binance(make_binance_slice(tmp_path / "s.gz", 2_000), out, *options)
    assert min(feed_latencies(list(open_log(out)))) == smallest


def test_no_clock_align_keeps_the_receive_times_as_recorded(tmp_path: Path) -> None:
    source = make_binance_slice(tmp_path / "s.gz", 2_000)
    out = tmp_path / "b.mmlog"
    printed = import_binance(source, out, "--no-clock-align")
    recorded = list(read_binance([source], make_instrument(), ImportReport()))
    assert list(open_log(out)) == recorded
    assert min(feed_latencies(recorded)) < 0
    assert "clock_shift_ns" not in open_log(out).header.meta
    assert "receive clock shifted" not in printed


def test_a_negative_floor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="min_feed_latency_ns: expected a floor >= 0"):
        import_to_log([make_trade(1, 2)], tmp_path / "x.mmlog", make_instrument(), "test",
                      "in.gz", ImportReport(), min_feed_latency_ns=-1)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit):
        mm_import("binance", "in.gz", "--out", "x", "--tick", "0.1", "--lot", "0.001",
                  "--min-feed-latency-ms", "-1")


def test_a_shift_that_would_put_a_receive_time_beyond_int64_is_refused(tmp_path: Path) -> None:
    far_ahead = make_trade(2**63 - 2, 1, "bogus")  # an exchange time ~292 years ahead
    with pytest.raises(ImportFormatError, match="expected receive times within int64 ns"):
        import_to_log([far_ahead, make_trade(2**62, 2**62 + MS)], tmp_path / "x.mmlog",
                      make_instrument(), "test", "in.gz", ImportReport())
    assert list(tmp_path.iterdir()) == []


def test_logs_of_one_recorder_imported_with_one_given_shift_still_merge_as_received(
    tmp_path: Path,
) -> None:
    """Trades and depth of one recorder, imported apart, measured shifts of their own (its
    depth came 20 ms later), so their events no longer merged in the order received;
    ``--clock-shift-ms`` gives both the same."""
    trades = [make_trade(t, t - 1270 * MS, f"t{t}") for t in (100 * MS, 300 * MS)]
    depth = [make_trade(t, t - 1250 * MS, f"d{t}") for t in (105 * MS, 290 * MS)]
    recorded = sorted(trades + depth, key=lambda e: e.ts_recv)
    logs = []
    for name, events in (("trades", trades), ("depth", depth)):
        out = tmp_path / f"{name}.mmlog"
        import_to_log(events, out, make_instrument(), "test", "in.gz", ImportReport(),
                      clock_shift_ns=1271 * MS)
        logs.append(list(open_log(out)))
    merged = sorted(logs[0] + logs[1], key=lambda e: e.ts_recv)
    assert [e.trade_id for e in merged] == [e.trade_id for e in recorded]  # type: ignore[attr-defined]
    assert open_log(tmp_path / "depth.mmlog").header.meta["clock_shift_ns"] == str(1271 * MS)
    out = tmp_path / "b.mmlog"
    printed = import_binance(make_binance_slice(tmp_path / "s.gz", 2_000), out,
                             "--clock-shift-ms", "1300.5")
    assert open_log(out).header.meta["clock_shift_ns"] == str(1_300_500_000)
    assert "receive clock shifted +1.300 s" in printed or "+1.301 s" in printed
