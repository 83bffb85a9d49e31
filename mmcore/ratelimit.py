"""The request budget a venue allows: sliding windows and a token bucket, in integer time.

``RateBudget.try_spend(now_ns, is_cancel)`` answers "may one more request leave now?" and, when
it may, records it. Every configured limit must allow the request:

- each sliding window ``(seconds, max_requests)`` counts the requests granted in the last
  ``seconds`` (a request at ``t`` still counts at ``now`` when ``now - t < window``);
- the token bucket holds up to ``bucket_capacity`` credits, refills ``bucket_refill_per_s``
  credits per second (kept in credit-nanoseconds, so refills are exact integers) and each request
  costs ``cost_per_request`` credits.

New orders may use only ``1 - reserve_for_cancels`` of every window and of the bucket; the rest
is kept for cancels, so we can always pull quotes when the budget runs short.

``force(now_ns, is_cancel)`` records a request that leaves whatever the budget says (the risk
gate's forced cancels): the venue counts it, so it takes its place in every window (which may hold
more than its maximum until the span passes) and its credits from the bucket (which may go below
zero until the refill pays the debt back).

Time only moves forward here: a ``now_ns`` earlier than the latest one seen is treated as the
latest one. Memory is bounded: a window never holds more timestamps than its maximum, plus the
forced requests of its span.
"""

from __future__ import annotations

import math
from collections import deque

import msgspec

__all__ = ["RateBudget", "RateLimitConfig", "RateStats", "venue_defaults"]

_NS = 1_000_000_000


class RateLimitConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A venue's request limits (table ``[risk.rate_limit]``); the defaults limit nothing.

    windows: ``(window seconds, max requests)`` sliding windows, all enforced at once; default
        none. Seconds must be > 0 and at least a nanosecond, max requests >= 1.
    bucket_capacity: token-bucket size in credits; 0 (default) turns the bucket off.
    bucket_refill_per_s: credits added per second, as an integer; must be >= 1 with a bucket.
    cost_per_request: credits one request costs, 1..bucket_capacity with a bucket.
    reserve_for_cancels: fraction in [0, 1) of every window and of the bucket that only cancels
        may use; new orders get the rest (rounded down). Default 0.2.
    """

    windows: list[tuple[float, int]] = []
    bucket_capacity: int = 0
    bucket_refill_per_s: int = 0
    cost_per_request: int = 0
    reserve_for_cancels: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.reserve_for_cancels < 1.0:
            raise ValueError(
                f"reserve_for_cancels: expected a fraction in [0, 1), "
                f"found {self.reserve_for_cancels}"
            )
        for i, (seconds, limit) in enumerate(self.windows):
            if not (math.isfinite(seconds) and seconds * _NS >= 1):
                raise ValueError(f"windows[{i}]: expected seconds >= 1e-9, found {seconds}")
            if limit < 1:
                raise ValueError(f"windows[{i}]: expected max requests >= 1, found {limit}")
            if _place_share(limit, self.reserve_for_cancels) < 1:
                raise ValueError(
                    f"windows[{i}]: expected room for new orders after reserve_for_cancels="
                    f"{self.reserve_for_cancels}, found max requests {limit}"
                )
        if self.bucket_capacity < 0:
            raise ValueError(f"bucket_capacity: expected >= 0, found {self.bucket_capacity}")
        if self.bucket_capacity:
            if self.bucket_refill_per_s < 1:
                raise ValueError(
                    f"bucket_refill_per_s: expected >= 1 with a bucket, "
                    f"found {self.bucket_refill_per_s}"
                )
            if not 1 <= self.cost_per_request <= self.bucket_capacity:
                raise ValueError(
                    f"cost_per_request: expected 1..{self.bucket_capacity} (bucket_capacity), "
                    f"found {self.cost_per_request}"
                )
            reserved = _reserved_credits(self.bucket_capacity, self.reserve_for_cancels)
            if self.cost_per_request + reserved > self.bucket_capacity:
                raise ValueError(
                    f"cost_per_request: expected at most bucket_capacity minus the cancel "
                    f"reserve ({self.bucket_capacity - reserved}), found {self.cost_per_request}"
                )


def _place_share(limit: int, reserve: float) -> int:
    """Requests of a window new orders may use; 1e-9 absorbs float noise (3 * 0.8 = 2.400..04)."""
    return int(limit * (1.0 - reserve) + 1e-9)


def _reserved_credits(capacity: int, reserve: float) -> int:
    """Bucket credits only cancels may use."""
    return math.ceil(capacity * reserve - 1e-9)


def venue_defaults(venue: str) -> RateLimitConfig:
    """The published limits of ``venue`` (order requests); no limits for "sim" or unknown."""
    if venue == "paradex":
        return RateLimitConfig(windows=[(1.0, 3), (60.0, 30), (3600.0, 300), (86400.0, 1000)])
    if venue == "extended":
        # 1,000 requests a minute per IP across all endpoints: a tenth is left to the adapter's
        # own calls (reconciles, dead man's switch, account reads), which this budget never sees;
        # a 429 would pause every call, cancels included, for seconds
        return RateLimitConfig(windows=[(60.0, 900)])
    if venue == "standx":
        return RateLimitConfig(bucket_capacity=900, bucket_refill_per_s=1000, cost_per_request=45)
    return RateLimitConfig()


class RateStats(msgspec.Struct, frozen=True):
    """Counters of a ``RateBudget``: requests granted and refused, by kind."""

    places_granted: int
    cancels_granted: int
    places_refused: int
    cancels_refused: int


class _Window:
    """One sliding window: timestamps of granted requests, oldest first."""

    __slots__ = ("cancel_limit", "place_limit", "span", "stamps")

    def __init__(self, span_ns: int, limit: int, reserve: float) -> None:
        self.span = span_ns
        self.cancel_limit = limit
        self.place_limit = _place_share(limit, reserve)
        self.stamps: deque[int] = deque()


class RateBudget:
    """Grants or refuses single requests against every configured limit."""

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        reserve = config.reserve_for_cancels
        self._windows = [
            _Window(round(seconds * _NS), limit, reserve) for seconds, limit in config.windows
        ]
        self._bucket = config.bucket_capacity > 0
        cap = config.bucket_capacity * _NS
        self._cap = cap  # credit-nanoseconds
        self._tokens = cap
        self._refill = config.bucket_refill_per_s  # credit-ns per ns
        self._cost = config.cost_per_request * _NS
        self._floor = _reserved_credits(config.bucket_capacity, reserve) * _NS
        self._limited = bool(self._windows) or self._bucket
        self._last = -(2**62)
        self._places = 0
        self._cancels = 0
        self._places_refused = 0
        self._cancels_refused = 0

    def try_spend(self, now_ns: int, is_cancel: bool) -> bool:
        """True and record the request if every window and the bucket allow it now."""
        return self._spend(now_ns, is_cancel, False)

    def force(self, now_ns: int, is_cancel: bool) -> bool:
        """Record a request that leaves even without budget; True if the budget allowed it."""
        return self._spend(now_ns, is_cancel, True)

    def _spend(self, now_ns: int, is_cancel: bool, forced: bool) -> bool:
        if not self._limited:
            if is_cancel:
                self._cancels += 1
            else:
                self._places += 1
            return True
        if now_ns < self._last:
            now_ns = self._last
        ok = True
        for w in self._windows:
            stamps = w.stamps
            horizon = now_ns - w.span
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
            if len(stamps) >= (w.cancel_limit if is_cancel else w.place_limit):
                ok = False
        if self._bucket:
            tokens = self._tokens + (now_ns - self._last) * self._refill
            if tokens > self._cap:
                tokens = self._cap
            self._tokens = tokens
            left = tokens - self._cost
            if left < 0 or (not is_cancel and left < self._floor):
                ok = False
        self._last = now_ns
        if not ok:
            if is_cancel:
                self._cancels_refused += 1
            else:
                self._places_refused += 1
            if not forced:
                return False
        for w in self._windows:
            w.stamps.append(now_ns)
        if self._bucket:
            self._tokens -= self._cost
        if ok:
            if is_cancel:
                self._cancels += 1
            else:
                self._places += 1
        return ok

    def statistics(self) -> RateStats:
        return RateStats(
            places_granted=self._places,
            cancels_granted=self._cancels,
            places_refused=self._places_refused,
            cancels_refused=self._cancels_refused,
        )
