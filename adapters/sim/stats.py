"""The simulated venue's counters: one mutable set shared by its parts, one frozen record out."""

from __future__ import annotations

import msgspec

__all__ = ["SimCounters", "SimStats"]


class SimStats(msgspec.Struct, frozen=True):
    """What the simulated venue did since it was created.

    commands: commands submitted (all kinds). orders: ``Place`` commands. cancels: ``Cancel``
    commands. cancel_alls: ``CancelAll`` commands. resyncs: ``Resync`` commands (ignored).
    accepted / rejected / canceled: ``OrderAccepted`` / ``OrderRejected`` / ``OrderCanceled``
    events emitted. reject_codes: rejects per code. ioc_remainders: IOC remainders canceled.
    cancel_misses: cancels that found no resting order (already filled, canceled or unknown).
    fills, maker_fills, taker_fills: ``Fill`` events. volume: lots filled. notional: nanos filled.
    fees: nanos of fees charged (negative: rebates earned). funding_payments: ``FundingPayment``
    events; funding: their total in nanos (positive: received). market_events: market events fed.
    matching_events: market events that touched our orders (the slow path). unknown_market:
    market events for instruments the venue does not list (ignored). bad_market_data: malformed
    ``BookSnapshot`` / ``BookDelta`` events (the venue's book raised ``BookDataError``): the book
    is left stale until the next snapshot and the event is otherwise ignored. after_end: commands
    submitted after the market data ended (``SimVenue.end_of_data``): dropped, never answered and
    not counted in ``commands`` or the per-kind counters above.
    """

    commands: int
    orders: int
    cancels: int
    cancel_alls: int
    resyncs: int
    accepted: int
    rejected: int
    canceled: int
    ioc_remainders: int
    cancel_misses: int
    fills: int
    maker_fills: int
    taker_fills: int
    volume: int
    notional: int
    fees: int
    funding_payments: int
    funding: int
    market_events: int
    matching_events: int
    unknown_market: int
    reject_codes: dict[str, int]
    bad_market_data: int = 0
    after_end: int = 0


class SimCounters:
    """The live counters; every part of the venue increments the one instance it was given."""

    __slots__ = (
        "accepted",
        "after_end",
        "bad_market_data",
        "cancel_alls",
        "cancel_misses",
        "canceled",
        "cancels",
        "commands",
        "fees",
        "fills",
        "funding",
        "funding_payments",
        "ioc_remainders",
        "maker_fills",
        "market_events",
        "matching_events",
        "notional",
        "orders",
        "reject_codes",
        "rejected",
        "resyncs",
        "taker_fills",
        "unknown_market",
        "volume",
    )

    def __init__(self) -> None:
        self.commands = 0
        self.orders = 0
        self.cancels = 0
        self.cancel_alls = 0
        self.resyncs = 0
        self.accepted = 0
        self.rejected = 0
        self.canceled = 0
        self.ioc_remainders = 0
        self.cancel_misses = 0
        self.fills = 0
        self.maker_fills = 0
        self.taker_fills = 0
        self.volume = 0
        self.notional = 0
        self.fees = 0
        self.funding_payments = 0
        self.funding = 0
        self.market_events = 0
        self.matching_events = 0
        self.unknown_market = 0
        self.reject_codes: dict[str, int] = {}
        self.bad_market_data = 0
        self.after_end = 0

    def freeze(self) -> SimStats:
        """A frozen copy of the counters now."""
        return SimStats(
            commands=self.commands,
            orders=self.orders,
            cancels=self.cancels,
            cancel_alls=self.cancel_alls,
            resyncs=self.resyncs,
            accepted=self.accepted,
            rejected=self.rejected,
            canceled=self.canceled,
            ioc_remainders=self.ioc_remainders,
            cancel_misses=self.cancel_misses,
            fills=self.fills,
            maker_fills=self.maker_fills,
            taker_fills=self.taker_fills,
            volume=self.volume,
            notional=self.notional,
            fees=self.fees,
            funding_payments=self.funding_payments,
            funding=self.funding,
            market_events=self.market_events,
            matching_events=self.matching_events,
            unknown_market=self.unknown_market,
            reject_codes=dict(self.reject_codes),
            bad_market_data=self.bad_market_data,
            after_end=self.after_end,
        )
