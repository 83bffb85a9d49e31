"""The account's funding payments, read from the venue's ``GET /user/funding/history``.

Extended settles funding every hour, but no stream carries the payments: the account stream
sends only the BALANCE they change, and the public ``funding`` stream only the rates. Without
them the engine's ledger, the PnL it reports and the risk gate's loss limits (which count
funding) would miss them. So the adapter reads them over REST, per market of the session
(``market=X&fromTime=<ms>``, ``fromTime`` required), and hands each one on as one
``FundingPayment`` (its ``ts`` the payment's ``paidTime``; amount: ``Normalizer.funding_payment``,
signed by the record's side and rate, not by the sign of ``fundingFee``, which the venue notes
do not define).

When: at the start-up reconcile, at every background reconcile (every ``[venue]
reconcile_interval_s``, and whenever one is asked for: after the account stream reconnects or
loses a frame), and at the shutdown's reconcile (``ExtendedAdapter``).

Only this session's payments: the earlier ones were counted by earlier sessions (their PnL
carries over through the day-PnL file). The session's start is the time the adapter started,
put on the venue's clock (``paidTime`` is the venue's; the host's clock runs seconds behind it,
extended.md §11): the venue's ``ts`` of each account-stream frame minus the host time it was
read gives the offset (the largest such difference is the closest: a frame is never read before
it was sent), taken when the first read is made; with no frame seen by then, the host's clock is
used as it is. The first read asks ``fromTime`` = that start; payments before it are skipped.

Exactly once: per market the next read asks from the newest ``paidTime`` handed on (inclusive),
so it returns that payment again, and the ids of the payments at or after that watermark are
kept (only those: memory stays bounded) to skip it. The watermark moves only past payments
handed on: a read that fails (after ``ExtendedRest.call``'s retries) is logged, counted and
changes nothing, so the next read asks from the same ``fromTime`` and loses nothing. The work
after a read's answer is synchronous, and a payment older than the watermark is never handed
on, so two reads running at once (the start-up reconcile and a background one), or a venue
answering with more than was asked for, never hand on one payment twice. A payment whose
``fundingFee``, ``fundingRate``, ``side`` or ``paidTime`` cannot be read is logged as an error
and skipped (it would otherwise block every later payment of its market).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from adapters.extended.errors import ExtendedError
from adapters.extended.normalize import MAX_VENUE_MS, MS, MalformedMessageError, Normalizer
from adapters.extended.wire import WireFundingPayment
from mmcore.events import Event, FundingPayment
from mmcore.venue import Clock

__all__ = ["FundingFetch", "FundingReader", "FundingStatistics"]

log = logging.getLogger(__name__)

FundingFetch = Callable[[str, int], Awaitable[str]]
"""``fetch(market, from_ms)`` → the raw answer of ``/user/funding/history`` (``ExtendedRest``)."""


class FundingStatistics(msgspec.Struct, frozen=True):
    """Counters of the funding reader."""

    polls: int
    """Polls made (each reads every market of the session)."""
    failures: int
    """Market reads that failed (logged; the next poll reads from the same watermark)."""
    payments: int
    """Payments handed on as ``FundingPayment``."""
    before_start: int
    """Records read that were paid before the session started (not counted)."""
    malformed: int
    """Payments skipped because their ``fundingFee`` could not be read (logged as errors)."""


class _Market:
    """One market's watermark: the ``fromTime`` of its next read and the ids of the payments
    handed on at or after it (each with its ``paidTime``)."""

    __slots__ = ("from_ms", "seen")

    def __init__(self, from_ms: int) -> None:
        self.from_ms = from_ms
        self.seen: dict[str, int] = {}


class FundingReader:
    """Reads the session's funding payments and hands each one on once (module doc)."""

    def __init__(self, fetch: FundingFetch, norm: Normalizer, clock: Clock) -> None:
        self._fetch = fetch
        self._norm = norm
        self._clock = clock
        self.start_ns: int | None = None
        """The session's start on the venue's clock; set by the first poll."""
        self._local_start: int | None = None
        self._offset: int | None = None  # venue clock - host clock, the largest seen
        self._symbols: list[str] = []
        self._markets: dict[str, _Market] = {}
        self._polls = 0
        self._failures = 0
        self._payments = 0
        self._before_start = 0
        self._malformed = 0

    def begin(self, symbols: Sequence[str], local_ns: int) -> None:
        """The session started at host time ``local_ns`` (the adapter's ``start``), trading
        ``symbols``."""
        self._symbols = list(symbols)
        self._local_start = local_ns

    def saw_venue_time(self, venue_ns: int, local_ns: int) -> None:
        """A message stamped ``venue_ns`` by the venue was read at host time ``local_ns``."""
        if self.start_ns is not None:
            return
        offset = venue_ns - local_ns
        if self._offset is None or offset > self._offset:
            self._offset = offset

    def watermark_ms(self, market: str) -> int | None:
        """The ``fromTime`` of ``market``'s next read; None before the first poll."""
        state = self._markets.get(market)
        return state.from_ms if state is not None else None

    def ids_kept(self) -> int:
        """Ids of payments remembered to skip them when read again (bounded: module doc)."""
        return sum(len(m.seen) for m in self._markets.values())

    def _start(self) -> int:
        """The session's start on the venue's clock, fixed at the first poll."""
        if self.start_ns is not None:
            return self.start_ns
        local = self._local_start if self._local_start is not None else self._clock()
        start = self.start_ns = local + (self._offset or 0)
        self._markets = {sym: _Market(start // MS) for sym in self._symbols}
        if self._offset is None:
            log.info("extended funding: counting payments made from %d ms on (the host's "
                     "clock: no venue time seen yet)", start // MS)
        else:
            log.info("extended funding: counting payments made from %d ms on (the venue's "
                     "clock, %+.3fs from the host's)", start // MS, self._offset / 1e9)
        return start

    async def poll(self, emit: Callable[[list[Event]], None]) -> bool:
        """Read every market's payments since its watermark and ``emit`` the new ones, oldest
        first; False when a market's read failed (logged and counted; never raised, but a
        cancel is)."""
        start = self._start()
        self._polls += 1
        ok = True
        for sym in self._symbols:
            state = self._markets[sym]
            try:
                records = self._norm.decode_funding_history(await self._fetch(sym, state.from_ms))
            except (ExtendedError, MalformedMessageError) as exc:
                ok = False
                self._failures += 1
                log.warning("extended funding: reading %s's payments from %d ms failed: %s; "
                            "read again at the next poll", sym, state.from_ms, exc)
                continue
            except Exception:  # a bug or an answer nobody foresaw: logged, never fatal
                ok = False
                self._failures += 1
                log.exception("extended funding: reading %s's payments from %d ms failed "
                              "unexpectedly; read again at the next poll", sym, state.from_ms)
                continue
            self._take(sym, state, records, start, emit)
        return ok

    def _take(
        self,
        sym: str,
        state: _Market,
        records: list[WireFundingPayment],
        start: int,
        emit: Callable[[list[Event]], None],
    ) -> None:
        """Hand on the payments of ``sym`` not handed on yet, then move its watermark past
        them. Synchronous: nothing else runs between the check and the move."""
        now = self._clock()
        found: list[FundingPayment] = []
        taken: dict[str, int] = {}
        for w in sorted(records, key=lambda r: r.paid_time):
            key = str(w.id)
            if w.market != sym or key in state.seen or key in taken:
                continue  # another market's (its own read takes it), or handed on already
            if not 0 <= w.paid_time <= MAX_VENUE_MS:  # not epoch ms: it must not move the
                self._malformed += 1  # watermark (no later payment would be asked for)
                log.error("extended funding: payment %s not counted: expected paidTime in "
                          "epoch milliseconds, found %d", key, w.paid_time)
                continue
            if w.paid_time * MS < start:
                self._before_start += 1
                continue
            if w.paid_time < state.from_ms:
                # older than the watermark: handed on already (its id no longer kept), by this
                # read's twin running at the same time or when the venue answered more than
                # was asked for
                continue
            taken[key] = w.paid_time
            try:
                ev = self._norm.funding_payment(w, now)
            except MalformedMessageError as exc:
                self._malformed += 1
                log.error("extended funding: payment %s not counted: %s", key, exc)
                continue
            if ev is not None:
                found.append(ev)
        if found:
            emit([*found])
            self._payments += len(found)
            for ev in found:
                log.info("extended funding: %s payment at %d ms: %d nanos (positive: received)",
                         ev.inst, ev.ts // MS, ev.amount)
        if taken:
            state.seen.update(taken)
            state.from_ms = max(state.from_ms, *taken.values())
            state.seen = {k: t for k, t in state.seen.items() if t >= state.from_ms}

    def statistics(self) -> FundingStatistics:
        return FundingStatistics(
            polls=self._polls,
            failures=self._failures,
            payments=self._payments,
            before_start=self._before_start,
            malformed=self._malformed,
        )
