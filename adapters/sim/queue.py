"""Queue position models: how far from the front of its price level a resting order is.

When our order arrives it joins the back of its level: ``ahead`` is the level's visible size then
(our orders are virtual, the recorded book never contains them). Two things move us forward:

- a public trade at our price consumes the queue front first: ``ahead`` shrinks by the trade's
  size in every model (``on_trade``);
- the level shrinking without a trade (cancels): what that means for us is the model's choice
  (``on_depth``).

``RiskAverseQueue`` assumes every cancel was behind us: ``ahead`` only ever shrinks by trades, and
by the one thing that is certain, that the queue ahead cannot be longer than the visible level
(``ahead = min(ahead, new_size)``). ``ProbabilisticQueue`` splits the cancelled size ``d``
(the decrease minus the volume that traded there since the last change) between ahead and
behind in proportion ``f(ahead) / (f(ahead) + f(behind))`` with ``f(x) = x**power``, as in the
queue-position literature (larger power: cancels come more from the longer part). The
split's expectation is generally fractional; ``ahead`` stays an integer by *randomised rounding*
with the venue's seeded ``random.Random`` (round up with probability equal to the fraction), which
keeps the expectation exact and the run reproducible.

Our own orders at one price are in one queue too: a later order has everything ahead of the earlier
one (and the earlier order itself) ahead of it, so its ``ahead`` (other traders' lots only) is
never less than the earlier one's. Matching relies on that to fill our orders in arrival order.
Rounding each order's share of the cancels with its own random draw can break it, so after a
depth change the probabilistic model raises each order's ``ahead`` to its predecessor's
(``on_level_depth``). That only takes back part of a draw (the later order's expected advance
becomes slightly conservative), so ``ahead`` still never grows and never exceeds the visible
level. Orders join at the back of the visible level and trades move every order at the level
alike, so nothing else can break the order.

Known limit: a feed that publishes the level decrease *before* the trade that caused it makes the
probabilistic model count that volume twice (as a cancel, then as a trade).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from adapters.sim.config import SimConfig
from adapters.sim.order import SimOrder

__all__ = ["ProbabilisticQueue", "QueueModel", "RiskAverseQueue", "make_queue_model"]


class QueueModel(Protocol):
    """Moves ``order.ahead`` as the market at its price changes."""

    def on_trade(self, order: SimOrder, volume: int) -> None:
        """A public trade of ``volume`` lots printed at ``order.price`` on its side."""
        ...

    def on_depth(self, order: SimOrder, old: int, new: int) -> None:
        """The visible size of ``order``'s level changed from ``old`` to ``new`` lots."""
        ...

    def on_level_depth(self, orders: Sequence[SimOrder], old: int, new: int) -> None:
        """``on_depth`` for all our ``orders`` resting at one level, given in arrival order;
        leaves their ``ahead`` non-decreasing in that order."""
        ...


class RiskAverseQueue:
    """Only trades advance us; cancels are assumed to have been behind us."""

    __slots__ = ()

    def on_trade(self, order: SimOrder, volume: int) -> None:
        ahead = order.ahead - volume
        order.ahead = ahead if ahead > 0 else 0
        order.traded += volume

    def on_depth(self, order: SimOrder, old: int, new: int) -> None:
        order.traded = 0
        if order.ahead > new:
            order.ahead = new

    def on_level_depth(self, orders: Sequence[SimOrder], old: int, new: int) -> None:
        # capping at the level keeps a non-decreasing ``ahead`` non-decreasing
        for order in orders:
            self.on_depth(order, old, new)


class ProbabilisticQueue:
    """Cancels are split ahead/behind in proportion ``f(ahead) : f(behind)``, ``f(x) = x**p``."""

    __slots__ = ("power", "rng")

    def __init__(self, power: float, rng: random.Random) -> None:
        self.power = power
        self.rng = rng

    def on_trade(self, order: SimOrder, volume: int) -> None:
        ahead = order.ahead - volume
        order.ahead = ahead if ahead > 0 else 0
        order.traded += volume

    def on_depth(self, order: SimOrder, old: int, new: int) -> None:
        traded = order.traded
        order.traded = 0
        cancels = old - new - traded
        ahead = order.ahead
        if cancels > 0 and ahead > 0:
            behind = old - traded - ahead
            if behind < 0:
                behind = 0
            fa = float(ahead) ** self.power
            fb = float(behind) ** self.power
            share = fa / (fa + fb) if fa + fb > 0 else 1.0
            expected_behind = cancels * (1.0 - share)
            # what cannot have come from behind (there is not that much behind) came from ahead
            overflow = expected_behind - behind if expected_behind > behind else 0.0
            advance = cancels * share + overflow
            whole = int(advance)
            if self.rng.random() < advance - whole:
                whole += 1
            ahead -= whole
            if ahead < 0:
                ahead = 0
        if ahead > new:
            ahead = new
        order.ahead = ahead

    def on_level_depth(self, orders: Sequence[SimOrder], old: int, new: int) -> None:
        if len(orders) == 1:
            self.on_depth(orders[0], old, new)
            return
        before = [order.ahead for order in orders]
        for order in orders:
            self.on_depth(order, old, new)
        _keep_arrival_order(orders, before)


def _keep_arrival_order(orders: Sequence[SimOrder], before: Sequence[int]) -> None:
    """Raise each order's ``ahead`` to the largest of its predecessors', but not above its own
    ``ahead`` ``before`` the update: the separately rounded draws may have advanced a later order
    past an earlier one, which the real queue cannot do. Every ``ahead`` was capped at the visible
    level, so the raised ones are too; no random draw, so runs stay reproducible."""
    floor = 0
    for order, was in zip(orders, before):
        ahead = order.ahead
        if ahead < floor:
            ahead = floor if floor < was else was
            order.ahead = ahead
        if ahead > floor:
            floor = ahead


def make_queue_model(config: SimConfig, rng: random.Random) -> QueueModel:
    """The model ``config.queue_model`` names."""
    if config.queue_model == "probabilistic":
        return ProbabilisticQueue(config.queue_power, rng)
    return RiskAverseQueue()
