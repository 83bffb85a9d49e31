"""Binance USD-M futures captures (``<local ns> <json>`` lines) to book, trade and mark events.

Lines are combined-stream frames (``{"stream": "btcusdt@depth@0ms", "data": {...}}``), bare
stream messages (``{"e": "depthUpdate", ...}``) or a REST depth snapshot
(``{"lastUpdateId": ..., "bids": ..., "asks": ...}``).

Book sync is Binance's standard procedure, run over the file:

1. Depth diffs before the first snapshot line are buffered (at most ``max_buffer``; older ones
   are dropped and counted as ``"buffer_overflow"``).
2. A snapshot is written as ``BookSnapshot(seq=lastUpdateId)``. Diffs with
   ``u < lastUpdateId`` are dropped (``"sync_dropped"``). The first diff kept must have
   ``U <= lastUpdateId <= u``, or ``pu == lastUpdateId`` (it starts right after the snapshot);
   it is written with ``prev_seq = lastUpdateId`` (not its real ``pu``, which may lie inside the
   snapshot) so that ``Book``'s rule ``prev_seq == book.seq`` holds. If it starts above
   ``lastUpdateId`` updates are missing: that is a sequence break and it is written with its
   real ``pu``, so the book sees the gap.
3. From then on every diff must have ``pu`` equal to the previous ``u``. A break is counted and
   the diff is still written with its real ``pu``, so the engine's book detects the gap too.
   Diffs with ``u`` at or below the previous ``u`` are dropped as ``"duplicate"``.

A later snapshot (a recorder resyncing after a gap, or one line written twice) meets diffs that
were written already: the last ``KEPT_WRITTEN`` diffs written (at most ``max_buffer``) are
kept for it. A REST reply is
slow, so the diff holding its ``lastUpdateId`` usually comes before it in the file.

- While the ``pu`` chain is unbroken since the last sync, a snapshot with ``lastUpdateId`` at or
  below the last ``u`` written (or the ``lastUpdateId`` of the snapshot still waiting for its
  first diff) adds nothing, the book being already there: it is skipped and counted as
  ``"stale_snapshot"``.
- Otherwise it is written, and step 2 is run again over the kept diffs with
  ``u >= lastUpdateId``: they are written a second time after the snapshot (the engine's book
  ignored them the first time, being stale after the gap), so the log can hold more
  ``BookDelta`` events than the file has diffs; the note ``rewritten_diffs`` counts them.
- A snapshot the kept diffs cannot continue (the diff holding ``lastUpdateId`` is no longer
  kept, or a break lies after it) cannot bring the book back and is skipped as
  ``"stale_snapshot"`` too; the book stays stale until a newer snapshot.

Buffered diffs released by a snapshot get ``ts_recv = max(own, snapshot's)``: the engine could
only have used them once the snapshot arrived, and receive times stay in order. ``ts`` is the
venue's event time ``E`` for book messages and the trade time ``T`` for trades (ms → ns).

``bookTicker`` lines are skipped and counted as ``"book_ticker"``; with
``book_ticker_snapshots=True`` each becomes a one-level ``BookSnapshot(seq=u)`` instead, which is
only sensible for captures without a depth stream. ``markPriceUpdate`` gives a ``MarkPrice``
(rounded to the nearest tick: marks are legitimately off-grid) and a ``FundingRate``.
A message with an off-grid price or size is skipped whole and counted as ``"off_grid"``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgspec

from mmcore.events import BUY, SELL, BookDelta, BookSnapshot, Event, FundingRate, MarkPrice, Trade
from mmcore.instrument import PPB, Instrument, OffGridError
from replay.importers.binance_messages import (
    AggTradeMsg,
    BookTickerMsg,
    DepthMsg,
    Envelope,
    Levels,
    MarkPriceMsg,
    RestSnapshotMsg,
    TradeMsg,
)
from replay.importers.errors import ImportFormatError
from replay.importers.grid import Grid
from replay.importers.report import ImportReport
from replay.importers.source import Paths, as_paths, recorded_lines

__all__ = ["DEFAULT_MAX_BUFFER", "read_binance"]

DEFAULT_MAX_BUFFER = 1000
KEPT_WRITTEN = 200
"""Diffs already written kept for a later snapshot to resume from (at most; ``max_buffer`` if
smaller): 20 s of Binance's 100 ms diffs, far more than a REST snapshot lags its
``lastUpdateId``, at a few MB of a deep book's diffs (1,000 cost ~19 MB)."""
MS = 1_000_000
_NONE: tuple[Event, ...] = ()

