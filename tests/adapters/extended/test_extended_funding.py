"""The account's funding payments reach the engine as ``FundingPayment`` events, each exactly
once and only this session's: the reader's rules on a scripted venue, then end to end, the
adapter with the real x10 SDK against the emulator on 127.0.0.1 (its ``/user/funding/history``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from test_extended_adapter import SEC, START, SYM, Session, make_config, make_instrument

from adapters.emulator.account import EmulatedAccount, EmulatedFunding
from adapters.emulator.clock import ManualClock
from adapters.emulator.random_walk import RandomWalkParams
from adapters.extended.adapter import ExtendedAdapter
from adapters.extended.emulator import ExtendedEmulatorHandle, serve
from adapters.extended.funding import FundingReader
from adapters.extended.normalize import MS, Normalizer
from adapters.sim import SimConfig
from mmcore.commands import IOC, Place
from mmcore.events import BUY, Balance, BookSnapshot, Event, Fill, FundingPayment, FundingRate
from mmcore.instrument import PPB

FUNDING_PATH = "/api/v1/user/funding/history"
INTERVAL_S = 60
"""The emulator's funding interval here: START is 20 s past a minute, so the first settlement is
at START + 40 s and then every minute."""
FIRST_PAID = START + 40 * SEC
RATE_PPB = 100_000  # 0.01 % per interval
LOTS = 100  # 0.001 BTC


# ---------------------------------------------------------------- the reader, on a scripted venue


def make_record(pid: int, paid_ms: int, fee: str = "-0.5", market: str = SYM) -> dict[str, Any]:
    """One record in the venue's shape (extended.md §4)."""
    return {
        "id": pid, "accountId": 3001, "market": market, "positionId": 7, "side": "LONG",
        "size": "0.001", "value": "60", "markPrice": "60000", "fundingFee": fee,
        "fundingRate": "0.0001", "paidTime": paid_ms,
    }


class ScriptedVenue:
    """``fetch`` for a ``FundingReader``: the records paid at or after ``fromTime``, unless told
    to ignore it; remembers every ``fromTime`` asked."""

    def __init__(self, records: list[dict[str, Any]], honour_from: bool = True) -> None:
        self.records = records
        self.honour_from = honour_from
        self.asked: list[int] = []
        self.fail = 0

    async def fetch(self, market: str, from_ms: int) -> str:
        self.asked.append(from_ms)
        await asyncio.sleep(0)  # a real read lets other tasks run
        if self.fail:
            self.fail -= 1
            from adapters.extended.errors import ExtendedUnavailableError

            raise ExtendedUnavailableError("GET funding history: gave up after 5 attempts")
        data = [r for r in self.records if not self.honour_from or r["paidTime"] >= from_ms]
        return json.dumps({"status": "OK", "data": data[::-1]})


def make_reader(venue: ScriptedVenue, now: Callable[[], int]) -> FundingReader:
    return FundingReader(venue.fetch, Normalizer({SYM: make_instrument()}), now)


def poll(reader: FundingReader) -> list[Event]:
    out: list[Event] = []
    asyncio.run(reader.poll(out.extend))
    return out


