"""mm report: the fold (replay.timeline), its bounded series, the scorecard and the HTML page."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import pytest

from mmcore.book import Book
from mmcore.config import AppConfig, config_from_dict, config_to_dict
from mmcore.events import (
    SELL,
    BookDelta,
    BookSnapshot,
    Event,
    Fill,
    FundingPayment,
    MarkPrice,
    Position,
)
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter, open_log
from mmcore.state import Ledger
from replay.backtest import run_session
from replay.cli_report import register
from replay.demo import demo_config
from replay.metrics import max_drawdown
from replay.plots import bar_chart, nice_ticks
from replay.report import write_report
from replay.scorecard import score
from replay.series import Envelope, Periodic, SeriesBoundsError, Thinned
from replay.summary import summarize
from replay.synthetic import MarketSpec, generate_market
from replay.timeline import TimelineFold, fold_log

SEED = 5
PLOTS_PER_MARKET = 3  # price and quotes, inventory, spread captured
SESSION_PLOTS = 2  # PnL by component, PnL by hour


def make_config(spread_bps: float = 0.1, requote_bps: float = 0.05) -> AppConfig:
    """The demo session with quotes tight enough to be filled often."""
    data = config_to_dict(demo_config())
    data["strategy"]["params"].update(spread_bps=spread_bps, requote_bps=requote_bps)
    return config_from_dict(data)


def make_session_log(path: Path, events: int, config: AppConfig | None = None) -> Path:
    """A recorded backtest over a generated market, ~30 ms between messages (minutes long)."""
    config = config or make_config()
    market = generate_market(MarketSpec(step_ns=30_000_000), events, SEED)
    run_session(config, config.instrument_map(), market, path)
    return path


def make_empty_log(path: Path) -> Path:
    """A session log with its header and no records."""
    config = make_config()
    header = LogHeader(
        format_version=FORMAT_VERSION,
        code_version="test",
        instruments=list(config.instrument_map().values()),
        config=config_to_dict(config),
        created_ns=0,
        meta={},
    )
    with LogWriter(path, header):
        pass
    return path


@pytest.fixture(scope="module")
def session_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_session_log(tmp_path_factory.mktemp("report") / "s.mmlog", 4000)


@pytest.fixture(scope="module")
def report(session_log: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(html, printed summary) of the session log."""
    out = tmp_path_factory.mktemp("html")
    result = write_report(session_log, out)
    return Path(result.path).read_text(), result.scorecard.text()


def reference_curve(path: Path) -> list[int]:
    """Total PnL (nanos) after every inbound event, folded independently with Book + Ledger."""
    reader = open_log(path, repair=False)
    inst = reader.header.instruments[0]
    book = Book(inst.symbol)
    ledger = Ledger({inst.symbol: inst})
    curve = [0]
    for record in reader:
        if isinstance(record, BookDelta):
            book.apply_delta(record)
        elif isinstance(record, BookSnapshot):
            book.apply_snapshot(record)
        elif isinstance(record, Fill):
            ledger.apply_fill(record, book.mid_x2())
        else:
            continue
        if book.mid_x2():
            curve.append(ledger.total_pnl(inst.symbol, book.mid_x2()))
    return curve


# ---------------------------------------------------------------- the page


def test_report_writes_one_svg_per_plot(report: tuple[str, str]) -> None:
    html, _ = report
    assert html.count("<svg") == PLOTS_PER_MARKET + SESSION_PLOTS
    assert html.count("</svg>") == PLOTS_PER_MARKET + SESSION_PLOTS
    for title in ("mid, our resting quotes and fills", "inventory", "PnL by component",
                  "spread captured per fill", "PnL by UTC hour"):
        assert title in html


def test_report_is_self_contained(report: tuple[str, str]) -> None:
    html, _ = report
    assert "<style>" in html
    assert "<script" not in html
    assert "href=" not in html and "src=" not in html


def test_price_plot_marks_fills_and_draws_quotes(report: tuple[str, str]) -> None:
    html, _ = report
    price_svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert price_svg is not None
    svg = price_svg.group(0)
    assert svg.count("<polyline") >= 3  # mid, our bid, our ask
    assert "<path" in svg  # fill markers
    for legend in ("our bid", "our ask", "buy fill", "sell fill"):
        assert legend in svg


# ---------------------------------------------------------------- the summary

METRIC_LABELS = (
    "PnL total", "spread", "inventory", "fees", "funding", "fills:", "maker ratio", "volume",
    "max drawdown", "Sharpe (per-minute PnL, annualised x sqrt(525600))", "win rate",
    "profit factor", "expectancy", "longest losing streak", "PnL by UTC hour",
    "two-sided quote uptime",
)


def test_summary_names_every_metric(report: tuple[str, str]) -> None:
    _, text = report
    for label in METRIC_LABELS:
        assert label in text, label


