"""mm sweep: grids, up-front validation, local and Ray execution, the sorted table."""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from mmcore.config import AppConfig, config_from_dict, config_to_dict
from mmcore.errors import ConfigError, MMError
from mmcore.log import open_log
from replay.backtest import BacktestInputError, run_backtest, run_session
from replay.cli_report import register
from replay.demo import DEMO_CONFIG, demo_config
from replay.scorecard import METRIC_NAMES
from replay.session import NO_RATE_LIMITS, load_session
from replay.sweep import RAY_HINT, run_sweep, run_task
from replay.sweep_grid import Grid, SweepGridError, apply_params, check_grid, parse_grid
from replay.sweep_table import MissingDependencyError, TableFormatError, sort_rows, write_table
from replay.synthetic import MarketSpec, generate_market
from replay.verify import verify_log

ROOT = Path(__file__).resolve().parents[2]
SEED = 9
GRID_2X2 = """
"strategy.params.spread_bps" = [0.1, 0.2]
"risk.max_position_lots" = [200, 400]
"""
PARAM_KEYS = ["strategy.params.spread_bps", "risk.max_position_lots"]


def make_base_config() -> AppConfig:
    data = config_to_dict(demo_config())
    data["strategy"]["params"].update(spread_bps=0.1, requote_bps=0.05)
    return config_from_dict(data)


def make_data_log(path: Path, events: int = 2500) -> Path:
    """Market data for the sweep: a recorded session (its market events are what is replayed)."""
    config = make_base_config()
    market = generate_market(MarketSpec(step_ns=30_000_000), events, SEED)
    run_session(config, config.instrument_map(), market, path)
    return path


def make_grid(text: str = GRID_2X2) -> Grid:
    return parse_grid(text, "grid.toml")


@pytest.fixture(scope="module")
def data_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_data_log(tmp_path_factory.mktemp("sweep") / "data.mmlog")


@pytest.fixture(scope="module")
def local_sweep(data_log: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("table") / "table.csv"
    result = run_sweep(make_base_config(), make_grid(), [data_log], out, workers=2)
    return out, result


def assert_two_by_two(rows: list[dict[str, Any]]) -> None:
    combos = {(r["strategy.params.spread_bps"], r["risk.max_position_lots"]) for r in rows}
    assert combos == set(itertools.product([0.1, 0.2], [200, 400]))
    totals = [r["pnl_total"] for r in rows]
    assert totals == sorted(totals, reverse=True)
    assert all(r["fills"] > 0 for r in rows)


# ---------------------------------------------------------------- running


def test_a_two_by_two_sweep_on_local_processes_gives_four_sorted_rows(
    local_sweep: tuple[Path, Any],
) -> None:
    _, result = local_sweep
    assert len(result.rows) == 4
    assert result.columns == ["run", *PARAM_KEYS, "data", *METRIC_NAMES]
    assert_two_by_two(result.rows)
    assert len({r["pnl_total"] for r in result.rows}) > 1  # the parameters made a difference


def test_the_csv_table_holds_the_same_rows_in_the_same_order(
    local_sweep: tuple[Path, Any],
) -> None:
    out, result = local_sweep
    with out.open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == result.columns
    assert [int(r["run"]) for r in table] == [r["run"] for r in result.rows]
    assert [float(r["pnl_total"]) for r in table] == [r["pnl_total"] for r in result.rows]


def test_a_sweep_is_deterministic_across_worker_counts(
    data_log: Path, local_sweep: tuple[Path, Any], tmp_path: Path
) -> None:
    _, first = local_sweep
    again = run_sweep(make_base_config(), make_grid(), [data_log], tmp_path / "t.csv", workers=1)
    assert repr(again.rows) == repr(first.rows)  # repr: NaN never equals NaN


def test_runs_keep_their_session_logs_in_logs_dir(data_log: Path, tmp_path: Path) -> None:
    grid = make_grid('"session.seed" = [1]')
    copy = tmp_path / "copy.mmlog"  # a second session (the same data under another name)
    copy.write_bytes(data_log.read_bytes())
    result = run_sweep(make_base_config(), grid, [data_log, copy], tmp_path / "t.csv",
                       workers=1, logs_dir=tmp_path / "logs", metric="fills", descending=False)
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        "run-0000.mmlog", "run-0001.mmlog"
    ]
    assert [r["run"] for r in result.rows] == [0, 1]  # equal metrics: tie broken by params, data


