"""Hand-written inline SVG charts: step lines over time with point markers, and bar charts.

Each function returns one ``<svg>`` element as a string, sized in CSS pixels, with its own axes,
tick labels and legend, and no scripts or external references, so a report embeds it as is.
Coordinates are written with one decimal place. Times are nanoseconds since the epoch and are
labelled in UTC. Values are floats already in the unit the axis names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape

import msgspec

__all__ = ["Line", "Markers", "bar_chart", "nice_ticks", "time_chart"]

WIDTH = 960
HEIGHT = 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 78, 16, 30, 34


class Line(msgspec.Struct, frozen=True):
    """A step line: ``segments`` are connected runs of ``(t_ns, value)`` points in time order;
    each value holds until the next point's time."""

    label: str
    color: str
    segments: list[list[tuple[int, float]]]
    width: float = 1.4


class Markers(msgspec.Struct, frozen=True):
    """Point markers: ``shape`` is "up" (a triangle pointing up) or "down"."""

    label: str
    color: str
    points: list[tuple[int, float]]
    shape: str = "up"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]``: steps of 1, 2 or 5 times a power of ten."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    k = 0
    while first + k * step <= hi + step * 1e-9:
        ticks.append(first + k * step)
        k += 1
    return ticks


def time_chart(
    title: str,
    y_label: str,
    lines: Sequence[Line],
    markers: Sequence[Markers] = (),
    *,
    t0: int,
    t1: int,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Step lines and markers against UTC time from ``t0`` to ``t1`` (ns)."""
    values = [v for line in lines for seg in line.segments for _, v in seg]
    values += [v for mk in markers for _, v in mk.points]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 1.0, hi + 1.0
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    t1 = max(t1, t0 + 1)
    plot_w = width - _LEFT - _RIGHT
    plot_h = height - _TOP - _BOTTOM

    def x(t: int) -> float:
        return _LEFT + (t - t0) * plot_w / (t1 - t0)

    def y(v: float) -> float:
        return _TOP + (hi - v) * plot_h / (hi - lo)

    out = [_open(width, height, title), _frame(plot_w, plot_h)]
    for v in nice_ticks(lo, hi):
        out.append(_y_tick(y(v), _fmt(v), plot_w))
    for t in nice_ticks(0.0, (t1 - t0) / 1e9, 6):
        out.append(_x_tick(x(t0 + int(t * 1e9)), _utc(t0 + int(t * 1e9), t1 - t0), plot_h))
    out.append(
        f'<text class="axis" transform="translate(14,{_TOP + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    for line in lines:
        for seg in line.segments:
            pts = _steps([(x(t), y(v)) for t, v in seg])
            out.append(
                f'<polyline fill="none" stroke="{line.color}" stroke-width="{line.width}" '
                f'points="{pts}"/>'
            )
    for mk in markers:
        d = 4.0 if mk.shape == "up" else -4.0
        shapes = " ".join(
            f"M{x(t):.1f},{y(v) - d:.1f}l{-d:.1f},{2 * d:.1f}h{2 * d:.1f}z" for t, v in mk.points
        )
        if shapes:
            out.append(f'<path fill="{mk.color}" fill-opacity="0.8" d="{shapes}"/>')
    out.append(_legend([(line.label, line.color) for line in lines]
                       + [(mk.label, mk.color) for mk in markers], width))
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(
    title: str,
    x_label: str,
    bars: Sequence[tuple[str, float]],
    *,
    color: str = "#4c72b0",
    negative_color: str = "#d62728",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """One bar per ``(label, value)`` in the order given, from a zero baseline (negative values
    hang below it in ``negative_color``); at most 16 labels are written on the x axis."""
    plot_w = width - _LEFT - _RIGHT
    plot_h = height - _TOP - _BOTTOM
    lo = min([0.0, *(v for _, v in bars)])
    hi = max([0.0, *(v for _, v in bars)])
    if hi == lo:
        hi = lo + 1.0

    def y(v: float) -> float:
        return _TOP + (hi - v) * plot_h / (hi - lo)

    out = [_open(width, height, title), _frame(plot_w, plot_h)]
    for v in nice_ticks(lo, hi):
        out.append(_y_tick(y(v), _fmt(v), plot_w))
    n = max(len(bars), 1)
    bar_w = plot_w / n
    every = max(1, math.ceil(n / 16))
    for i, (label, value) in enumerate(bars):
        top, bottom = (y(value), y(0.0)) if value >= 0 else (y(0.0), y(value))
        bx = _LEFT + i * bar_w
        fill = color if value >= 0 else negative_color
        out.append(
            f'<rect x="{bx + bar_w * 0.1:.1f}" y="{top:.1f}" width="{bar_w * 0.8:.1f}" '
            f'height="{bottom - top:.1f}" fill="{fill}">'
            f"<title>{escape(label)}: {_fmt(value)}</title></rect>"
        )
        if i % every == 0:
            out.append(_x_tick(bx + bar_w / 2, label, plot_h))
    out.append(
        f'<text class="axis" x="{_LEFT + plot_w / 2:.1f}" y="{height - 2}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    out.append("</svg>")
    return "\n".join(out)


# ---------------------------------------------------------------- pieces


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f'<text class="title" x="{_LEFT}" y="18">{escape(title)}</text>'
    )


def _frame(plot_w: int, plot_h: int) -> str:
    return (
        f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" '
        'fill="none" stroke="#999"/>'
    )


def _y_tick(py: float, label: str, plot_w: int) -> str:
    return (
        f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{py:.1f}" y2="{py:.1f}" stroke="#eee"/>'
        f'<text class="axis" x="{_LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{label}</text>'
    )


def _x_tick(px: float, label: str, plot_h: int) -> str:
    return (
        f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{_TOP + plot_h}" y2="{_TOP + plot_h + 4}" '
        f'stroke="#999"/><text class="axis" x="{px:.1f}" y="{_TOP + plot_h + 16}" '
        f'text-anchor="middle">{escape(label)}</text>'
    )


def _legend(entries: list[tuple[str, str]], width: int) -> str:
    parts = []
    x = width - _RIGHT
    for label, color in reversed(entries):
        x -= 12 + 7 * len(label)
        parts.append(
            f'<rect x="{x}" y="9" width="9" height="9" fill="{color}"/>'
            f'<text class="axis" x="{x + 12}" y="17">{escape(label)}</text>'
        )
    return "".join(parts)


def _steps(points: list[tuple[float, float]]) -> str:
    """Polyline points of a step line: hold each value until the next point's x."""
    out = []
    prev_y = None
    for px, py in points:
        if prev_y is not None and py != prev_y:
            out.append(f"{px:.1f},{prev_y:.1f}")
        out.append(f"{px:.1f},{py:.1f}")
        prev_y = py
    if len(out) == 1:  # a lone point: draw a short tick so it shows
        px, py = points[0]
        out.append(f"{px + 2:.1f},{py:.1f}")
    return " ".join(out)


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6 or a < 1e-4:
        return f"{v:.3g}"
    if a >= 100:
        return f"{v:,.0f}" if v == round(v) else f"{v:,.1f}"
    return f"{v:.6g}"


def _utc(t: int, span_ns: int) -> str:
    when = datetime.fromtimestamp(t / 1e9, tz=timezone.utc)
    if span_ns > 86_400 * 10**9:
        return when.strftime("%m-%d %H:%M")
    return when.strftime("%H:%M:%S")