def test_a_sharpe_from_less_than_an_hour_of_minutes_says_how_few(
    report: tuple[str, str],
) -> None:
    _, text = report
    minutes = int(re.search(r"\((\d+) UTC minutes\)", text).group(1))  # type: ignore[union-attr]
    assert minutes < 60
    assert f"(from only {minutes} minutes)" in text


def test_summary_pnl_parts_sum_to_the_total(report: tuple[str, str]) -> None:
    _, text = report
    match = re.search(
        r"PnL total ([-+.\d]+) = spread ([-+.\d]+) \+ inventory ([-+.\d]+) "
        r"\+ fees ([-+.\d]+) \+ funding ([-+.\d]+)",
        text,
    )
    assert match is not None, text
    total, *parts = (float(x) for x in match.groups())
    assert abs(sum(parts) - total) <= 3e-6
    assert total != 0.0


def reference_fold(path: Path) -> tuple[int, int, int, float]:
    """An independent fold of the log with a bare Book and Ledger: (fills, position lots,
    fees nanos, total PnL in quote) at the last mid."""
    reader = open_log(path, repair=False)
    (inst,) = reader.header.instruments
    book, ledger = Book(inst.symbol), Ledger({inst.symbol: inst})
    for record in reader:
        if isinstance(record, BookSnapshot):
            book.apply_snapshot(record)
        elif isinstance(record, BookDelta):
            book.apply_delta(record)
        elif isinstance(record, Fill):
            ledger.apply_fill(record, book.mid_x2())
        elif isinstance(record, (FundingPayment, MarkPrice)):
            ledger.apply(record)
    pos = ledger.pos(inst.symbol)
    total = ledger.pnl.parts(inst.symbol, book.mid_x2()).total
    return pos.fills, pos.size, pos.fees, total / 1e9


def test_scorecard_agrees_with_an_independent_fold_of_the_log(session_log: Path) -> None:
    card = summarize(open_log(session_log, repair=False))
    fills, size, fees, total = reference_fold(session_log)
    m = card.metrics
    assert m.fills == fills > 0
    assert math.isclose(m.pnl_total, total, abs_tol=1e-9)
    assert math.isclose(m.pnl_fees, -fees / 1e9, abs_tol=1e-9)
    lot = float(open_log(session_log, repair=False).header.instruments[0].lot)
    assert math.isclose(card.markets[0].position, size * lot)


def test_max_drawdown_is_exact_over_every_event(session_log: Path) -> None:
    timeline = fold_log(open_log(session_log, repair=False))
    assert timeline.max_drawdown == max_drawdown(reference_curve(session_log))
    assert timeline.max_drawdown > 0


def test_the_folded_pnl_curve_is_the_ledgers_total_after_a_reported_position() -> None:
    # a restart holding 3 lots: reconciliation (Position) before any price, then the book, a
    # mark and the fill that closes them; the curve behind drawdown, Sharpe and PnL by hour must
    # be the total the PnL parts add up to, after every event
    inst = Instrument(venue="sim", symbol="X", tick_size="0.1", lot_size="0.001")
    minute = 60_000_000_000
    t0 = 1_000 * minute
    events: list[Event] = [
        Position("X", t0, t0, 3),
        BookSnapshot("X", t0 + 1, t0 + 1, 1, (1000, 5), (1002, 5)),
        BookDelta("X", t0 + 2, t0 + 2, 2, -1, (1000, 0, 990, 5), ()),
        MarkPrice("X", t0 + 3, t0 + 3, 995),
        BookDelta("X", t0 + minute, t0 + minute, 3, -1, (1000, 5), ()),
        Fill("X", t0 + 2 * minute, t0 + 2 * minute, "c1", SELL, 1001, 3, 0, True),
        BookDelta("X", t0 + 3 * minute, t0 + 3 * minute, 4, -1, (980, 5), ()),
    ]
    fold = TimelineFold({"X": inst})
    ledger, book = Ledger({"X": inst}), Book("X")
    curve, mid_x2 = [0], 0
    for ev in events:
        fold.feed([ev])
        if isinstance(ev, BookSnapshot):
            book.apply_snapshot(ev)
        elif isinstance(ev, BookDelta):
            book.apply_delta(ev)
        elif isinstance(ev, Fill):
            ledger.apply_fill(ev, book.mid_x2())
        else:
            ledger.apply(ev)
        mid_x2 = book.mid_x2() or mid_x2
        curve.append(ledger.total_pnl("X", mid_x2))
    timeline = fold.finish()
    assert timeline.parts.total == curve[-1]
    assert list(timeline.minute_close) == [curve[4], curve[5], curve[6], curve[7]]
    assert timeline.max_drawdown == max_drawdown(curve)


