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
