"""The venue's dead man's switch: armed at start, re-armed on a period, disarmed only when safe.

Extended cancels every open order of the account when its countdown (``[venue]
dead_man_switch_s``) runs out without being armed again. The adapter arms it at start and every
``dead_man_rearm_s`` after, so that a session that dies (a crash, a ``kill -9``, a lost network)
leaves nothing working for longer than the countdown.

At a clean close the switch is switched off (left armed it would cancel, once it ran out, orders
the user places by hand after the session), but only when no order of ours may still work:
``disarm_if_safe`` is given the orders of this session that may (its caller knows them: a
cancel unconfirmed, a place of unknown outcome), then reads the account's open orders and keeps
the switch armed if any of them carries a live session's client id (``is_live_session_id``: a
session killed before this one may have left orders, on markets this one does not trade too).
An account it cannot read keeps the switch armed as well: it is the last safety.

A re-arm may be at the venue when the session closes: cancelled, its POST could still be carried
out after the disarm and leave the switch armed. So each re-arm runs as a task of its own that a
cancel of ``keep_armed`` does not cut short, ``stop_rearming`` starts no new one, and
``disarm_if_safe`` first waits (bounded) for the one in flight; if it is still out then, the
switch is left armed rather than disarmed in a race with it.
"""

from __future__ import annotations

import asyncio
import logging

from adapters.extended.errors import ExtendedError
from adapters.extended.rest import ExtendedRest
from mmcore.client_ids import is_live_session_id

__all__ = ["DeadMansSwitch"]

log = logging.getLogger(__name__)


class DeadMansSwitch:
    """Arms, keeps armed and at close disarms the venue's countdown over ``rest``."""

    def __init__(self, rest: ExtendedRest, countdown_s: int, rearm_s: float) -> None:
        self.rest = rest
        self.countdown_s = countdown_s
        self.rearm_s = rearm_s
        self.arms = 0
        """Times the venue accepted the countdown."""
        self._rearming = True
        self._arming: asyncio.Task[None] | None = None
        """The re-arm in flight (or the last one), shielded from cancels of ``keep_armed``."""

    async def arm(self) -> None:
        """Set the countdown; a failure is logged (the next re-arm tries again)."""
        try:
            await self.rest.dead_man_switch(self.countdown_s)
            self.arms += 1
        except ExtendedError as exc:
            log.warning("extended dead man's switch not armed: %s", exc)

    async def keep_armed(self) -> None:
        """Re-arm every ``rearm_s`` until cancelled or ``stop_rearming``; a cancel ends the
        wait for a re-arm, never the re-arm (see the module doc)."""
        while self._rearming:
            await asyncio.sleep(self.rearm_s)
            if not self._rearming:
                return
            self._arming = asyncio.create_task(self.arm(), name="extended-dead-man-arm")
            await asyncio.shield(self._arming)

    def stop_rearming(self) -> None:
        """No re-arm starts from now on (the session is closing)."""
        self._rearming = False

    async def _arm_settled(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the re-arm in flight; False if it is still out (it is
        then cancelled, so that it sends no retry after the close: whether its POST lands or
        not, the switch stays armed)."""
        arming = self._arming
        if arming is None:
            return True
        done, _ = await asyncio.wait({arming}, timeout=timeout_s)
        if not done:
            arming.cancel()
            return False
        exc = None if arming.cancelled() else arming.exception()
        if exc is not None:
            log.warning("extended dead man's switch: the last re-arm failed", exc_info=exc)
        return True

    async def disarm_if_safe(self, ours_left: list[str], wait_s: float) -> None:
        """Stop re-arming and switch the countdown off unless an order of ours may still work:
        one of ``ours_left`` (client ids), or any order with a live session's id on the
        account; or a re-arm is still at the venue ``wait_s`` on (it could land after the
        disarm). Does nothing if the switch was never armed."""
        self.stop_rearming()
        if not await self._arm_settled(wait_s):
            log.warning("extended close: dead man's switch left armed: a re-arm is still in "
                        "flight after %.1fs, and the venue could carry it out after a disarm",
                        wait_s)
            return
        if not self.arms:
            return
        if ours_left:
            log.warning("extended close: dead man's switch left armed: %d order(s) of ours may "
                        "still work (%s)", len(ours_left), ", ".join(ours_left[:5]))
            return
        try:
            working = await self.rest.open_orders([])
        except ExtendedError as exc:
            log.warning("extended close: dead man's switch left armed: the account's open "
                        "orders could not be read (%s)", exc)
            return
        stale = sorted(
            str(m.external_id) for m in working if is_live_session_id(str(m.external_id))
        )
        if stale:
            log.warning("extended close: dead man's switch left armed: %d order(s) of a session "
                        "still work at the venue (%s)", len(stale), ", ".join(stale[:5]))
            return
        try:
            await self.rest.dead_man_switch(0)
            log.info("extended close: dead man's switch disarmed (no order of ours working)")
        except ExtendedError as exc:
            log.warning("extended close: dead man's switch not disarmed: %s", exc)