def test_two_reads_at_once_hand_an_older_payment_on_once() -> None:
    """The watermark payment handed on; an hour later another is paid; two reads at once (a
    start-up or shutdown reconcile beside the background one) both get both. The first moved
    the watermark and let the older id go; the second used to hand the older one on again."""
    t0 = 1_000_000
    venue = ScriptedVenue([make_record(1, t0 + 1_000)])
    reader = make_reader(venue, lambda: (t0 + 10_000_000) * MS)
    reader.begin([SYM], t0 * MS)
    assert len(poll(reader)) == 1
    venue.records.append(make_record(2, t0 + 1_000 + 3_600_000))
    out: list[Event] = []

    async def both() -> None:
        await asyncio.gather(reader.poll(out.extend), reader.poll(out.extend))

    asyncio.run(both())
    assert [e.ts // MS for e in out] == [t0 + 1_000 + 3_600_000]


def test_a_venue_answering_older_payments_than_asked_for_has_them_counted_once() -> None:
    t0 = 1_000_000
    venue = ScriptedVenue([make_record(1, t0 + 1_000)], honour_from=False)
    reader = make_reader(venue, lambda: (t0 + 10_000_000) * MS)
    reader.begin([SYM], t0 * MS)
    got = poll(reader)
    venue.records.append(make_record(2, t0 + 3_601_000))
    got += poll(reader) + poll(reader)
    assert [e.ts // MS for e in got] == [t0 + 1_000, t0 + 3_601_000]


def test_a_paid_time_out_of_range_is_skipped_and_never_moves_the_watermark() -> None:
    """In microseconds by mistake, it used to become the next read's fromTime: no later
    payment was ever asked for."""
    t0 = 1_700_000_000_000
    venue = ScriptedVenue([make_record(1, (t0 + 1_000) * 1000)])
    reader = make_reader(venue, lambda: (t0 + 10_000_000) * MS)
    reader.begin([SYM], t0 * MS)
    got = poll(reader)
    venue.records.append(make_record(2, t0 + 3_601_000))
    got += poll(reader)
    assert [e.ts // MS for e in got] == [t0 + 3_601_000]
    assert reader.statistics().malformed == 2  # (read twice: logged each time)


def test_a_payment_read_again_is_handed_on_once_and_only_ids_at_the_watermark_are_kept() -> None:
    t0 = 1_000_000  # ms
    venue = ScriptedVenue([make_record(1, t0 + 1000)])
    reader = make_reader(venue, lambda: t0 * MS)
    reader.begin([SYM], t0 * MS)
    assert [e.ts for e in poll(reader)] == [(t0 + 1000) * MS]
    assert poll(reader) == [] and poll(reader) == []
    assert venue.asked == [t0, t0 + 1000, t0 + 1000]  # from the newest payment handed on
    for i in range(2, 6):  # an hour later each time
        venue.records.append(make_record(i, t0 + 1000 + i * 3_600_000))
        assert len(poll(reader)) == 1
    assert reader.ids_kept() == 1  # the newest only: older ones can never come back
    assert reader.statistics().payments == 5


def test_payments_before_the_start_on_the_venues_clock_are_skipped_even_when_returned() -> None:
    """The venue's clock runs ahead of the host's (extended.md §11): the start is the host's
    start moved by the largest venue-minus-host difference seen on the account stream."""
    host_start = 1_000_000  # ms
    venue = ScriptedVenue(
        [make_record(1, host_start - 60_000), make_record(2, host_start + 2_000),
         make_record(3, host_start + 3_000)],
        honour_from=False,  # a venue that returns everything: our own check must skip
    )
    reader = make_reader(venue, lambda: (host_start + 5_000) * MS)
    reader.begin([SYM], host_start * MS)
    reader.saw_venue_time((host_start + 3_000) * MS, (host_start + 500) * MS)  # +2.5 s
    reader.saw_venue_time((host_start + 3_100) * MS, (host_start + 900) * MS)  # +2.2 s: late
    got = poll(reader)
    assert reader.start_ns == (host_start + 2_500) * MS
    assert [e.ts // MS for e in got] == [host_start + 3_000]  # not 2_000: before on its clock
    assert reader.statistics().before_start == 2
    assert venue.asked == [host_start + 2_500]


def test_without_a_venue_time_the_start_is_the_hosts() -> None:
    venue = ScriptedVenue([make_record(1, 999), make_record(2, 1_000)])
    reader = make_reader(venue, lambda: 5_000 * MS)
    reader.begin([SYM], 1_000 * MS)
    assert [e.ts // MS for e in poll(reader)] == [1_000]
    assert venue.asked == [1_000]


def test_a_failed_read_moves_nothing_and_the_next_poll_brings_the_payment() -> None:
    venue = ScriptedVenue([make_record(1, 2_000)])
    reader = make_reader(venue, lambda: 3_000 * MS)
    reader.begin([SYM], 1_000 * MS)
    venue.fail = 1
    out: list[Event] = []
    assert asyncio.run(reader.poll(out.extend)) is False and out == []
    assert reader.watermark_ms(SYM) == 1_000
    assert [e.ts // MS for e in poll(reader)] == [2_000]
    stats = reader.statistics()
    assert (stats.failures, stats.payments) == (1, 1)


def test_two_polls_at_once_hand_a_payment_on_once() -> None:
    venue = ScriptedVenue([make_record(1, 2_000)])
    reader = make_reader(venue, lambda: 3_000 * MS)
    reader.begin([SYM], 1_000 * MS)
    out: list[Event] = []

    async def both() -> None:
        await asyncio.gather(reader.poll(out.extend), reader.poll(out.extend))

    asyncio.run(both())
    assert len(out) == 1


def test_an_unreadable_fee_is_skipped_and_later_payments_still_count() -> None:
    venue = ScriptedVenue([make_record(1, 2_000, fee="abc"), make_record(2, 3_000)])
    reader = make_reader(venue, lambda: 4_000 * MS)
    reader.begin([SYM], 1_000 * MS)
    assert [e.ts // MS for e in poll(reader)] == [3_000]
    assert poll(reader) == []
    assert reader.statistics().malformed == 1


# ---------------------------------------------------------------- end to end, on the emulator


@contextlib.asynccontextmanager
async def running(
    before: Callable[[ExtendedEmulatorHandle, ManualClock], None] | None = None,
    host_behind_ns: int = 0,
    **overrides: Any,
) -> AsyncIterator[Session]:
    """An emulator settling funding every ``INTERVAL_S`` on a still market (mid 60000, no
    trades, no funding rate but the tests'), ``before(h, clock)`` run on it, then an adapter
    started, whose clock (the host's) is ``host_behind_ns`` behind the emulator's (the
    venue's); its reconcile runs only when asked unless ``overrides`` say otherwise."""
    clock = ManualClock(START)
    h = await serve(
        clock=clock,
        seed=5,
        instruments=[make_instrument()],
        walk=RandomWalkParams(mid_ticks=60_000, trade_prob=0.0, move_prob=0.0,
                              funding_every_steps=0),
        tick_s=0.02,
        sim_config=SimConfig(funding_interval_s=INTERVAL_S),
    )
    if before is not None:
        before(h, clock)
    config = make_config(h, **overrides)
    host = clock if not host_behind_ns else (lambda: clock() - host_behind_ns)
    adapter = ExtendedAdapter(config, host, environ=h.credentials[0].env(config))
    session = Session(h, adapter, clock)

    async def pump() -> None:
        async for ev in adapter.events():
            session.events.append(ev)

    task = asyncio.create_task(pump())
    try:
        await adapter.start([SYM])
        await session.wait_for(lambda: bool(session.of(BookSnapshot)), "the first snapshot")
        yield session
    finally:
        await adapter.close()
        await task
        await h.close()


def go_long_at_the_venue(h: ExtendedEmulatorHandle, clock: ManualClock) -> None:
    """Buy ``LOTS`` as taker straight at the venue (an order of no session: nothing in it asks
    the adapter for a reconcile, so the tests' own calls are the only reads) and set the
    funding rate (a long pays)."""
    account = h.account()
    order = account.new_order("pre-1", SYM, BUY, 60_010, LOTS, False, False, IOC, clock())
    h.exchange.place(account, order)
    assert account.positions[SYM].size == LOTS
    h.exchange.inject(FundingRate(SYM, 0, 0, RATE_PPB))
    h.server.step()


async def go_long(s: Session) -> None:
    """Buy ``LOTS`` as taker through the adapter and set the funding rate."""
    await s.adapter.execute(Place(SYM, 0, "buy-1", BUY, 60_010, LOTS, False, False, IOC))
    await s.wait_for(lambda: bool(s.of(Fill)), "the fill")
    s.h.exchange.inject(FundingRate(SYM, 0, 0, RATE_PPB))
    await s.market_step()


def settle_at(h: ExtendedEmulatorHandle, clock: ManualClock, paid_ns: int) -> EmulatedFunding:
    """Move the emulator's time to the settlement at ``paid_ns``; its payment there."""
    clock.set(paid_ns)
    h.server.step()
    account: EmulatedAccount = h.account()
    assert account.funding and account.funding[-1].paid_ns == paid_ns
    return account.funding[-1]


def expected_amount() -> int:
    """``adapters.sim.funding``: a long of ``LOTS`` at mark 60000 pays the rate on its value:
    0.001 BTC * 60000 USD * 0.0001 = 0.006 USD."""
    unit = make_instrument().nanos_per_tick_lot
    return (-LOTS * 2 * 60_000 * unit * RATE_PPB) // (2 * PPB)


def payments(s: Session) -> list[FundingPayment]:
    return s.of(FundingPayment)


def test_a_position_held_across_a_settlement_yields_one_payment_of_its_amount_and_sign() -> None:
    """Read by the background reconcile every ``reconcile_interval_s``; read again and again
    after that, the payment is handed on once."""

    async def main() -> None:
        async with running(reconcile_interval_s=0.05) as s:
            await go_long(s)
            paid = settle_at(s.h, s.clock, FIRST_PAID)
            assert paid.amount == expected_amount() == -6_000_000  # the long paid 0.006 USD
            await s.wait_for(lambda: bool(payments(s)), "the funding payment")
            polls = s.adapter.statistics().funding_polls
            await s.wait_for(lambda: s.adapter.statistics().funding_polls >= polls + 4,
                             "four more polls")
            got = payments(s)
            assert [(e.inst, e.ts, e.amount) for e in got] == [(SYM, FIRST_PAID, -6_000_000)]
            assert s.adapter.statistics().funding_payments == 1

    asyncio.run(main())


def test_a_repeated_reconcile_does_not_hand_the_payment_on_twice() -> None:
    async def main() -> None:
        async with running() as s:
            await s.adapter.reconcile()  # the start-up reconcile: the session starts here
            go_long_at_the_venue(s.h, s.clock)
            settle_at(s.h, s.clock, FIRST_PAID)
            first = [e for e in await s.adapter.reconcile() if type(e) is FundingPayment]
            again = [e for _ in range(3) for e in await s.adapter.reconcile()
                     if type(e) is FundingPayment]
            assert [(e.ts, e.amount) for e in first] == [(FIRST_PAID, expected_amount())]
            assert again == [] and payments(s) == []  # returned, never emitted as well

    asyncio.run(main())


def test_payments_made_before_the_session_started_are_not_counted() -> None:
    def earlier_session(h: ExtendedEmulatorHandle, clock: ManualClock) -> None:
        go_long_at_the_venue(h, clock)
        settle_at(h, clock, FIRST_PAID)  # paid while no session ran
        clock.advance(SEC)

    async def main() -> None:
        async with running(earlier_session) as s:
            startup = [e for e in await s.adapter.reconcile() if type(e) is FundingPayment]
            assert startup == []
            later = settle_at(s.h, s.clock, FIRST_PAID + INTERVAL_S * SEC)
            got = [e for e in await s.adapter.reconcile() if type(e) is FundingPayment]
            assert [(e.ts, e.amount) for e in got] == [(later.paid_ns, expected_amount())]
            assert len(s.h.account().funding) == 2 and payments(s) == []

    asyncio.run(main())


def test_the_start_is_taken_on_the_venues_clock_when_the_hosts_runs_behind() -> None:
    """The host's clock 3 s behind the venue's: the adapter starts 1 s after a payment by the
    venue's clock, 2 s before it by its own. The account stream's frames carry the venue's
    time, so the payment is known to be an earlier session's."""

    def earlier_session(h: ExtendedEmulatorHandle, clock: ManualClock) -> None:
        go_long_at_the_venue(h, clock)
        settle_at(h, clock, FIRST_PAID)
        clock.advance(SEC)

    async def main() -> None:
        async with running(earlier_session, host_behind_ns=3 * SEC) as s:
            await s.wait_for(lambda: bool(s.of(Balance)), "the account stream's first frames")
            startup = [e for e in await s.adapter.reconcile() if type(e) is FundingPayment]
            assert startup == []
            later = settle_at(s.h, s.clock, FIRST_PAID + INTERVAL_S * SEC)
            got = [e for e in await s.adapter.reconcile() if type(e) is FundingPayment]
            assert [(e.ts, e.amount) for e in got] == [(later.paid_ns, expected_amount())]

    asyncio.run(main())


def test_a_failed_read_loses_nothing_the_next_read_brings_the_payment() -> None:
    async def main() -> None:
        async with running(rest_retries=1) as s:
            await s.adapter.reconcile()
            go_long_at_the_venue(s.h, s.clock)
            settle_at(s.h, s.clock, FIRST_PAID)
            s.h.faults.fail_next(2, 503, FUNDING_PATH)  # the read and its one retry
            failed = await s.adapter.reconcile()  # the rest of the reconcile still runs
            assert [e for e in failed if type(e) is FundingPayment] == []
            assert s.adapter.statistics().funding_failures == 1
            assert s.h.faults.statistics().rest_failures == 2
            got = [e for e in await s.adapter.reconcile() if type(e) is FundingPayment]
            assert [(e.ts, e.amount) for e in got] == [(FIRST_PAID, expected_amount())]
            assert payments(s) == []

    asyncio.run(main())


def test_a_reconnect_of_the_account_stream_reads_the_payments_made_meanwhile() -> None:
    async def main() -> None:
        async with running() as s:  # no periodic reconcile: only when asked
            await s.adapter.reconcile()
            go_long_at_the_venue(s.h, s.clock)
            settle_at(s.h, s.clock, FIRST_PAID)
            await asyncio.sleep(0.2)
            assert payments(s) == []
            await s.h.faults.drop_connections()
            await s.wait_for(lambda: bool(payments(s)), "the payment after the reconnect")
            assert [(e.ts, e.amount) for e in payments(s)] == [(FIRST_PAID, expected_amount())]

    asyncio.run(main())