_WAITING, _AWAIT_FIRST, _SYNCED = 0, 1, 2
_Kept = tuple[DepthMsg, int, str]
"""A depth diff with its receive time and ``file:line``."""

_envelope = msgspec.json.Decoder(Envelope)
_stream_types: dict[str, type[msgspec.Struct]] = {
    "depth": DepthMsg,
    "trade": TradeMsg,
    "aggTrade": AggTradeMsg,
    "bookTicker": BookTickerMsg,
    "markPrice": MarkPriceMsg,
}
_event_types: dict[str, type[msgspec.Struct]] = {
    "depthUpdate": DepthMsg,
    "trade": TradeMsg,
    "aggTrade": AggTradeMsg,
    "bookTicker": BookTickerMsg,
    "markPriceUpdate": MarkPriceMsg,
}
_message_types: tuple[type[msgspec.Struct], ...] = (*_stream_types.values(), RestSnapshotMsg)
_decoders: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(kind) for kind in _message_types
}
_TICKER_KEYS = frozenset({"u", "b", "B", "a", "A"})


def read_binance(
    path_or_paths: Paths,
    inst: Instrument,
    report: ImportReport,
    *,
    max_buffer: int = DEFAULT_MAX_BUFFER,
    book_ticker_snapshots: bool = False,
) -> Iterator[Event]:
    """Events from Binance USD-M capture file(s), read in order as one stream.

    Missing files, and a ``max_buffer`` below 1, raise ``ImportFormatError`` here, before
    anything is read.
    """
    paths = as_paths(path_or_paths)
    if max_buffer < 1:
        raise ImportFormatError(
            f"max_buffer: expected at least 1 depth diff kept until the snapshot, "
            f"found {max_buffer}"
        )
    if not report.importer:
        report.importer = "binance"
    return _read(paths, _BinanceStream(inst, report, max_buffer, book_ticker_snapshots), report)


def _read(paths: list[Path], sync: _BinanceStream, report: ImportReport) -> Iterator[Event]:
    for local_ns, payload, name, lineno in recorded_lines(paths, report):
        out = sync.on_line(local_ns, payload, name, lineno)
        if out:
            yield from out
    sync.finish()


