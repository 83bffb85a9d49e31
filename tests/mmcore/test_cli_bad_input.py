"""Every ``mm`` command given a bad argument: exactly one ``mm: error:`` line on stderr naming the
culprit, a non-zero exit, no traceback, and nothing written or half-written anywhere.

Most cases call ``mmcore.cli.main.main`` in process. The commands that would serve, trade or run
for ever if a bad value slipped through (``emulator extended``, ``run``, ``demo``) run in
subprocesses with a timeout instead, four at a time; their environment has no ``EXTENDED_*``
variable, and every venue they could reach is 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mmcore.cli.live_demo import DEMO_LIVE_CONFIG
from mmcore.cli.main import main
from replay.backtest import run_session
from replay.demo import DEMO_CONFIG, demo_config
from replay.synthetic import MarketSpec, generate_market
from tests.mmcore.test_cli import assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]
HYPERLIQUID = ROOT / ".." / "shared" / "data" / "hyperliquid-btc-raw" / "btcusd_20250126.gz"
TIMEOUT_S = 60.0

Case = tuple[str, str, tuple[str, ...]]
"""(id, argv after ``mm`` with {D} the inputs and {W} the case's work folder, needles of the
error line)."""

B = "backtest --config {D}/cfg.toml --data {D}/data.mmlog"
HL = f"import hyperliquid {HYPERLIQUID} --out {{W}}/hl.mmlog"
SN = "import snapshots {D}/book.csv --symbol X --venue v --tick 0.1 --lot 1 --out {W}/s.mmlog"
SW = "sweep --config {D}/cfg.toml --data {D}/data.mmlog --out {W}/t.csv"
SWG = SW + " --grid {D}/grid.toml"
REPORT = "report {D}/data.mmlog --out {W}/report"

IN_PROCESS: list[Case] = [
    # ---- log
    ("log-info-missing", "log info {D}/missing.mmlog", ("{D}/missing.mmlog", "no such file")),
    ("log-info-directory", "log info {D}/folder", ("{D}/folder", "directory")),
    ("log-info-text", "log info {D}/text.txt", ("{D}/text.txt", "not an mm event log")),
    ("log-info-empty", "log info {D}/empty", ("{D}/empty", "not an mm event log")),
    ("log-info-repair-text", "log info --repair {D}/text.txt", ("{D}/text.txt",)),
    ("log-info-cut-header", "log info {D}/cut.mmlog", ("{D}/cut.mmlog", "header")),
    ("log-no-subcommand", "log", ("log", "SUBCOMMAND")),
    ("log-cat-missing", "log cat {D}/missing.mmlog", ("{D}/missing.mmlog",)),
    ("log-cat-limit-negative", "log cat {D}/data.mmlog --limit -1", ("--limit", "-1")),
    ("log-cat-limit-text", "log cat {D}/data.mmlog --limit abc", ("--limit", "abc")),
    ("log-cat-type-unknown", "log cat {D}/data.mmlog --type Nope", ("--type", "'Nope'")),
    ("unknown-command", "nope", ("COMMAND", "'nope'")),
    # ---- replay
    ("replay-missing", "replay {D}/missing.mmlog", ("{D}/missing.mmlog",)),
    ("replay-text", "replay {D}/text.txt", ("{D}/text.txt", "not an mm event log")),
    ("replay-verify-empty", "replay --verify {D}/empty", ("{D}/empty", "not an mm event log")),
    ("replay-verify-cut-header", "replay --verify {D}/cut.mmlog", ("{D}/cut.mmlog",)),
    ("replay-verify-data-log", "replay --verify {D}/hl.mmlog", ("{D}/hl.mmlog", "mm import")),
    # ---- backtest
    ("backtest-config-missing", "backtest --config {D}/missing.toml --data {D}/data.mmlog "
     "--out {W}/bt.mmlog", ("{D}/missing.toml",)),
    ("backtest-config-directory", "backtest --config {D}/folder --data {D}/data.mmlog "
     "--out {W}/bt.mmlog", ("{D}/folder", "directory")),
    ("backtest-config-binary", "backtest --config {D}/data.mmlog --data {D}/data.mmlog "
     "--out {W}/bt.mmlog", ("{D}/data.mmlog", "UTF-8")),
    ("backtest-config-empty", "backtest --config {D}/empty --data {D}/data.mmlog "
     "--out {W}/bt.mmlog", ("{D}/empty", "session")),
    ("backtest-config-text", "backtest --config {D}/text.txt --data {D}/data.mmlog "
     "--out {W}/bt.mmlog", ("{D}/text.txt", "TOML")),
    ("backtest-config-other-market", f"backtest --config {ROOT}/configs/backtest.toml "
     "--data {D}/data.mmlog --out {W}/bt.mmlog", ("session.markets", "{D}/data.mmlog")),
    ("backtest-data-missing", "backtest --config {D}/cfg.toml --data {D}/missing.mmlog "
     "--out {W}/bt.mmlog", ("{D}/missing.mmlog",)),
    ("backtest-data-text", "backtest --config {D}/cfg.toml --data {D}/text.txt "
     "--out {W}/bt.mmlog", ("{D}/text.txt",)),
    ("backtest-data-directory", "backtest --config {D}/cfg.toml --data {D}/folder "
     "--out {W}/bt.mmlog", ("{D}/folder", "directory")),
    ("backtest-data-one-missing", B + " {D}/missing.mmlog --out {W}/bt.mmlog",
     ("{D}/missing.mmlog",)),
    ("backtest-data-other-market", "backtest --config {D}/cfg.toml --data {D}/hl.mmlog "
     "--out {W}/bt.mmlog", ("session.markets", "{D}/hl.mmlog")),
    ("backtest-out-not-a-log", B + " --out {W}/notes.txt", ("--out", "{W}/notes.txt")),
    ("backtest-out-directory", B + " --out {W}/folder", ("--out", "directory")),
    ("backtest-out-is-the-data", B + " --out {D}/data.mmlog", ("--out", "{D}/data.mmlog")),
    ("backtest-out-below-a-file", B + " --out {W}/notes.txt/bt.mmlog", ("{W}/notes.txt",)),
    # ---- import: instrument options
    ("import-tick-zero", HL + " --tick 0 --lot 0.00001", ("--tick", "0")),
    ("import-tick-negative", HL + " --tick -1 --lot 0.00001", ("--tick", "-1")),
    ("import-tick-text", HL + " --tick abc --lot 0.00001", ("--tick", "abc")),
    ("import-tick-huge", HL + " --tick 1e400 --lot 0.00001", ("--tick", "1e400")),
    ("import-tick-nan", HL + " --tick nan --lot 0.00001", ("--tick", "nan")),
    ("import-lot-zero", HL + " --tick 1 --lot 0", ("--lot", "0")),
    ("import-lot-negative", HL + " --tick 1 --lot -0.001", ("--lot", "-0.001")),
    ("import-lot-text", HL + " --tick 1 --lot abc", ("--lot", "abc")),
    ("import-lot-huge", HL + " --tick 1 --lot 1e400", ("--lot", "1e400")),
    ("import-grid-too-fine", HL + " --tick 1e-6 --lot 1e-6", ("tick_size*lot_size",)),
    ("import-min-size-negative", HL + " --tick 1 --lot 0.00001 --min-size -1",
     ("--min-size", "-1")),
    ("import-min-notional-nan", HL + " --tick 1 --lot 0.00001 --min-notional nan",
     ("--min-notional", "nan")),
    ("import-maker-fee-text", HL + " --tick 1 --lot 0.00001 --maker-fee abc",
     ("--maker-fee", "abc")),
    ("import-taker-fee-not-a-rate", HL + " --tick 1 --lot 0.00001 --taker-fee 2",
     ("--taker-fee", "2")),
    ("import-symbol-empty", HL + " --tick 1 --lot 0.00001 --symbol ''", ("--symbol", "''")),
    ("import-venue-blank", HL + " --tick 1 --lot 0.00001 --venue ' '", ("--venue",)),
    ("import-symbol-not-in-data", HL + " --tick 1 --lot 0.00001 --symbol ETH",
     (str(HYPERLIQUID), "ETH", "no events to write")),
    # ---- import: files
    ("import-out-exists", f"import hyperliquid {HYPERLIQUID} --out {{W}}/notes.txt --tick 1 "
     "--lot 0.00001", ("{W}/notes.txt", "expected a new file")),
    ("import-out-below-a-file", f"import hyperliquid {HYPERLIQUID} --out "
     "{W}/notes.txt/hl.mmlog --tick 1 --lot 0.00001", ("--out", "{W}/notes.txt")),
    ("import-out-is-the-input", f"import hyperliquid {HYPERLIQUID} --out {HYPERLIQUID} "
     "--tick 1 --lot 0.00001", (str(HYPERLIQUID), "expected a new file")),
    ("import-input-missing", "import hyperliquid {D}/missing.gz --out {W}/hl.mmlog --tick 1 "
     "--lot 0.00001", ("{D}/missing.gz",)),
    ("import-input-directory", "import hyperliquid {D}/folder --out {W}/hl.mmlog --tick 1 "
     "--lot 0.00001", ("{D}/folder",)),
    ("import-input-empty", "import hyperliquid {D}/empty --out {W}/hl.mmlog --tick 1 "
     "--lot 0.00001", ("{D}/empty", "no events to write")),
    ("import-binance-text", "import binance {D}/text.txt --out {W}/b.mmlog --tick 0.1 "
     "--lot 0.001", ("{D}/text.txt", "no events to write")),
    ("import-binance-fake-gzip", "import binance {D}/fake.gz --out {W}/b.mmlog --tick 0.1 "
     "--lot 0.001", ("fake.gz", "gzip")),
    ("import-binance-max-buffer-zero", f"import binance {HYPERLIQUID} --out {{W}}/b.mmlog "
     "--tick 0.1 --lot 0.001 --max-buffer 0", ("--max-buffer",)),
    ("import-tardis-binary", "import tardis {D}/data.mmlog --out {W}/t.mmlog --symbol X "
     "--venue v --tick 0.1 --lot 1", ("data.mmlog:1", "UTF-8")),
    ("import-tardis-wrong-table", "import tardis {D}/book.csv --out {W}/t.mmlog --symbol X "
     "--venue v --tick 0.1 --lot 1", ("book.csv", "'symbol'")),
    ("import-tardis-trades-missing", "import tardis {D}/tardis.csv --trades {D}/missing.csv "
     "--out {W}/t.mmlog --symbol X --venue v --tick 0.1 --lot 1", ("{D}/missing.csv",)),
    ("import-tardis-symbol-missing", "import tardis {D}/tardis.csv --out {W}/t.mmlog --venue v "
     "--tick 0.1 --lot 1", ("--symbol",)),
    # ---- import snapshots: column mappings and tables
    ("snapshots-columns-no-equals", SN + " --columns ts", ("--columns", "'ts'")),
    ("snapshots-columns-no-key", SN + " --columns =t", ("--columns", "'=t'")),
    ("snapshots-columns-no-name", SN + " --columns timestamp=", ("--columns", "'timestamp='")),
    ("snapshots-columns-unknown-key", SN + " --columns nope=t", ("--columns", "nope")),
    ("snapshots-columns-missing-column", SN + " --columns timestamp=zz bid_price=bp{{i}} "
     "bid_size=bq{{i}} ask_price=ap{{i}} ask_size=aq{{i}}", ("book.csv", "'zz'")),
    ("snapshots-columns-no-template", SN + " --columns bid_price=bp", ("book.csv", "{{i}}")),
    ("snapshots-trade-columns-no-equals", SN + " --trades {D}/trades.csv --trade-columns size",
     ("--trade-columns", "'size'")),
    ("snapshots-trade-columns-unknown-key", SN + " --trades {D}/trades.csv "
     "--trade-columns bogus=x", ("--trade-columns", "bogus")),
    ("snapshots-trade-columns-without-trades", SN + " --trade-columns size=qty",
     ("--trade-columns", "--trades")),
    ("snapshots-ts-unit-unknown", SN + " --ts-unit days", ("--ts-unit", "'days'")),
    ("snapshots-ts-unit-wrong", SN + " --columns timestamp=t bid_price=bp{{i}} bid_size=bq{{i}} "
     "ask_price=ap{{i}} ask_size=aq{{i}} --ts-unit iso", ("{D}/book.csv", "no events to write")),
    ("snapshots-binary", "import snapshots {D}/data.mmlog --symbol X --venue v --tick 0.1 "
     "--lot 1 --out {W}/s.mmlog", ("data.mmlog:1", "UTF-8")),
    ("snapshots-binary-trades", SN + " --columns timestamp=t bid_price=bp{{i}} "
     "bid_size=bq{{i}} ask_price=ap{{i}} ask_size=aq{{i}} --trades {D}/data.mmlog",
     ("data.mmlog:1", "UTF-8")),
    ("snapshots-fake-parquet", "import snapshots {D}/fake.parquet --symbol X --venue v "
     "--tick 0.1 --lot 1 --out {W}/s.mmlog", ("fake.parquet", "Parquet")),
    ("snapshots-empty", "import snapshots {D}/empty --symbol X --venue v --tick 0.1 --lot 1 "
     "--out {W}/s.mmlog", ("empty", "header row")),
    # ---- report
    ("report-missing", "report {D}/missing.mmlog --out {W}/report", ("{D}/missing.mmlog",)),
    ("report-directory", "report {D}/folder --out {W}/report", ("{D}/folder", "directory")),
    ("report-text", "report {D}/text.txt --out {W}/report", ("{D}/text.txt",)),
    ("report-max-points-zero", REPORT + " --max-points 0", ("--max-points", "0")),
    ("report-max-points-negative", REPORT + " --max-points -5", ("--max-points", "-5")),
    ("report-max-points-three", REPORT + " --max-points 3", ("--max-points", "3")),
    ("report-max-points-text", REPORT + " --max-points abc", ("--max-points", "abc")),
    ("report-out-is-a-file", "report {D}/data.mmlog --out {W}/notes.txt", ("{W}/notes.txt",)),
    ("report-out-below-a-file", "report {D}/data.mmlog --out {W}/notes.txt/report",
     ("{W}/notes.txt",)),
    # ---- sweep
    ("sweep-grid-missing", SW + " --grid {D}/missing.toml", ("{D}/missing.toml",)),
    ("sweep-grid-directory", SW + " --grid {D}/folder", ("{D}/folder", "directory")),
    ("sweep-grid-empty", SW + " --grid {D}/empty", ("{D}/empty",)),
    ("sweep-grid-binary", SW + " --grid {D}/data.mmlog", ("{D}/data.mmlog", "UTF-8")),
    ("sweep-grid-not-toml", SW + " --grid {D}/grid_bad.toml", ("grid_bad.toml", "TOML")),
    ("sweep-grid-unknown-parameter", SW + " --grid {D}/grid_unknown.toml",
     ("grid_unknown.toml", "strategy.params.nope")),
    ("sweep-grid-empty-list", SW + " --grid {D}/grid_empty_list.toml",
     ("grid_empty_list.toml", "spread_bps", "non-empty list")),
    ("sweep-grid-scalar", SW + " --grid {D}/grid_scalar.toml", ("grid_scalar.toml",
                                                                "spread_bps")),
    ("sweep-grid-wrong-type", SW + " --grid {D}/grid_type.toml",
     ("grid_type.toml", "risk.max_position_lots")),
    ("sweep-workers-zero", SWG + " --workers 0", ("--workers", "0")),
    ("sweep-workers-negative", SWG + " --workers -2", ("--workers", "-2")),
    ("sweep-top-negative", SWG + " --top -1", ("--top", "-1")),
    ("sweep-metric-unknown", SWG + " --metric nope", ("--metric", "'nope'")),
    ("sweep-executor-unknown", SWG + " --executor nope", ("--executor", "'nope'")),
    ("sweep-out-not-a-table", "sweep --config {D}/cfg.toml --data {D}/data.mmlog --grid "
     "{D}/grid.toml --out {W}/t.txt", ("--out", "{W}/t.txt")),
    ("sweep-out-below-a-file", "sweep --config {D}/cfg.toml --data {D}/data.mmlog --grid "
     "{D}/grid.toml --out {W}/notes.txt/t.csv", ("{W}/notes.txt",)),
    ("sweep-config-binary", "sweep --config {D}/data.mmlog --data {D}/data.mmlog --grid "
     "{D}/grid.toml --out {W}/t.csv", ("{D}/data.mmlog", "UTF-8")),
    ("sweep-data-text", "sweep --config {D}/cfg.toml --data {D}/text.txt --grid "
     "{D}/grid.toml --out {W}/t.csv", ("{D}/text.txt",)),
    ("sweep-logs-dir-is-a-file", SWG + " --logs-dir {W}/notes.txt", ("{W}/notes.txt",)),
]

BLOCKING: list[Case] = [
    # ---- emulator extended: each would serve until interrupted if accepted
    ("emulator-port-negative", "emulator extended --port -1", ("--port", "-1")),
    ("emulator-port-too-big", "emulator extended --port 70000", ("--port", "70000")),
    ("emulator-port-text", "emulator extended --port abc", ("--port", "abc")),
    ("emulator-port-busy", "emulator extended --port {BUSY}", ("--port {BUSY}",)),
    ("emulator-speed-zero", "emulator extended --speed 0", ("--speed", "0")),
    ("emulator-speed-negative", "emulator extended --speed -1", ("--speed", "-1")),
    ("emulator-speed-nan", "emulator extended --speed nan", ("--speed", "nan")),
    ("emulator-speed-inf", "emulator extended --speed inf", ("--speed", "inf")),
    ("emulator-accounts-zero", "emulator extended --accounts 0", ("--accounts", "0")),
    ("emulator-accounts-negative", "emulator extended --accounts -1", ("--accounts", "-1")),
    ("emulator-data-missing", "emulator extended --data {D}/missing.mmlog",
     ("{D}/missing.mmlog",)),
    ("emulator-data-text", "emulator extended --data {D}/text.txt", ("{D}/text.txt",)),
    ("emulator-data-directory", "emulator extended --data {D}/folder", ("{D}/folder",)),
    # ---- run: each would trade (or try to reach a venue) if accepted
    ("run-mainnet-without-credentials", f"run --config {ROOT}/configs/extended.toml",
     ("EXTENDED_API_KEY",)),
    ("run-duration-negative", "run --config {D}/local.toml --duration -1", ("--duration", "-1")),
    ("run-duration-zero", "run --config {D}/local.toml --duration 0", ("--duration", "0")),
    ("run-duration-nan", "run --config {D}/local.toml --duration nan", ("--duration", "nan")),
    ("run-duration-inf", "run --config {D}/local.toml --duration inf", ("--duration", "inf")),
    ("run-shutdown-timeout-negative", "run --config {D}/local.toml --shutdown-timeout -1",
     ("--shutdown-timeout", "-1")),
    ("run-shutdown-timeout-nan", "run --config {D}/local.toml --shutdown-timeout nan",
     ("--shutdown-timeout", "nan")),
    ("run-config-missing", "run --config {D}/missing.toml", ("{D}/missing.toml",)),
    ("run-config-binary", "run --config {D}/data.mmlog", ("{D}/data.mmlog", "UTF-8")),
    ("run-config-sim-venue", "run --config {D}/cfg.toml", ("session.venue", "'sim'")),
    ("run-out-exists", "run --config {D}/local.toml --dry-run --out {W}/notes.txt",
     ("--out", "{W}/notes.txt")),
    ("run-out-below-a-file", "run --config {D}/local.toml --dry-run --out "
     "{W}/notes.txt/s.mmlog", ("--out", "{W}/notes.txt")),
    # ---- demo: each would run a session (possibly for ever) if accepted
    ("demo-seconds-zero", "demo --seconds 0", ("--seconds", "0")),
    ("demo-seconds-negative", "demo --seconds -1", ("--seconds", "-1")),
    ("demo-seconds-nan", "demo --seconds nan", ("--seconds", "nan")),
    ("demo-seconds-inf", "demo --seconds inf", ("--seconds", "inf")),
    ("demo-events-zero", "demo --offline --events 0", ("--events", "0")),
    ("demo-events-negative", "demo --offline --events -1", ("--events", "-1")),
    ("demo-out-is-a-file", "demo --offline --events 100 --out {W}/notes.txt",
     ("{W}/notes.txt",)),
]


# ------------------------------------------------------------------ inputs


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Valid and invalid inputs, shared by every case (which must leave them as they are)."""
    d = tmp_path_factory.mktemp("inputs")
    config = demo_config()
    market = generate_market(MarketSpec(step_ns=30_000_000), 1500, 1)
    data = d / "data.mmlog"
    run_session(config, config.instrument_map(), market, data)
    raw = data.read_bytes()
    (d / "torn.mmlog").write_bytes(raw[:-7])
    (d / "cut.mmlog").write_bytes(raw[:30])
    assert main(["import", "hyperliquid", str(HYPERLIQUID), "--out", str(d / "hl.mmlog"),
                 "--tick", "1", "--lot", "0.00001"]) == 0
    (d / "cfg.toml").write_text(DEMO_CONFIG)
    (d / "local.toml").write_text(DEMO_LIVE_CONFIG.replace("{base_url}", "http://127.0.0.1:1"))
    (d / "text.txt").write_text("hello\nworld\n")
    (d / "empty").write_bytes(b"")
    (d / "folder").mkdir()
    (d / "fake.gz").write_text("1 {}\n")
    (d / "fake.parquet").write_text("a,b\n1,2\n")
    (d / "book.csv").write_text("t,bp0,bq0,ap0,aq0\n5,100.0,1,100.1,2\n6,100.2,1,100.3,2\n")
    (d / "trades.csv").write_text("t,price,qty,side\n5,100.1,1,buy\n")
    (d / "tardis.csv").write_text(
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
        "x,X,1,10,true,bid,100.0,1\nx,X,1,10,true,ask,100.5,1\n"
    )
    (d / "grid.toml").write_text('"strategy.params.spread_bps" = [0.1, 0.2]\n')
    (d / "grid_unknown.toml").write_text('"strategy.params.nope" = [0.1, 0.2]\n')
    (d / "grid_empty_list.toml").write_text('"strategy.params.spread_bps" = []\n')
    (d / "grid_scalar.toml").write_text('"strategy.params.spread_bps" = 0.1\n')
    (d / "grid_type.toml").write_text('"risk.max_position_lots" = ["a", "b"]\n')
    (d / "grid_bad.toml").write_text("x = [\n")
    return d


