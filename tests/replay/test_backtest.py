"""mm backtest: recorded data through the engine and the simulated venue, deterministically."""

from __future__ import annotations

import errno
import gzip
import io
import itertools
import re
import resource
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from default_upgrade import make_config

import mmcore.cli.main as cli
from mmcore.config import AppConfig, config_from_dict, config_to_dict
from mmcore.errors import ConfigError
from mmcore.events import Event
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter, open_log
from mmcore.ratelimit import venue_defaults
from replay.backtest import BacktestInputError, _records, run_backtest, run_session
from replay.demo import DEMO_CONFIG, demo_config
from replay.importers import ImportReport, import_to_log, read_binance
from replay.session import load_session, resolved_config
from replay.synthetic import MarketSpec, generate_market
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
    assert (tmp_path / "a.mmlog").read_bytes() == (tmp_path / "b.mmlog").read_bytes()


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


def test_mm_backtest_refuses_a_data_log_given_twice(
    binance_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = tmp_path / "sub" / ".." / binance_log.name
    (tmp_path / "sub").mkdir()
    data = tmp_path / binance_log.name
    data.write_bytes(binance_log.read_bytes())
    out = tmp_path / "bt.mmlog"
    code = cli.main(["backtest", "--config", str(CONFIG), "--data", str(data), str(same),
                     "--out", str(out), "--quiet"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("mm:")]
    assert code == 2
    assert len(errors) == 1 and "backtest --data" in errors[0] and "twice" in errors[0]
    assert not out.exists()


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


# ---------------------------------------------------------------- review: specs, run-time refusals

SYNTH_T1 = 1_700_000_000_000_000_000 + 60 * 10**9  # a minute after generate_market's default


def synth_inst(**spec: str | bool) -> Instrument:
    """The demo config's BTC-USD entry, with ``spec`` changed: a data log of it backtests with
    ``demo_config()``, whose ``[[instruments]]`` entry must agree with the data's spec."""
    fields: dict[str, Any] = msgspec.structs.asdict(demo_config().instrument_map()["BTC-USD"])
    fields.update(spec)
    return Instrument(**fields)


def synth_data_log(path: Path, inst: Instrument, seed: int = 9, **market: int) -> Path:
    """A pure market-data log (as ``mm import`` writes one) of ``inst``, generated."""
    header = LogHeader(format_version=FORMAT_VERSION, code_version="test", instruments=[inst],
                       config={}, created_ns=0, meta={})
    with LogWriter(path, header, fsync="never") as writer:
        writer.append_many(generate_market(MarketSpec(step_ns=30_000_000, **market), 500, seed))
    return path


def demo_toml(tmp_path: Path, name: str, *replace: tuple[str, str]) -> Path:
    text = DEMO_CONFIG
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def mm_errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("mm:")]


def test_data_logs_recording_different_specs_of_one_market_are_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prices are recorded in ticks: b's (a 10x finer tick) would be read on a's grid, 10x off,
    or a's on b's, by --data order."""
    a = synth_data_log(tmp_path / "a.mmlog", synth_inst(tick_size="0.1"))
    b = synth_data_log(tmp_path / "b.mmlog", synth_inst(tick_size="0.01"), seed=10,
                       start_ns=SYNTH_T1, start_mid=6_000_000)
    out = tmp_path / "out.mmlog"
    for first, second in ((a, b), (b, a)):
        with pytest.raises(BacktestInputError) as caught:
            run_backtest(demo_config(), [first, second], out, progress=None)
        message = str(caught.value)
        assert message.startswith(f"backtest --data: {first} and {second} record different specs "
                                  "for BTC-USD")
        assert ("tick_size '0.1' vs '0.01'" in message) == (first == a)
        assert not out.exists()
    config = demo_toml(tmp_path, "demo.toml")
    code = cli.main(["backtest", "--config", str(config), "--data", str(a), str(b),
                     "--out", str(out), "--quiet"])
    errors = mm_errors(capsys)
    assert code == 2 and len(errors) == 1
    assert "a.mmlog and" in errors[0] and "tick_size" in errors[0]
    assert not out.exists()


def test_data_logs_whose_specs_agree_in_value_backtest_together(tmp_path: Path) -> None:
    """The same decimals written differently, and own_orders_in_book (a live recording sets it;
    a backtest turns it off), are one spec."""
    a = synth_data_log(tmp_path / "a.mmlog", synth_inst(tick_size="0.1"))
    b = synth_data_log(tmp_path / "b.mmlog", synth_inst(tick_size="0.10", own_orders_in_book=True),
                       seed=10, start_ns=SYNTH_T1)
    out = tmp_path / "out.mmlog"
    result = run_backtest(demo_config(), [a, b], out, progress=None)
    assert result.run.events > 1000  # both logs' market events
    assert [i.tick_size for i in open_log(out).header.instruments] == ["0.1"]  # the first's


def test_a_config_entry_that_disagrees_with_the_datas_spec_is_refused_naming_every_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run would use the data's spec: the config's size_lots = 10 would quote 10 lots of
    0.01 (10x what it was written for) and its fees would be dropped, without a word."""
    out = tmp_path / "out.mmlog"
    run_backtest(demo_config(), [synth_data_log(tmp_path / "same.mmlog", synth_inst())], out,
                 progress=None)
    before = out.read_bytes()
    data = synth_data_log(tmp_path / "data.mmlog",
                          synth_inst(venue="binance", lot_size="0.01", maker_fee="0"))
    with pytest.raises(ConfigError) as caught:
        run_backtest(demo_config(), [data], out, progress=None, replace=True)
    message = str(caught.value)
    assert message.startswith("instruments[0].lot_size: '0.001' but the data log gives '0.01' "
                              "for BTC-USD (also maker_fee '-0.00002' vs '0'): a backtest uses "
                              "the data's spec")
    assert "[sim] maker_fee / taker_fee" in message and "binance" not in message
    config = demo_toml(tmp_path, "demo.toml")
    code = cli.main(["backtest", "--config", str(config), "--data", str(data), "--out", str(out),
                     "--quiet"])
    errors = mm_errors(capsys)
    assert code == 2 and len(errors) == 1
    assert errors[0].startswith("mm: error: instruments[0].lot_size: '0.001' but")
    assert out.read_bytes() == before  # refused before the log it would replace went


def test_a_config_entry_that_agrees_in_value_with_the_datas_spec_backtests(
    tmp_path: Path,
) -> None:
    """Decimals written differently are one spec, and the venue's name and own_orders_in_book
    are not numbers the config's settings are in: the run uses the data's spec as recorded."""
    config = load_session(demo_toml(tmp_path, "demo.toml", ('tick_size = "0.1"',
                                                            'tick_size = "0.10"'),
                                    ('taker_fee = "0.0005"', 'taker_fee = "0.00050"')))
    data = synth_data_log(tmp_path / "data.mmlog",
                          synth_inst(venue="binance", own_orders_in_book=True))
    out = tmp_path / "out.mmlog"
    result = run_backtest(config, [data], out, progress=None)
    assert result.run.commands > 0
    recorded = open_log(out).header.instruments[0]
    assert (recorded.venue, recorded.tick_size, recorded.taker_fee) == ("binance", "0.1", "0.0005")


def test_a_config_entry_for_a_market_the_data_does_not_hold_is_no_conflict(
    tmp_path: Path,
) -> None:
    """Only a market the data gives has two specs to compare; another entry is left alone."""
    eth = ('[[instruments]]\nvenue = "sim"\nsymbol = "ETH-USD"\ntick_size = "0.01"\n'
           'lot_size = "0.01"\nmaker_fee = "0.001"\n\n')
    config = load_session(demo_toml(tmp_path, "demo.toml", ("[strategy]\n", eth + "[strategy]\n")))
    assert [i.symbol for i in config.instruments] == ["BTC-USD", "ETH-USD"]
    data = synth_data_log(tmp_path / "data.mmlog", synth_inst())
    result = run_backtest(config, [data], tmp_path / "out.mmlog", progress=None)
    assert result.run.commands > 0


def test_mm_backtest_with_a_config_the_risk_gate_refuses_keeps_the_previous_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both position limits 0 pass the config's own checks and were refused only by RiskGate,
    when the engine was built: after the log at --out had been removed."""
    data = synth_data_log(tmp_path / "data.mmlog", synth_inst())
    out = tmp_path / "out.mmlog"
    argv = ["backtest", "--config", str(demo_toml(tmp_path, "good.toml")), "--data", str(data),
            "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    before = out.read_bytes()
    capsys.readouterr()
    argv[2] = str(demo_toml(tmp_path, "bad.toml", ("max_position_lots = 100",
                                                  "max_position_lots = 0")))
    assert cli.main(argv) == 2
    errors = mm_errors(capsys)
    assert len(errors) == 1 and "bad.toml: risk.max_position_lots" in errors[0]
    assert out.read_bytes() == before


def test_run_backtest_builds_the_engine_before_it_replaces_the_old_log(tmp_path: Path) -> None:
    """A config that never went through load_session (a sweep's, a caller's) is refused by
    the engine all the same, and the log it would replace stays."""
    data = synth_data_log(tmp_path / "data.mmlog", synth_inst())
    out = tmp_path / "out.mmlog"
    run_backtest(demo_config(), [data], out, progress=None)
    before = out.read_bytes()
    plain = config_to_dict(demo_config())
    plain["risk"]["max_position_lots"] = 0
    unchecked = msgspec.convert(plain, AppConfig)
    with pytest.raises(ConfigError, match=r"risk\.max_position_lots"):
        run_backtest(unchecked, [data], out, progress=None, replace=True)
    assert out.read_bytes() == before


def test_mm_backtest_with_a_seed_beyond_64_bits_is_one_error_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log header could not encode it: an OverflowError traceback, an 8-byte file left."""
    data = synth_data_log(tmp_path / "data.mmlog", synth_inst())
    config = demo_toml(tmp_path, "seed.toml", ("seed = 7", f"seed = {2**64 + 1}"))
    out = tmp_path / "out.mmlog"
    code = cli.main(["backtest", "--config", str(config), "--data", str(data), "--out", str(out),
                     "--quiet"])
    errors = mm_errors(capsys)
    assert code == 2 and len(errors) == 1 and "seed.toml: session.seed" in errors[0]
    assert not out.exists()


def test_a_session_header_that_cannot_be_encoded_leaves_no_file_and_the_old_log(
    tmp_path: Path,
) -> None:
    """The header is encoded before the old log goes and before LogWriter begins the new one."""
    data = synth_data_log(tmp_path / "data.mmlog", synth_inst())
    out = tmp_path / "out.mmlog"
    run_backtest(demo_config(), [data], out, progress=None)
    before = out.read_bytes()
    plain = config_to_dict(demo_config())
    plain["session"]["seed"] = 2**64 + 1  # past config_from_dict's check, as no file can be
    unchecked = msgspec.convert(plain, AppConfig)
    for path in (out, tmp_path / "new.mmlog"):
        with pytest.raises(BacktestInputError, match="cannot record this session's header"):
            run_backtest(unchecked, [data], path, progress=None, replace=True)
    assert out.read_bytes() == before
    assert not (tmp_path / "new.mmlog").exists()


def _demo_data(tmp_path: Path) -> Path:
    config = demo_config()
    header = LogHeader(format_version=FORMAT_VERSION, code_version="t",
                       instruments=list(config.instrument_map().values()), config={})
    path = tmp_path / "data.mmlog"
    with LogWriter(path, header) as writer:
        writer.append_many(generate_market(MarketSpec(), 500, 3))
    return path


def test_a_rerun_that_fails_halfway_keeps_the_log_it_was_to_replace(tmp_path: Path) -> None:
    from mmcore.log_format import FRAME, frame_crc

    config = demo_config()
    data = _demo_data(tmp_path)
    out = tmp_path / "out.mmlog"
    run_backtest(config, [data], out, progress=None, replace=True)
    before = out.read_bytes()
    payload = msgspec.msgpack.encode(["NewRecordType", 1, 2])  # damage found only while read
    bad = tmp_path / "bad.mmlog"
    bad.write_bytes(data.read_bytes() + FRAME.pack(len(payload), frame_crc(501, payload), 501)
                    + payload)
    with pytest.raises(Exception):  # noqa: B017 (the reader's error; the point is what is left)
        run_backtest(config, [bad], out, progress=None, replace=True)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mmlog", "data.mmlog", "out.mmlog"]


def test_a_backtest_never_replaces_a_log_another_process_is_writing(tmp_path: Path) -> None:
    data = _demo_data(tmp_path)
    live = tmp_path / "live.mmlog"
    code = (
        "import sys, time\n"
        "from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter\n"
        f"w = LogWriter({str(live)!r}, LogHeader(format_version=FORMAT_VERSION, "
        "code_version='t', instruments=[], config={}))\n"
        "w.flush(); print('ready', flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        inode = live.stat().st_ino
        with pytest.raises(BacktestInputError, match="being written by another process"):
            run_backtest(demo_config(), [data], live, progress=None, replace=True)
        assert live.stat().st_ino == inode
    finally:
        child.kill()
        child.wait()


def test_a_backtests_header_records_the_config_with_the_defaults_it_used(tmp_path: Path) -> None:
    config = make_config("extended", "[sim]\nentry_latency_ms = 2.0")
    out = tmp_path / "out.mmlog"
    run_session(config, config.instrument_map(), generate_market(MarketSpec(), 500, 1), out)
    recorded = open_log(out).header.config
    assert config_from_dict(recorded) == resolved_config(config)
    assert config_from_dict(recorded).risk.rate_limit == venue_defaults("extended")
    assert recorded["strategy"]["params"]["size_lots"] == 1  # left to the default
    assert recorded["sim"]["queue_model"] == "risk_averse"


def test_a_backtest_of_a_config_and_of_its_resolved_config_write_the_same_bytes(
    tmp_path: Path,
) -> None:
    config = make_config("extended", "[sim]\nentry_latency_ms = 2.0")
    for name, run in (("a", config), ("b", resolved_config(config))):
        market = generate_market(MarketSpec(), 2000, 1)
        run_session(run, config.instrument_map(), market, tmp_path / f"{name}.mmlog")
    assert (tmp_path / "a.mmlog").read_bytes() == (tmp_path / "b.mmlog").read_bytes()


# ---------------------------------------------------------------- review: the log at --out


def _market(events: int, seed: int = 1, fail_after: int | None = None) -> Iterator[Event]:
    """Generated market data of the demo's market; with ``fail_after``, the disk fills then."""
    for n, event in enumerate(generate_market(MarketSpec(), events, seed)):
        if n == fail_after:
            raise OSError(errno.ENOSPC, "No space left on device")
        yield event


def _backtest_session(out: Path, market: Iterable[Event], **options: Any) -> None:
    config = demo_config()
    run_session(config, config.instrument_map(), market, out, meta={"mode": "backtest"},
                **options)


@pytest.mark.parametrize("earlier", [False, True], ids=["new-out", "rerun"])
def test_a_backtest_that_fails_halfway_leaves_no_log_and_the_earlier_one_intact(
    tmp_path: Path, earlier: bool
) -> None:
    """A run into a new --out wrote straight to it: failing halfway, it left a short log that
    verified OK and said nothing of the failure."""
    out = tmp_path / "out.mmlog"
    if earlier:
        _backtest_session(out, _market(500), replace=True)
    before = out.read_bytes() if earlier else None
    with pytest.raises(OSError, match="No space left on device"):
        _backtest_session(out, _market(2000, 2, fail_after=1000), replace=True)
    assert (out.read_bytes() if out.exists() else None) == before
    assert [p.name for p in tmp_path.iterdir()] == (["out.mmlog"] if earlier else [])


def _fsize_limit(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_mm_backtest_whose_log_write_fails_leaves_no_log_at_out(tmp_path: Path) -> None:
    """A real write failure (EFBIG past ``ulimit -f``; a full disk is the same to the writer):
    the writer cut its file back to the header, and that header-only log stayed at --out."""
    data = tmp_path / "data.mmlog"
    header = LogHeader(format_version=FORMAT_VERSION, code_version="t",
                       instruments=list(demo_config().instrument_map().values()), config={})
    with LogWriter(data, header) as writer:
        writer.append_many(generate_market(MarketSpec(), 5000, 3))
    out = tmp_path / "out" / "bt.mmlog"
    done = subprocess.run(
        [sys.executable, "-m", "mmcore.cli.main", "backtest", "--config",
         str(demo_toml(tmp_path, "demo.toml")), "--data", str(data), "--out", str(out),
         "--quiet"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, preexec_fn=_fsize_limit(65536),
    )
    assert done.returncode == 2, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("mm: error: ") and "(File too large)" in error
    assert error.endswith(f"that temporary file is removed and {out} left as it was")
    assert list(out.parent.iterdir()) == []


def test_a_log_that_appears_at_out_during_a_backtest_is_kept(tmp_path: Path) -> None:
    """--out was free when the run began; a live session's log written there meanwhile is not
    replaced when the backtest's log is done (nor did the backtest hold the name all along)."""
    out = tmp_path / "out.mmlog"
    live = LogHeader(format_version=FORMAT_VERSION, code_version="t", instruments=[],
                     config={}, meta={"mode": "live"})

    def market() -> Iterator[Event]:
        for n, event in enumerate(_market(2000)):
            if n == 1000:
                with LogWriter(out, live) as writer:
                    writer.append_many(generate_market(MarketSpec(), 10, 4))
            yield event

    with pytest.raises(BacktestInputError, match=re.escape(
        f"backtest --out {out}: expected a new file or a log written by mm backtest to replace, "
        "found the log of a live session")):
        _backtest_session(out, market(), replace=True)
    assert open_log(out).header.meta == {"mode": "live"}
    assert len(list(open_log(out))) == 10
    assert [p.name for p in tmp_path.iterdir()] == ["out.mmlog"]


def _live_log(path: Path) -> Path:
    header = LogHeader(format_version=FORMAT_VERSION, code_version="t",
                       instruments=list(demo_config().instrument_map().values()),
                       config=config_to_dict(demo_config()), meta={"mode": "live"})
    with LogWriter(path, header) as writer:
        writer.append_many(generate_market(MarketSpec(), 50, 5))
    return path


def _imported_log(path: Path) -> Path:
    inst = demo_config().instrument_map()["BTC-USD"]
    report = ImportReport("snapshots")
    import_to_log(generate_market(MarketSpec(), 50, 6), path, inst, "snapshots", "x.csv", report)
    return path


def _notes(path: Path) -> Path:
    path.write_text("notes, not a log\n")
    return path


@pytest.mark.parametrize(("make", "what"), [
    (_live_log, "the log of a live session"),
    (_imported_log, "a market-data log written by mm import"),
    (_notes, "a file that is not an event log (starting b'notes"),
])
def test_mm_backtest_out_refuses_any_file_but_a_backtests_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], Path], what: str
) -> None:
    """--out replaced any event log: a live session's, an imported data log not given as
    --data (a file that is no log was refused already)."""
    data = synth_data_log(tmp_path / "data.mmlog", synth_inst())
    out = make(tmp_path / "other.mmlog")
    before = out.read_bytes()
    code = cli.main(["backtest", "--config", str(demo_toml(tmp_path, "demo.toml")), "--data",
                     str(data), "--out", str(out), "--quiet"])
    errors = mm_errors(capsys)
    assert code == 2 and len(errors) == 1
    assert errors[0].startswith(f"mm: error: backtest --out {out}: expected a new file or a log "
                                f"written by mm backtest to replace, found {what}")
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.mmlog", "demo.toml", "other.mmlog"]


def test_mm_backtest_out_replaces_an_earlier_backtests_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = synth_data_log(tmp_path / "data.mmlog", synth_inst())
    out = tmp_path / "bt.mmlog"
    argv = ["backtest", "--config", str(demo_toml(tmp_path, "a.toml")), "--data", str(data),
            "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    before = out.read_bytes()
    argv[2] = str(demo_toml(tmp_path, "b.toml", ("seed = 7", "seed = 8")))
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert out.read_bytes() != before
    assert open_log(out).header.config["session"]["seed"] == 8
    assert verify_log(out).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.toml", "b.toml", "bt.mmlog",
                                                          "data.mmlog"]
