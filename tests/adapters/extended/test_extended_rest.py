"""The REST client's reading of answers the SDK lets through: HTTP 200 with ``"status": "ERROR"``
is a refusal, and the dead man's switch answers with an empty body (tested end to end in
test_extended_adapter.py: the emulator answers it as the venue does); the funding history, not in
the SDK either, is read with the SDK's headers and its errors sorted the same way."""

from __future__ import annotations

import asyncio
import random

import pytest
from x10.core.client_config import ClientConfig
from x10.models.http import ResponseErrorModel, ResponseStatus, WrappedApiResponseModel

from adapters.extended.backoff import Backoff
from adapters.extended.config import ExtendedConfig
from adapters.extended.errors import ExtendedVenueError
from adapters.extended.markets import sdk_config
from adapters.extended.rest import ExtendedRest


def _rest() -> ExtendedRest:
    config: ClientConfig = sdk_config(ExtendedConfig(network="local", base_url="http://127.0.0.1:9"))
    return ExtendedRest(config, None, "key", 0, Backoff(0.01, 0.01, random.Random(0)), 1.0)


def test_an_answer_with_status_error_is_a_refusal_naming_the_venues_code() -> None:
    """A cancel answered HTTP 200 with ERROR used to pass for done: its order was never
    canceled again."""

    async def answer() -> WrappedApiResponseModel[None]:
        return WrappedApiResponseModel[None](
            status=ResponseStatus.ERROR,
            error=ResponseErrorModel(code=1142, message="order not found or not open"),
        )

    async def main() -> None:
        rest = _rest()
        try:
            with pytest.raises(ExtendedVenueError) as err:
                await rest.call("DELETE order external x-1", answer)
            assert err.value.code == "1142" and "not open" in err.value.message
            assert rest.statistics().refusals == 1
        finally:
            await rest.close()

    asyncio.run(main())


def test_an_answer_with_status_ok_is_returned() -> None:
    async def answer() -> WrappedApiResponseModel[None]:
        return WrappedApiResponseModel[None](status=ResponseStatus.OK)

    async def main() -> None:
        rest = _rest()
        try:
            result = await rest.call("GET something", answer)
            assert result.status == ResponseStatus.OK
        finally:
            await rest.close()

    asyncio.run(main())


def _countdown_answers(answer: str) -> tuple[dict[str, str], Exception | None]:
    """Arm the dead man's switch against a local server answering ``answer`` (HTTP 200): the
    headers it received and what the call raised."""
    from aiohttp import web

    seen: dict[str, str] = {}

    async def countdown(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.Response(text=answer)

    async def main() -> Exception | None:
        app = web.Application()
        app.router.add_post("/api/v1/user/deadmanswitch", countdown)
        server = web.AppRunner(app)
        await server.setup()
        site = web.TCPSite(server, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        config = sdk_config(ExtendedConfig(network="local", base_url=f"http://127.0.0.1:{port}"))
        rest = ExtendedRest(config, None, "key", 0, Backoff(0.01, 0.01, random.Random(0)), 5.0)
        try:
            await rest.dead_man_switch(30)
        except Exception as exc:
            return exc
        finally:
            await rest.close()
            await server.cleanup()
        return None

    raised = asyncio.run(main())
    return seen, raised


@pytest.mark.parametrize("answer", ["", '{"status":"OK"}', "OK", "null"])
def test_the_dead_mans_switch_takes_any_answer_but_an_error_as_armed(answer: str) -> None:
    """The venue answers it with an empty body (ccxt); a body that is not its JSON envelope is
    not a failure either. It goes with the SDK's headers (its Content-Type was missing)."""
    seen, raised = _countdown_answers(answer)
    assert raised is None
    assert seen["Content-Type"] == "application/json" and seen["X-Api-Key"] == "key"


def test_the_dead_mans_switch_refused_by_the_venue_raises_its_code() -> None:
    _, raised = _countdown_answers('{"status":"ERROR","error":{"code":1133,"message":"bad"}}')
    assert isinstance(raised, ExtendedVenueError) and raised.code == "1133"


def _funding_history_answers(status: int, answer: str) -> tuple[dict[str, str], object]:
    """Read the funding payments of BTC-USD from 1700000000000 ms against a local server
    answering ``answer`` with HTTP ``status``: the request it received (its query and headers)
    and what the call returned or raised."""
    from aiohttp import web

    seen: dict[str, str] = {}

    async def history(request: web.Request) -> web.Response:
        seen.update(request.headers)
        seen["query"] = request.query_string
        return web.Response(status=status, text=answer)

    async def main() -> object:
        app = web.Application()
        app.router.add_get("/api/v1/user/funding/history", history)
        server = web.AppRunner(app)
        await server.setup()
        site = web.TCPSite(server, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        config = sdk_config(ExtendedConfig(network="local", base_url=f"http://127.0.0.1:{port}"))
        rest = ExtendedRest(config, None, "key", 0, Backoff(0.01, 0.01, random.Random(0)), 5.0)
        try:
            return await rest.funding_history("BTC-USD", 1_700_000_000_000)
        except Exception as exc:
            return exc
        finally:
            await rest.close()
            await server.cleanup()

    return seen, asyncio.run(main())


def test_the_funding_history_is_read_with_the_sdks_headers_and_its_answer_returned() -> None:
    """Not in the SDK: called as the dead man's switch is, with ``fromTime`` (required)."""
    body = '{"status":"OK","data":[]}'
    seen, got = _funding_history_answers(200, body)
    assert got == body
    assert seen["query"] == "market=BTC-USD&fromTime=1700000000000"
    assert seen["X-Api-Key"] == "key" and seen["User-Agent"].startswith("X10PythonTradingClient")


@pytest.mark.parametrize(
    ("status", "answer", "code"),
    [
        (200, '{"status":"ERROR","error":{"code":1133,"message":"fromTime"}}', "1133"),
        (400, '{"status":"ERROR","error":{"code":1133,"message":"fromTime"}}', "1133"),
        (404, "not here", "404"),
    ],
)
def test_a_refused_funding_history_read_raises_the_venues_code(
    status: int, answer: str, code: str
) -> None:
    _, got = _funding_history_answers(status, answer)
    assert isinstance(got, ExtendedVenueError) and got.code == code