def test_minute_closes_end_at_the_final_total(session_log: Path) -> None:
    timeline = fold_log(open_log(session_log, repair=False))
    assert len(timeline.minutes) >= 2
    assert list(timeline.minutes) == sorted(timeline.minutes)
    assert timeline.minute_close[-1] == timeline.parts.total
    card = score(timeline)
    assert not math.isnan(card.metrics.sharpe)
    assert math.isclose(sum(card.pnl_by_hour.values()), card.metrics.pnl_total, abs_tol=1e-6)


def test_two_sided_uptime_is_a_fraction_of_the_session(session_log: Path) -> None:
    card = score(fold_log(open_log(session_log, repair=False)))
    assert 0.0 < card.metrics.uptime <= 1.0


def test_a_session_without_fills_reports_undefined_metrics_as_na(tmp_path: Path) -> None:
    log = make_session_log(tmp_path / "quiet.mmlog", 300, make_config(spread_bps=50.0))
    result = write_report(log, tmp_path / "out")
    m = result.scorecard.metrics
    assert m.fills == 0 and m.round_trips == 0
    assert math.isnan(m.win_rate) and math.isnan(m.profit_factor)
    assert "win rate: n/a" in result.scorecard.text()
    assert Path(result.path).read_text().count("<svg") == PLOTS_PER_MARKET + SESSION_PLOTS


def test_an_empty_log_still_gives_a_page_and_a_summary(tmp_path: Path) -> None:
    result = write_report(make_empty_log(tmp_path / "empty.mmlog"), tmp_path / "out")
    text = result.scorecard.text()
    assert "events: 0" in text and "two-sided quote uptime: n/a" in text
    assert result.scorecard.metrics.pnl_total == 0.0
    assert Path(result.path).read_text().count("<svg") == PLOTS_PER_MARKET + SESSION_PLOTS


def test_plots_stay_within_the_point_budget(session_log: Path) -> None:
    timeline = fold_log(open_log(session_log, repair=False), max_points=40)
    market = next(iter(timeline.markets.values()))
    for series in (market.mid_x2, market.bid, market.ask, market.inventory):
        assert len(series) <= 20
    assert len(market.buys.rows) + len(market.sells.rows) <= 40
    assert len(timeline.pnl.rows) <= 40


# ---------------------------------------------------------------- bounded series


def test_envelope_keeps_a_spike_after_heavy_downsampling() -> None:
    env = Envelope(max_points=20, width_ns=1)
    for t in range(100_000):
        env.add(t, 1000 if t == 54_321 else t % 7)
    assert len(env) <= 10
    values = [v for seg in env.segments() for _, v in seg]
    assert max(values) == 1000
    assert min(values) == 0
    assert env.statistics().thinnings > 0


def test_envelope_breaks_the_line_where_marked() -> None:
    env = Envelope(max_points=100, width_ns=10)
    env.add(0, 5)
    env.mark_break()
    env.add(20, 6)
    env.add(35, 7)
    assert env.segments() == [[(0, 5)], [(20, 6), (35, 7)]]


def test_thinned_keeps_the_first_row_and_at_most_its_budget() -> None:
    rows = Thinned(max_points=10)
    for i in range(1000):
        rows.add((i,))
    assert 5 <= len(rows.rows) <= 10
    assert rows.rows[0] == (0,)
    assert [r[0] for r in rows.rows] == sorted(r[0] for r in rows.rows)


def test_periodic_takes_rows_at_a_growing_interval() -> None:
    rows = Periodic(max_points=4, interval_ns=10)
    for t in range(0, 1000):
        if rows.due(t):
            rows.add(t, (t,))
    assert len(rows.rows) <= 4
    assert rows.interval > 10


def test_series_refuse_a_budget_too_small_to_draw() -> None:
    with pytest.raises(SeriesBoundsError, match="max_points"):
        Envelope(max_points=2)


# ---------------------------------------------------------------- plots


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0.0, 10.0) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(-0.3, 0.3) == pytest.approx([-0.2, 0.0, 0.2])
    assert nice_ticks(59_997.6, 60_001.7) == [59_998.0, 59_999.0, 60_000.0, 60_001.0]


def test_bar_chart_draws_negative_bars_below_the_baseline() -> None:
    svg = bar_chart("t", "x", [("a", 2.0), ("b", -1.0)])
    rects = re.findall(r'<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" '
                       r'fill="([^"]+)"', svg)
    (y_a, h_a, fill_a), (y_b, _, fill_b) = [r for r in rects if r[2] != "none"]
    assert float(y_b) == pytest.approx(float(y_a) + float(h_a))  # b hangs from a's base
    assert fill_a != fill_b


# ---------------------------------------------------------------- command line


def test_mm_report_prints_the_summary_and_writes_the_page(
    session_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="mm")
    register(parser.add_subparsers())
    args = parser.parse_args(["report", str(session_log), "--out", str(tmp_path / "r")])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "PnL total" in printed and "two-sided quote uptime" in printed
    assert (tmp_path / "r" / "report.html").exists()
