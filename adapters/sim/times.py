"""Time constants of the simulated venue (all times are integer nanoseconds)."""

from __future__ import annotations

__all__ = ["NEVER"]

NEVER = 2**63 - 1
"""A time after every real time: "nothing pending" for ``next_outbound_ts`` and friends."""
