"""End to end: the Extended adapter, with the real x10 SDK signing and calling REST, against the
local emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.emulator.clock import ManualClock
from adapters.emulator.deadman import DeadMansSwitch as EmulatedSwitch
from adapters.emulator.random_walk import RandomWalkParams
from adapters.extended.adapter import ExtendedAdapter
from adapters.extended.config import ExtendedConfig
from adapters.extended.emulator import ExtendedEmulatorHandle, serve
from adapters.extended.errors import ExtendedUnavailableError, ExtendedVenueError
from adapters.extended.signer import OrderSigner
from mmcore.commands import Cancel, CancelAll, Place, Resync
from mmcore.events import (
    BUY,
    SELL,
    BookDelta,
    BookSnapshot,
    ConnectionState,
    Event,
    Fill,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    Position,
    Trade,
)
from mmcore.instrument import Instrument
from mmcore.venue import VenueAdapter

START = 1_700_000_000_000_000_000
SEC = 1_000_000_000
SYM = "BTC-USD"


def make_instrument() -> Instrument:
    return Instrument(
        venue="extended",
        symbol=SYM,
        tick_size="1",
        lot_size="0.00001",
        min_size="0.0001",
        maker_fee="0.0001",
        taker_fee="0.00025",
    )


def make_config(h: ExtendedEmulatorHandle, **overrides: Any) -> ExtendedConfig:
    fields: dict[str, Any] = {
        "dead_man_switch_s": 0,
        "reconcile_interval_s": 0,
        "reconnect_min_s": 0.3,
        "reconnect_max_s": 0.6,
        "rest_backoff_min_s": 0.05,
        "rest_backoff_max_s": 0.1,
        "rest_timeout_s": 2.0,
        "heartbeat_s": 5.0,
        "seed": 3,
    }
    fields.update(overrides)
    return h.adapter_config(**fields)


def make_place(cid: str, side: int = BUY, price: int = 59_950, size: int = 100) -> Place:
    return Place(SYM, 0, cid, side, price, size)


class Session:
    """An emulator, an adapter started on it, and every event the adapter produced."""

    def __init__(self, h: ExtendedEmulatorHandle, adapter: ExtendedAdapter, clock: ManualClock):
        self.h = h
        self.adapter = adapter
        self.clock = clock
        self.events: list[Event] = []

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if type(e) is kind]

    async def wait_for(self, done: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            if loop.time() > deadline:
                tail = "\n".join(repr(e) for e in self.events[-15:])
                raise AssertionError(f"timed out waiting for {what}; last events:\n{tail}")
            await asyncio.sleep(0.01)

    async def market_step(self, ms: int = 100) -> None:
        self.clock.advance(ms * 1_000_000)
        await self.h.step()

    def open_client_ids(self) -> list[str]:
        return sorted(o.client_id for o in self.h.account().open_orders())


@contextlib.asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[Session]:
    clock = ManualClock(START)
    h = await serve(
        clock=clock,
        seed=5,
        instruments=[make_instrument()],
        walk=RandomWalkParams(mid_ticks=60_000, trade_prob=0.0, move_prob=0.0),
        tick_s=0.02,
    )
    config = make_config(h, **overrides)
    adapter = ExtendedAdapter(config, clock, environ=h.credentials[0].env(config))
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


def as_venue_adapter(adapter: ExtendedAdapter) -> VenueAdapter:
    """mypy checks here that ExtendedAdapter satisfies the runner's VenueAdapter protocol."""
    return adapter


def test_start_loads_the_instrument_from_the_markets_and_fees_endpoints() -> None:
    async def main() -> None:
        async with running() as s:
            inst = s.adapter.instruments[SYM]
            assert (inst.tick_size, inst.lot_size, inst.min_size) == ("1", "0.00001", "0.0001")
            assert (inst.maker_fee, inst.taker_fee) == ("0.0001", "0.00025")
            snap = s.of(BookSnapshot)[0]
            assert snap.bids[0] < snap.asks[0] and snap.seq == 1
            up = {e.stream for e in s.of(ConnectionState) if e.state == "up"}
            streams = {f"{kind}:{SYM}" for kind in ("book", "trades", "funding", "mark")}
            assert up == streams | {"account"}
            reconciled = await s.adapter.reconcile()
            assert Position(SYM, 0, START, 0) in reconciled  # flat: not listed, no venue time
            assert as_venue_adapter(s.adapter).venue == "extended"

    asyncio.run(main())


def test_a_market_the_fees_endpoint_leaves_out_stops_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the account's fee rates the instrument used to carry 0: the ledger booked no
    fees and every IOC, the risk gate's exit included, was signed with a fee cap of 0."""
    from aiohttp import web

    from adapters.extended.emulator_rest import RestApi
    from adapters.extended.errors import ExtendedMarketError

    async def no_fees(self: RestApi, request: web.Request) -> web.Response:
        self.emu.authenticate(request)
        return web.json_response({"status": "OK", "data": []})

    monkeypatch.setattr(RestApi, "fees", no_fees)

    async def main() -> None:
        with pytest.raises(ExtendedMarketError, match=rf"fee rates.*none for \['{SYM}'\]"):
            async with running():
                pass

    asyncio.run(main())


def test_quotes_are_placed_signed_and_rest_in_the_emulator() -> None:
    async def main() -> None:
        async with running() as s:
            await s.adapter.execute(make_place("q-bid", BUY, 59_950))
            await s.adapter.execute(make_place("q-ask", SELL, 60_050))
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 2, "two acks")
            assert s.open_client_ids() == ["q-ask", "q-bid"]
            ack = s.of(OrderAccepted)[0]
            venue_id = s.h.account().by_client[ack.client_id].venue_id
            assert ack.venue_order_id == str(venue_id) and venue_id > 2**60
            resting = s.h.account().by_client["q-bid"]
            assert (resting.price, resting.size, resting.post_only) == (59_950, 100, True)

    asyncio.run(main())


def test_orders_are_signed_in_worker_threads_and_rest_at_the_venue() -> None:
    async def main() -> list[str]:
        async with running() as s:
            signer: Any = s.adapter._signer
            prepare = signer.prepare
            threads: list[str] = []

            def spying(*args: Any) -> Callable[[], Any]:
                call = prepare(*args)

                def run() -> Any:
                    threads.append(threading.current_thread().name)
                    return call()

                return run

            signer.prepare = spying
            await asyncio.gather(
                s.adapter.execute(make_place("t-bid", BUY, 59_950)),
                s.adapter.execute(make_place("t-ask", SELL, 60_050)),
            )
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 2, "two acks")
            assert s.open_client_ids() == ["t-ask", "t-bid"]  # both signatures verified
            return threads

    threads = asyncio.run(main())
    assert len(threads) == 2 and all(t.startswith("extended-sign") for t in threads)
    assert threading.main_thread().name not in threads


