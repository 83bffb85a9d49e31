"""The lifecycle of one of our orders, as a literal transition table.

An order is born ``PENDING_NEW`` when the engine sends its ``Place`` and ends in one of the
terminal states ``FILLED``, ``CANCELED`` or ``REJECTED``. ``TRANSITIONS`` lists every legal move;
anything else raises ``IllegalTransition``. The table is tolerant where real venues are:

- a fill may arrive before the ack (``PENDING_NEW`` + partial fill → ``OPEN``, + full → ``FILLED``);
- an ack may arrive after we sent a cancel, or again after a fill (it changes nothing);
- a fill while a cancel is in flight keeps ``PENDING_CANCEL`` (partial) or ends ``FILLED`` (full);
- ``PENDING_NEW`` may go straight to ``CANCELED`` (the unfilled remainder of an IOC order);
- a cancel may be sent (again) while one is in flight: ``CancelAll`` after ``Cancel``, retries;
- a place sent and then canceled before its ack may still come back rejected.
"""

from __future__ import annotations

from mmcore.errors import MMError

__all__ = [
    "CANCELED",
    "FILLED",
    "INITIAL",
    "ON_ACCEPTED",
    "ON_CANCELED",
    "ON_CANCEL_SENT",
    "ON_FULL_FILL",
    "ON_PARTIAL_FILL",
    "ON_PLACE",
    "ON_REJECTED",
    "OPEN",
    "PENDING_CANCEL",
    "PENDING_NEW",
    "REJECTED",
    "STATES",
    "TERMINAL",
    "TRANSITIONS",
    "TRIGGERS",
    "IllegalTransition",
    "next_state",
]

# ---------------------------------------------------------------- states

INITIAL = "INITIAL"
"""Not yet sent: the only state ``place`` leaves from. No live order is ever in it."""
PENDING_NEW = "PENDING_NEW"
"""``Place`` sent, no ack yet."""
OPEN = "OPEN"
"""Acknowledged (or partly filled) and working at the venue."""
PENDING_CANCEL = "PENDING_CANCEL"
"""``Cancel`` (or ``CancelAll``) sent, not yet confirmed."""
FILLED = "FILLED"
CANCELED = "CANCELED"
REJECTED = "REJECTED"

STATES = (INITIAL, PENDING_NEW, OPEN, PENDING_CANCEL, FILLED, CANCELED, REJECTED)
TERMINAL = frozenset({FILLED, CANCELED, REJECTED})

# ---------------------------------------------------------------- triggers

ON_PLACE = "place"
ON_ACCEPTED = "accepted"
ON_REJECTED = "rejected"
ON_CANCELED = "canceled"
ON_CANCEL_SENT = "cancel_sent"
ON_PARTIAL_FILL = "partial_fill"
ON_FULL_FILL = "full_fill"

TRIGGERS = (
    ON_PLACE,
    ON_ACCEPTED,
    ON_REJECTED,
    ON_CANCELED,
    ON_CANCEL_SENT,
    ON_PARTIAL_FILL,
    ON_FULL_FILL,
)

# ---------------------------------------------------------------- the table

TRANSITIONS: dict[tuple[str, str], str] = {
    (INITIAL, ON_PLACE): PENDING_NEW,
    (PENDING_NEW, ON_ACCEPTED): OPEN,
    (PENDING_NEW, ON_REJECTED): REJECTED,
    (PENDING_NEW, ON_CANCELED): CANCELED,
    (PENDING_NEW, ON_CANCEL_SENT): PENDING_CANCEL,
    (PENDING_NEW, ON_PARTIAL_FILL): OPEN,
    (PENDING_NEW, ON_FULL_FILL): FILLED,
    (OPEN, ON_ACCEPTED): OPEN,
    (OPEN, ON_CANCELED): CANCELED,
    (OPEN, ON_CANCEL_SENT): PENDING_CANCEL,
    (OPEN, ON_PARTIAL_FILL): OPEN,
    (OPEN, ON_FULL_FILL): FILLED,
    (PENDING_CANCEL, ON_ACCEPTED): PENDING_CANCEL,
    (PENDING_CANCEL, ON_REJECTED): REJECTED,
    (PENDING_CANCEL, ON_CANCELED): CANCELED,
    (PENDING_CANCEL, ON_CANCEL_SENT): PENDING_CANCEL,
    (PENDING_CANCEL, ON_PARTIAL_FILL): PENDING_CANCEL,
    (PENDING_CANCEL, ON_FULL_FILL): FILLED,
}

# The same table nested by state, so the hot path does two dict lookups and allocates nothing.
_NEXT: dict[str, dict[str, str]] = {state: {} for state in STATES}
for (_state, _trigger), _target in TRANSITIONS.items():
    _NEXT[_state][_trigger] = _target
del _state, _trigger, _target


class IllegalTransition(MMError, ValueError):
    """An order event or command does not fit the order's current lifecycle state."""

    def __init__(self, client_id: str, state: str, trigger: str) -> None:
        allowed = sorted(_NEXT.get(state, {}))
        if allowed:
            expected = f"expected one of {allowed}"
        elif state in TERMINAL:
            expected = f"{state} is terminal and takes no trigger"
        else:
            expected = f"expected a state in {list(STATES)}"
        super().__init__(
            f"order {client_id!r}: no transition from state {state} on trigger {trigger!r}; "
            f"{expected}"
        )
        self.client_id = client_id
        self.state = state
        self.trigger = trigger


def next_state(state: str, trigger: str, client_id: str = "") -> str:
    """The state after ``trigger``; raises ``IllegalTransition`` naming the order otherwise."""
    moves = _NEXT.get(state)
    target = moves.get(trigger) if moves is not None else None
    if target is None:
        raise IllegalTransition(client_id, state, trigger)
    return target