def make_workdir(path: Path, inputs: Path) -> Path:
    """A case's working folder (also its cwd): a user's file, an empty folder and a log with a
    torn tail in it (a case that writes to an input spoils only its own)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "torn.mmlog").write_bytes((inputs / "torn.mmlog").read_bytes())
    (path / "notes.txt").write_text("a user's notes: never to be overwritten\n")
    (path / "folder").mkdir(exist_ok=True)
    return path


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file and folder below ``folders`` with a digest of its bytes."""
    seen: dict[str, str] = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            seen[str(p)] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return seen


def argv_of(template: str, inputs: Path, work: Path, busy: int = 0) -> list[str]:
    return shlex.split(template.format(D=inputs, W=work, BUSY=busy))


def assert_clean_error(
    result: subprocess.CompletedProcess[str], needles: tuple[str, ...], **where: object
) -> None:
    """One ``mm: error:`` line naming the culprit, and nothing else on stderr."""
    assert_one_line_error(result, *(n.format(**where) for n in needles))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr


# ------------------------------------------------------------------ in process


@pytest.mark.parametrize(("template", "needles"), [c[1:] for c in IN_PROCESS],
                         ids=[c[0] for c in IN_PROCESS])
def test_a_bad_argument_is_one_error_line_and_writes_nothing(
    template: str,
    needles: tuple[str, ...],
    inputs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = make_workdir(tmp_path / "work", inputs)
    monkeypatch.chdir(work)
    before = snapshot(inputs, work)
    argv = argv_of(template, inputs, work)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    result = subprocess.CompletedProcess(argv, code, captured.out, captured.err)
    assert_clean_error(result, needles, D=inputs, W=work)
    assert snapshot(inputs, work) == before


# ------------------------------------------------------------------ in subprocesses


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTENDED_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is already taken."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def blocking_runs(
    inputs: Path, tmp_path_factory: pytest.TempPathFactory, busy_port: int
) -> dict[str, tuple[subprocess.CompletedProcess[str], Path, dict[str, str]]]:
    """Every blocking case, a few at a time; each killed after ``TIMEOUT_S`` (a hang)."""
    base = tmp_path_factory.mktemp("blocking")
    env = environment()

    def run(
        name: str, template: str
    ) -> tuple[subprocess.CompletedProcess[str], Path, dict[str, str]]:
        work = make_workdir(base / name, inputs)
        argv = argv_of(template, inputs, work, busy_port)
        before = snapshot(inputs, work)
        try:
            result = subprocess.run(
                [sys.executable, "-m", "mmcore.cli.main", *argv], cwd=work, env=env,
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
            result = subprocess.CompletedProcess(
                argv, 0, "", f"{err}\n(hung: killed after {TIMEOUT_S:g} s)"
            )
        return subprocess.CompletedProcess(argv, result.returncode, result.stdout,
                                           result.stderr), work, before

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run, name, template) for name, template, _ in BLOCKING}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize(("name", "needles"), [(c[0], c[2]) for c in BLOCKING],
                         ids=[c[0] for c in BLOCKING])
def test_a_bad_argument_to_a_long_running_command_fails_at_once(
    name: str,
    needles: tuple[str, ...],
    inputs: Path,
    busy_port: int,
    blocking_runs: dict[str, tuple[subprocess.CompletedProcess[str], Path, dict[str, str]]],
) -> None:
    result, work, before = blocking_runs[name]
    assert_clean_error(result, needles, D=inputs, W=work, BUSY=busy_port)
    assert snapshot(inputs, work) == before
    if name == "run-mainnet-without-credentials":  # stopped at the credentials, before any I/O
        assert "unset or empty" in result.stderr and not result.stdout