def test_a_signing_error_quoting_the_key_reaches_the_reject_without_it() -> None:
    """The curve library's errors quote the value they could not use: the reject the engine
    records (and the kill switch's message after it) must not carry key material."""
    key = "0x" + "5e" * 31 + "c3"

    async def main() -> list[OrderRejected]:
        async with running() as s:
            signer: Any = s.adapter._signer

            def failing(*args: Any) -> Callable[[], Any]:
                def run() -> Any:
                    raise ValueError(f"Failed to convert hex string {key} to FieldElement")

                return run

            signer.prepare = failing
            await s.adapter.execute(make_place("k", BUY, 59_950))
            await s.wait_for(lambda: bool(s.of(OrderRejected)), "the reject")
            return s.of(OrderRejected)

    rejects = asyncio.run(main())
    assert rejects[0].code == "SIGNING" and "FieldElement" in rejects[0].reason
    assert key[2:] not in rejects[0].reason


def test_nonces_follow_the_order_of_prepare_whatever_order_the_signing_runs_in() -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        async with running() as s:
            used: Any = s.adapter._signer
            inst = s.adapter.instruments[SYM]
            market = s.adapter._markets[SYM]

            def signer() -> OrderSigner:
                return OrderSigner(used._account, used._domain, random.Random(7), 3600, "ACCOUNT")

            places = [make_place(f"n-{i}", BUY, 59_900 + i) for i in range(3)]
            one = signer()
            sequential = [one.sign(p, inst, market, START) for p in places]
            other = signer()
            prepared = [other.prepare(p, inst, market, START) for p in places]
            backwards = [call() for call in reversed(prepared)][::-1]
            return [o.nonce for o in sequential], [o.nonce for o in backwards]

    sequential, backwards = asyncio.run(main())
    assert sequential == backwards and len(set(sequential)) == 3


def test_a_trade_through_our_bid_reaches_the_adapter_as_a_fill_in_integers() -> None:
    async def main() -> None:
        async with running() as s:
            await s.adapter.execute(make_place("q-bid", BUY, 59_950, 250))
            await s.wait_for(lambda: bool(s.of(OrderAccepted)), "the ack")
            s.clock.advance(SEC)
            s.h.exchange.inject(Trade(SYM, 0, 0, 59_900, 10_000, SELL))
            await s.h.step()
            await s.wait_for(lambda: bool(s.of(Fill)), "the fill")
            fill = s.of(Fill)[0]
            # 0.0025 BTC at 59950 USD = 149.875 USD notional, maker fee 1 bp = 0.0149875 USD
            assert (fill.client_id, fill.side, fill.price, fill.size) == ("q-bid", BUY, 59_950, 250)
            assert fill.fee == 14_987_500 and fill.maker
            assert fill.trade_id == str(s.h.account().fills[0].trade_id)
            await s.wait_for(lambda: any(p.size == 250 for p in s.of(Position)), "the position")
            assert s.open_client_ids() == []

    asyncio.run(main())


def test_an_ioc_reduce_only_sell_closes_the_position_as_taker_with_the_taker_fee() -> None:
    async def main() -> None:
        async with running() as s:
            await s.adapter.execute(make_place("long", BUY, 59_950, 250))
            await s.wait_for(lambda: bool(s.of(OrderAccepted)), "the ack")
            s.clock.advance(SEC)
            s.h.exchange.inject(Trade(SYM, 0, 0, 59_900, 10_000, SELL))
            await s.h.step()
            await s.wait_for(lambda: len(s.of(Fill)) == 1, "the opening fill")
            best_bid = s.h.exchange.books[SYM].best_bid()
            exit_ = Place(SYM, 0, "exit", SELL, best_bid - 5, 400, False, True, "IOC")
            await s.adapter.execute(exit_)
            await s.wait_for(lambda: any(p.size == 0 for p in s.of(Position)[1:]), "flat")
            exits = [f for f in s.of(Fill) if f.client_id == "exit"]
            assert exits and sum(f.size for f in exits) == 250  # reduce-only: never flips
            unit = make_instrument().nanos_per_tick_lot
            for f in exits:
                assert not f.maker and f.side == SELL
                assert f.fee == -(-f.price * f.size * unit * 250_000 // 10**9)
            order = s.h.account().by_client["exit"]
            assert (order.tif, order.reduce_only, order.post_only) == ("IOC", True, False)

    asyncio.run(main())


def test_a_sequence_gap_triggers_a_resync_with_a_fresh_snapshot() -> None:
    async def main() -> None:
        async with running() as s:
            await s.market_step()
            await s.wait_for(lambda: bool(s.of(BookDelta)), "a delta")
            s.h.faults.skip_book_seq(1)
            await s.market_step()
            await s.wait_for(
                lambda: any(e.state == "resynced" for e in s.of(ConnectionState)), "resynced"
            )
            states = [(e.stream, e.state) for e in s.of(ConnectionState)]
            i = states.index((f"book:{SYM}", "resynced"))
            gap = next(e for e in s.of(ConnectionState) if e.state == "down")
            assert "sequence gap" in gap.reason
            before = s.events.index(s.of(ConnectionState)[i])
            assert type(s.events[before - 1]) is BookSnapshot  # snapshot, then "resynced"
            assert s.adapter.statistics().book_gaps == 1
            books = [e for e in s.events if isinstance(e, (BookSnapshot, BookDelta))]
            assert books[-1].seq == 1  # the new socket counts from 1 again

    asyncio.run(main())


def test_a_resync_command_resubscribes_the_book() -> None:
    async def main() -> None:
        async with running() as s:
            await s.adapter.execute(Resync(SYM, 0, "crossed book"))
            await s.wait_for(lambda: len(s.of(BookSnapshot)) == 2, "a second snapshot")
            assert any(e.state == "resynced" for e in s.of(ConnectionState))

    asyncio.run(main())


def test_a_dropped_socket_reconnects_and_reconciles_without_orphans_or_duplicates() -> None:
    async def main() -> None:
        async with running() as s:
            await s.adapter.execute(make_place("a", BUY, 59_950))
            await s.adapter.execute(make_place("b", SELL, 60_050))
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 2, "two acks")
            await s.h.faults.drop_connections()
            # while the account stream is down: the venue cancels "a" (we miss the update) and
            # we place "c" (we miss its ack)
            s.h.exchange.cancel(s.h.account(), s.h.account().by_client["a"])
            await s.adapter.execute(make_place("c", BUY, 59_940))
            await s.wait_for(
                lambda: [e.client_id for e in s.of(OrderCanceled)] == ["a"], "a's cancel"
            )
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 3, "c's ack")
            # the runner retrying the same place must not create a second order
            await s.adapter.execute(make_place("c", BUY, 59_940))
            await asyncio.sleep(0.2)
            account = s.h.account()
            assert sorted(account.by_client) == ["a", "b", "c"]
            assert len(account.orders) == 3
            assert s.open_client_ids() == ["b", "c"]
            assert [e.client_id for e in s.of(OrderAccepted)] == ["a", "b", "c"]
            assert [e.client_id for e in s.of(OrderCanceled)] == ["a"]
            downs = [e for e in s.of(ConnectionState) if e.state == "down"]
            assert {e.stream for e in downs} >= {"account", f"book:{SYM}"}
            assert s.adapter.statistics().reconciles >= 1

    asyncio.run(main())