def test_a_runs_log_header_records_its_grid_value_with_the_defaults_written_out(
    data_log: Path, tmp_path: Path
) -> None:
    grid = make_grid('"strategy.params.spread_bps" = [0.3]')
    run_sweep(make_base_config(), grid, [data_log], tmp_path / "t.csv", workers=1,
              logs_dir=tmp_path / "logs")
    log = tmp_path / "logs" / "run-0000.mmlog"
    recorded = config_from_dict(open_log(log).header.config)
    assert recorded.strategy.params["spread_bps"] == 0.3
    assert recorded.risk.rate_limit == NO_RATE_LIMITS  # the simulated venue publishes none
    assert recorded.sim["queue_model"] == "risk_averse"  # [sim] leaves it to the default
    assert verify_log(log).ok


# ---------------------------------------------------------------- checked before any work


def test_a_data_log_given_twice_is_refused(data_log: Path, tmp_path: Path) -> None:
    again = tmp_path / "link.mmlog"
    again.symlink_to(data_log)
    with pytest.raises(MMError, match=r"sweep --data: .*given twice"):
        run_sweep(make_base_config(), make_grid(), [data_log, again], tmp_path / "t.csv",
                  workers=1)
    assert not (tmp_path / "t.csv").exists()


def test_a_bad_key_in_the_grid_is_an_mmerror_naming_it(data_log: Path, tmp_path: Path) -> None:
    grid = make_grid('"risk.max_position_lots" = [10]\n"risk.max_positon_lots" = [10, 20]')
    with pytest.raises(MMError, match=r"risk\.max_positon_lots"):
        run_sweep(make_base_config(), grid, [data_log], tmp_path / "t.csv",
                  logs_dir=tmp_path / "logs")
    assert not (tmp_path / "logs").exists()
    assert not (tmp_path / "t.csv").exists()


def test_an_unknown_strategy_parameter_is_named(tmp_path: Path) -> None:
    with pytest.raises(SweepGridError, match=r"strategy\.params\.spred"):
        check_grid(make_base_config(), make_grid('"strategy.params.spred" = [1.0]'))


def test_a_bad_value_is_named_with_its_key(tmp_path: Path) -> None:
    with pytest.raises(SweepGridError, match=r"risk\.max_position_lots = 'many'"):
        check_grid(make_base_config(), make_grid('"risk.max_position_lots" = [5, "many"]'))


def test_unquoted_dotted_keys_are_the_same_grid() -> None:
    grid = make_grid("strategy.params.spread_bps = [0.1, 0.3]\nrisk.max_position_lots = [20]")
    assert grid.keys == ["strategy.params.spread_bps", "risk.max_position_lots"]
    assert len(grid) == 2


def test_a_grid_value_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(SweepGridError, match=r"session\.seed: expected a non-empty list"):
        make_grid('"session.seed" = 3')


def test_apply_params_sets_dotted_paths_and_list_indexes_on_a_copy() -> None:
    base = config_to_dict(make_base_config())
    data = apply_params(base, {"instruments.0.maker_fee": "0", "sim.queue_model": "probabilistic"})
    assert data["instruments"][0]["maker_fee"] == "0"
    assert data["sim"]["queue_model"] == "probabilistic"
    assert base["instruments"][0]["maker_fee"] == "-0.00002"


def test_an_unknown_metric_is_refused(data_log: Path, tmp_path: Path) -> None:
    with pytest.raises(MMError, match="sweep --metric"):
        run_sweep(make_base_config(), make_grid(), [data_log], tmp_path / "t.csv",
                  metric="pnl")


