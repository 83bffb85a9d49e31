"""mm backtest: recorded data through the engine and the simulated venue, deterministically."""

from __future__ import annotations

import gzip
import io
import itertools
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

import mmcore.cli.main as cli
from mmcore.instrument import Instrument
from mmcore.log import LogWriter, open_log
from replay.backtest import BacktestInputError, _records, run_backtest
from replay.importers import ImportReport, import_to_log, read_binance
from replay.session import load_session
from replay.verify import verify_log

ROOT = Path(__file__).resolve().parents[2]
BINANCE = ROOT.parent / "shared" / "data" / "binance-usdm-btcusdt-raw" / "btcusdt_20240808.gz"
CONFIG = ROOT / "configs" / "backtest.toml"


@pytest.fixture(scope="module")
def binance_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 30,000 lines of the real Binance capture, imported."""
    tmp = tmp_path_factory.mktemp("binance")
    part = tmp / "slice.gz"
    with gzip.open(BINANCE, "rt") as src, gzip.open(part, "wt") as dst:
        dst.writelines(itertools.islice(src, 30_000))
    inst = Instrument(venue="binance", symbol="BTCUSDT", tick_size="0.1", lot_size="0.001",
                      min_size="0.001")
    out = tmp / "btcusdt.mmlog"
    report = ImportReport("binance")
    import_to_log(read_binance([part], inst, report), out, inst, "binance", str(part), report)
    return out


def frames_after_header(path: Path) -> list[bytes]:
    return [payload for seq, _, payload in open_log(path, repair=False).raw_frames() if seq > 0]


def test_the_same_backtest_twice_gives_identical_logs(binance_log: Path, tmp_path: Path) -> None:
    config = load_session(CONFIG)
    a = run_backtest(config, [binance_log], tmp_path / "a.mmlog", progress=None)
    b = run_backtest(config, [binance_log], tmp_path / "b.mmlog", progress=None)
    assert a.run == b.run
    assert a.run.commands > 0
    assert frames_after_header(tmp_path / "a.mmlog") == frames_after_header(tmp_path / "b.mmlog")
    ha = open_log(tmp_path / "a.mmlog").header
    hb = open_log(tmp_path / "b.mmlog").header
    assert (ha.config, ha.instruments) == (hb.config, hb.instruments)


def test_random_latency_is_reproducible_from_the_seed(binance_log: Path, tmp_path: Path) -> None:
    config = load_session(CONFIG)
    config = msgspec.structs.replace(config, sim={**config.sim, "latency_model": "lognormal"})
    run_backtest(config, [binance_log], tmp_path / "a.mmlog", progress=None)
    run_backtest(config, [binance_log], tmp_path / "b.mmlog", progress=None)
    assert frames_after_header(tmp_path / "a.mmlog") == frames_after_header(tmp_path / "b.mmlog")
    other = msgspec.structs.replace(
        config, session=msgspec.structs.replace(config.session, seed=config.session.seed + 1)
    )
    run_backtest(other, [binance_log], tmp_path / "c.mmlog", progress=None)
    assert frames_after_header(tmp_path / "a.mmlog") != frames_after_header(tmp_path / "c.mmlog")


def test_a_session_log_as_data_backtests_like_its_market_data(
    binance_log: Path, tmp_path: Path
) -> None:
    # A backtest's own log holds the data's market events plus timers, commands and account
    # events; used as data, only its market events count, so the second run equals the first.
    config = load_session(CONFIG)
    first = run_backtest(config, [binance_log], tmp_path / "a.mmlog", progress=None)
    assert set(open_log(tmp_path / "a.mmlog").counts()) > {"BookDelta", "Trade", "Timer", "Place"}
    again = run_backtest(config, [tmp_path / "a.mmlog"], tmp_path / "b.mmlog", progress=None)
    assert again.run == first.run
    assert frames_after_header(tmp_path / "b.mmlog") == frames_after_header(tmp_path / "a.mmlog")


def test_the_progress_bar_counts_the_records_of_plain_and_compressed_logs(
    binance_log: Path, tmp_path: Path
) -> None:
    plain = open_log(binance_log)
    packed = tmp_path / "data.mmlog.zst"
    with LogWriter(packed, plain.header, compress=True) as writer:
        writer.append_many(plain)
    expected = sum(plain.counts().values())
    assert plain.statistics().records == expected  # the plain log's scan knows it
    assert open_log(packed).statistics().records == -1  # the compressed one's does not
    assert _records(plain) == _records(open_log(packed)) == expected
    bar = io.StringIO()
    run_backtest(load_session(CONFIG), [packed], tmp_path / "a.mmlog", progress=bar)
    assert "100.0%" in bar.getvalue() and "events done" in bar.getvalue()


def test_a_backtest_log_replays_exactly(binance_log: Path, tmp_path: Path) -> None:
    run_backtest(load_session(CONFIG), [binance_log], tmp_path / "a.mmlog", progress=None)
    result = verify_log(tmp_path / "a.mmlog")
    assert result.ok and result.outputs_recorded > 0


def test_mm_backtest_then_mm_report_from_the_command_line(
    binance_log: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bt.mmlog"

    def mm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mmcore.cli.main", *args],
                              capture_output=True, text=True, timeout=300)

    done = mm("backtest", "--config", str(CONFIG), "--data", str(binance_log), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "events done" in done.stderr and "%" in done.stderr  # the progress bar
    assert "PnL total" in done.stdout
    report = mm("report", str(out), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("<svg") >= 4


# ---------------------------------------------------------------- bad inputs and outputs


def test_mm_backtest_refuses_an_out_that_is_one_of_its_data_logs(
    binance_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.mmlog"
    data.write_bytes(binance_log.read_bytes())
    same = tmp_path / "sub" / ".." / "data.mmlog"  # another spelling of the same file
    (tmp_path / "sub").mkdir()
    code = cli.main(["backtest", "--config", str(CONFIG), "--data", str(data),
                     "--out", str(same), "--quiet"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("mm:")]
    assert code == 2
    assert len(errors) == 1 and "backtest --out" in errors[0] and "data log" in errors[0]
    assert data.read_bytes() == binance_log.read_bytes()  # the data is intact


def test_a_data_log_without_the_configured_market_is_refused_naming_both(
    binance_log: Path, tmp_path: Path
) -> None:
    config = load_session(ROOT / "configs" / "strategy-simple.toml")  # trades BTC-USD
    out = tmp_path / "a.mmlog"
    with pytest.raises(BacktestInputError, match=r"BTC-USD.*btcusdt\.mmlog.*BTCUSDT"):
        run_backtest(config, [binance_log], out, progress=None)
    assert not out.exists()


def test_mm_backtest_makes_a_missing_out_folder_and_keeps_the_old_log_on_bad_data(
    binance_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "folder" / "a.mmlog"
    argv = ["backtest", "--config", str(CONFIG), "--data", str(binance_log), "--out", str(out),
            "--quiet"]
    assert cli.main(argv) == 0
    assert verify_log(out).ok
    before = out.read_bytes()
    argv[argv.index("--data") + 1] = str(tmp_path / "missing.mmlog")
    assert cli.main(argv) == 2
    assert "missing.mmlog" in capsys.readouterr().err
    assert out.read_bytes() == before  # a run that cannot start leaves the last log alone
