"""``mm report``: one self-contained HTML page (inline CSS and SVG) about one session log.

The log is folded once (``replay.timeline``) in bounded memory, scored (``replay.scorecard``)
and drawn (``replay.plots``): per market, the mid with our resting bid and ask and our fills, and
our inventory; for the session, PnL by component over time, spread captured per fill and PnL by
UTC hour. Every plot holds at most about ``max_points`` points whatever the log's length.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timezone
from html import escape
from pathlib import Path

import msgspec

from mmcore.log import LogHeader, open_log
from replay.plots import Line, Markers, bar_chart, time_chart
from replay.scorecard import Scorecard, score
from replay.series import Envelope
from replay.timeline import MarketTimeline, Timeline, fold_log

__all__ = ["ReportResult", "render_html", "write_report"]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
th{text-align:left;font-weight:500}pre{background:#f6f6f6;padding:8px;overflow:auto}
svg{display:block;margin:8px 0}svg .title{font-size:13px;font-weight:600}
svg .axis{font-size:11px;fill:#555}
"""
_MAX_BINS = 60
_PARTS = (
    ("spread", "#2ca02c"),
    ("inventory", "#1f77b4"),
    ("fees", "#d62728"),
    ("funding", "#9467bd"),
    ("total", "#222222"),
)


class ReportResult(msgspec.Struct, frozen=True):
    """Where the page went, and the scorecard it shows."""

    path: str
    scorecard: Scorecard


def write_report(log_path: str | Path, out_dir: str | Path, max_points: int = 2000) -> ReportResult:
    """Fold ``log_path`` and write ``out_dir/report.html``."""
    reader = open_log(log_path, repair=False)
    timeline = fold_log(reader, max_points)
    card = score(timeline)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = out / "report.html"
    page.write_text(render_html(timeline, card, reader.header, str(log_path)), encoding="utf-8")
    return ReportResult(str(page), card)


def render_html(tl: Timeline, card: Scorecard, header: LogHeader, source: str) -> str:
    strategy = header.config.get("strategy", {}).get("name", "?")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>mm report: {escape(Path(source).name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Session report: {escape(Path(source).name)}</h1>",
        f"<p>strategy <b>{escape(str(strategy))}</b> · {_utc(tl.start_ns)} → {_utc(tl.end_ns)} "
        f"UTC · code {escape(header.code_version)}</p>",
        "<h2>Summary</h2>",
        _metrics_table(card),
        f"<pre>{escape(card.text())}</pre>",
    ]
    for name, m in tl.markets.items():
        parts.append(f"<h2>{escape(name)}</h2>")
        parts.append(_price_chart(name, m, tl))
        parts.append(_inventory_chart(name, m, tl))
        parts.append(_capture_chart(name, m.capture))
    parts.append("<h2>PnL</h2>")
    parts.append(_pnl_chart(tl))
    hours = [(f"{h:02d}", v) for h, v in card.pnl_by_hour.items()]
    parts.append(bar_chart("PnL by UTC hour of day", "hour (UTC)", hours, height=200))
    parts.append("</body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------- charts


def _price_chart(name: str, m: MarketTimeline, tl: Timeline) -> str:
    tick = float(m.inst.tick)
    lines = [
        Line("mid", "#888888", _scaled(m.mid_x2, tick / 2), 1.0),
        Line("our bid", "#2ca02c", _scaled(m.bid, tick)),
        Line("our ask", "#d62728", _scaled(m.ask, tick)),
    ]
    markers = [
        Markers("buy fill", "#1a7f1a", [(r[0], r[1] * tick) for r in m.buys.rows], "up"),
        Markers("sell fill", "#b01515", [(r[0], r[1] * tick) for r in m.sells.rows], "down"),
    ]
    return time_chart(
        f"{name}: mid, our resting quotes and fills", "price", lines, markers,
        t0=tl.start_ns, t1=tl.end_ns,
    )


def _inventory_chart(name: str, m: MarketTimeline, tl: Timeline) -> str:
    lot = float(m.inst.lot)
    segments = _scaled(m.inventory, lot)
    start = [(tl.start_ns, 0.0)]
    if segments:
        segments[0] = start + segments[0]
        segments[-1] = [*segments[-1], (tl.end_ns, segments[-1][-1][1])]
    else:
        segments = [[*start, (tl.end_ns, 0.0)]]
    return time_chart(
        f"{name}: inventory", "position (base)", [Line("inventory", "#1f77b4", segments)],
        t0=tl.start_ns, t1=tl.end_ns, height=200,
    )


def _pnl_chart(tl: Timeline) -> str:
    rows = tl.pnl.rows
    lines = [
        Line(label, color, [[(r[0], r[i + 1] / 1e9) for r in rows]] if rows else [],
             2.0 if label == "total" else 1.4)
        for i, (label, color) in enumerate(_PARTS)
    ]
    return time_chart(
        "PnL by component (fees as their contribution: negative when paid)", "quote",
        lines, t0=tl.start_ns, t1=tl.end_ns,
    )


def _capture_chart(name: str, capture: Counter[int]) -> str:
    """Histogram of spread captured per fill in ticks, bins merged to at most ``_MAX_BINS``."""
    bins: list[tuple[str, float]] = []
    if capture:
        lo, hi = min(capture), max(capture)
        step = max(1, math.ceil((hi - lo + 1) / _MAX_BINS))
        counts: Counter[int] = Counter()
        for half_ticks, n in capture.items():
            counts[(half_ticks - lo) // step] += n
        bins = [(f"{(lo + k * step) / 2:g}", float(counts.get(k, 0)))
                for k in range((hi - lo) // step + 1)]
    return bar_chart(
        f"{name}: spread captured per fill (ticks from the mid just before it; positive = "
        "bought below / sold above it)",
        "ticks from mid (bin start)", bins, color="#2ca02c",
    )


def _scaled(env: Envelope, scale: float) -> list[list[tuple[int, float]]]:
    return [[(t, v * scale) for t, v in seg] for seg in env.segments()]


# ---------------------------------------------------------------- tables


def _metrics_table(card: Scorecard) -> str:
    rows = []
    for field in card.metrics.__struct_fields__:
        value = getattr(card.metrics, field)
        text = f"{value:,}" if isinstance(value, int) else _float(value)
        rows.append(f"<tr><th>{field}</th><td>{text}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _float(v: float) -> str:
    if math.isnan(v):
        return "n/a"
    return f"{v:,.6f}"


def _utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
