"""Extended REST through the x10 SDK, with retries, 429 backoff and the venue's error codes.

Every call goes through ``ExtendedRest.call``: a 429 pauses *all* calls for a backed-off, jittered
while (the budget is shared), a 5xx, timeout or network error is retried, and a refusal becomes an
``ExtendedVenueError`` with the venue's integer code as a string. Retrying is safe for places only
because the adapter signs each order once and resends the identical body (same external id, same
nonce): the venue answers a second copy with 1134 (duplicate), never a second order.

Once ``pace``d with the live runner's ``RateBudget`` (the one its sender spends from, on the
runner's clock: ``ExtendedAdapter.pace_requests``), every request to an order endpoint (place,
cancel by id or external id, mass cancel) that the sender did not already pay for spends from
that budget right before it goes: each retry after the first attempt, and every request the
adapter makes on its own (``paid=False``: the reconcile's cancels, a place resent to settle it).
The sender pays for the first attempt of the command it starts; one that had to wait out a 429
pause first pays again (its payment was for an earlier moment). A place or cancel waits until
the budget allows it (retried every ``mmcore.sender.PACE_RETRY_S``); a mass cancel never waits
(``RateBudget.force``). Unpaced (backtests, tests without a budget) nothing is spent or held.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import aiohttp
import msgspec
from x10.clients.rest.rest_api_client import RestApiClient
from x10.core.client_config import ClientConfig
from x10.core.stark_account import StarkPerpetualAccount
from x10.errors import ApiError, ApiNotAuthorizedError, ApiRateLimitError
from x10.models.balance import BalanceModel
from x10.models.fee import TradingFeeModel
from x10.models.market import MarketModel
from x10.models.order import NewOrderModel, OpenOrderModel, PlacedOrderModel
from x10.models.orderbook import OrderbookUpdateModel
from x10.models.position import PositionModel
from x10.models.trade import AccountTradeModel
from x10.utils.http import USER_AGENT, get_url, handle_known_errors

from adapters.extended.backoff import Backoff
from adapters.extended.errors import ExtendedUnavailableError, ExtendedVenueError
from mmcore.ratelimit import RateBudget
from mmcore.sender import PACE_RETRY_S

__all__ = ["ExtendedRest", "OrderRequest", "RequestPacer", "RestStatistics", "parse_api_error"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_HTTP_BODY = re.compile(r"code (\d{3}) - (.*)$", re.DOTALL)
_MODEL = re.compile(r"code=(-?\d+) message='(.*?)'", re.DOTALL)


class _ErrorBody(msgspec.Struct):
    code: int | str
    message: str = ""


class _Envelope(msgspec.Struct):
    error: _ErrorBody | None = None


class _Answer(msgspec.Struct):
    status: str = "OK"
    error: _ErrorBody | None = None


def parse_api_error(text: str) -> tuple[int, str, str]:
    """``(http_status, venue_code, message)`` from the text of an SDK ``ApiError``.

    The SDK raises non-2xx answers as ``"... code <status> - <body>"`` and 200-with-ERROR answers
    as ``"... code=<code> message='<text>' ..."``. Unknown shapes give code "UNKNOWN".
    """
    m = _HTTP_BODY.search(text)
    if m is not None:
        status = int(m.group(1))
        body = m.group(2)
        try:
            env = msgspec.json.decode(body, type=_Envelope)
        except msgspec.DecodeError:
            return status, str(status), body[:200]
        if env.error is not None:
            return status, str(env.error.code), env.error.message
        return status, str(status), body[:200]
    m = _MODEL.search(text)
    if m is not None:
        return 200, m.group(1), m.group(2)
    return 0, "UNKNOWN", text[:200]


def _refusal(result: object) -> tuple[str, str] | None:
    """``(code, message)`` when ``result`` is the SDK's wrapped answer with ``"status": "ERROR"``.
    The SDK raises that for POST answers only; a DELETE or GET answered HTTP 200 with it would
    otherwise pass for success (a refused cancel counted as sent, its order never canceled)."""
    status = getattr(result, "status", None)
    if status is None or str(status) != "ERROR":
        return None
    error = getattr(result, "error", None)
    if error is None:
        return "UNKNOWN", "status ERROR without an error body"
    return str(getattr(error, "code", "UNKNOWN")), str(getattr(error, "message", ""))


def _sdk_headers(api_key: str) -> dict[str, str]:
    """The headers the SDK sends on a private call."""
    return {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Api-Key": api_key,
    }


async def _get_text(session: aiohttp.ClientSession, url: str, api_key: str) -> str:
    """GET a private endpoint the SDK lacks, with the SDK's headers; the answer's text, for the
    caller to decode. HTTP errors are raised by the SDK's own ``handle_known_errors`` (as its
    calls raise them, for ``ExtendedRest.call`` to sort: 429, 401, other codes), and a 2xx
    whose envelope says ``"status": "ERROR"`` as the ``ApiError`` of a refusal."""
    async with session.get(url, headers=_sdk_headers(api_key)) as response:
        text = await response.text()
        handle_known_errors(url, None, response, text)
    try:
        envelope = msgspec.json.decode(text, type=_Answer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return text  # not the envelope: the decoder of the data says what is wrong
    if envelope.status == "ERROR":
        error = envelope.error or _ErrorBody("UNKNOWN")
        raise ApiError(
            f"Error response from GET {url}: code={error.code} message='{error.message}'"
        )
    return text


async def _post_countdown(session: aiohttp.ClientSession, url: str, api_key: str) -> None:
    """POST the dead man's switch countdown (not in the SDK), with the SDK's headers. Its answer
    may be an empty body: any 2xx is success unless a body says ``"status": "ERROR"`` (one that
    is not the venue's JSON envelope is logged and taken as success); errors are raised as the
    SDK raises them, for ``ExtendedRest.call`` to sort (429, 401, other HTTP codes)."""
    async with session.post(url, headers=_sdk_headers(api_key)) as response:
        text = await response.text()
        if response.status == 401:
            raise ApiNotAuthorizedError(f"Unauthorized response from POST {url}: {text}")
        if response.status == 429:
            raise ApiRateLimitError(f"Rate limited response from POST {url}")
        if not 200 <= response.status < 300:
            raise ApiError(f"Error response from {url}: code {response.status} - {text}")
    if not text.strip():
        return
    try:
        envelope = msgspec.json.decode(text, type=_Answer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        # a 2xx the venue took: only an explicit "status": "ERROR" is a failure
        log.warning("extended POST deadmanswitch: unexpected answer %r; taken as armed", text[:80])
        return
    if envelope.status == "ERROR":
        error = envelope.error or _ErrorBody("UNKNOWN")
        raise ApiError(
            f"Error response from POST {url}: code={error.code} message='{error.message}'"
        )


OrderRequest = Literal["place", "cancel", "mass_cancel"]
"""The kind of an order-endpoint request, as the rate budget counts it."""


class RequestPacer:
    """The live runner's rate budget, spent by the order requests the sender did not pay for."""

    def __init__(self, budget: RateBudget, clock: Callable[[], int]) -> None:
        self.budget = budget
        self._clock = clock
        self.spent = 0
        """Requests paid for here (mass cancels included)."""
        self.waited = 0
        """Requests that had to wait for the budget."""
        self.waiting = 0
        """Requests waiting for the budget now."""

    async def spend(self, kind: OrderRequest) -> None:
        """Record one request of ``kind`` leaving now; a place or cancel first waits until
        the budget allows it, a mass cancel never waits (recorded as forced)."""
        budget = self.budget
        if kind == "mass_cancel":
            budget.force(self._clock(), True)
        elif not budget.try_spend(self._clock(), kind == "cancel"):
            self.waited += 1
            self.waiting += 1
            try:
                while not budget.try_spend(self._clock(), kind == "cancel"):
                    await asyncio.sleep(PACE_RETRY_S)
            finally:
                self.waiting -= 1
        self.spent += 1


class RestStatistics(msgspec.Struct, frozen=True):
    """Counters of the REST client."""

    calls: int
    retries: int
    rate_limited: int
    server_errors: int
    timeouts: int
    refusals: int
    gave_up: int
    paced: int = 0
    """Order requests paid for from the runner's budget here (not by the sender)."""
    pace_waits: int = 0
    """Of those, the ones that waited for the budget."""


class ExtendedRest:
    """The SDK's ``RestApiClient`` plus the calls it lacks, behind one retrying ``call``."""

    def __init__(
        self,
        sdk_config: ClientConfig,
        account: StarkPerpetualAccount | None,
        api_key: str,
        retries: int,
        backoff: Backoff,
        timeout_s: float,
    ) -> None:
        self.sdk_config = sdk_config
        self.client = RestApiClient(sdk_config, account)
        self._api_key = api_key
        self._retries = retries
        self._backoff = backoff
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self.pacer: RequestPacer | None = None
        """The runner's rate budget for the order requests the sender did not pay for."""
        self._not_before = 0.0
        self._calls = 0
        self._n_retries = 0
        self._n_429 = 0
        self._n_5xx = 0
        self._n_timeouts = 0
        self._n_refusals = 0
        self._n_gave_up = 0

    def __repr__(self) -> str:
        return f"ExtendedRest({self.sdk_config.endpoints.api_base_url!r})"

    async def close(self) -> None:
        await self.client.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def pace(self, budget: RateBudget, clock: Callable[[], int]) -> None:
        """From now on order requests the sender did not pay for spend from ``budget`` at
        ``clock``'s time (module doc)."""
        self.pacer = RequestPacer(budget, clock)

    # ------------------------------------------------------------ the retry loop

    async def call(
        self,
        what: str,
        fn: Callable[[], Awaitable[T]],
        retry: bool = True,
        order: OrderRequest | None = None,
        paid: bool = True,
    ) -> T:
        """Run ``fn`` (one SDK request) with backoff; raise ``ExtendedVenueError`` on a refusal
        and ``ExtendedUnavailableError`` when every attempt failed transiently. ``order``: the
        kind of an order-endpoint request (paced: module doc); ``paid``: the sender paid for
        its first attempt."""
        loop = asyncio.get_running_loop()
        attempts = 1 + (self._retries if retry else 0)
        last = ""
        for attempt in range(attempts):
            await self._ready(loop, order, paid and attempt == 0)
            self._calls += 1
            if attempt:
                self._n_retries += 1
            try:
                result = await fn()
            except ApiRateLimitError:
                self._n_429 += 1
                delay = self._backoff.next_delay()
                self._not_before = max(self._not_before, loop.time() + delay)
                last = "HTTP 429 (rate limited)"
                log.warning("extended %s: rate limited; pausing REST for %.2fs", what, delay)
                continue
            except ApiNotAuthorizedError:
                self._n_refusals += 1
                raise ExtendedVenueError("401", "API key not accepted", what, 401) from None
            except ApiError as exc:
                status, code, message = parse_api_error(str(exc))
                if status >= 500:
                    self._n_5xx += 1
                    last = f"HTTP {status}"
                    await asyncio.sleep(self._backoff.next_delay())
                    continue
                self._n_refusals += 1
                raise ExtendedVenueError(code, message, what, status) from None
            except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
                self._n_timeouts += 1
                last = f"{type(exc).__name__}"
                await asyncio.sleep(self._backoff.next_delay())
                continue
            except Exception as exc:  # e.g. an answer the SDK cannot parse: fate unknown
                self._n_gave_up += 1
                raise ExtendedUnavailableError(
                    f"{what}: unexpected {type(exc).__name__}: {exc}"
                ) from None
            self._backoff.reset()
            refusal = _refusal(result)
            if refusal is not None:  # HTTP 200 with "status": "ERROR"
                self._n_refusals += 1
                code, message = refusal
                raise ExtendedVenueError(code, message, what, 200)
            return result
        self._n_gave_up += 1
        raise ExtendedUnavailableError(f"{what}: gave up after {attempts} attempts; last: {last}")

    async def _ready(
        self, loop: asyncio.AbstractEventLoop, order: OrderRequest | None, paid: bool
    ) -> None:
        """Wait out a 429 pause, then (paced, for an order request not paid for) the budget;
        returns with nothing between the payment and the request."""
        pacer = self.pacer if order is not None else None
        while True:
            wait = self._not_before - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                paid = False  # paid for an earlier moment: pays again as it goes
            if pacer is None or paid or order is None:
                return
            await pacer.spend(order)
            paid = True
            if self._not_before <= loop.time():
                return

    # ------------------------------------------------------------ public data

    async def markets(self, symbols: list[str]) -> list[MarketModel]:
        info = self.client.info
        res = await self.call("GET markets", lambda: info.get_markets(market_names=symbols))
        return list(res.data or [])

    async def orderbook(self, symbol: str) -> OrderbookUpdateModel | None:
        info = self.client.info
        res = await self.call(
            f"GET orderbook {symbol}", lambda: info.get_orderbook_snapshot(market_name=symbol)
        )
        return res.data

    # ------------------------------------------------------------ account data

    async def fees(self, symbols: list[str]) -> list[TradingFeeModel]:
        acct = self.client.account
        res = await self.call("GET fees", lambda: acct.get_fees(market_names=symbols))
        return list(res.data or [])

    async def open_orders(self, symbols: list[str]) -> list[OpenOrderModel]:
        acct = self.client.account
        res = await self.call("GET open orders", lambda: acct.get_open_orders(market_names=symbols))
        return list(res.data or [])

    async def order_by_id(self, venue_id: int) -> OpenOrderModel | None:
        acct = self.client.account
        try:
            res = await self.call(f"GET order {venue_id}", lambda: acct.get_order_by_id(venue_id))
        except ExtendedVenueError as exc:
            if exc.http_status == 404:
                return None
            raise
        return res.data

    async def orders_by_external_id(self, external_id: str) -> list[OpenOrderModel]:
        acct = self.client.account
        try:
            res = await self.call(
                f"GET order external {external_id}",
                lambda: acct.get_order_by_external_id(external_id),
            )
        except ExtendedVenueError as exc:
            if exc.http_status == 404:
                return []
            raise
        return list(res.data or [])

    async def order_by_external_id(self, external_id: str) -> OpenOrderModel | None:
        """The order whose external id is exactly ``external_id`` (the venue's lookup may
        answer others too), or None when the venue has none."""
        for m in await self.orders_by_external_id(external_id):
            if m.external_id == external_id:
                return m
        return None

    async def positions(self, symbols: list[str]) -> list[PositionModel]:
        acct = self.client.account
        res = await self.call("GET positions", lambda: acct.get_positions(market_names=symbols))
        return list(res.data or [])

    async def balance(self) -> BalanceModel | None:
        """The balance; None when the venue answers 404 (it does at zero balance)."""
        acct = self.client.account
        try:
            res = await self.call("GET balance", acct.get_balance)
        except ExtendedVenueError as exc:
            if exc.http_status == 404:
                return None
            raise
        return res.data

    async def trades(self, symbols: list[str], limit: int = 200) -> list[AccountTradeModel]:
        acct = self.client.account
        res = await self.call(
            "GET trades", lambda: acct.get_trades(market_names=symbols, limit=limit)
        )
        return list(res.data or [])

    # ------------------------------------------------------------ orders

    # ``paid``: the sender paid for the first attempt (the command it started); False for the
    # adapter's own requests (module doc)

    async def place(self, order: NewOrderModel, paid: bool = True) -> PlacedOrderModel | None:
        orders = self.client.orders
        res = await self.call(
            f"POST order {order.id}", lambda: orders.place_order(order), order="place", paid=paid
        )
        return res.data

    async def cancel_external(self, external_id: str, paid: bool = True) -> None:
        orders = self.client.orders
        await self.call(
            f"DELETE order external {external_id}",
            lambda: orders.cancel_order_by_external_id(external_id),
            order="cancel",
            paid=paid,
        )

    async def cancel_id(self, venue_id: int, paid: bool = True) -> None:
        orders = self.client.orders
        await self.call(
            f"DELETE order {venue_id}",
            lambda: orders.cancel_order(venue_id),
            order="cancel",
            paid=paid,
        )

    async def mass_cancel(self, markets: list[str], paid: bool = True) -> None:
        """Cancel every order of the account on ``markets``."""
        orders = self.client.orders
        await self.call(
            f"POST massCancel {','.join(markets)}",
            lambda: orders.mass_cancel(markets=markets, cancel_all=None),
            order="mass_cancel",
            paid=paid,
        )

    async def mass_cancel_external(self, external_ids: list[str], paid: bool = True) -> None:
        """Cancel the orders with these external ids (ours), in one call."""
        orders = self.client.orders
        await self.call(
            f"POST massCancel {len(external_ids)} external ids",
            lambda: orders.mass_cancel(external_order_ids=external_ids, cancel_all=None),
            order="mass_cancel",
            paid=paid,
        )

    def _own_session(self) -> aiohttp.ClientSession:
        """The session of the calls the SDK lacks (the SDK's modules keep their own)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout_s)
            )
        return self._session

    async def funding_history(self, market: str, from_ms: int) -> str:
        """The raw answer of ``GET /user/funding/history?market=&fromTime=`` (not in the SDK):
        the account's funding payments on ``market`` paid at or after ``from_ms`` (epoch ms; the
        venue requires it), for ``Normalizer.decode_funding_history``."""
        session = self._own_session()
        url = get_url(
            f"{self.sdk_config.endpoints.api_base_url}/user/funding/history",
            query={"market": market, "fromTime": int(from_ms)},
        )
        return await self.call(
            f"GET funding history {market}", lambda: _get_text(session, url, self._api_key)
        )

    async def dead_man_switch(self, countdown_s: int) -> None:
        """Arm (or with 0 disarm) the venue's dead man's switch; not in the SDK."""
        session = self._own_session()
        url = (
            f"{self.sdk_config.endpoints.api_base_order_management_url}"
            f"/user/deadmanswitch?countdownTime={int(countdown_s)}"
        )
        await self.call("POST deadmanswitch", lambda: _post_countdown(session, url, self._api_key))

    def statistics(self) -> RestStatistics:
        return RestStatistics(
            calls=self._calls,
            retries=self._n_retries,
            rate_limited=self._n_429,
            server_errors=self._n_5xx,
            timeouts=self._n_timeouts,
            refusals=self._n_refusals,
            gave_up=self._n_gave_up,
            paced=self.pacer.spent if self.pacer is not None else 0,
            pace_waits=self.pacer.waited if self.pacer is not None else 0,
        )