def test_places_in_flight_together_across_a_reconnect_make_one_order_each() -> None:
    """The runner sends places concurrently; a reconnect's reconciliation runs while they are
    held at the venue, and must neither cancel nor reject them, nor let any be placed twice."""

    async def main() -> None:
        async with running() as s:
            s.h.faults.delay_next(3, 1500, "/api/v1/user/order")
            places = [make_place("a", BUY, 59_950), make_place("b", SELL, 60_050),
                      make_place("c", BUY, 59_940)]
            sending = asyncio.gather(*(s.adapter.execute(p) for p in places))
            await asyncio.sleep(0.1)  # all three are held at the venue now
            assert s.h.statistics().rest.peak_in_flight >= 3
            await s.h.faults.drop_connections()
            await s.wait_for(lambda: s.adapter.statistics().reconciles >= 1, "a reconcile")
            assert not sending.done()  # the reconcile ran while the places were held
            await sending
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 3, "three acks")
            await asyncio.sleep(0.2)
            account = s.h.account()
            assert sorted(account.by_client) == ["a", "b", "c"] and len(account.orders) == 3
            assert s.open_client_ids() == ["a", "b", "c"]
            assert sorted(e.client_id for e in s.of(OrderAccepted)) == ["a", "b", "c"]
            assert not s.of(OrderCanceled) and not s.of(OrderRejected)

    asyncio.run(main())


def test_orders_placed_by_an_earlier_session_are_canceled_on_reconcile() -> None:
    async def main() -> None:
        async with running() as s:
            account = s.h.account()
            stale = account.new_order("old-1", SYM, BUY, 59_000, 100, True, False, "GTC", START)
            s.h.exchange.place(account, stale)
            await s.adapter.reconcile()
            await s.wait_for(lambda: not account.open_orders(), "the orphan canceled")
            assert not any(e.client_id == "old-1" for e in s.of(OrderCanceled))

    asyncio.run(main())


def test_a_429_backs_off_and_the_place_succeeds_after() -> None:
    async def main() -> None:
        async with running() as s:
            s.h.faults.fail_next(2, 429, "/api/v1/user/order")
            await s.adapter.execute(make_place("r", BUY, 59_950))
            await s.wait_for(lambda: bool(s.of(OrderAccepted)), "the ack")
            stats = s.adapter.statistics().rest
            assert stats.rate_limited == 2 and stats.gave_up == 0
            assert len(s.h.account().orders) == 1
            s.h.faults.fail_next(1, 503, "/api/v1/user/order")
            await s.adapter.execute(Cancel(SYM, 0, "r"))
            await s.wait_for(lambda: bool(s.of(OrderCanceled)), "the cancel")
            assert s.adapter.statistics().rest.server_errors == 1

    asyncio.run(main())


def test_a_place_that_timed_out_is_retried_with_the_same_body_and_makes_one_order() -> None:
    async def main() -> None:
        async with running(rest_timeout_s=0.3) as s:
            s.h.faults.delay_next(1, 800, "/api/v1/user/order")
            await s.adapter.execute(make_place("t", BUY, 59_950))
            await s.wait_for(lambda: bool(s.of(OrderAccepted)), "the ack")
            await asyncio.sleep(0.8)  # the delayed first copy lands too, and is refused (1134)
            assert len(s.h.account().orders) == 1
            assert s.h.emulator.refused.get(1134) == 1
            assert not s.of(OrderRejected)

    asyncio.run(main())


@pytest.mark.parametrize("failures", [2, 6])
def test_a_cancel_whose_outcome_is_unknown_is_sent_again_until_the_venue_confirms_it(
    failures: int,
) -> None:
    async def main() -> None:
        async with running(rest_retries=1) as s:
            await s.adapter.execute(make_place("c", BUY, 59_950))
            await s.wait_for(lambda: bool(s.of(OrderAccepted)), "the ack")
            # 2: the cancel and its one retry fail; 6: the reconcile's calls and its first
            # cancel again fail too, and it tries again soon
            s.h.faults.fail_next(failures, 503, "/api/v1/user/order")
            await s.adapter.execute(Cancel(SYM, 0, "c"))
            assert s.open_client_ids() == ["c"]  # the venue never saw the cancel
            # the reconcile it triggers finds the order still resting and cancels it again
            await s.wait_for(lambda: bool(s.of(OrderCanceled)), "the cancel confirmed")
            assert s.open_client_ids() == []
            assert s.adapter.statistics().execution.unknown_outcomes == 1

    asyncio.run(main())


def test_a_place_whose_outcome_is_unknown_is_sent_again_by_the_reconcile() -> None:
    async def main() -> None:
        async with running(rest_retries=1) as s:
            s.h.faults.fail_next(2, 503, "/api/v1/user/order")  # the place and its one retry
            await s.adapter.execute(make_place("u", BUY, 59_950))
            # the venue never took it: the reconcile finds nothing and sends the same signed
            # body again (a held copy could otherwise land after a NOT_FOUND verdict)
            await s.wait_for(lambda: bool(s.of(OrderAccepted)), "the resent place accepted")
            assert [o.client_id for o in s.of(OrderAccepted)] == ["u"]
            assert s.open_client_ids() == ["u"] and not s.of(OrderRejected)

    asyncio.run(main())


def test_a_failed_cancel_all_is_carried_out_order_by_order_by_the_reconcile() -> None:
    async def main() -> None:
        async with running(rest_retries=1) as s:
            for i in range(2):
                await s.adapter.execute(make_place(f"a{i}", BUY, 59_950 - i))
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 2, "two acks")
            s.h.faults.fail_next(2, 503, "/api/v1/user/order/massCancel")
            await s.adapter.execute(CancelAll(SYM, 0, "test"))
            assert s.open_client_ids() == ["a0", "a1"]
            await s.wait_for(lambda: len(s.of(OrderCanceled)) == 2, "both cancels confirmed")
            assert s.open_client_ids() == []

    asyncio.run(main())


def test_cancel_all_empties_the_emulators_book_of_our_orders() -> None:
    async def main() -> None:
        async with running() as s:
            for i in range(3):
                await s.adapter.execute(make_place(f"m{i}", BUY, 59_950 - i))
                await s.adapter.execute(make_place(f"n{i}", SELL, 60_050 + i))
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 6, "six acks")
            await s.adapter.execute(CancelAll(SYM, 0, "halt"))
            await s.wait_for(lambda: len(s.of(OrderCanceled)) == 6, "six cancels")
            assert s.open_client_ids() == []

    asyncio.run(main())


