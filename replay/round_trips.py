"""Round trips: what each position-reducing fill realized, net of the fees of its lots.

Positions use average-cost accounting in integer nanos, as ``mmcore.state.Ledger`` does: ``cost``
is the signed cost of the open lots and ``fees`` the fees paid to open them. A fill on the side of
the position (or from flat) adds to both. A fill against it closes ``closed`` lots, a round trip
whose PnL is::

    proceeds of the closed lots - their share of cost - their share of opening fees
                                - the closing fill's fee for those lots

where shares are pro rata and floored (``x * closed // held``), so the remainders stay with the
open lots and a full close leaves both at exactly 0. A fill that crosses through flat closes the
old position and opens the rest at its price with the rest of its fee. Funding is not part of a
round trip.

When the venue corrects the position (a ``Position`` event: a session that starts holding one,
a reconciliation), the ledger re-bases it; ``rebase`` takes the ledger's open lots and their cost
to the session (``PositionState.session_cost``: lots held before the session at their value when
it first valued them, not at the venue's entry price, since what they made before is not the
session's), so later fills close round trips against what the ledger holds. No round trip closes
on a correction; the opening fees of the lots that remain stay with them, pro rata.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping

import msgspec

from mmcore.events import Fill
from mmcore.instrument import Instrument

__all__ = ["RoundTripStats", "RoundTrips"]


class RoundTripStats(msgspec.Struct, frozen=True):
    """Counters of a ``RoundTrips``: fills folded, round trips closed, fills of other markets,
    positions re-based to the ledger's."""

    fills: int
    closed: int
    unknown_instrument_fills: int
    rebases: int


class _Open:
    __slots__ = ("cost", "fees", "size", "unit")

    def __init__(self, unit: int) -> None:
        self.unit = unit
        self.size = 0
        self.cost = 0
        self.fees = 0


class RoundTrips:
    """Folds fills into the PnL (nanos of quote) of each closed round trip, in order."""

    __slots__ = ("_fills", "_open", "_rebases", "_unknown", "pnl")

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._open = {name: _Open(i.nanos_per_tick_lot) for name, i in instruments.items()}
        self.pnl: array[int] = array("q")
        """PnL of every closed round trip in nanos of quote, in the order they closed."""
        self._fills = 0
        self._unknown = 0
        self._rebases = 0

    def on_fill(self, fill: Fill) -> None:
        o = self._open.get(fill.inst)
        if o is None:
            self._unknown += 1
            return
        self._fills += 1
        side = fill.side
        qty = fill.size
        notional = fill.price * qty * o.unit
        held = o.size if o.size >= 0 else -o.size
        if held == 0 or (o.size > 0) == (side > 0):
            o.cost += side * notional
            o.fees += fill.fee
            o.size += side * qty
            return
        closed = qty if qty < held else held
        closed_cost = o.cost * closed // held
        closed_fees = o.fees * closed // held
        closing_fee = fill.fee * closed // qty
        proceeds = -side * fill.price * closed * o.unit
        self.pnl.append(proceeds - closed_cost - closed_fees - closing_fee)
        o.cost -= closed_cost
        o.fees -= closed_fees
        o.size += side * qty
        rest = qty - closed
        if rest:  # crossed through flat: cost and fees of the old lots are exactly 0 here
            o.cost = side * fill.price * rest * o.unit
            o.fees = fill.fee - closing_fee

    def rebase(self, inst: str, size: int, cost: int) -> None:
        """Hold ``size`` lots costing ``cost`` nanos (the ledger's position) on ``inst`` from now
        on; a no-op when that is what the fills built."""
        o = self._open.get(inst)
        if o is None or (o.size == size and o.cost == cost):
            return
        held = o.size if o.size >= 0 else -o.size
        if held and size and (size > 0) == (o.size > 0):
            kept = size if size > 0 else -size
            if kept < held:
                o.fees = o.fees * kept // held
        else:  # flat, or the other side: none of the old lots remain
            o.fees = 0
        o.size = size
        o.cost = cost
        self._rebases += 1

    def statistics(self) -> RoundTripStats:
        return RoundTripStats(self._fills, len(self.pnl), self._unknown, self._rebases)
