"""``mm sweep``: one backtest per grid combination and data log, scored and tabled.

Everything that can be wrong is checked before any backtest starts: the metric name, the table
format (and pyarrow for Parquet), the executor (ray installed), the data logs (readable, with the
configured markets' instruments) and every grid combination (``replay.sweep_grid``).

The unit of work is ``run_task(SweepTask) -> dict``: build the config, run ``run_backtest`` on
one data log writing its own session log, fold and score that log (``replay.timeline``,
``replay.scorecard``) and return one table row of plain data. The same function runs in local
processes (``concurrent.futures.ProcessPoolExecutor``) or as Ray tasks. Each run's seed is its
config's ``session.seed``; the table's order is fixed by ``replay.sweep_table.sort_rows``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import msgspec

from mmcore.config import AppConfig, config_from_dict, config_to_dict
from mmcore.errors import MMError
from mmcore.log import open_log
from replay.backtest import data_instruments, run_backtest
from replay.scorecard import METRIC_NAMES, score
from replay.session import resolve_instruments
from replay.sweep_grid import Grid, check_grid
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
    """The sorted table (``columns`` in order) and where it was written."""

    columns: list[str]
    rows: list[dict[str, Any]]
    table: str


def run_task(task: SweepTask) -> dict[str, Any]:
    """Run one backtest and return its table row: run, params, data, then every metric."""
    config = config_from_dict(task.config, f"sweep run {task.run}")
    out = Path(task.out)
    out.unlink(missing_ok=True)
    run_backtest(config, [task.data], out, progress=None)
    card = score(fold_log(open_log(out, repair=False), _FOLD_POINTS))
    row: dict[str, Any] = {"run": task.run, **task.params, "data": task.data}
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
    available = data_instruments(paths)
    configs = check_grid(base, grid, grid_name)
    for config in configs:
        resolve_instruments(config, available)

    with tempfile.TemporaryDirectory(prefix="mm-sweep-") as scratch:
        folder = Path(logs_dir) if logs_dir is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        tasks = plan_tasks(configs, grid, paths, folder)
        if ray is not None:
            rows = _run_on_ray(ray, tasks, n_workers, ray_address)
        else:
            rows = _run_local(tasks, n_workers)

    columns = ["run", *grid.keys, "data", *METRIC_NAMES]
    rows = sort_rows(rows, metric, grid.keys, descending)
    write_table(rows, columns, out)
    return SweepResult(columns, rows, str(out))


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