class _BinanceStream:
    """Decodes lines and runs the depth sync; one per import."""

    __slots__ = (
        "broken",
        "buffer",
        "grid",
        "inst",
        "last_u",
        "max_buffer",
        "report",
        "rewritten",
        "snapshot_id",
        "state",
        "symbol",
        "ticker_snapshots",
        "written",
    )

    def __init__(
        self, inst: Instrument, report: ImportReport, max_buffer: int, ticker_snapshots: bool
    ) -> None:
        self.inst = inst
        self.symbol = inst.symbol.upper()
        self.grid = Grid(inst)
        self.report = report
        self.max_buffer = max_buffer
        self.ticker_snapshots = ticker_snapshots
        self.state = _WAITING
        self.buffer: deque[_Kept] = deque()
        """Diffs not written yet, waiting for the first snapshot."""
        self.written: deque[_Kept] = deque(maxlen=min(max_buffer, KEPT_WRITTEN))
        """The last diffs written since the last snapshot, for the next one to resume from."""
        self.snapshot_id = -1
        self.last_u = -1
        self.broken = False
        """A sequence break was counted since the last sync to a snapshot."""
        self.rewritten = 0

    # ------------------------------------------------------------ decoding

    def on_line(self, local_ns: int, payload: bytes, name: str, lineno: int) -> tuple[Event, ...]:
        report = self.report
        try:
            body: Any
            if payload.startswith(b'{"stream"'):
                env = _envelope.decode(payload)
                stream, body = env.stream, env.data
            else:
                body = msgspec.json.decode(payload)
                stream = ""
                if isinstance(body, dict) and "stream" in body and "data" in body:
                    stream, body = str(body["stream"]), body["data"]
            kind = _stream_type(stream) if stream else _message_type(body)
            if kind is None:
                reason = "unknown_stream" if stream else "unknown_message"
                report.skip(reason, f"{name}:{lineno}", stream or payload[:60].decode())
                return _NONE
            if kind is BookTickerMsg and not self.ticker_snapshots:
                report.skip("book_ticker")
                return _NONE
            if type(body) is msgspec.Raw:
                msg = _decoders[kind].decode(body)
            else:
                msg = msgspec.convert(body, kind)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            report.skip("malformed", f"{name}:{lineno}", str(exc))
            return _NONE
        where = f"{name}:{lineno}"
        try:
            return self._dispatch(msg, local_ns, where)
        except OffGridError as exc:
            report.skip("off_grid", where, str(exc))
            return _NONE

    def _dispatch(self, msg: msgspec.Struct, local_ns: int, where: str) -> tuple[Event, ...]:
        kind = type(msg)
        if kind is DepthMsg:
            assert isinstance(msg, DepthMsg)
            if msg.s and msg.s.upper() != self.symbol:
                self.report.skip("other_symbol", where, msg.s)
                return _NONE
            return self._on_diff(msg, local_ns, where)
        if kind is TradeMsg or kind is AggTradeMsg:
            assert isinstance(msg, (TradeMsg, AggTradeMsg))
            if msg.s and msg.s.upper() != self.symbol:
                self.report.skip("other_symbol", where, msg.s)
                return _NONE
            trade_id = str(msg.t if type(msg) is TradeMsg else msg.a)  # type: ignore[union-attr]
            grid = self.grid
            return (
                Trade(
                    self.inst.symbol,
                    msg.T * MS,
                    local_ns,
                    grid.ticks(msg.p),
                    grid.lots(msg.q),
                    SELL if msg.m else BUY,
                    trade_id,
                ),
            )
        if kind is RestSnapshotMsg:
            assert isinstance(msg, RestSnapshotMsg)
            return self._on_snapshot(msg, local_ns, where)
        if kind is BookTickerMsg:
            assert isinstance(msg, BookTickerMsg)
            return self._on_book_ticker(msg, local_ns, where)
        assert isinstance(msg, MarkPriceMsg)
        return self._on_mark(msg, local_ns, where)

    # ------------------------------------------------------------ depth sync

    def _on_snapshot(self, msg: RestSnapshotMsg, local_ns: int, where: str) -> tuple[Event, ...]:
        lid = msg.lastUpdateId
        rewrite = self.state != _WAITING
        pending = self._diffs_after(lid, where)
        if pending is None:
            return _NONE
        snap = BookSnapshot(
            self.inst.symbol,
            (msg.E or msg.T) * MS,
            local_ns,
            lid,
            self._flat(msg.bids),
            self._flat(msg.asks),
        )
        self.report.note("snapshot_last_update_id", str(lid))
        self.state = _AWAIT_FIRST
        self.snapshot_id = lid
        self.buffer.clear()
        self.written.clear()
        out: list[Event] = [snap]
        for diff, recv, diff_where in pending:
            try:
                out.extend(self._on_diff(diff, max(recv, local_ns), diff_where))
            except OffGridError as exc:
                self.report.skip("off_grid", diff_where, str(exc))
        if rewrite and pending:
            self.rewritten += len(pending)
            self.report.note("rewritten_diffs", str(self.rewritten))
        return tuple(out)

    def _diffs_after(self, lid: int, where: str) -> list[_Kept] | None:
        """The diffs a snapshot at ``lid`` is to be followed by (buffered ones, or ones written
        already), or ``None`` when the snapshot is of no use: skipped and counted."""
        held = self._held_id()
        if lid <= held:
            self.report.skip(
                "stale_snapshot", where,
                f"lastUpdateId={lid}: the book written is at update {held} with no break since",
            )
            return None
        if self.state == _WAITING:
            return list(self.buffer)
        pending = [kept for kept in self.written if kept[0].u >= lid]
        why = _cannot_resume(pending, lid)
        if why:
            self.report.skip("stale_snapshot", where, why)
            return None
        return pending

    def _held_id(self) -> int:
        """The update id the book written so far is at, or -1 when it is not whole (no snapshot
        yet, or a break since the last one)."""
        if self.state == _AWAIT_FIRST:
            return self.snapshot_id
        if self.state == _SYNCED and not self.broken:
            return self.last_u
        return -1

    def _on_diff(self, msg: DepthMsg, local_ns: int, where: str) -> tuple[Event, ...]:
        state = self.state
        if state == _SYNCED:
            if msg.u <= self.last_u:
                self.report.skip("duplicate", where, f"u={msg.u} <= previous u={self.last_u}")
                return _NONE
            if msg.pu != self.last_u:
                self.report.sequence_break(
                    where, f"expected pu={self.last_u}, found pu={msg.pu} (U={msg.U} u={msg.u})"
                )
                self.broken = True
            prev = msg.pu
        elif state == _AWAIT_FIRST:
            lid = self.snapshot_id
            if msg.u < lid:
                self.report.skip("sync_dropped")
                return _NONE
            if _continues(msg, lid):
                prev = lid
                self.broken = False
            else:
                self.report.sequence_break(
                    where,
                    f"expected U <= lastUpdateId={lid} <= u or pu={lid}, "
                    f"found U={msg.U} u={msg.u} pu={msg.pu}",
                )
                self.broken = True
                prev = msg.pu
        else:
            buffered = self.buffer
            if len(buffered) >= self.max_buffer:
                buffered.popleft()
                self.report.skip("buffer_overflow", where, f"buffer of {self.max_buffer} full")
            buffered.append((msg, local_ns, where))
            return _NONE
        delta = BookDelta(
            self.inst.symbol,
            (msg.E or msg.T) * MS,
            local_ns,
            msg.u,
            prev,
            self._flat(msg.b),
            self._flat(msg.a),
        )
        self.state = _SYNCED
        self.last_u = msg.u
        self.written.append((msg, local_ns, where))
        return (delta,)

    def finish(self) -> None:
        """Account for diffs still waiting for a snapshot at the end of the input."""
        if self.buffer:
            self.report.skip(
                "no_snapshot", "end of input", "depth diffs never covered by a snapshot",
                count=len(self.buffer),
            )
            self.buffer.clear()

    # ------------------------------------------------------------ others

    def _on_book_ticker(self, msg: BookTickerMsg, local_ns: int, where: str) -> tuple[Event, ...]:
        if msg.s and msg.s.upper() != self.symbol:
            self.report.skip("other_symbol", where, msg.s)
            return _NONE
        grid = self.grid
        bids = (grid.ticks(msg.b), grid.lots(msg.B))
        asks = (grid.ticks(msg.a), grid.lots(msg.A))
        ts = (msg.E or msg.T) * MS
        return (BookSnapshot(self.inst.symbol, ts, local_ns, msg.u, bids, asks),)

    def _on_mark(self, msg: MarkPriceMsg, local_ns: int, where: str) -> tuple[Event, ...]:
        if msg.s and msg.s.upper() != self.symbol:
            self.report.skip("other_symbol", where, msg.s)
            return _NONE
        inst = self.inst
        ts = msg.E * MS
        index = inst.price_to_ticks_nearest(msg.i) if msg.i else 0
        mark = MarkPrice(inst.symbol, ts, local_ns, inst.price_to_ticks_nearest(msg.p), index)
        if not msg.r:
            return (mark,)
        rate = _funding_ppb(msg.r)
        if rate is None:
            self.report.skip(
                "malformed", where, f"funding rate r: expected a number, found {msg.r!r}"
            )
            return _NONE
        return (mark, FundingRate(inst.symbol, ts, local_ns, rate, msg.T * MS))

    def _flat(self, levels: Levels) -> tuple[int, ...]:
        return self.grid.levels(levels)


