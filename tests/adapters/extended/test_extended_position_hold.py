"""Venue positions held back after an account gap (adapters.extended.position_hold)."""

from __future__ import annotations

from adapters.extended.position_hold import PositionHold
from mmcore.events import Position

S = 1_000_000_000


def pos(inst: str, size: int, t: int = 0) -> Position:
    return Position(inst, t, t, size)


def test_positions_pass_until_a_gap_and_the_latest_per_market_is_held_after() -> None:
    hold = PositionHold(5.0)
    assert hold.offer(pos("A", 1)) == [pos("A", 1)]
    hold.start(10 * S)
    assert hold.holding
    assert hold.offer(pos("B", 7)) == []
    assert hold.offer(pos("A", 2)) == []
    assert hold.offer(pos("A", 3)) == []
    assert hold.release(hold.generation) == [pos("A", 3), pos("B", 7)]
    assert not hold.holding
    assert hold.offer(pos("A", 4)) == [pos("A", 4)]


def test_a_reconcile_started_before_the_latest_gap_releases_nothing() -> None:
    hold = PositionHold(5.0)
    hold.start(1 * S)
    started = hold.generation  # a reconcile starts...
    hold.start(2 * S)  # ...and another gap comes while it runs: its reads may predate the loss
    hold.offer(pos("A", 5))
    assert hold.release(started) == []
    assert hold.holding
    assert hold.release(hold.generation) == [pos("A", 5)]


def test_the_hold_ends_after_max_hold_s_from_its_first_gap() -> None:
    hold = PositionHold(2.0)
    hold.start(10 * S)
    hold.offer(pos("A", 5))
    hold.start(11 * S)  # a second gap does not extend the hold
    assert hold.expire(11 * S + S // 2) == []
    assert hold.expire(12 * S) == [pos("A", 5)]
    assert not hold.holding and hold.released_late == 1
    assert hold.expire(20 * S) == []


def test_a_release_with_nothing_held_ends_the_hold_all_the_same() -> None:
    hold = PositionHold(5.0)
    hold.start(S)
    assert hold.release(hold.generation) == []
    assert not hold.holding


def test_max_hold_zero_never_holds() -> None:
    hold = PositionHold(0.0)
    hold.start(S)
    assert not hold.holding
    assert hold.offer(pos("A", 1)) == [pos("A", 1)]


def test_while_the_socket_is_down_nothing_is_released_and_the_clock_starts_at_up() -> None:
    hold = PositionHold(2.0)
    hold.down(10 * S)
    during = hold.generation  # a reconcile started in the outage
    hold.offer(pos("A", 5, 1))
    assert hold.release(during) == []  # it cannot see the fills still to come in the outage
    assert hold.expire(30 * S) == [] and hold.due_ns == 0
    hold.up(40 * S)
    assert hold.release(during) == []
    assert hold.due_ns == 42 * S
    assert hold.expire(41 * S) == []
    assert hold.release(hold.generation) == [pos("A", 5, 1)]


def test_the_newest_position_by_venue_time_is_kept() -> None:
    hold = PositionHold(5.0)
    hold.start(S)
    hold.offer(pos("A", 160, 20))  # the stream's, newer
    hold.offer(pos("A", 140, 10))  # a slow reconcile's, older
    assert hold.take_all() == [pos("A", 160, 20)]
    assert not hold.holding


def test_up_after_a_drop_starts_a_hold_of_its_own() -> None:
    hold = PositionHold(5.0)
    hold.up(S)  # a reconnect: frames were lost while it was down
    assert hold.holding and hold.holds == 1
    assert hold.offer(pos("A", 1)) == []


def test_a_reconciles_flat_for_an_unlisted_market_never_replaces_a_frame_of_the_venues() -> None:
    """The reconcile reads no position (flat), then the stream brings LONG 5 (a fill landed
    while the answer was on its way). The flat used to be stamped with the local clock, which
    ran ahead of the venue's, so it counted as newer and the engine was told flat while the
    venue held 5."""
    import asyncio

    from adapters.extended.normalize import Normalizer
    from adapters.extended.reconcile import Reconciler
    from adapters.extended.tracker import OrderTracker
    from adapters.extended.wire import WirePosition
    from mmcore.instrument import Instrument

    sym = "BTC-USD"
    inst = {sym: Instrument(venue="extended", symbol=sym, tick_size="1", lot_size="0.001")}
    venue_ms = 1_760_000_000_000
    local = venue_ms * 1_000_000 + 2_000_000_000  # the host's clock 2 s ahead of the venue's

    class Rest:
        async def positions(self, symbols: list[str]) -> list[object]:
            return []

        async def balance(self) -> None:
            return None

    norm = Normalizer(inst)
    reconciler = Reconciler(Rest(), OrderTracker(inst), norm, inst, lambda: local, True)  # type: ignore[arg-type]
    reconciler.told = lambda s: 0
    hold = PositionHold(5.0)
    hold.start(local - 1_000_000_000)
    found: list[object] = []
    asyncio.run(reconciler._account([sym], found.extend, confirm=True))
    for ev in found:
        hold.offer(ev, reconciler.positions_read_ns)  # type: ignore[arg-type]
    frame = norm.position(WirePosition(sym, "LONG", "5", updated_at=venue_ms + 300), local)
    assert frame is not None
    hold.offer(frame)
    assert [p.size for p in hold.release(hold.generation)] == [5000]


def test_a_reconciles_flat_read_after_a_held_frame_replaces_it() -> None:
    """A frame held (+5), the socket down, the frame that closed the position lost; the
    reconcile after the reconnect reads flat. Its flat has no venue time (0), so by venue time
    it never replaced the held +5, and the engine was told a position the venue had closed: a
    reconcile's position counts by when it was read."""
    sec = 1_000_000_000
    t1 = 1_700_000_000 * sec
    hold = PositionHold(max_hold_s=30)
    hold.start(t1 - sec)
    hold.offer(Position("BTC-USD", t1, t1, 5))
    hold.down(t1 + sec)
    hold.up(t1 + 20 * sec)
    generation = hold.generation
    hold.offer(Position("BTC-USD", 0, t1 + 21 * sec, 0), read_ns=t1 + 20 * sec)
    assert [p.size for p in hold.release(generation)] == [0]


def test_a_frame_received_after_the_reconcile_began_its_read_is_kept() -> None:
    sec = 1_000_000_000
    t1 = 1_700_000_000 * sec
    hold = PositionHold(max_hold_s=30)
    hold.start(t1)
    hold.offer(Position("BTC-USD", t1, t1 + 2 * sec, 5))  # came while the read was answered
    hold.offer(Position("BTC-USD", 0, t1 + 3 * sec, 0), read_ns=t1 + sec)
    assert [p.size for p in hold.release(hold.generation)] == [5]