def test_a_table_path_must_be_csv_or_parquet(data_log: Path, tmp_path: Path) -> None:
    with pytest.raises(TableFormatError, match=r"\.csv or \.parquet"):
        run_sweep(make_base_config(), make_grid(), [data_log], tmp_path / "t.xlsx")


def test_a_parquet_table_reads_back_with_the_same_rows(
    local_sweep: tuple[Path, Any], tmp_path: Path
) -> None:
    """Needs pyarrow installed (the dev extra has it)."""
    import pyarrow.parquet as pq

    _, result = local_sweep
    write_table(result.rows, result.columns, tmp_path / "t.parquet")
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.column_names == result.columns
    assert table.column("run").to_pylist() == [r["run"] for r in result.rows]
    assert table.column("pnl_total").to_pylist() == [r["pnl_total"] for r in result.rows]


def test_parquet_without_pyarrow_says_install_pyarrow(
    data_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    with pytest.raises(MissingDependencyError, match="install pyarrow"):
        run_sweep(make_base_config(), make_grid(), [data_log], tmp_path / "t.parquet",
                  logs_dir=tmp_path / "logs")
    assert not (tmp_path / "logs").exists()


# ---------------------------------------------------------------- Ray


def test_ray_executor_without_ray_says_how_to_install_it(
    data_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail, installed or not
    with pytest.raises(MissingDependencyError) as caught:
        run_sweep(make_base_config(), make_grid(), [data_log], tmp_path / "t.csv",
                  executor="ray", logs_dir=tmp_path / "logs")
    assert str(caught.value) == RAY_HINT == "--executor ray needs ray: pip install 'mmengine[ray]'"
    assert not (tmp_path / "logs").exists()


def test_ray_executor_runs_a_two_by_two_grid_on_a_local_ray(
    data_log: Path, local_sweep: tuple[Path, Any], tmp_path: Path
) -> None:
    """Needs ray installed (the dev extra has it); without it this fails with the install hint."""
    result = run_sweep(make_base_config(), make_grid(), [data_log], tmp_path / "t.csv",
                       executor="ray", workers=2)
    assert len(result.rows) == 4
    assert_two_by_two(result.rows)
    assert repr(result.rows) == repr(local_sweep[1].rows)


# ---------------------------------------------------------------- table order


def test_rows_sort_nan_last_and_break_ties_by_parameter_values() -> None:
    rows = [
        {"run": 0, "k": 2, "data": "a", "sharpe": 1.0},
        {"run": 1, "k": 1, "data": "a", "sharpe": math.nan},
        {"run": 2, "k": 1, "data": "a", "sharpe": 1.0},
        {"run": 3, "k": 0, "data": "a", "sharpe": 3.0},
    ]
    assert [r["run"] for r in sort_rows(rows, "sharpe", ["k"])] == [3, 2, 0, 1]
    assert [r["run"] for r in sort_rows(rows, "sharpe", ["k"], descending=False)] == [2, 0, 3, 1]


# ---------------------------------------------------------------- command line


def test_mm_sweep_prints_the_top_rows_and_writes_the_table(
    data_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "base.toml").write_text(DEMO_CONFIG)
    (tmp_path / "grid.toml").write_text('"strategy.params.spread_bps" = [0.1]')
    parser = argparse.ArgumentParser(prog="mm")
    register(parser.add_subparsers())
    args = parser.parse_args([
        "sweep", "--config", str(tmp_path / "base.toml"), "--grid", str(tmp_path / "grid.toml"),
        "--data", str(data_log), "--out", str(tmp_path / "t.csv"), "--workers", "1",
        "--metric", "max_drawdown", "--ascending",
    ])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "strategy.params.spread_bps" in printed and "max_drawdown" in printed
    assert "sorted by max_drawdown, ascending" in printed
    assert (tmp_path / "t.csv").exists()


# ---------------------------------------------------------------- review: inputs and failures


def test_a_key_given_twice_in_the_grid_is_refused() -> None:
    """A quoted dotted key and the same key in a table are one key: which values would run?"""
    text = '"strategy.params.spread_bps" = [0.1, 0.2]\n[strategy.params]\nspread_bps = [0.3]\n'
    with pytest.raises(SweepGridError, match=r"strategy\.params\.spread_bps: .*twice"):
        make_grid(text)


def test_a_grid_giving_orders_and_risk_one_client_id_prefix_is_refused() -> None:
    base = load_session(ROOT / "configs" / "backtest.toml")
    grid = make_grid(f'"orders.client_id_prefix" = [{base.risk.client_id_prefix!r}, "q"]')
    with pytest.raises(SweepGridError, match=r"orders\.client_id_prefix and risk\.client_id_"):
        check_grid(base, grid)


def test_a_nested_strategy_table_the_base_config_leaves_out_can_be_swept() -> None:
    base = load_session(ROOT / "configs" / "backtest.toml")  # no [strategy.params.inventory]
    assert "inventory" not in base.strategy.params
    grid = make_grid('"strategy.params.inventory.soft_timeout_s" = [60.0, 90.0]')
    configs = check_grid(base, grid)
    assert [c.strategy.params["inventory"]["soft_timeout_s"] for c in configs] == [60.0, 90.0]
    with pytest.raises(SweepGridError, match=r"strategy\.params\.inventory\.nope"):
        check_grid(base, make_grid('"strategy.params.inventory.nope" = [1.0]'))


def test_sweeping_an_instrument_the_data_log_gives_is_refused(
    data_log: Path, tmp_path: Path
) -> None:
    """The data log's header gives BTC-USD's instrument, so these fees would change nothing."""
    grid = make_grid('"instruments.0.maker_fee" = ["0", "0.001"]')
    with pytest.raises(SweepGridError, match=r"instruments\.0\.maker_fee: has no effect"):
        run_sweep(make_base_config(), grid, [data_log], tmp_path / "t.csv", workers=1)
    assert not (tmp_path / "t.csv").exists()


def test_a_config_entry_that_disagrees_with_a_data_logs_spec_is_refused_before_any_run(
    data_log: Path, tmp_path: Path
) -> None:
    """The runs over ``other`` would use its spec: the config's lots would mean 10x the size,
    its taker fee would be dropped, and nothing would say so."""
    from mmcore.instrument import Instrument
    from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter

    spec = config_to_dict(make_base_config())["instruments"][0]
    inst = Instrument(**{**spec, "lot_size": "0.01", "taker_fee": "0"})
    other = tmp_path / "other.mmlog"
    header = LogHeader(format_version=FORMAT_VERSION, code_version="test", instruments=[inst],
                       config={}, created_ns=0, meta={})
    with LogWriter(other, header, fsync="never") as writer:
        writer.append_many(generate_market(MarketSpec(), 500, 3))
    with pytest.raises(ConfigError) as caught:
        run_sweep(make_base_config(), make_grid('"session.seed" = [1]'), [data_log, other],
                  tmp_path / "t.csv", workers=1, logs_dir=tmp_path / "logs")
    assert str(caught.value).startswith(
        f"instruments[0].lot_size: '0.001' but the data log {other} gives '0.01' for BTC-USD "
        "(also taker_fee '0.0005' vs '0'): a backtest uses the data's spec"
    )
    assert not (tmp_path / "logs").exists() and not (tmp_path / "t.csv").exists()


def test_config_entries_that_agree_in_value_or_whose_market_no_log_holds_are_no_conflict(
    data_log: Path, tmp_path: Path
) -> None:
    data = config_to_dict(make_base_config())
    data["instruments"][0]["tick_size"] = "0.10"  # the log records "0.1"
    data["instruments"].append(
        {"venue": "sim", "symbol": "ETH-USD", "tick_size": "0.01", "lot_size": "0.01"}
    )
    result = run_sweep(config_from_dict(data), make_grid('"session.seed" = [1]'), [data_log],
                       tmp_path / "t.csv", workers=1)
    assert not result.failed and len(result.rows) == 1


def test_a_data_log_without_the_configured_market_is_refused_before_any_run(
    data_log: Path, tmp_path: Path
) -> None:
    data = config_to_dict(make_base_config())
    data["session"]["markets"] = ["ETH-USD"]
    data["instruments"][0]["symbol"] = "ETH-USD"
    eth = config_from_dict(data)
    eth_log = tmp_path / "eth.mmlog"
    market = generate_market(MarketSpec(inst="ETH-USD"), 500, 1)
    run_session(eth, eth.instrument_map(), market, eth_log)
    with pytest.raises(BacktestInputError, match=r"BTC-USD.*eth\.mmlog"):
        run_sweep(make_base_config(), make_grid(), [data_log, eth_log], tmp_path / "t.csv",
                  workers=1, logs_dir=tmp_path / "logs")
    assert not (tmp_path / "logs").exists()


def test_a_logs_dir_holding_a_data_log_by_a_run_logs_name_is_refused(
    data_log: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    data = logs / "run-0000.mmlog"
    data.write_bytes(data_log.read_bytes())
    with pytest.raises(BacktestInputError, match="sweep --logs-dir"):
        run_sweep(make_base_config(), make_grid('"session.seed" = [1]'), [data],
                  tmp_path / "t.csv", workers=1, logs_dir=logs)
    assert data.read_bytes() == data_log.read_bytes()


def test_one_failing_run_is_reported_in_its_row_and_the_others_still_run(
    data_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import replay.sweep as sweep

    def flaky_backtest(config: AppConfig, *args: Any, **kwargs: Any) -> Any:
        if config.strategy.params["spread_bps"] == 0.2:
            raise RuntimeError("boom")
        return run_backtest(config, *args, **kwargs)

    monkeypatch.setattr(sweep, "run_backtest", flaky_backtest)
    monkeypatch.setattr(sweep, "_run_local", lambda tasks, _: [run_task(t) for t in tasks])
    out = tmp_path / "t.csv"
    result = run_sweep(make_base_config(), make_grid(), [data_log], out, workers=1)
    assert result.columns == ["run", *PARAM_KEYS, "data", *METRIC_NAMES, "error"]
    assert [r["error"] for r in result.rows] == ["", "", "RuntimeError: boom", "RuntimeError: boom"]
    assert [r["run"] for r in result.failed] == [2, 3]  # spread 0.2: the third and fourth runs
    assert all(r["fills"] > 0 for r in result.rows[:2])
    assert all(r[m] is None for r in result.rows[2:] for m in METRIC_NAMES)
    with out.open(newline="") as f:
        table = list(csv.DictReader(f))
    assert [row["error"] for row in table] == [r["error"] for r in result.rows]
    assert table[2]["pnl_total"] == ""

    (tmp_path / "base.toml").write_text(DEMO_CONFIG)  # the grid sets what make_base_config does
    (tmp_path / "grid.toml").write_text(GRID_2X2)
    parser = argparse.ArgumentParser(prog="mm")
    register(parser.add_subparsers())
    args = parser.parse_args([
        "sweep", "--config", str(tmp_path / "base.toml"), "--grid", str(tmp_path / "grid.toml"),
        "--data", str(data_log), "--out", str(tmp_path / "t2.csv"), "--workers", "1",
    ])
    assert args.func(args) == 1
    captured = capsys.readouterr()
    assert "2 of 4 runs failed" in captured.err and "RuntimeError: boom" in captured.err
    assert "n/a" in captured.out


def test_a_table_folder_that_cannot_be_made_stops_the_sweep_before_any_run(
    data_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import replay.sweep as sweep

    def no_runs(tasks: Any, workers: int) -> Any:
        raise AssertionError("a run started")

    monkeypatch.setattr(sweep, "_run_local", no_runs)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        run_sweep(make_base_config(), make_grid(), [data_log], blocker / "t.csv", workers=1)


# ---------------------------------------------------------------- review: refused up front, crashes


def no_runs(tasks: Any, workers: int) -> Any:
    raise AssertionError("a run started")


@pytest.mark.parametrize(("grid", "named"), [
    # both position limits 0 (the base has no max_position_usd): only RiskGate refused it
    ('"risk.max_position_lots" = [100, 0]',
     r"risk\.max_position_lots = 0: risk\.max_position_lots"),
    # beyond 64 bits: the run's log header could not encode it
    (f'"session.seed" = [1, {2**64 + 1}]', rf"session\.seed = {2**64 + 1}: session\.seed"),
])
def test_a_grid_value_that_only_a_run_would_refuse_is_refused_before_any_run(
    grid: str, named: str, data_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import replay.sweep as sweep

    monkeypatch.setattr(sweep, "_run_local", no_runs)
    with pytest.raises(SweepGridError, match=rf"^grid\.toml: {named}"):
        run_sweep(make_base_config(), make_grid(grid), [data_log], tmp_path / "t.csv", workers=1,
                  grid_name="grid.toml")
    assert not (tmp_path / "t.csv").exists()


def test_a_table_path_that_is_a_directory_is_refused_before_any_run(
    data_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import replay.sweep as sweep

    monkeypatch.setattr(sweep, "_run_local", no_runs)
    (tmp_path / "t.csv").mkdir()
    with pytest.raises(MMError, match=r"^sweep --out: expected a table file, found a directory"):
        run_sweep(make_base_config(), make_grid('"session.seed" = [1]'), [data_log],
                  tmp_path / "t.csv", workers=1)


def dying_when(spread: float) -> Any:
    """A run_backtest whose process dies (as by the OOM killer, a segfault) at ``spread``."""
    import os

    def backtest(config: AppConfig, *args: Any, **kwargs: Any) -> Any:
        if config.strategy.params["spread_bps"] == spread:
            os._exit(3)
        return run_backtest(config, *args, **kwargs)

    return backtest


def test_a_run_whose_worker_dies_keeps_its_row_and_the_others_run(
    data_log: Path, local_sweep: tuple[Path, Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import multiprocessing

    import replay.sweep as sweep

    assert multiprocessing.get_start_method() == "fork"  # the patch reaches the workers
    monkeypatch.setattr(sweep, "run_backtest", dying_when(0.2))
    out = tmp_path / "t.csv"
    result = run_sweep(make_base_config(), make_grid(), [data_log], out, workers=1)
    assert [r["run"] for r in result.failed] == [2, 3]  # spread 0.2: each died by itself
    assert all(r["error"] == sweep.WORKER_DIED for r in result.failed)
    assert all(r[m] is None for r in result.failed for m in METRIC_NAMES)
    expected = {r["run"]: r for r in local_sweep[1].rows}
    for row in result.rows[:2]:
        assert row == {**expected[row["run"]], "error": ""}  # as in a sweep with no crash
    with out.open(newline="") as f:
        assert [row["error"] for row in csv.DictReader(f)] == [r["error"] for r in result.rows]


def test_a_dying_worker_costs_the_run_beside_it_nothing(
    data_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken pool kills every worker: the run that was running beside the dying one is run
    again alone (so is the dying one, which dies again) and keeps its metrics."""
    import os
    import time

    import replay.sweep as sweep

    grid = make_grid('"strategy.params.spread_bps" = [0.2, 0.1, 0.15]')
    clean = run_sweep(make_base_config(), grid, [data_log], tmp_path / "a.csv", workers=2)
    beside = tmp_path / "beside-started"

    def backtest(config: AppConfig, *args: Any, **kwargs: Any) -> Any:
        spread = config.strategy.params["spread_bps"]
        if spread == 0.2:  # dies once the run beside it is surely running
            deadline = time.monotonic() + 30
            while not beside.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            os._exit(3)
        if spread == 0.1 and not beside.exists():  # its first try: still running at the crash
            beside.touch()
            time.sleep(60)  # the broken pool kills it long before
        return run_backtest(config, *args, **kwargs)

    alone: list[list[int]] = []
    run_alone = sweep._run_alone

    def spy(tasks: Any, suspects: list[int], *args: Any) -> None:
        alone.append(list(suspects))
        run_alone(tasks, suspects, *args)

    monkeypatch.setattr(sweep, "run_backtest", backtest)
    monkeypatch.setattr(sweep, "_run_alone", spy)
    result = run_sweep(make_base_config(), grid, [data_log], tmp_path / "b.csv", workers=2)
    assert alone == [[0, 1]]  # both were running when the pool broke
    assert [r["run"] for r in result.failed] == [0]
    assert [r for r in result.rows if r["run"] != 0] == [
        {**r, "error": ""} for r in clean.rows if r["run"] != 0
    ]


def test_workers_that_die_before_any_run_begins_give_every_run_an_error_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pool that breaks with no run begun is tried once more, then not again: no endless
    loop of fresh pools."""
    import os

    import replay.sweep as sweep

    def dead_on_arrival(state: Any) -> None:
        os._exit(3)

    monkeypatch.setattr(sweep, "_init_worker", dead_on_arrival)
    tasks = [sweep.SweepTask(i, {"k": i}, {}, "d.mmlog", f"run-{i}.mmlog") for i in range(3)]
    rows = sweep._run_local(tasks, 2)
    assert rows == [sweep.failed_row(t, sweep.WORKER_DIED) for t in tasks]


class FakeRay:
    """Just what ``_run_on_ray`` uses of ray, already initialized; task 1's worker crashes.
    ``get`` of a list raises the first task's error, as ray's does."""

    class exceptions:  # as in ray.exceptions
        class RayError(Exception):
            pass

        class WorkerCrashedError(RayError):
            pass

    def is_initialized(self) -> bool:
        return True

    def remote(self, num_cpus: int) -> Any:
        crashed = self.exceptions.WorkerCrashedError(
            "The worker died unexpectedly while executing this task.\nCheck the logs."
        )

        class Remote:
            def __init__(self, fn: Any) -> None:
                self.remote = lambda task: crashed if task.run == 1 else {"run": task.run}

        return Remote

    def get(self, refs: Any) -> Any:
        if isinstance(refs, list):
            return [self.get(ref) for ref in refs]
        if isinstance(refs, BaseException):
            raise refs
        return refs


def test_a_ray_task_whose_worker_crashed_gets_its_error_row_and_the_others_keep_theirs() -> None:
    import replay.sweep as sweep

    tasks = [sweep.SweepTask(i, {"k": i}, {}, "d.mmlog", f"run-{i}.mmlog") for i in range(3)]
    rows = sweep._run_on_ray(FakeRay(), tasks, 2, None)
    assert rows == [
        {"run": 0},
        sweep.failed_row(
            tasks[1], "WorkerCrashedError: The worker died unexpectedly while executing this task."
        ),
        {"run": 2},
    ]


def test_each_run_reads_its_data_log_on_that_logs_own_spec(
    data_log: Path, tmp_path: Path
) -> None:
    """A sweep backtests each data log alone, so two recordings of one market with different
    specs (a tick size changed between them) are fine: unlike mm backtest, which merges them."""
    from mmcore.instrument import Instrument
    from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter, open_log

    fine = Instrument(venue="sim", symbol="BTC-USD", tick_size="0.01", lot_size="0.001",
                      min_size="0.001")
    finer = tmp_path / "finer.mmlog"
    header = LogHeader(format_version=FORMAT_VERSION, code_version="test", instruments=[fine],
                       config={}, created_ns=0, meta={})
    with LogWriter(finer, header, fsync="never") as writer:
        writer.append_many(generate_market(MarketSpec(start_mid=6_000_000), 500, 3))
    plain = config_to_dict(make_base_config())
    plain["instruments"] = []  # each log gives the spec: an entry could agree with only one
    base = config_from_dict(plain)
    with pytest.raises(BacktestInputError, match=r"data\.mmlog and .*finer\.mmlog"):
        run_backtest(base, [data_log, finer], tmp_path / "bt.mmlog", progress=None)
    result = run_sweep(base, make_grid('"session.seed" = [1]'), [data_log, finer],
                       tmp_path / "t.csv", workers=1, logs_dir=tmp_path / "logs")
    assert not result.failed and len(result.rows) == 2
    ticks = [open_log(tmp_path / "logs" / f"run-000{i}.mmlog").header.instruments[0].tick_size
             for i in (0, 1)]
    assert ticks == ["0.1", "0.01"]
