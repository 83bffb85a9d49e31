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
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping

import msgspec

from mmcore.events import Fill
from mmcore.instrument import Instrument

__all__ = ["RoundTripStats", "RoundTrips"]


class RoundTripStats(msgspec.Struct, frozen=True):
    """Counters of a ``RoundTrips``: fills folded, round trips closed, fills of other markets."""

    fills: int
    closed: int
    unknown_instrument_fills: int


class _Open:
    __slots__ = ("cost", "fees", "size", "unit")

    def __init__(self, unit: int) -> None:
        self.unit = unit
        self.size = 0
        self.cost = 0
        self.fees = 0


class RoundTrips:
    """Folds fills into the PnL (nanos of quote) of each closed round trip, in order."""

    __slots__ = ("_fills", "_open", "_unknown", "pnl")

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._open = {name: _Open(i.nanos_per_tick_lot) for name, i in instruments.items()}
        self.pnl: array[int] = array("q")
        """PnL of every closed round trip in nanos of quote, in the order they closed."""
        self._fills = 0
        self._unknown = 0

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

    def statistics(self) -> RoundTripStats:
        return RoundTripStats(self._fills, len(self.pnl), self._unknown)
