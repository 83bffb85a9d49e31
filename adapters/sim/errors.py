"""Errors of the simulated venue: misuse by the caller, never market conditions.

Market conditions (a post-only order that would cross, an unknown order id) are answered the way a
venue answers them, with ``OrderRejected`` events or silence; these errors mean the driver handed
the venue something it cannot take.
"""

from __future__ import annotations

from mmcore.errors import MMError

__all__ = ["NotACommandError", "NotMarketDataError"]


class NotACommandError(MMError, TypeError):
    """``SimVenue.submit`` was given something other than a Place, Cancel, CancelAll or Resync."""


class NotMarketDataError(MMError, TypeError):
    """``SimVenue.on_market`` was given something other than a market data event."""
