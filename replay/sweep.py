"""``mm sweep``: one backtest per grid combination and data log, scored and tabled.

Everything that can be wrong is checked before any backtest starts: the metric name, the table
format (and pyarrow for Parquet), its path (not a folder) and its folder, the executor (ray
installed), the data logs (readable, each holding every configured market, with the spec of any
``[[instruments]]`` entry of it; none where a run's log would go) and every grid combination
(``replay.sweep_grid``; no key on an instrument the data logs give). Each run backtests one data
log, so two logs may record different specs of one market (a venue changed its tick size between
the recordings): each run reads its log on its own grid.

The unit of work is ``run_task(SweepTask) -> dict``: build the config, run ``run_backtest`` on
one data log writing its own session log, fold and score that log (``replay.timeline``,
``replay.scorecard``) and return one table row of plain data. The same function runs in local
processes (``concurrent.futures.ProcessPoolExecutor``) or as Ray tasks. Each run's seed is its
config's ``session.seed``; the table's order is fixed by ``replay.sweep_table.sort_rows``.

A run that fails anyway does not stop the sweep: its row keeps its parameters and data, has no
metrics (empty cells, sorted last) and says what went wrong in an ``error`` column, which the
table has only when some run failed. That holds for a run whose process dies (killed for memory,
a crash in native code) too: see ``_run_local`` and ``_run_on_ray``.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import msgspec

from mmcore.config import AppConfig, config_from_dict, config_to_dict
from mmcore.errors import MMError
from mmcore.log import open_log
from replay.backtest import (
    check_data_markets,
    check_distinct_data,
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
    "failed_row",
    "plan_tasks",
    "run_sweep",
    "run_task",
]

EXECUTORS = ("local", "ray")
RAY_HINT = "--executor ray needs ray: pip install 'mmengine[ray]'"
WORKER_DIED = (
    "WorkerDied: the process running this run ended abruptly (killed, e.g. for memory, or "
    "crashed)"
)
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
    try:
        config = config_from_dict(task.config, f"sweep run {task.run}")
        out = Path(task.out)
        run_backtest(config, [task.data], out, progress=None, replace=True)
        card = score(fold_log(open_log(out, repair=False), _FOLD_POINTS))
    except Exception as exc:  # one failed run is reported in its row, not fatal to the sweep
        return failed_row(task, f"{type(exc).__name__}: {exc}")
    row: dict[str, Any] = {"run": task.run, **task.params, "data": task.data}
    row.update(msgspec.structs.asdict(card.metrics))
    return row


def failed_row(task: SweepTask, error: str) -> dict[str, Any]:
    """The row of a run that failed: run, params, data, no metrics (``None``), its ``error``."""
    row: dict[str, Any] = {"run": task.run, **task.params, "data": task.data}
    row.update(dict.fromkeys(METRIC_NAMES))
    row["error"] = error
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
    if Path(out).is_dir():  # else found only when the table is written, after every run
        raise SweepOptionError(f"sweep --out: expected a table file, found a directory: {out}")
    check_distinct_data(data, "sweep --data")
    ray = _import_ray() if executor == "ray" else None
    paths = [str(p) for p in data]
    logs = [open_log(p, repair=False) for p in paths]
    # each run backtests one data log, on that log's instruments (they may differ between logs)
    specs = [data_instruments([log], "sweep --data") for log in logs]
    configs = check_grid(base, grid, grid_name)
    _check_instrument_keys(base, grid, {s for found in specs for s in found}, grid_name)
    for config in configs:
        for path, log, found in zip(paths, logs, specs):
            check_data_markets(config, [log], [path])
            resolve_instruments(config, found, source=f"the data log {path}")
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
    base: AppConfig, grid: Grid, available: Collection[str], where: str
) -> None:
    """A backtest takes a market's instrument from the data log when the log has it
    (``resolve_instruments``), so sweeping that ``[[instruments]]`` entry would change nothing
    (or be refused where the value differs from the log's): say so once, naming the key."""
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
    """``run_task`` over ``tasks`` in local processes, one future per task; rows in task order.

    A worker that dies (killed for memory, a crash in native code) breaks the pool: every run
    not finished fails with ``BrokenProcessPool``, and the pool kills its other workers too. A
    flag per task, set by the worker as it starts and finishes a run, tells them apart: the runs
    that never began, or finished unread, go to a fresh pool; those that were running are
    suspects. A lone suspect is the one that died: it gets an error row. Several are each run
    again in a process of their own, and only one that dies alone gets an error row, so one
    crash costs no other run its metrics."""
    state = multiprocessing.Array("b", len(tasks), lock=False)  # _IDLE, _STARTED or _DONE
    rows: dict[int, dict[str, Any]] = {}
    todo = list(range(len(tasks)))
    stalled = 0
    while todo:
        suspects = _local_round(tasks, todo, workers, state, rows)
        if len(suspects) == 1:
            rows[suspects[0]] = failed_row(tasks[suspects[0]], WORKER_DIED)
        elif suspects:
            _run_alone(tasks, suspects, state, rows)
        left = [i for i in todo if i not in rows]
        stalled = stalled + 1 if len(left) == len(todo) else 0
        if stalled == 2:  # the workers die before any run begins: no retry will do better
            rows.update((i, failed_row(tasks[i], WORKER_DIED)) for i in left)
            left = []
        todo = left
    return [rows[i] for i in range(len(tasks))]


_IDLE, _STARTED, _DONE = 0, 1, 2
_task_state: Any = None  # in a local worker: the flags of _run_local, shared with it


def _init_worker(state: Any) -> None:
    global _task_state
    _task_state = state


def _run_flagged(index: int, task: SweepTask) -> dict[str, Any]:
    """``run_task`` in a local worker, with ``index``'s flag set as the run starts and ends."""
    _task_state[index] = _STARTED
    row = run_task(task)
    _task_state[index] = _DONE
    return row


def _local_round(
    tasks: list[SweepTask],
    todo: list[int],
    workers: int,
    state: Any,
    rows: dict[int, dict[str, Any]],
) -> list[int]:
    """Run ``todo`` (task indexes) in one pool, filling ``rows``; returns, if a worker died, the
    tasks that were running then (their rows are left out, as are those of tasks not begun)."""
    for i in todo:
        state[i] = _IDLE
    broken: list[int] = []
    with ProcessPoolExecutor(
        max_workers=min(workers, len(todo)), initializer=_init_worker, initargs=(state,)
    ) as pool:
        futures = []
        for i in todo:
            try:
                futures.append((i, pool.submit(_run_flagged, i, tasks[i])))
            except BrokenProcessPool:  # a worker died while runs were handed out: the rest wait
                break
        for i, future in futures:
            row = _result(future, tasks[i])
            if row is None:
                broken.append(i)
            else:
                rows[i] = row
    return [i for i in broken if state[i] == _STARTED]


def _run_alone(
    tasks: list[SweepTask], suspects: list[int], state: Any, rows: dict[int, dict[str, Any]]
) -> None:
    """Each of ``suspects`` in a pool of its own, at once: one that dies gets an error row. (A
    pool's first ``submit`` cannot find it broken: only a later one can, as in ``_local_round``.)"""
    with ExitStack() as stack:
        futures = []
        for i in suspects:
            state[i] = _IDLE
            pool = stack.enter_context(
                ProcessPoolExecutor(max_workers=1, initializer=_init_worker, initargs=(state,))
            )
            futures.append((i, pool.submit(_run_flagged, i, tasks[i])))
        for i, future in futures:
            row = _result(future, tasks[i])
            rows[i] = failed_row(tasks[i], WORKER_DIED) if row is None else row


def _result(future: Future[dict[str, Any]], task: SweepTask) -> dict[str, Any] | None:
    """The future's row; ``None`` when its pool broke (a worker died) before it was read."""
    try:
        return future.result()
    except BrokenProcessPool:
        return None
    except Exception as exc:  # raised outside run_task's own catch (a row that would not pickle)
        return failed_row(task, f"{type(exc).__name__}: {exc}")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(RAY_HINT) from None
    return ray


def _run_on_ray(
    ray: Any, tasks: list[SweepTask], workers: int, address: str | None
) -> list[dict[str, Any]]:
    """The same ``run_task`` as Ray tasks, on the cluster at ``address`` or a local Ray. Rows are
    got one task at a time, so a task whose worker died (after Ray's own retries) or that failed
    in Ray gets its error row and the others keep theirs."""
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
        rows: list[dict[str, Any]] = []
        for task, ref in zip(tasks, refs):
            try:
                rows.append(ray.get(ref))
            except ray.exceptions.RayError as exc:  # WorkerCrashedError, OutOfMemoryError, ...
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                rows.append(failed_row(task, f"{type(exc).__name__}: {lines[0] if lines else ''}"))
        return rows
    finally:
        if started:
            ray.shutdown()
