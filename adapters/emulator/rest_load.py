"""How many REST calls an emulator is serving at once: does a client really overlap its calls?

``load_middleware`` counts every call under the venue's REST prefix from arrival to answer (fault
delays included); ``RestLoad.statistics()`` gives the total and the peak of calls in flight.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["RestLoad", "RestLoadStatistics", "load_middleware"]

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
