"""Client ids on the simulated venue: taken across its markets, and for a window of exchange time
after their order finished, so that a retried ``Place`` never makes a second order."""

from __future__ import annotations

import random
from typing import Any

import pytest

from adapters.sim import NEVER, SimConfig, SimVenue, SimVenues
from adapters.sim.client_ids import CLIENT_ID_KEPT_NS, ClientIds
from mmcore.commands import GTC, IOC, Cancel, Command, Place
from mmcore.events import BUY, BookSnapshot, Fill, OrderAccepted, OrderRejected
from mmcore.instrument import Instrument

BTC = "BTC-PERP"
ETH = "ETH-PERP"
T0 = 1_000_000_000_000


Venue = SimVenue | SimVenues


@pytest.fixture(params=[SimVenue, SimVenues], ids=["one-venue", "a-venue-per-market"])
def venue(request: pytest.FixtureRequest) -> Venue:
    """Both markets on one ``SimVenue``, or each on its own (``SimVenues``, sharing the ids)."""
    instruments = {
        name: Instrument(venue="sim", symbol=name, tick_size="0.1", lot_size="0.001")
        for name in (BTC, ETH)
    }
    config = SimConfig(entry_latency_ms=0.0, response_latency_ms=0.0, funding_interval_s=0)
    venue: Venue = request.param(instruments, config, random.Random(1))
    for name in (BTC, ETH):
        venue.on_market(BookSnapshot(name, T0, T0, 1, (100, 50), (102, 50)))
    return venue


def bid(inst: str, cid: str) -> Place:
    """A post-only bid below the book's: it rests."""
    return Place(inst, 0, cid, BUY, 99, 3, True, False, GTC)


def buy_ioc(inst: str, cid: str) -> Place:
    """Takes 2 lots at the book's ask 102: filled whole on arrival."""
    return Place(inst, 0, cid, BUY, 102, 2, False, False, IOC)


def send(venue: Venue, cmd: Command, now: int) -> list[Any]:
    venue.submit(cmd, now)
    venue.advance_to(now)
    return venue.pop_outbound(NEVER)


def outcome(events: list[Any]) -> list[str]:
    return [e.code if type(e) is OrderRejected else type(e).__name__ for e in events]


def test_an_id_live_on_one_market_is_refused_on_another(venue: Venue) -> None:
    assert outcome(send(venue, bid(BTC, "x-1"), T0)) == ["OrderAccepted"]
    out = send(venue, bid(ETH, "x-1"), T0 + 1)
    assert outcome(out) == ["duplicate_client_id"]
    assert "live on BTC-PERP" in out[0].reason
    assert venue.resting(ETH) == {}
    assert list(venue.resting(BTC)) == ["x-1"]


def test_a_retried_place_after_its_order_finished_is_refused_and_does_not_fill_again(
    venue: Venue,
) -> None:
    assert outcome(send(venue, buy_ioc(BTC, "x-2"), T0)) == ["OrderAccepted", "Fill"]
    assert outcome(send(venue, buy_ioc(BTC, "x-2"), T0 + 1)) == ["duplicate_client_id"]
    assert venue.position(BTC) == 2
    # the same for an order that rested and was canceled, and for one the venue rejected
    send(venue, bid(BTC, "x-3"), T0 + 2)
    send(venue, Cancel(BTC, 0, "x-3"), T0 + 3)
    crossing = Place(BTC, 0, "x-4", BUY, 102, 1)  # post-only at the ask
    assert outcome(send(venue, crossing, T0 + 4)) == ["post_only_would_cross"]
    for retry in (bid(BTC, "x-3"), bid(ETH, "x-3"), bid(BTC, "x-4")):
        out = send(venue, retry, T0 + 5)
        assert outcome(out) == ["duplicate_client_id"]
        assert "finished less than 600 s before" in out[0].reason
    assert venue.resting(BTC) == {} and venue.resting(ETH) == {}


def test_an_id_is_taken_again_only_once_its_window_of_exchange_time_is_over(
    venue: Venue,
) -> None:
    send(venue, buy_ioc(BTC, "x-5"), T0)  # finished at T0
    just_before = send(venue, buy_ioc(BTC, "x-5"), T0 + CLIENT_ID_KEPT_NS - 1)
    assert outcome(just_before) == ["duplicate_client_id"]
    later = send(venue, buy_ioc(BTC, "x-5"), T0 + CLIENT_ID_KEPT_NS)
    assert [type(e) for e in later] == [OrderAccepted, Fill]
    assert venue.position(BTC) == 4


def test_the_ids_kept_stay_bounded_however_long_the_session() -> None:
    ids = ClientIds(kept_ns=100)
    for n in range(10_000):  # one order a tick, each finished at once
        assert ids.claim(f"x-{n}", n)
        ids.release(f"x-{n}", n)
    assert len(ids) <= 101
    assert len(ids.finished) <= 101
    # a live order's id is never forgotten, however long it rests
    assert ids.claim("live", 10_000)
    assert ids.claim("other", 10**9)
    assert not ids.claim("live", 10**9)


def test_a_release_stamped_before_the_last_keeps_the_ids_in_time_order() -> None:
    # markets on clocks of their own share the ids: one's finish can be stamped before another's
    ids = ClientIds(kept_ns=100)
    for cid, ts in (("a", 50), ("b", 40), ("c", 60)):
        assert ids.claim(cid, ts)
        ids.release(cid, ts)
    assert [ts for ts, _ in ids.finished] == [50, 50, 60]  # "b" kept until 150, not 140
    assert not ids.claim("b", 149)
    assert ids.claim("b", 150)
