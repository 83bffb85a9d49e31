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
from mmcore.errors import MMError
from replay.backtest import run_session
from replay.cli_report import register
from replay.demo import DEMO_CONFIG, demo_config
from replay.scorecard import METRIC_NAMES
from replay.sweep import RAY_HINT, run_sweep
from replay.sweep_grid import Grid, SweepGridError, apply_params, check_grid, parse_grid
from replay.sweep_table import MissingDependencyError, TableFormatError, sort_rows, write_table
from replay.synthetic import MarketSpec, generate_market

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
    result = run_sweep(make_base_config(), grid, [data_log, data_log], tmp_path / "t.csv",
                       workers=1, logs_dir=tmp_path / "logs", metric="fills", descending=False)
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        "run-0000.mmlog", "run-0001.mmlog"
    ]
    assert [r["run"] for r in result.rows] == [0, 1]  # equal metrics: tie broken by params, data


# ---------------------------------------------------------------- checked before any work


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
