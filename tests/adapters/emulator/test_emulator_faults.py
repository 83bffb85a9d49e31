"""Fault switches fire exactly as often as asked, only where asked."""

from __future__ import annotations

import asyncio

import pytest

from adapters.emulator.clock import ClockWentBackwardsError, ManualClock
from adapters.emulator.deadman import DeadMansSwitch
from adapters.emulator.faults import BadFaultError, FaultSwitches


def test_fail_next_answers_n_calls_under_the_prefix_then_stops() -> None:
    faults = FaultSwitches()
    faults.fail_next(2, 429, "/api/v1/user/order")
    assert faults.take_failure("/api/v1/info/markets") is None
    assert faults.take_failure("/api/v1/user/order") == 429
    assert faults.take_failure("/api/v1/user/order/massCancel") == 429
    assert faults.take_failure("/api/v1/user/order") is None
    assert faults.statistics().rest_failures == 2


def test_only_429_and_5xx_can_be_injected() -> None:
    with pytest.raises(BadFaultError, match="429 or 5xx"):
        FaultSwitches().fail_next(1, 404)


def test_delays_add_the_global_delay_to_the_next_n_calls() -> None:
    faults = FaultSwitches()
    faults.delay_ms = 10
    faults.delay_next(1, 990)
    assert faults.take_delay_s("/x") == pytest.approx(1.0)
    assert faults.take_delay_s("/x") == pytest.approx(0.01)


def test_answer_delays_hold_only_the_next_n_answers_under_the_prefix() -> None:
    faults = FaultSwitches()
    faults.delay_ms = 10  # the global delay is before handling, never on the answer
    faults.delay_answer_next(2, 500, "/api/v1/user/order$")
    assert faults.take_answer_delay_s("/api/v1/user/orders") == 0
    assert faults.take_answer_delay_s("/api/v1/user/order") == pytest.approx(0.5)
    assert faults.take_delay_s("/api/v1/user/order") == pytest.approx(0.01)
    assert faults.take_answer_delay_s("/api/v1/user/order") == pytest.approx(0.5)
    assert faults.take_answer_delay_s("/api/v1/user/order") == 0
    with pytest.raises(BadFaultError, match="delay_answer_next"):
        faults.delay_answer_next(1, -1)


def test_skip_seq_marks_exactly_n_messages() -> None:
    faults = FaultSwitches()
    faults.skip_book_seq(2)
    assert [faults.take_seq_skip() for _ in range(4)] == [1, 1, 0, 0]


def test_late_fill_frames_delays_exactly_n_fills() -> None:
    faults = FaultSwitches()
    faults.late_fill_frames(2)
    assert [faults.take_late_fill() for _ in range(3)] == [True, True, False]
    assert faults.statistics().late_fills == 2
    faults.late_fill_frames(1)
    faults.clear()
    assert not faults.take_late_fill()
    with pytest.raises(BadFaultError, match="late_fill_frames"):
        faults.late_fill_frames(-1)


def test_drop_connections_calls_every_registered_dropper() -> None:
    faults = FaultSwitches()
    calls: list[int] = []

    async def dropper() -> int:
        calls.append(1)
        return 3

    faults.on_drop(dropper)
    faults.on_drop(dropper)
    assert asyncio.run(faults.drop_connections()) == 6
    assert faults.statistics().ws_drops == 6 and len(calls) == 2


def test_clear_turns_every_switch_off() -> None:
    faults = FaultSwitches()
    faults.fail_next(3)
    faults.skip_book_seq(3)
    faults.delay_ms = 5
    faults.delay_answer_next(1, 5)
    faults.clear()
    assert faults.take_failure("/") is None
    assert faults.take_seq_skip() == 0
    assert faults.take_delay_s("/") == 0
    assert faults.take_answer_delay_s("/") == 0


def test_a_manual_clock_moves_only_forward_and_only_when_told() -> None:
    clock = ManualClock(100)
    assert clock.now_ns() == clock() == 100
    clock.advance(5)
    assert clock() == 105
    with pytest.raises(ClockWentBackwardsError):
        clock.set(50)


def test_a_dead_mans_switch_fires_once_when_the_countdown_runs_out_and_zero_disarms() -> None:
    dms = DeadMansSwitch()
    dms.arm(2, 0)
    assert not dms.expired(1_999_999_999)
    assert dms.expired(2_000_000_000)
    assert not dms.expired(3_000_000_000)
    dms.arm(1, 0)
    dms.arm(0, 0)
    assert not dms.armed and not dms.expired(10**12)
    assert dms.fired == 1


def test_late_fill_frames_keep_positions_oldest_first() -> None:
    """A fill's frames held back go out after the next update's ORDER frames and before its
    own TRADE and POSITION, so a position never reaches the adapter after a newer one."""
    from types import SimpleNamespace

    from adapters.extended.emulator_stream import StreamPublisher

    faults = FaultSwitches()
    emu = SimpleNamespace(exchange=SimpleNamespace(trades={}), faults=faults)
    publisher = StreamPublisher(emu)  # type: ignore[arg-type]

    def update(n: int) -> list[tuple[str, dict[str, object]]]:
        return [(kind, {"n": n}) for kind in ("TRADE", "ORDER", "POSITION", "BALANCE")]

    faults.late_fill_frames(1)
    assert publisher._reorder(7, update(1), True) == [("ORDER", {"n": 1})]
    sent = publisher._reorder(7, update(2), True)
    assert [(kind, data["n"]) for kind, data in sent] == [
        ("ORDER", 2), ("TRADE", 1), ("POSITION", 1), ("BALANCE", 1),
        ("TRADE", 2), ("POSITION", 2), ("BALANCE", 2),
    ]
