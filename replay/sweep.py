"""``mm sweep``: one backtest per grid combination and data log, scored and tabled.

Everything that can be wrong is checked before any backtest starts: the metric name, the table
format (and pyarrow for Parquet) and its folder, the executor (ray installed), the data logs
(readable, each holding every configured market; none where a run's log would go) and every grid
combination (``replay.sweep_grid``; no key on an instrument the data logs give).

The unit of work is ``run_task(SweepTask) -> dict``: build the config, run ``run_backtest`` on
one data log writing its own session log, fold and score that log (``replay.timeline``,
``replay.scorecard``) and return one table row of plain data. The same function runs in local
processes (``concurrent.futures.ProcessPoolExecutor``) or as Ray tasks. Each run's seed is its
config's ``session.seed``; the table's order is fixed by ``replay.sweep_table.sort_rows``.

A run that fails anyway does not stop the sweep: its row keeps its parameters and data, has no
metrics (empty cells, sorted last) and says what went wrong in an ``error`` column, which the
table has only when some run failed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import msgspec

from mmcore.config import AppConfig, config_from_dict, config_to_dict
from mmcore.errors import MMError
from mmcore.instrument import Instrument
from mmcore.log import open_log
from replay.backtest import (
    check_data_markets,
    check_not_a_data_log,
    data_instruments,
    run_backtest,
)
from replay.scorecard import METRIC_NAMES, score
from replay.session import resolve_instruments
from replay.sweep_grid import Grid, SweepGridError, check_grid
from replay.sweep_table import MissingDependencyError, check_table_path, sort_rows, write_table
from replay.timeline import fold_log

__all__ = [
    "EXECUTORS",
    "SweepOptionError",
    "SweepResult",
    "SweepTask",
    "plan_tasks",
    "run_sweep",
    "run_task",
]

EXECUTORS = ("local", "ray")
RAY_HINT = "--executor ray needs ray: pip install 'mmengine[ray]'"
_FOLD_POINTS = 16  # a sweep draws no plots: keep the fold's series tiny


class SweepOptionError(MMError, ValueError):
    """A sweep option (metric, executor, workers, data) is not one we can run with."""


class SweepTask(msgspec.Struct, frozen=True):
    """One backtest: the ``run``-th of the sweep, ``params`` applied to ``config`` (a plain
    dict, as in a log header), over the data log ``data``, recording to ``out``."""

    run: int
    params: dict[str, Any]
    config: dict[str, Any]
    data: str
    out: str


class SweepResult(msgspec.Struct, frozen=True):
    """The sorted table (``columns`` in order) and where it was written; ``failed``: the rows
    of the runs that failed (each with its ``error``), in run order."""

    columns: list[str]
    rows: list[dict[str, Any]]
    table: str
    failed: list[dict[str, Any]] = []


def run_task(task: SweepTask) -> dict[str, Any]:
    """Run one backtest and return its table row: run, params, data, then every metric; a run
    that fails returns its row with no metrics (``None``) and its ``error``."""
    row: dict[str, Any] = {"run": task.run, **task.params, "data": task.data}
    try:
        config = config_from_dict(task.config, f"sweep run {task.run}")
        out = Path(task.out)
        run_backtest(config, [task.data], out, progress=None, replace=True)
        card = score(fold_log(open_log(out, repair=False), _FOLD_POINTS))
    except Exception as exc:  # one failed run is reported in its row, not fatal to the sweep
        row.update(dict.fromkeys(METRIC_NAMES))
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    row.update(msgspec.structs.asdict(card.metrics))
    return row


def plan_tasks(
    configs: Sequence[AppConfig], grid: Grid, data: Sequence[str], logs_dir: Path
) -> list[SweepTask]:
    """One task per combination x data log, numbered in grid order then data order."""
    tasks: list[SweepTask] = []
    for params, config in zip(grid.combinations(), configs):
        plain = config_to_dict(config)
        for path in data:
            run = len(tasks)
            out = logs_dir / f"run-{run:04d}.mmlog"
            tasks.append(SweepTask(run, params, plain, str(path), str(out)))
    return tasks


def run_sweep(
    base: AppConfig,
    grid: Grid,
    data: Sequence[str | Path],
    out: str | Path,
    *,
    executor: str = "local",
    workers: int | None = None,
    metric: str = "pnl_total",
    descending: bool = True,
    logs_dir: str | Path | None = None,
    ray_address: str | None = None,
    grid_name: str = "<grid>",
) -> SweepResult:
    """Check everything, run every task on ``executor``, write the sorted table to ``out``."""
    if metric not in METRIC_NAMES:
        raise SweepOptionError(
            f"sweep --metric: expected one of {', '.join(METRIC_NAMES)}, found {metric!r}"
        )
    if executor not in EXECUTORS:
        raise SweepOptionError(f"sweep --executor: expected one of {EXECUTORS}, found {executor!r}")
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_workers < 1:
        raise SweepOptionError(f"sweep --workers: expected >= 1, found {n_workers}")
    if not data:
        raise SweepOptionError("sweep --data: expected at least one data log, found none")
    check_table_path(out)
    ray = _import_ray() if executor == "ray" else None
    paths = [str(p) for p in data]
    logs = [open_log(p, repair=False) for p in paths]
    available = data_instruments(logs)
    configs = check_grid(base, grid, grid_name)
    _check_instrument_keys(base, grid, available, grid_name)
    for config in configs:
        for path, log in zip(paths, logs):  # each run backtests one data log
            check_data_markets(config, [log], [path])
        resolve_instruments(config, available)
    Path(out).parent.mkdir(parents=True, exist_ok=True)  # fails now, not after every run

    with tempfile.TemporaryDirectory(prefix="mm-sweep-") as scratch:
        folder = Path(logs_dir) if logs_dir is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        tasks = plan_tasks(configs, grid, paths, folder)
        for task in tasks:
            check_not_a_data_log(task.out, paths, "sweep --logs-dir")
        if ray is not None:
            rows = _run_on_ray(ray, tasks, n_workers, ray_address)
        else:
            rows = _run_local(tasks, n_workers)

    columns = ["run", *grid.keys, "data", *METRIC_NAMES]
    failed = [row for row in rows if "error" in row]
    if failed:
        columns.append("error")
        for row in rows:
            row.setdefault("error", "")
    rows = sort_rows(rows, metric, grid.keys, descending)
    write_table(rows, columns, out)
    return SweepResult(columns, rows, str(out), failed)


def _check_instrument_keys(
    base: AppConfig, grid: Grid, available: Mapping[str, Instrument], where: str
) -> None:
    """A backtest takes a market's instrument from the data log when the log has it
    (``resolve_instruments``), so sweeping that ``[[instruments]]`` entry would change nothing."""
    for key in grid.keys:
        parts = key.split(".")
        if parts[0] != "instruments" or len(parts) < 2:
            continue
        symbol = base.instruments[int(parts[1])].symbol  # an index check_grid has checked
        if symbol in available:
            raise SweepGridError(
                f"{where}: {key}: has no effect: the data logs give the instrument of {symbol} "
                "(sweep sim.maker_fee or sim.taker_fee for the simulated venue's fees)"
            )


def _run_local(tasks: list[SweepTask], workers: int) -> list[dict[str, Any]]:
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        return list(pool.map(run_task, tasks))


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(RAY_HINT) from None
    return ray


def _run_on_ray(
    ray: Any, tasks: list[SweepTask], workers: int, address: str | None
) -> list[dict[str, Any]]:
    """The same ``run_task`` as Ray tasks, on the cluster at ``address`` or a local Ray."""
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        remote = ray.remote(num_cpus=1)(run_task)
        refs = [remote.remote(task) for task in tasks]
        rows: list[dict[str, Any]] = ray.get(refs)
        return rows
    finally:
        if started:
            ray.shutdown()
