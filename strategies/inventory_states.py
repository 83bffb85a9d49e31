"""The inventory lifecycle of a quoting strategy, as a literal transition table.

States: ``IDLE`` (flat, not quoting), ``QUOTING`` (flat, quoting), ``INVENTORY_LONG`` /
``INVENTORY_SHORT`` (holding a position, still quoting, exit side tightened after the soft
timeout) and ``FLATTENING`` (quotes pulled, exiting the position). Triggers come from the
position (``went_long``, ``went_short``, ``went_flat``), from the inner strategy and the trading
window (``start``, ``stop``) and from the limits (``hard_timeout``, ``loss_limit``,
``off_hours``). ``TRANSITIONS`` lists every legal move; anything else raises
``IllegalInventoryTransition`` naming the state and the trigger.
"""

from __future__ import annotations

from mmcore.errors import MMError

__all__ = [
    "FLATTENING",
    "HARD_TIMEOUT",
    "IDLE",
    "INVENTORY_LONG",
    "INVENTORY_SHORT",
    "LOSS_LIMIT",
    "OFF_HOURS",
    "QUOTING",
    "START",
    "STATES",
    "STOP",
    "TRANSITIONS",
    "TRIGGERS",
    "WENT_FLAT",
    "WENT_LONG",
    "WENT_SHORT",
    "IllegalInventoryTransition",
    "next_inventory_state",
]

IDLE = "IDLE"
QUOTING = "QUOTING"
INVENTORY_LONG = "INVENTORY_LONG"
INVENTORY_SHORT = "INVENTORY_SHORT"
FLATTENING = "FLATTENING"
STATES = (IDLE, QUOTING, INVENTORY_LONG, INVENTORY_SHORT, FLATTENING)

START = "start"
"""The inner strategy wants quotes and the trading window is open."""
STOP = "stop"
"""The inner strategy pulled its quotes, or the trading window closed."""
WENT_LONG = "went_long"
WENT_SHORT = "went_short"
WENT_FLAT = "went_flat"
HARD_TIMEOUT = "hard_timeout"
"""Inventory held longer than ``hard_timeout_s``."""
LOSS_LIMIT = "loss_limit"
"""Unrealized loss of the position beyond ``max_loss_usd``."""
OFF_HOURS = "off_hours"
"""The trading window closed while holding inventory and ``flatten_outside_hours`` is set."""
TRIGGERS = (
    START,
    STOP,
    WENT_LONG,
    WENT_SHORT,
    WENT_FLAT,
    HARD_TIMEOUT,
    LOSS_LIMIT,
    OFF_HOURS,
)

TRANSITIONS: dict[tuple[str, str], str] = {
    (IDLE, START): QUOTING,
    (IDLE, WENT_LONG): INVENTORY_LONG,
    (IDLE, WENT_SHORT): INVENTORY_SHORT,
    (QUOTING, STOP): IDLE,
    (QUOTING, WENT_LONG): INVENTORY_LONG,
    (QUOTING, WENT_SHORT): INVENTORY_SHORT,
    (INVENTORY_LONG, WENT_FLAT): QUOTING,
    (INVENTORY_LONG, WENT_SHORT): INVENTORY_SHORT,
    (INVENTORY_LONG, HARD_TIMEOUT): FLATTENING,
    (INVENTORY_LONG, LOSS_LIMIT): FLATTENING,
    (INVENTORY_LONG, OFF_HOURS): FLATTENING,
    (INVENTORY_SHORT, WENT_FLAT): QUOTING,
    (INVENTORY_SHORT, WENT_LONG): INVENTORY_LONG,
    (INVENTORY_SHORT, HARD_TIMEOUT): FLATTENING,
    (INVENTORY_SHORT, LOSS_LIMIT): FLATTENING,
    (INVENTORY_SHORT, OFF_HOURS): FLATTENING,
    (FLATTENING, WENT_FLAT): QUOTING,
}


class IllegalInventoryTransition(MMError, ValueError):
    """A trigger does not fit the inventory state machine's current state."""

    def __init__(self, inst: str, state: str, trigger: str) -> None:
        allowed = sorted(t for (s, t) in TRANSITIONS if s == state)
        super().__init__(
            f"{inst} inventory: no transition from state {state} on trigger {trigger!r}; "
            f"expected one of {allowed}"
        )
        self.inst = inst
        self.state = state
        self.trigger = trigger


def next_inventory_state(state: str, trigger: str, inst: str = "") -> str:
    """The state after ``trigger``; raises ``IllegalInventoryTransition`` otherwise."""
    target = TRANSITIONS.get((state, trigger))
    if target is None:
        raise IllegalInventoryTransition(inst, state, trigger)
    return target
