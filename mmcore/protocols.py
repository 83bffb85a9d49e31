"""The three pluggable parts of the engine, as small protocols.

``Engine.on_event`` calls them in this order for every event: ``Strategy.step`` → (if it returned
an intent) ``OrderManager.reconcile`` → ``RiskGate.check``; ``RiskGate.on_event`` sees every
event first and may force outputs of its own (cancel-all, halt) regardless of the strategy.
All are synchronous, deterministic and free of I/O, wall clocks and unseeded randomness.
"""

from __future__ import annotations

from typing import Protocol

from mmcore.commands import Command, Output
from mmcore.events import Event
from mmcore.intents import Intent
from mmcore.risk_limits import LossCarry
from mmcore.view import View

__all__ = ["OrderManager", "RiskGate", "Strategy"]


class Strategy(Protocol):
    """Decides what quotes one market should have. Keeps its own state, mutated only in ``step``."""

    inst: str

    def step(self, view: View, event: Event) -> Intent | None:
        """Fold ``event``; return a new intent, or ``None`` when the current one still stands."""
        ...

    def notes(self) -> list[Output]:
        """Decisions since the last call worth recording (``StrategyEvent``s); then forget them.

        Called after every ``step``; the engine never mutates the returned list, so a strategy
        with nothing to say may return one shared empty list.
        """
        ...


class OrderManager(Protocol):
    """Turns an intent into the ``Place``/``Cancel`` commands that move live orders towards it."""

    def reconcile(self, intent: Intent, view: View) -> list[Command]:
        ...


class RiskGate(Protocol):
    """Checks every command against limits and budgets; can drop, clamp or force commands.

    ``watched`` names the event types ``on_event`` acts on: the engine calls it only for those
    (the gate reads the book through the view when checking), so it must not change.
    """

    watched: frozenset[type]

    def on_event(self, event: Event, view: View) -> list[Output]:
        """See an event of a ``watched`` type (after book and ledger); return forced outputs,
        usually none."""
        ...

    def check(self, commands: list[Command], view: View) -> list[Output]:
        """Return the commands allowed to leave, plus a ``RiskEvent`` for each decision."""
        ...

    def force(self, command: Command, now: int) -> Command:
        """``command`` leaves unchecked (a cancel the engine itself must send: its stop, a
        strategy that failed); it is counted against the rate budget all the same, as the
        venue counts it. Returns it."""
        ...

    def day_pnl(self) -> tuple[int, int] | None:
        """``(utc_day, pnl_nanos)`` counted toward the daily loss limit, or None."""
        ...

    def loss_carry(self) -> LossCarry | None:
        """The day's PnL and the last hour's PnL highs, or None; the live runner saves it so
        that the next session on the account carries both loss limits."""
        ...