def test_a_post_only_order_that_would_cross_comes_back_rejected_from_the_stream() -> None:
    async def main() -> None:
        async with running() as s:
            ask = s.of(BookSnapshot)[0].asks[0]
            await s.adapter.execute(make_place("x", BUY, ask))
            await s.wait_for(lambda: bool(s.of(OrderRejected)), "the reject")
            rej = s.of(OrderRejected)[0]
            assert (rej.client_id, rej.code) == ("x", "POST_ONLY_FAILED")

    asyncio.run(main())


def test_an_off_grid_size_is_rejected_with_the_venue_code() -> None:
    async def main() -> None:
        async with running() as s:
            await s.adapter.execute(make_place("small", BUY, 59_950, size=5))
            await s.wait_for(lambda: bool(s.of(OrderRejected)), "the reject")
            rej = s.of(OrderRejected)[0]
            assert (rej.client_id, rej.code) == ("small", "1120")
            assert "minimum" in rej.reason

    asyncio.run(main())


def test_a_bad_signature_is_rejected_1101_as_order_rejected() -> None:
    async def main() -> None:
        clock = ManualClock(START)
        h = await serve(clock=clock, seed=5, instruments=[make_instrument()], tick_s=0.02)
        config = make_config(h)
        env = h.credentials[0].env(config)
        env[config.stark_private_key_env] = "0x5eed"  # not the key the venue knows
        adapter = ExtendedAdapter(config, clock, environ=env)
        try:
            await adapter.start([SYM])
            await adapter.execute(make_place("bad-sig"))
            events: list[Event] = []
            while not events or type(events[-1]) is not OrderRejected:
                events.append(await asyncio.wait_for(adapter.events().__anext__(), 5))
            assert events[-1] == OrderRejected(
                SYM, events[-1].ts, events[-1].ts_recv, "bad-sig", "1101",
                "invalid Starknet signature",
            )
            assert not h.account().orders
        finally:
            await adapter.close()
            await h.close()

    asyncio.run(main())


def test_a_malformed_message_is_logged_and_dropped_without_stopping_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with running() as s:
            for c in s.h.hub.of(f"trades:{SYM}"):
                c.send('{"data":[{"i":1,"m":"BTC-USD","S":"BUY"')
                c.send('{"data":"not a list","ts":1,"seq":2}')
            s.h.exchange.inject(Trade(SYM, 0, 0, 60_001, 100, BUY))
            await s.market_step()
            await s.wait_for(lambda: bool(s.of(Trade)), "the good trade")
            assert s.adapter.statistics().malformed == 2

    with caplog.at_level(logging.WARNING, logger="adapters.extended"):
        asyncio.run(main())
    assert caplog.text.count("dropped malformed message") == 2


def test_a_silent_book_stream_is_treated_as_stale_and_reconnected() -> None:
    async def main() -> None:
        async with running(stale_after_s=0.3) as s:
            await s.wait_for(
                lambda: any("stale" in e.reason for e in s.of(ConnectionState)), "stale", 3
            )
            await s.wait_for(lambda: len(s.of(BookSnapshot)) >= 2, "a new snapshot", 3)

    asyncio.run(main())


def test_the_dead_mans_switch_is_armed_and_rearmed_and_fires_after_we_stop() -> None:
    async def main() -> None:
        async with running(dead_man_switch_s=5, dead_man_rearm_s=0.1) as s:
            await s.adapter.execute(make_place("d", BUY, 59_950))
            await s.wait_for(lambda: s.adapter.statistics().dead_man_arms >= 3, "re-arms")
            account = s.h.account()
            assert account.dead_man.armed
            await s.adapter.close()
            s.clock.advance(6 * SEC)
            await s.h.step()
            assert account.open_orders() == []
            assert account.dead_man.fired == 1

    asyncio.run(main())


class RecordedSwitch(EmulatedSwitch):
    """The emulator's dead man's switch, recording every countdown the venue carries out."""

    def __init__(self) -> None:
        super().__init__()
        self.countdowns: list[float] = []

    def arm(self, countdown_s: float, now_ns: int) -> None:
        self.countdowns.append(countdown_s)
        super().arm(countdown_s, now_ns)


def test_a_re_arm_at_the_venue_when_the_adapter_closes_is_carried_out_before_the_disarm(
) -> None:
    """The venue is slow on one re-arm, and the adapter closes while it is out with nothing of
    ours working. The close used to cancel the re-arm and disarm the switch at once: the venue
    carried out the re-arm after the disarm, and the switch, armed after a clean end, would
    cancel orders placed by hand later. Now the close waits for it, then disarms."""

    async def main() -> RecordedSwitch:
        async with running(dead_man_switch_s=5, dead_man_rearm_s=0.2) as s:
            switch = s.h.account().dead_man = RecordedSwitch()
            delays = s.h.faults.statistics().rest_delays
            s.h.faults.delay_next(1, 600, "/api/v1/user/deadmanswitch")
            await s.wait_for(lambda: s.h.faults.statistics().rest_delays > delays,
                             "a re-arm held at the venue")
            await s.adapter.close()
            await s.wait_for(lambda: len(switch.countdowns) >= 2,
                             "the held re-arm and the disarm carried out")
            return switch

    switch = asyncio.run(main())
    assert switch.countdowns == [5, 0] and not switch.armed


def test_close_ends_the_reconcile_loop_even_when_its_wait_swallows_the_cancel() -> None:
    """On 3.10 ``asyncio.wait_for`` swallows a cancel that comes after its inner wait completed
    and before it resumed: with a reconcile asked for just before the close, the loop ran on
    after its cancel, reconciling, and the close, awaiting it, never returned (nor ``mm
    run``)."""

    async def main() -> None:
        async with running(reconcile_interval_s=2.0) as s:
            (loop_task,) = [t for t in s.adapter._tasks if t.get_name() == "extended-reconcile"]
            s.adapter._request_reconcile("test: asked for just before the close")
            await asyncio.sleep(0)  # the loop's wait completes; it resumes after the cancel
            closing = asyncio.create_task(s.adapter.close())
            try:
                await s.wait_for(closing.done, "the close", timeout=8.0)
                assert loop_task.done()
            finally:
                loop_task.cancel()  # frees a close stuck on the loop
                await asyncio.wait({closing}, timeout=8.0)

    asyncio.run(main())


