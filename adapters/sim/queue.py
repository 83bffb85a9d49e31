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

Known limit: a feed that publishes the level decrease *before* the trade that caused it makes the
probabilistic model count that volume twice (as a cancel, then as a trade).
"""

from __future__ import annotations

import random
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


def make_queue_model(config: SimConfig, rng: random.Random) -> QueueModel:
    """The model ``config.queue_model`` names."""
    if config.queue_model == "probabilistic":
        return ProbabilisticQueue(config.queue_power, rng)
    return RiskAverseQueue()
