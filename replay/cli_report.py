"""``mm report`` (an HTML report and a printed summary of one session log) and ``mm sweep``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmcore.cli.arg_types import whole_number
from replay.report import write_report
from replay.scorecard import METRIC_NAMES
from replay.session import load_session
from replay.sweep import EXECUTORS, run_sweep
from replay.sweep_grid import load_grid
from replay.sweep_table import format_table

__all__ = ["register"]

_PREVIEW_METRICS = ("pnl_total", "sharpe", "max_drawdown", "fills", "uptime")
MIN_POINTS = 4
"""The fewest points a plot can be drawn with (``replay.series.Envelope``'s lower bound)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write an HTML report of a session log and print its summary",
        description="Fold a session log (mm backtest / mm run / mm demo) into DIR/report.html "
        "(self-contained: inline CSS and SVG) with price and quotes, inventory, PnL by "
        "component and spread capture, and print the session's metrics.",
    )
    p.add_argument("log", help="session log")
    p.add_argument("--out", required=True, help="directory for report.html")
    p.add_argument(
        "--max-points",
        type=whole_number(MIN_POINTS),
        default=2000,
        help=f"largest number of points per plot (at least {MIN_POINTS})",
    )
    p.set_defaults(func=_report)

    p = subparsers.add_parser(
        "sweep",
        help="backtest a grid of parameters over data logs, in parallel, into a table",
        description="Run one backtest per combination of the grid's values and per data log, "
        "score each session and write a table sorted by a metric (.csv or .parquet).",
    )
    p.add_argument("--config", required=True, help="base session config (TOML)")
    p.add_argument(
        "--grid", required=True, help='TOML of value lists by dotted key, e.g. "risk.x" = [1, 2]'
    )
    p.add_argument("--data", required=True, nargs="+", help="market data logs")
    p.add_argument("--out", required=True, help="table to write: *.csv or *.parquet")
    p.add_argument("--executor", choices=EXECUTORS, default="local", help="default: local")
    p.add_argument(
        "--workers", type=whole_number(1), default=None, help="parallel runs (default: CPUs)"
    )
    p.add_argument("--ray-address", default=None, help="Ray cluster to join (default: local)")
    p.add_argument("--logs-dir", default=None, help="keep each run's session log here")
    p.add_argument(
        "--metric", choices=METRIC_NAMES, default="pnl_total", help="sort key (default pnl_total)"
    )
    order = p.add_mutually_exclusive_group()
    order.add_argument("--descending", dest="descending", action="store_true", default=True,
                       help="best (largest) first: the default")
    order.add_argument("--ascending", dest="descending", action="store_false",
                       help="smallest first (e.g. for max_drawdown)")
    p.add_argument("--top", type=whole_number(0), default=10, help="rows to print (default 10)")
    p.set_defaults(func=_sweep)


def _report(args: argparse.Namespace) -> int:
    result = write_report(args.log, args.out, max_points=args.max_points)
    print(result.scorecard.text())
    print(f"wrote {result.path}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    base = load_session(args.config)
    grid = load_grid(args.grid)
    print(f"sweep: {len(grid)} combinations x {len(args.data)} data logs")
    result = run_sweep(
        base,
        grid,
        args.data,
        args.out,
        executor=args.executor,
        workers=args.workers,
        metric=args.metric,
        descending=args.descending,
        logs_dir=args.logs_dir,
        ray_address=args.ray_address,
        grid_name=args.grid,
    )
    shown = ["run", *grid.keys, "data", args.metric]
    shown += [m for m in _PREVIEW_METRICS if m != args.metric]
    rows = [{**row, "data": Path(row["data"]).name} for row in result.rows]
    print(format_table(rows, shown, limit=args.top))
    print(f"wrote {result.table} ({len(result.rows)} rows, sorted by {args.metric}, "
          f"{'descending' if args.descending else 'ascending'})")
    if not result.failed:
        return 0
    print(f"mm sweep: {len(result.failed)} of {len(result.rows)} runs failed (their rows have "
          "no metrics and say why in the error column):", file=sys.stderr)
    for row in result.failed:
        params = ", ".join(f"{k} = {row[k]!r}" for k in grid.keys)
        print(f"  run {row['run']} ({params}; {row['data']}): {row['error']}", file=sys.stderr)
    return 1