def test_close_waits_for_a_task_that_ignores_its_cancel_only_so_long(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever a background task does with its cancel, the close goes on after
    ``rest_timeout_s``, saying so: the session must end."""

    async def main() -> None:
        async with running(rest_timeout_s=0.5) as s:
            released = asyncio.Event()

            async def stubborn() -> None:
                while not released.is_set():
                    with contextlib.suppress(asyncio.CancelledError):
                        await released.wait()

            s.adapter._spawn(stubborn(), "stubborn")
            await asyncio.sleep(0)
            closing = asyncio.create_task(s.adapter.close())
            try:
                await s.wait_for(closing.done, "the close", timeout=8.0)
            finally:
                released.set()
                await asyncio.wait({closing}, timeout=8.0)

    with caplog.at_level(logging.WARNING, logger="adapters.extended"):
        asyncio.run(main())
    assert "extended-stubborn still running 0.5s after being cancelled" in caplog.text


def test_secrets_never_appear_in_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    secrets: list[str] = []

    async def main() -> None:
        async with running(dead_man_switch_s=5, dead_man_rearm_s=0.1) as s:
            creds = s.h.credentials[0]
            secrets.extend([creds.api_key, creds.stark_private_key, creds.stark_private_key[2:]])
            s.h.faults.fail_next(1, 429, "/api/v1/user/order")
            await s.adapter.execute(make_place("p", BUY, 59_950))
            await s.adapter.execute(make_place("p2", BUY, 59_950, size=3))
            await s.h.faults.drop_connections()
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 1, "ack")
            text = " ".join(
                [repr(s.adapter), repr(s.adapter.config), repr(s.adapter.rest)]
                + [repr(x) for x in s.adapter._subs.values()]
            )
            for secret in secrets:
                assert secret not in text
            # a wrong key: the 401 error names the call, never the key
            wrong = make_config(s.h)
            env = creds.env(wrong)
            env[wrong.api_key_env] = "wrong-key-also-secret"
            secrets.append("wrong-key-also-secret")
            other = ExtendedAdapter(wrong, s.clock, environ=env)
            try:
                with pytest.raises(ExtendedVenueError) as err:
                    await other.reconcile()
                assert err.value.code == "401"
                assert "wrong-key-also-secret" not in str(err.value)
            finally:
                await other.close()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(main())
    assert caplog.records, "expected the session to log something"
    for secret in secrets:
        assert secret not in caplog.text


def test_a_place_of_unknown_outcome_the_venue_does_not_list_is_settled_by_resending_it() -> None:
    """The place's REST call times out while the venue still holds it, and the reconcile finds
    no such order. Declaring it gone (NOT_FOUND) would free its exposure in the engine while the
    held copy may still land and rest beside a replacement: the adapter sends the same signed
    body again instead. The venue takes it once; the held copy, landing later, is a duplicate."""

    async def main() -> None:
        async with running(rest_retries=0, rest_timeout_s=0.3) as s:
            s.h.faults.delay_next(1, 700, "/api/v1/user/order")  # the POST only
            await s.adapter.execute(make_place("late", BUY, 59_950))
            await s.wait_for(lambda: bool(s.of(OrderAccepted)), "the resent place accepted")
            assert not s.of(OrderRejected)  # never declared gone
            assert s.open_client_ids() == ["late"]
            await asyncio.sleep(0.6)  # the held copy lands meanwhile
            assert s.open_client_ids() == ["late"]  # one order at the venue, not two
            assert not s.of(OrderRejected) and len(s.of(OrderAccepted)) == 1

    asyncio.run(main())


def test_fills_of_an_order_whose_place_answer_was_lost_are_found_by_the_reconcile() -> None:
    """An IOC order's place times out at our end but lands and fills at the venue while the
    account stream says nothing. The reconcile lists the fill (REST trades carry only the
    venue's order id) and learns that id only when it looks the order up: the fill must still
    come out, not an 'unseen fills' cancel that leaves the position wrong."""

    async def main() -> None:
        async with running(rest_retries=0, rest_timeout_s=0.5) as s:
            account_id = s.h.credentials[0].account_id
            for c in s.h.hub.of(f"account:{account_id}"):
                s.h.hub.clients.discard(c)  # the account socket stays open but falls silent
            s.h.faults.delay_next(1, 700, "/api/v1/user/order")  # the POST: lands at 0.7 s
            s.h.faults.delay_next(1, 450, "/api/v1/user/orders")  # the reconcile's open orders
            best_ask = s.of(BookSnapshot)[0].asks[0]
            taker = Place(SYM, 0, "ioc", BUY, best_ask + 5, 100, False, False, "IOC")
            await s.adapter.execute(taker)
            await s.wait_for(lambda: s.adapter.statistics().reconciles >= 1, "the reconcile")
            assert s.h.account().fills, "the order filled at the venue"
            await s.wait_for(lambda: bool(s.of(Fill)), "the fill")
            assert sum(f.size for f in s.of(Fill)) == 100
            assert not s.of(OrderCanceled) and not s.of(OrderRejected)

    asyncio.run(main())


def test_fills_of_a_place_still_in_flight_are_found_by_the_reconcile_before_its_position(
) -> None:
    """An IOC order fills at the venue the moment it lands, while the answer to its place is
    still on the way and the account stream says nothing. A reconcile now lists its trade (by
    the venue's order id, which we do not know yet) and the position that holds it: the fill
    must come out before that position, or the engine would count the fill twice (once in the
    position, once when the fill turns up) and book it at the position's average cost."""

    async def main() -> None:
        async with running(rest_retries=0, rest_timeout_s=3.0) as s:
            account_id = s.h.credentials[0].account_id
            for c in s.h.hub.of(f"account:{account_id}"):
                s.h.hub.clients.discard(c)  # the account socket stays open but falls silent
            s.h.faults.delay_answer_next(1, 800, "/api/v1/user/order$")
            best_ask = s.of(BookSnapshot)[0].asks[0]
            taker = Place(SYM, START, "ioc", BUY, best_ask + 5, 100, False, False, "IOC")
            placing = asyncio.create_task(s.adapter.execute(taker))
            await s.wait_for(lambda: bool(s.h.account().fills), "the fill at the venue")
            out = await s.adapter.reconcile()  # the place's answer is still on its way
            assert not placing.done()
            kinds = [type(e) for e in out]
            assert Fill in kinds and kinds.index(Fill) < kinds.index(Position)
            assert sum(e.size for e in out if type(e) is Fill) == 100
            assert [e.size for e in out if type(e) is Position] == [100]
            await placing
            assert sum(f.size for f in s.of(Fill)) == 0  # the silent stream added none
            assert not s.of(OrderCanceled) and not s.of(OrderRejected)
            again = await s.adapter.reconcile()
            assert not [e for e in again if type(e) is Fill]  # passed on once

    asyncio.run(main())


def test_a_reconcile_cut_short_by_its_callers_timeout_still_passes_on_the_fills_it_found(
) -> None:
    """The shutdown's reconcile (``LiveRunner._final_reconcile``) runs under a timeout. Here
    the account stream is silent, a trade fills our bid at the venue and the venue is slow to
    answer the positions read, so the timeout cuts the run after it has read the trade: the
    tracker has marked it seen, no later run passes it on again. The fill used to be lost with
    the run's list of events; it must reach the engine, once."""

    async def main() -> None:
        async with running() as s:
            await _fill_unseen(s, "q-bid", 250, 10_000)
            assert s.h.account().fills, "our bid filled at the venue"
            s.h.faults.delay_next(1, 1500, "/api/v1/user/positions")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(s.adapter.reconcile(), 0.3)
            await s.wait_for(lambda: bool(s.of(Fill)), "the fill the cut reconcile found")
            again = await s.adapter.reconcile()
            assert not [e for e in again if type(e) is Fill]  # passed on once
            assert [e.size for e in again if type(e) is Position] == [250]
            assert [(f.client_id, f.size) for f in s.of(Fill)] == [("q-bid", 250)]

    asyncio.run(main())


def test_an_earlier_sessions_fill_is_never_taken_for_a_place_in_flight() -> None:
    """An earlier session's fill is in the venue's trades at every reconcile: a place of ours
    in flight is looked up by its external id (the trade's time cannot tell: the venue's clock
    and ours are not comparable), and the fill, of another venue id, stays another's."""

    async def main() -> None:
        async with running(rest_retries=0, rest_timeout_s=3.0) as s:
            account = s.h.account()
            best_ask = s.of(BookSnapshot)[0].asks[0]
            old = account.new_order("old-1", SYM, BUY, best_ask + 5, 100, False, False, "IOC",
                                    START)
            s.h.exchange.place(account, old)  # an earlier session's order, filled
            assert account.fills
            s.clock.advance(60 * SEC)
            lookups: list[str] = []
            lookup = s.adapter.rest.orders_by_external_id

            async def counted(external_id: str) -> list[Any]:
                lookups.append(external_id)
                return await lookup(external_id)

            s.adapter.rest.orders_by_external_id = counted  # type: ignore[method-assign]
            for c in s.h.hub.of(f"account:{s.h.credentials[0].account_id}"):
                s.h.hub.clients.discard(c)  # no ORDER frame tells us the venue id either
            s.h.faults.delay_answer_next(1, 800, "/api/v1/user/order$")
            # an IOC that finds nothing to take: done at once, in no open-orders list
            ioc = Place(SYM, START + 60 * SEC, "ioc", BUY, 59_000, 100, False, False, "IOC")
            placing = asyncio.create_task(s.adapter.execute(ioc))
            await s.wait_for(lambda: "ioc" in account.by_client, "the place at the venue")
            out = await s.adapter.reconcile()
            assert not placing.done() and lookups and set(lookups) == {"ioc"}
            assert not [e for e in out if type(e) is Fill]  # the old fill is not ours
            await placing

    asyncio.run(main())


def test_a_sequence_gap_on_the_account_stream_reconciles_what_was_lost() -> None:
    """The account stream numbers its frames like the book's; a lost frame (here the venue's
    cancel of "a") shows as a gap and must trigger a reconcile, not leave "a" live for us."""

    async def main() -> None:
        async with running() as s:
            await s.adapter.execute(make_place("a", BUY, 59_950))
            await s.adapter.execute(make_place("b", SELL, 60_050))
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 2, "two acks")
            account_id = s.h.credentials[0].account_id
            clients = s.h.hub.of(f"account:{account_id}")
            assert len(clients) == 1
            client = clients[0]
            s.h.hub.clients.discard(client)  # the venue's frame for this cancel is lost...
            s.h.exchange.cancel(s.h.account(), s.h.account().by_client["a"])
            s.h.hub.clients.add(client)
            client.seq += 1  # ...after being numbered, as a frame lost on the way is
            await s.adapter.execute(make_place("c", BUY, 59_940))  # the next frame shows the gap
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 3, "c's ack")
            await s.wait_for(lambda: bool(s.of(OrderCanceled)), "a's cancel, from the reconcile")
            assert [e.client_id for e in s.of(OrderCanceled)] == ["a"]
            assert s.adapter.statistics().account_gaps == 1

    asyncio.run(main())


def test_a_place_held_at_the_venue_past_a_cancel_all_is_canceled_when_it_lands() -> None:
    """The place times out at our end, a CancelAll goes out, and only then does the venue
    carry out the held place. The engine sent that CancelAll to end every order it had: the
    order that landed after it must be canceled too, not left working."""

    async def main() -> None:
        async with running(rest_retries=0, rest_timeout_s=0.5) as s:
            s.h.faults.delay_next(1, 700, "/api/v1/user/order")  # the POST: lands at 0.7 s
            s.h.faults.delay_next(1, 450, "/api/v1/user/orders")  # the reconcile's open orders
            await s.adapter.execute(make_place("held", BUY, 59_950))  # gives up at 0.5 s
            await s.adapter.execute(CancelAll(SYM, 0, "halt"))  # carried out before it lands
            await s.wait_for(lambda: "held" in s.h.account().by_client, "the held copy landing")
            await s.wait_for(lambda: s.open_client_ids() == [], "the late order canceled")

            def ends() -> list[str]:
                return [e.client_id for e in s.of(OrderCanceled) + s.of(OrderRejected)]

            # the venue has canceled it; its account frame may still be on the way
            await s.wait_for(lambda: bool(ends()), "the engine told of its end")
            assert ends() == ["held"]

    asyncio.run(main())


def test_signed_orders_are_kept_only_while_the_venue_may_not_have_them() -> None:
    """Each signed order (~6 KB) is kept so that a place of unknown outcome can be resent as
    is; one the venue answered needs no copy. Kept for every place, they would grow without
    bound over a quoting session until the process runs out of memory."""

    async def main() -> None:
        async with running(rest_retries=0) as s:
            executor: Any = s.adapter._executor
            for i in range(5):
                await s.adapter.execute(make_place(f"k{i}", BUY, 59_950 - i))
            await s.adapter.execute(make_place("k0", BUY, 59_950))  # again: skipped or 1134
            await s.adapter.execute(make_place("small", BUY, 59_950, size=5))  # refused
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 5, "five acks")
            assert executor._signed == {}
            s.h.faults.fail_next(1, 503, "/api/v1/user/order")
            await s.adapter.execute(make_place("unknown", BUY, 59_940))  # fate unknown: kept
            assert list(executor._signed) == ["unknown"]

    asyncio.run(main())


