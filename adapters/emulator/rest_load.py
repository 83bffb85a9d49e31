"""How many REST calls an emulator is serving at once: does a client really overlap its calls?

``load_middleware`` counts every call under the venue's REST prefix from arrival to answer (fault
delays included); ``RestLoad.statistics()`` gives the total and the peak of calls in flight.
``rate_limit_middleware`` enforces a venue's per-IP budget of calls (``RateLimiter``) with 429.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = [
    "RateLimiter",
    "RestLoad",
    "RestLoadStatistics",
    "load_middleware",
    "rate_limit_middleware",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RestLoadStatistics(msgspec.Struct, frozen=True):
    """REST calls served, and the most that were being served at one moment."""

    calls: int
    peak_in_flight: int


class RestLoad:
    """Counters of the REST calls being served."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak_in_flight = 0
        self.calls = 0

    def begin(self) -> None:
        self.calls += 1
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight

    def end(self) -> None:
        self.in_flight -= 1

    def statistics(self) -> RestLoadStatistics:
        return RestLoadStatistics(calls=self.calls, peak_in_flight=self.peak_in_flight)


def load_middleware(load: RestLoad, rest_prefix: str) -> Middleware:
    """Middleware: every call under ``rest_prefix`` counts as in flight until it is answered."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(rest_prefix):
            return await handler(request)
        load.begin()
        try:
            return await handler(request)
        finally:
            load.end()

    return middleware


class RateLimiter:
    """A venue's REST budget: at most ``limit`` calls per client IP in any ``window_s`` seconds
    (sliding window, wall time: a rate limit is about real seconds, whatever the emulator's clock
    does); ``limit`` 0 = unlimited. Only calls let through count: whether a venue also counts
    the ones it refused is not documented, so the emulator does not punish retries further."""

    def __init__(
        self, limit: int, window_s: float = 60.0, now: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 0 or window_s <= 0:
            raise ValueError(
                f"RateLimiter: expected limit >= 0 and window_s > 0, found {limit}, {window_s}"
            )
        self.limit = limit
        self.window_s = window_s
        self._now = now
        self._calls: dict[str, deque[float]] = {}
        self.refused = 0

    def allow(self, client: str) -> bool:
        """Count one call from ``client``; False when it is over the budget."""
        if not self.limit:
            return True
        now = self._now()
        calls = self._calls.setdefault(client, deque())
        horizon = now - self.window_s
        while calls and calls[0] <= horizon:
            calls.popleft()
        if len(calls) >= self.limit:
            self.refused += 1
            return False
        calls.append(now)
        return True


def rate_limit_middleware(
    limiter: RateLimiter, rest_prefix: str, refusal: Callable[[], web.Response]
) -> Middleware:
    """Middleware: a call under ``rest_prefix`` over ``limiter``'s budget gets ``refusal()``
    (the venue's HTTP 429) without reaching its handler."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(rest_prefix) and not limiter.allow(request.remote or ""):
            return refusal()
        return await handler(request)

    return middleware
