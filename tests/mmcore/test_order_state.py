"""The order lifecycle table: every legal move, and nothing else."""

from __future__ import annotations

import pytest

from mmcore.errors import MMError
from mmcore.order_state import (
    CANCELED,
    FILLED,
    INITIAL,
    ON_ACCEPTED,
    ON_CANCEL_SENT,
    ON_CANCELED,
    ON_FULL_FILL,
    ON_PARTIAL_FILL,
    ON_PLACE,
    ON_REJECTED,
    OPEN,
    PENDING_CANCEL,
    PENDING_NEW,
    REJECTED,
    STATES,
    TERMINAL,
    TRANSITIONS,
    TRIGGERS,
    IllegalTransition,
    next_state,
)


def all_pairs() -> list[tuple[str, str]]:
    return [(state, trigger) for state in STATES for trigger in TRIGGERS]


def test_every_pair_in_the_table_moves_to_the_listed_state() -> None:
    for (state, trigger), target in TRANSITIONS.items():
        assert next_state(state, trigger, "c1") == target


def test_every_pair_not_in_the_table_raises_illegal_transition() -> None:
    illegal = [pair for pair in all_pairs() if pair not in TRANSITIONS]
    assert len(illegal) == len(all_pairs()) - len(TRANSITIONS)
    for state, trigger in illegal:
        with pytest.raises(IllegalTransition) as info:
            next_state(state, trigger, "c1")
        assert (info.value.state, info.value.trigger) == (state, trigger)


def test_terminal_states_have_no_outgoing_moves() -> None:
    assert {FILLED, CANCELED, REJECTED} == TERMINAL
    assert not [pair for pair in TRANSITIONS if pair[0] in TERMINAL]


def test_every_target_is_a_known_state_and_every_key_uses_known_names() -> None:
    for (state, trigger), target in TRANSITIONS.items():
        assert state in STATES and trigger in TRIGGERS and target in STATES


def test_place_is_the_only_move_out_of_initial_and_leads_to_pending_new() -> None:
    assert [t for (s, t) in TRANSITIONS if s == INITIAL] == [ON_PLACE]
    assert next_state(INITIAL, ON_PLACE) == PENDING_NEW


def test_every_non_terminal_state_can_be_reached_from_initial() -> None:
    reached = {INITIAL}
    frontier = [INITIAL]
    while frontier:
        state = frontier.pop()
        for (s, _), target in TRANSITIONS.items():
            if s == state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(STATES)


@pytest.mark.parametrize(
    ("state", "trigger", "target"),
    [
        (PENDING_NEW, ON_PARTIAL_FILL, OPEN),  # fill before ack
        (PENDING_NEW, ON_FULL_FILL, FILLED),
        (PENDING_CANCEL, ON_ACCEPTED, PENDING_CANCEL),  # ack after cancel sent
        (PENDING_CANCEL, ON_PARTIAL_FILL, PENDING_CANCEL),
        (PENDING_CANCEL, ON_FULL_FILL, FILLED),
        (PENDING_NEW, ON_CANCELED, CANCELED),  # IOC remainder
        (OPEN, ON_ACCEPTED, OPEN),  # ack after a fill that came first
        (PENDING_CANCEL, ON_REJECTED, REJECTED),  # cancel sent before the place was refused
        (PENDING_CANCEL, ON_CANCEL_SENT, PENDING_CANCEL),  # CancelAll after Cancel
    ],
)
def test_tolerant_moves_that_real_venues_need_are_legal(
    state: str, trigger: str, target: str
) -> None:
    assert next_state(state, trigger) == target


def test_an_open_order_cannot_be_rejected() -> None:
    with pytest.raises(IllegalTransition):
        next_state(OPEN, ON_REJECTED, "c1")


def test_illegal_transition_message_shows_client_id_state_trigger_and_expectation() -> None:
    with pytest.raises(IllegalTransition) as info:
        next_state(OPEN, ON_REJECTED, "bid-42")
    message = str(info.value)
    assert "'bid-42'" in message
    assert "OPEN" in message
    assert "'rejected'" in message
    assert "expected one of" in message and "'cancel_sent'" in message


def test_illegal_transition_from_a_terminal_state_says_it_is_terminal() -> None:
    with pytest.raises(IllegalTransition, match="FILLED is terminal"):
        next_state(FILLED, ON_CANCELED, "c9")


def test_an_unknown_state_raises_illegal_transition_naming_the_known_states() -> None:
    with pytest.raises(IllegalTransition, match="expected a state in"):
        next_state("LIMBO", ON_CANCELED, "c9")


def test_illegal_transition_is_both_an_mm_error_and_a_value_error() -> None:
    assert issubclass(IllegalTransition, MMError)
    assert issubclass(IllegalTransition, ValueError)
    assert IllegalTransition.__doc__