def test_a_reconcile_that_fails_unexpectedly_is_logged_and_the_loop_keeps_running(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A REST answer the SDK parses but we cannot use (a position size off the lot grid) makes
    the reconcile raise an error that is not the adapter's own. The loop must log it and carry
    on: a cancel that fails afterwards must still be sent again by a later reconcile."""
    import adapters.extended.emulator_rest as emulator_rest

    real_position_json = emulator_rest.position_json
    malformed = [1]  # how many REST position answers still to spoil

    def spoiled(*args: Any) -> dict[str, Any]:
        out: dict[str, Any] = real_position_json(*args)
        if malformed:
            malformed.pop()
            out = {**out, "size": "0.000015"}  # 1.5 lots of 0.00001
        return out

    async def main() -> None:
        async with running(rest_retries=1) as s:
            await s.adapter.execute(make_place("f", BUY, 59_950, 250))
            await s.wait_for(lambda: bool(s.of(OrderAccepted)), "the ack")
            s.clock.advance(SEC)
            s.h.exchange.inject(Trade(SYM, 0, 0, 59_900, 10_000, SELL))
            await s.h.step()
            await s.wait_for(lambda: bool(s.of(Fill)), "the fill: a position to report")
            monkeypatch.setattr(emulator_rest, "position_json", spoiled)
            s.adapter._request_reconcile("test")
            await s.wait_for(lambda: not malformed, "the malformed position served")
            await s.adapter.execute(make_place("c", BUY, 59_940))
            await s.wait_for(lambda: len(s.of(OrderAccepted)) == 2, "c's ack")
            s.h.faults.fail_next(2, 503, "/api/v1/user/order")  # the cancel and its one retry
            await s.adapter.execute(Cancel(SYM, 0, "c"))
            assert s.open_client_ids() == ["c"]
            await s.wait_for(lambda: bool(s.of(OrderCanceled)), "the cancel sent again")
            assert s.open_client_ids() == []
            assert s.adapter.statistics().reconcile_errors == 1

    with caplog.at_level(logging.WARNING, logger="adapters.extended"):
        asyncio.run(main())
    failed = [r for r in caplog.records if "reconcile failed unexpectedly" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None
    assert "position" in caplog.text and "retrying in" in failed[0].getMessage()


def test_forced_book_reconnects_back_off_when_every_socket_gaps() -> None:
    """A venue whose book skips a sequence number on every socket: the first gap reconnects at
    once, each further one waits longer (seeded jitter, capped), instead of a tight loop."""

    async def main() -> None:
        async with running(reconnect_min_s=0.05, reconnect_max_s=5.0) as s:
            sub = s.adapter._books[SYM].sub
            s.h.faults.skip_book_seq(10**6)  # every book frame from now on jumps one
            for _ in range(40):
                await s.market_step()
                await asyncio.sleep(0.02)
            forced = sub.statistics().forced
            assert 2 <= forced <= 10, f"{forced} forced reconnects in 40 frames"
            delays = list(sub.forced_delays)
            assert len(delays) >= 2 and delays[0] == 0.0  # the first: at once
            for i, delay in enumerate(delays[1:]):
                ceiling = min(5.0, 0.05 * 2**i)
                assert ceiling / 2 <= delay <= ceiling
            assert s.adapter.statistics().book_gaps == forced

    asyncio.run(main())


def test_a_streamed_fill_of_a_place_not_answered_yet_comes_before_its_position() -> None:
    """An IOC order fills the moment it lands while the answer to its place is still on the
    way: the account stream's TRADE names the order by the venue's id only, which we do not
    know yet, and the POSITION that follows includes the fill. The trade used to be dropped as
    someone else's and the position passed on at once; a reconcile then found the fill and
    counted it on top. Now the position is held until the reconcile has passed on the fill."""

    async def main() -> None:
        async with running(rest_retries=0, rest_timeout_s=3.0, position_hold_s=5.0) as s:
            s.h.faults.delay_answer_next(1, 800, "/api/v1/user/order$")
            best_ask = s.of(BookSnapshot)[0].asks[0]
            taker = Place(SYM, START, "ioc", BUY, best_ask + 5, 100, False, False, "IOC")
            placing = asyncio.create_task(s.adapter.execute(taker))
            await s.wait_for(lambda: bool(s.of(Fill)), "the fill", timeout=10.0)
            await placing
            await s.wait_for(lambda: bool(s.of(Position)), "the position", timeout=10.0)
            account = [e for e in s.events if type(e) in (Fill, Position)]
            kinds = [type(e) for e in account]
            assert kinds.index(Fill) < kinds.index(Position)  # never counted twice
            assert sum(e.size for e in account if type(e) is Fill) == 100
            assert [e.size for e in account if type(e) is Position][-1] == 100

    asyncio.run(main())


async def _fill_unseen(s: Session, client_id: str, size: int, traded: int) -> None:
    """A bid of ours of ``size`` lots rests; the account stream falls silent (its socket stays
    open); a sell of ``traded`` lots trades through it at the venue."""
    await s.adapter.execute(make_place(client_id, BUY, 59_950, size))
    await s.wait_for(lambda: bool(s.of(OrderAccepted)), "the ack")
    for c in s.h.hub.of(f"account:{s.h.credentials[0].account_id}"):
        s.h.hub.clients.discard(c)  # the account socket stays open but falls silent
    s.clock.advance(SEC)
    s.h.exchange.inject(Trade(SYM, 0, 0, 59_900, traded, SELL))
    await s.h.step()


async def _filled_then_ended_unseen(s: Session, lagging_reads: int) -> list[int]:
    """Order "a" (100 lots) rests; the account stream falls silent; the venue fills 60 lots of
    it, then cancels it. The venue's trades, as REST lists them, lack the fill for the first
    ``lagging_reads`` reads (a REST lag, or a fill beyond the latest trades read). Returns the
    list the trades reads are counted in."""
    await _fill_unseen(s, "a", 100, 60)
    account = s.h.account()
    order = account.by_client["a"]
    assert order.filled == 60
    s.h.exchange.cancel(account, order)
    assert order.status == "CANCELLED"
    reads: list[int] = []
    trades = s.adapter.rest.trades

    async def lagging(symbols: list[str], limit: int = 200) -> list[Any]:
        reads.append(1)
        return [] if len(reads) <= lagging_reads else await trades(symbols, limit)

    s.adapter.rest.trades = lagging  # type: ignore[method-assign]
    return reads


def test_an_order_the_reconcile_finds_ended_before_its_fills_ends_after_them() -> None:
    """The reconcile finds "a" canceled with 60 lots filled, and its trades read lacks the
    fill. The cancel must wait for the fill (the engine's risk gate counts a's 100 lots until
    then, which covers the 60 on their way): the next run finds the fill and passes it on,
    then the cancel. Emitted at once, the cancel freed the room before the fill landed."""

    async def main() -> None:
        async with running() as s:
            reads = await _filled_then_ended_unseen(s, lagging_reads=1)
            s.adapter._request_reconcile("test")
            await s.wait_for(lambda: bool(s.of(OrderCanceled)), "a's end")
            ends = [e for e in s.events if type(e) in (Fill, OrderCanceled)]
            assert [type(e) for e in ends] == [Fill, OrderCanceled], ends
            assert ends[0].size == 60 and ends[1].reason == "CANCELLED"
            assert len(reads) == 2  # the run that held the end asked for the next one
            assert s.adapter.statistics().tracker.ends_held == 1

    asyncio.run(main())


@pytest.mark.parametrize("one_shot", [False, True], ids=["background", "one-shot"])
def test_an_end_whose_fills_no_reconcile_finds_goes_out_saying_so(one_shot: bool) -> None:
    """The last resort: the venue's trades never list the fill. A background run that held
    the end leaves it to the next run, which reads the trades again and, without the fill
    still, gives up: the cancel goes out, "fills not seen", and the venue's position sets the
    engine's. A one-shot run (start-up, shutdown) has no next run: it gives up at once."""

    async def main() -> None:
        async with running() as s:
            reads = await _filled_then_ended_unseen(s, lagging_reads=1_000)
            if one_shot:
                out = await s.adapter.reconcile()  # the cancel is among its own events
            else:
                s.adapter._request_reconcile("test")
                await s.wait_for(lambda: bool(reads and s.adapter.tracker.ends_held), "a held")
                # the end waits position_hold_s (as a position after a gap) before a run
                # whose trades lack its fills gives it up; the adapter runs again meanwhile
                s.clock.advance(int(s.adapter.config.position_hold_s * 1e9) + SEC)
                await s.wait_for(lambda: bool(s.of(OrderCanceled)), "a's end")
                assert len(reads) == 2  # held by the first run, given up by the second
                await s.wait_for(lambda: any(p.size == 60 for p in s.of(Position)),
                                 "the venue's position")
                out = s.events
            cancels = [e for e in out if type(e) is OrderCanceled]
            assert [c.reason for c in cancels] == ["reconcile: CANCELLED, fills not seen"]
            assert not [e for e in out if type(e) is Fill]
            kinds = [type(e) for e in out]
            assert any(e.size == 60 for e in out[kinds.index(OrderCanceled):]
                       if type(e) is Position)
            stats = s.adapter.statistics().tracker
            assert (stats.ends_held, stats.ends_given_up) == (1, 1)

    asyncio.run(main())


@pytest.mark.parametrize("hold_s", [5.0, 0.0])  # 0: positions pass at once; ends still wait
def test_an_end_held_from_the_stream_is_not_given_up_by_the_reconcile_it_asks_for(
    monkeypatch: pytest.MonkeyPatch, hold_s: float
) -> None:
    """The venue cancels "a" just after matching 60 lots of it; the account stream's CANCELLED
    update (filledQty 60) overtakes the TRADE frame, which comes 300 ms later, and the venue's
    REST trades lag one read behind too. The reconcile the held end asks for at once must not
    give it up: the cancel goes out after the fill, whenever the fill comes within
    position_hold_s. (Given up by that first run, the cancel freed the room before the fill.)"""
    late: list[str] = []
    delaying = [False]
    on_account = ExtendedAdapter._on_account

    def wire(self: ExtendedAdapter, data: str) -> None:  # the TRADE frame and those after it
        if delaying[0] and (late or '"type":"TRADE"' in data):  # come 300 ms late, in order
            if not late:
                asyncio.get_running_loop().call_later(0.3, flush, self)
            late.append(data)
            return
        on_account(self, data)

    def flush(self: ExtendedAdapter) -> None:
        delaying[0] = False
        while late:
            on_account(self, late.pop(0))

    monkeypatch.setattr(ExtendedAdapter, "_on_account", wire)

    async def main() -> None:
        async with running(position_hold_s=hold_s) as s:
            await s.adapter.execute(make_place("a", BUY, 59_950, 100))
            await s.wait_for(lambda: bool(s.of(OrderAccepted)), "the ack")
            reads: list[int] = []
            trades = s.adapter.rest.trades

            async def lagging(symbols: list[str], limit: int = 200) -> list[Any]:
                reads.append(1)
                return [] if len(reads) <= 1 else await trades(symbols, limit)

            s.adapter.rest.trades = lagging  # type: ignore[method-assign]
            s.h.faults.late_fill_frames(1)
            delaying[0] = True
            s.clock.advance(SEC)
            s.h.exchange.inject(Trade(SYM, 0, 0, 59_900, 60, SELL))
            await s.h.step()
            account = s.h.account()
            order = account.by_client["a"]
            s.h.exchange.cancel(account, order)  # CANCELLED (filledQty 60) goes out first
            await s.wait_for(lambda: bool(s.of(OrderCanceled)), "a's end")
            ends = [e for e in s.events if type(e) in (Fill, OrderCanceled)]
            assert [type(e) for e in ends] == [Fill, OrderCanceled], ends
            assert ends[0].size == 60 and ends[1].reason == "CANCELLED"
            stats = s.adapter.statistics().tracker
            assert (stats.ends_held, stats.ends_given_up, stats.late_fills) == (1, 0, 0)

    asyncio.run(main())


def test_a_one_shot_reconcile_that_fails_gives_up_the_ends_waiting_for_fills() -> None:
    """The shutdown's last reconcile fails (the venue's trades unreadable) while "a"'s end waits
    for a fill: no run follows it and no new order will take the room, so the end goes out
    ("fills not seen") rather than leave the order working in the engine, which made the
    session end with it "not confirmed canceled" though the venue had canceled it."""

    async def main() -> None:
        async with running() as s:
            await _filled_then_ended_unseen(s, lagging_reads=1_000)
            s.adapter._request_reconcile("test")
            await s.wait_for(lambda: bool(s.adapter.tracker.ends_held), "a's end held")

            async def down(symbols: list[str], limit: int = 200) -> list[Any]:
                raise ExtendedUnavailableError("GET trades: 503")

            s.adapter.rest.trades = down  # type: ignore[method-assign]
            with pytest.raises(ExtendedUnavailableError):
                await s.adapter.reconcile()
            await s.wait_for(lambda: bool(s.of(OrderCanceled)), "a's end")
            cancels = [e for e in s.events if type(e) is OrderCanceled]
            assert [c.reason for c in cancels] == ["reconcile: CANCELLED, fills not seen"]
            assert not s.adapter.tracker.ends_held

    asyncio.run(main())


def test_a_place_in_flight_is_looked_up_when_our_clock_runs_ahead_of_the_venues() -> None:
    """The lookup used to be skipped for trades more than 10 s older than the place by our
    clock: with the host 15 s ahead of the venue, the fill of a place filled while in flight was
    not passed on before the position (and so counted twice when its frame came)."""
    from types import SimpleNamespace

    from adapters.extended.normalize import Normalizer
    from adapters.extended.reconcile import Reconciler
    from adapters.extended.tracker import OrderTracker

    inst = {SYM: make_instrument()}
    venue_ms = 1_760_000_000_000
    lookups: list[str] = []

    class Rest:
        async def order_by_external_id(self, client_id: str) -> SimpleNamespace:
            lookups.append(client_id)
            return SimpleNamespace(id=777)

    tracker = OrderTracker(inst)
    placed = venue_ms * 1_000_000 + 15 * SEC  # our clock, 15 s ahead of the venue's
    tracker.placing(Place(SYM, placed, "ours", BUY, 60_000, 5, False, False, "GTC"))
    reconciler = Reconciler(Rest(), tracker, Normalizer(inst), inst, lambda: placed, True)  # type: ignore[arg-type]
    trade = SimpleNamespace(
        id=1, market=SYM, order_id=777, side="BUY", price="60000", qty="0.00005", fee="0",
        is_taker=False, created_time=venue_ms + 50, trade_type="TRADE",
    )  # filled 50 ms after it was placed, by the venue's clock
    out: list[Event] = []
    asyncio.run(reconciler._in_flight_fills([trade], out.extend))  # type: ignore[list-item]
    assert lookups == ["ours"]
    assert [(f.client_id, f.size) for f in out if type(f) is Fill] == [("ours", 5)]
