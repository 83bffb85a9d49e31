"""Book.apply_delta micro-benchmark: µs per delta on real Binance deltas and on generated ones.

Two streams, each loaded into memory first and then folded into a fresh ``Book`` several times
(the best run is reported, the machine is noisy):
1. the Binance BTCUSDT capture in ../shared/data, imported into an event log (cached in the
   temp directory): deep deltas, ~68 level changes each, books of thousands of levels;
2. a generated random-walk market (``replay.synthetic``, 300,000 events, seed 1): 1–2 level
   deltas near the touch, the shape that dominates generated data.

``--book FILE`` benchmarks the ``Book`` class of another copy of mmcore/book.py (for example
the version before a change), loaded under its own module name. Usage:
    python benchmarks/book_apply.py [--book FILE] [--repeat N]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmcore.events import BookDelta, BookSnapshot  # noqa: E402
from mmcore.instrument import Instrument  # noqa: E402
from mmcore.log import open_log  # noqa: E402
from replay.importers import ImportReport, import_to_log, read_binance  # noqa: E402
from replay.synthetic import MarketSpec, generate_market  # noqa: E402

BINANCE = ROOT.parent / "shared" / "data" / "binance-usdm-btcusdt-raw" / "btcusdt_20240808.gz"
CACHE = Path(tempfile.gettempdir()) / "book_apply_btcusdt.mmlog"

Stream = list[BookSnapshot | BookDelta]


def binance_stream() -> Stream:
    if not CACHE.exists():
        inst = Instrument(
            venue="binance", symbol="BTCUSDT", tick_size="0.1", lot_size="0.001", min_size="0.001"
        )
        report = ImportReport("binance")
        events = read_binance([BINANCE], inst, report)
        import_to_log(events, CACHE, inst, "binance", str(BINANCE), report)
    return [ev for ev in open_log(CACHE, repair=False) if isinstance(ev, BookSnapshot | BookDelta)]


def generated_stream() -> Stream:
    events = generate_market(MarketSpec(inst="BTC-USD"), 300_000, seed=1)
    return [ev for ev in events if isinstance(ev, BookSnapshot | BookDelta)]


def load_book_class(path: str | None) -> Any:
    if path is None:
        from mmcore.book import Book

        return Book
    spec = importlib.util.spec_from_file_location("book_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Book


def time_stream(book_class: Any, stream: Stream, repeat: int) -> float:
    """Best µs per delta over ``repeat`` runs (snapshots are applied but not counted)."""
    deltas = sum(isinstance(ev, BookDelta) for ev in stream)
    best = float("inf")
    for _ in range(repeat):
        book = book_class("X")
        snapshot = book.apply_snapshot
        delta = book.apply_delta
        t0 = time.perf_counter()
        for ev in stream:
            if type(ev) is BookDelta:
                delta(ev)
            else:
                snapshot(ev)
        best = min(best, time.perf_counter() - t0)
    return best / deltas * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", help="path of another book.py to benchmark")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    book_class = load_book_class(args.book)
    print(f"book: {args.book or 'mmcore/book.py'}")
    for name, stream in (("binance", binance_stream()), ("generated", generated_stream())):
        n = sum(isinstance(ev, BookDelta) for ev in stream)
        us = time_stream(book_class, stream, args.repeat)
        print(f"{name:10s} {n:8d} deltas  {us:7.3f} µs/delta")


if __name__ == "__main__":
    main()
