"""At close: places of unknown outcome that may still land at the venue after the session.

A place whose every attempt timed out may still be held on its way and land later. While the
session runs, such a copy is seen (the account stream, a reconcile) and canceled. A shutdown
does not wait for it: a ``CancelAll`` followed by a reconcile that does not find it lets the
engine count it as canceled before the venue listed it, and the session ends. A copy that lands
after that would rest unattended. So ``close`` looks for these places by external id for up to
``[venue] late_place_watch_s`` and cancels any copy found working. One still not found when
that time is up may yet land: the adapter then leaves the venue's dead man's switch armed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from adapters.extended.errors import ExtendedError
from adapters.extended.rest import ExtendedRest
from adapters.extended.tracker import LIVE_STATUSES

__all__ = ["cancel_late_places"]

log = logging.getLogger(__name__)

POLL_S = 0.5
"""How often the venue is asked for the places still unknown."""


async def cancel_late_places(
    rest: ExtendedRest, client_ids: list[str], timeout_s: float, poll_s: float = POLL_S
) -> list[str]:
    """Ask the venue for each of ``client_ids`` until it lists them or ``timeout_s`` passes;
    cancel every one found working. Returns the ids the venue never listed (sorted)."""
    waiting = sorted(client_ids)
    if not waiting:
        return []
    log.warning(
        "extended close: %d place(s) of unknown outcome may still land (%s); watching the "
        "venue for them for up to %.1fs", len(waiting), ", ".join(waiting[:5]), timeout_s
    )
    # the whole watch is bounded, not each pass: a venue that does not answer (why these places
    # are unknown) would otherwise hold every lookup for all its retries
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_watch(rest, waiting, poll_s), timeout_s)
    return waiting


async def _watch(rest: ExtendedRest, waiting: list[str], poll_s: float) -> None:
    """Ask for each id in ``waiting`` every ``poll_s``, removing those settled, until none is
    left (or the caller's time is up)."""
    while waiting:
        for client_id in list(waiting):
            if await _settle(rest, client_id):
                waiting.remove(client_id)
        if waiting:
            await asyncio.sleep(poll_s)


async def _settle(rest: ExtendedRest, client_id: str) -> bool:
    """True when the venue lists ``client_id`` (canceled now if it works); False when it does
    not, or could not be asked."""
    try:
        found = await rest.order_by_external_id(client_id)
    except ExtendedError as exc:
        log.warning("extended close: could not look for %s: %s", client_id, exc)
        return False
    if found is None:
        return False
    status = str(found.status)
    if status not in LIVE_STATUSES:
        log.warning("extended close: %s landed after the session's end and is %s at the venue",
                    client_id, status)
        return True
    try:
        await rest.cancel_external(client_id)
    except ExtendedError as exc:
        log.error("extended close: %s landed after the session's end and works at the venue; "
                  "its cancel failed: %s", client_id, exc)
        return False  # asked again until the time is up; the dead man's switch stays armed
    log.warning("extended close: %s landed after the session's end; canceled", client_id)
    return True
