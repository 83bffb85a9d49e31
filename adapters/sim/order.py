"""One of our orders as the simulated venue holds it while it rests."""

from __future__ import annotations

__all__ = ["SimOrder"]


class SimOrder:
    """A resting order: what is left of it and where it stands in the queue at its price.

    ``ahead`` is the visible size (lots of other traders) queued before us at ``price``; we fill
    from a trade at our price only once it is used up. ``traded`` is the volume that traded at our
    price since the level's size last changed, so the probabilistic queue model can tell a cancel
    from a trade when the book shows the level shrinking.
    """

    __slots__ = (
        "ahead",
        "client_id",
        "filled",
        "price",
        "reduce_only",
        "remaining",
        "side",
        "traded",
    )

    def __init__(
        self, client_id: str, side: int, price: int, size: int, ahead: int, reduce_only: bool
    ) -> None:
        self.client_id = client_id
        self.side = side
        self.price = price
        self.remaining = size
        self.filled = 0
        self.ahead = ahead
        self.traded = 0
        self.reduce_only = reduce_only

    def __repr__(self) -> str:
        return (
            f"SimOrder({self.client_id!r}, side={self.side}, price={self.price}, "
            f"remaining={self.remaining}, ahead={self.ahead})"
        )
