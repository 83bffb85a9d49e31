"""The contract between the live runner and a venue adapter.

An adapter is the only code that knows a venue: it loads instruments, turns the venue's REST and
WebSocket messages into ``mmcore.events`` (integer ticks and lots, converted with the
``Instrument``), stamps ``ts_recv`` with the clock the runner gives it, and executes commands.
Reconnects, resyncs and reconciliation after a reconnect are its business; it reports them as
``ConnectionState`` events and as the order/position events that reconciliation finds.

Optional, outside the protocol (the runner looks for them with ``getattr``):

- ``account_id: str``: the account the adapter trades, as an identifier that is never a secret
  (Extended: the vault id), "" when it trades none (public data only). With the venue and
  network it names what is kept per account: ``mm run`` takes the account's session lock
  (``mmcore.account_lock``) and keys the day-PnL file (``mmcore.day_pnl``) by it, and refuses
  a live session on an adapter that names no account;
- ``attach(put)``: hand events straight to the runner's queue instead of through ``events()``;
- ``pace_requests(budget: RateBudget, clock: Clock) -> None``: the runner passes the very
  ``RateBudget`` its sender spends from (``mmcore.sender``: one request for each command it
  starts, forced for a ``CancelAll``), on its clock. From then on the adapter spends from it for
  every order request (place, cancel, mass cancel) the sender did not pay for before the request
  goes: each retry after a command's first attempt, and every request it makes on its own
  (reconciliation's cancels, places resent to settle an unknown outcome). Places and cancels
  wait until the budget allows them, mass cancels are recorded as forced and never wait, so the
  venue never sees more than ``[risk.rate_limit]`` allows, retries and reconnects included.
  An adapter without it must make no order request beyond one per command it is given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from mmcore.commands import Command
from mmcore.events import Event
from mmcore.instrument import Instrument

Clock = Callable[[], int]
"""Returns nanoseconds; only the runner and adapters hold one, never the engine."""

__all__ = ["Clock", "VenueAdapter"]


class VenueAdapter(Protocol):
    """What the live runner needs from a venue."""

    venue: str

    async def start(self, symbols: list[str]) -> list[Instrument]:
        """Connect, load the instruments for ``symbols`` and subscribe to their streams."""
        ...

    async def reconcile(self) -> list[Event]:
        """Open orders, positions and balance from REST, as events, for start-up and reconnects."""
        ...

    def events(self) -> AsyncIterator[Event]:
        """Normalised market and account events, in arrival order, ``ts_recv`` stamped."""
        ...

    async def execute(self, command: Command) -> None:
        """Carry out one command; failures come back as events (``OrderRejected``), not raises.

        Called concurrently: several calls may be in flight at once, but never two for one
        client id, never a place with the cancel of our order it would cross, and a
        ``CancelAll`` never overlaps another call (``mmcore.send_queue``)."""
        ...

    async def close(self) -> None:
        """Cancel nothing by itself (the runner sends ``CancelAll``); close sockets and sessions."""
        ...
