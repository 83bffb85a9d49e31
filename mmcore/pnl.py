"""PnL attribution: split each market's PnL into spread capture, inventory, fees and funding.

Total PnL is cash-based and exact in integer nanos of quote::

    total = cash + position * mark
    cash  = -sum(side * price * size * unit over fills) - sum(fees) + sum(funding)

Spread capture of a fill is measured against the mid in force just before the fill happened: the
last mid the market had from book events stamped (venue time) strictly before the fill's venue
time ``Fill.ts`` (``Book.mid_x2_before``; a depth update stamped with the trade's own time is its
consequence and does not count). A buy below that mid (or a sell above it) captured
``side * (mid - price) * size * unit``. Not the mid when the fill's report is handled: that comes
a response latency later, after the book moved with the trade, and would count the adverse
selection as lost spread. Without a venue time (0), or without a mid that old, the mid when the
report is handled stands in; when no mid is known at all, the fill price (zero capture).
Inventory is the rest: what holding the position made or lost as the market moved, adverse
selection after our fills included. The parts always satisfy, exactly::

    total == spread + inventory - fees + funding

Rounding: mids and marks come as ``*_x2`` (twice the price in ticks), so half-tick values are exact.
Spread capture is summed in half-nanos and floored to a nano when read; the position's value
``position * mark_x2 * unit / 2`` is floored too (only odd when the mark is a half tick and
``position * unit`` is odd). ``Ledger`` floors the same way, so its total equals this one exactly.
Inventory is computed as the difference and so absorbs the at most one nano of each floor.

A position the ledger re-based to the venue's while it had no price (``on_rebase`` with
``unbased``) is valued at the mark asked (it adds nothing) until ``on_basis`` books its cost. So
is a position the session inherited (held before it, ``mmcore.state``), whatever the venue says it
cost: ``on_basis`` books it at its value at the market's first valuation, so that only what it
made in the session counts.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from mmcore.errors import MMError
from mmcore.events import Fill
from mmcore.instrument import Instrument

__all__ = ["MissingMark", "PnlAttribution", "PnlParts", "PnlStats", "UnknownInstrument"]


class UnknownInstrument(MMError, KeyError):
    """An instrument name is not among those the component was built with."""

    def __str__(self) -> str:  # KeyError would show the message with quotes around it
        return str(self.args[0]) if self.args else ""


class MissingMark(MMError, KeyError):
    """A market with an open position has no valuation price in the marks given."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class PnlParts(msgspec.Struct, frozen=True):
    """One market's (or the sum of all markets') PnL in nanos of quote.

    ``fees`` is the signed fee cost (positive = paid, negative = net rebate) and is subtracted;
    ``funding`` is positive when received. ``total == spread + inventory - fees + funding``.
    """

    spread: int
    inventory: int
    fees: int
    funding: int
    total: int


class PnlStats(msgspec.Struct, frozen=True):
    """Counters of a ``PnlAttribution``."""

    fills: int
    fills_without_mid: int
    funding_payments: int
    rebases: int


class _Account:
    """Running sums for one market."""

    __slots__ = ("cash", "fees", "funding", "position", "spread_x2", "unbased", "unit")

    def __init__(self, unit: int) -> None:
        self.unit = unit
        self.position = 0
        self.cash = 0  # from trades only: -sum(side * price * size * unit)
        self.fees = 0
        self.funding = 0
        self.spread_x2 = 0  # half-nanos
        self.unbased = False  # the position's cost is not booked yet: it is valued at 0


class PnlAttribution:
    """Accumulates fills and funding per market; reads out ``PnlParts`` at any mark."""

    __slots__ = ("_accounts", "_fills", "_funding_payments", "_no_mid", "_rebases")

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._accounts = {
            name: _Account(inst.nanos_per_tick_lot) for name, inst in instruments.items()
        }
        self._fills = 0
        self._no_mid = 0
        self._funding_payments = 0
        self._rebases = 0

    def _account(self, inst: str) -> _Account:
        try:
            return self._accounts[inst]
        except KeyError:
            raise UnknownInstrument(
                f"PnlAttribution: expected an instrument in {sorted(self._accounts)}, "
                f"found {inst!r}"
            ) from None

    def on_fill(self, fill: Fill, mid_x2: int) -> None:
        """Book one of our fills; ``mid_x2`` is twice the mid in ticks just before it (module
        doc), 0 when unknown."""
        a = self._account(fill.inst)
        side = fill.side
        size = fill.size
        unit = a.unit
        notional = fill.price * size * unit
        if side > 0:
            a.position += size
            a.cash -= notional
        else:
            a.position -= size
            a.cash += notional
        a.fees += fill.fee
        if mid_x2:
            a.spread_x2 += side * (mid_x2 * size * unit - 2 * notional)
        else:
            self._no_mid += 1
        self._fills += 1

    def on_funding(self, inst: str, amount: int) -> None:
        """Book a funding payment in nanos; positive means we received it."""
        self._account(inst).funding += amount
        self._funding_payments += 1

    def on_rebase(
        self, inst: str, position: int, cost_change: int, unbased: bool = False
    ) -> None:
        """The ledger re-based its position to the venue's: take ``position`` as the truth.

        ``cost_change`` is how much the ledger's position cost moved; it is booked as cash spent
        (as if the missing lots were traded at the re-basing price), so that ledger and
        attribution totals stay equal to the nano. ``unbased``: no price was known, the cost is
        booked later by ``on_basis``; until then the position is valued at nothing (also how
        a position the session inherited waits for its first valuation).
        """
        a = self._account(inst)
        a.position = position
        a.cash -= cost_change
        a.unbased = unbased
        self._rebases += 1

    def on_basis(self, inst: str, cost: int) -> None:
        """The ledger priced an unbased (or inherited) position at ``cost`` nanos: book it as
        cash spent."""
        a = self._account(inst)
        a.cash -= cost
        a.unbased = False

    def position(self, inst: str) -> int:
        return self._account(inst).position

    def parts(self, inst: str, mark_x2: int) -> PnlParts:
        """``inst``'s PnL valued at ``mark_x2`` (twice the mark in ticks)."""
        a = self._account(inst)
        value = 0 if a.unbased else (a.position * mark_x2 * a.unit) // 2
        total = a.cash - a.fees + a.funding + value
        spread = a.spread_x2 // 2
        inventory = total - spread + a.fees - a.funding
        return PnlParts(spread, inventory, a.fees, a.funding, total)

    def total_parts(self, marks_x2: Mapping[str, int]) -> PnlParts:
        """Sum over every market; a market with a position must have a mark in ``marks_x2``."""
        spread = inventory = fees = funding = total = 0
        for name, a in self._accounts.items():
            mark_x2 = marks_x2.get(name)
            if mark_x2 is None:
                if a.position:
                    raise MissingMark(
                        f"PnlAttribution.total_parts: expected a mark for {name!r} "
                        f"(position {a.position} lots), found marks for {sorted(marks_x2)}"
                    )
                mark_x2 = 0
            p = self.parts(name, mark_x2)
            spread += p.spread
            inventory += p.inventory
            fees += p.fees
            funding += p.funding
            total += p.total
        return PnlParts(spread, inventory, fees, funding, total)

    def statistics(self) -> PnlStats:
        return PnlStats(self._fills, self._no_mid, self._funding_payments, self._rebases)