def _continues(msg: DepthMsg, lid: int) -> bool:
    """Whether diff ``msg`` (with ``u >= lid``) continues a book at update id ``lid``: it holds
    ``lid`` (``U <= lid <= u``, futures' rule) or starts right after it (``pu == lid``)."""
    return lid >= msg.U or msg.pu == lid


def _cannot_resume(pending: list[_Kept], lid: int) -> str:
    """Why a snapshot at ``lid`` cannot be continued by the written diffs ``pending`` (those with
    ``u >= lid``, in order), or ``""`` when it can (or when there are none: it waits for the
    next diffs)."""
    if not pending:
        return ""
    first = pending[0][0]
    if not _continues(first, lid):
        return (
            f"lastUpdateId={lid} older than the diffs kept: the first with u >= it has "
            f"U={first.U} pu={first.pu}"
        )
    for (before, _, _), (after, _, after_where) in pairwise(pending):
        if after.pu != before.u:
            return f"lastUpdateId={lid} is before the sequence break at {after_where}"
    return ""


def _funding_ppb(text: str) -> int | None:
    """A funding rate in parts per billion, or ``None`` when ``text`` is not a finite number
    (or one no event can hold)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    rate = int((value * PPB).to_integral_value(ROUND_HALF_EVEN))
    return rate if -(2**63) <= rate < 2**63 else None


def _stream_type(stream: str) -> type[msgspec.Struct] | None:
    """The message type of a combined stream name such as ``btcusdt@depth@0ms``."""
    at = stream.find("@")
    end = stream.find("@", at + 1)
    return _stream_types.get(stream[at + 1 :] if end < 0 else stream[at + 1 : end])


def _message_type(body: Any) -> type[msgspec.Struct] | None:
    """The message type of a bare message: by its ``e`` field, or by its keys."""
    if not isinstance(body, dict):
        return None
    if "lastUpdateId" in body:
        return RestSnapshotMsg
    kind = _event_types.get(body.get("e", ""))
    if kind is None and body.keys() >= _TICKER_KEYS:
        return BookTickerMsg
    return kind
