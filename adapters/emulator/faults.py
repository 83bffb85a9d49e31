"""Fault switches: the test hooks every venue emulator offers.

One ``FaultSwitches`` object per emulator. Tests flip its switches directly; out-of-process users
reach the same switches through the ``/_emulator/`` admin routes (``adapters.emulator.server``).
The server consults it on every REST call (failures, delays) and on every book message (sequence
skips), a venue's account stream on every fill (late fills); ``drop_connections`` asks the server
to close every WebSocket it holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec

from mmcore.errors import MMError

__all__ = ["BadFaultError", "FaultStatistics", "FaultSwitches"]


class BadFaultError(MMError, ValueError):
    """A fault switch was set to a value that makes no sense (negative count, non-error status)."""


class FaultStatistics(msgspec.Struct, frozen=True):
    """Counters of the faults actually injected so far."""

    ws_drops: int
    seq_skips: int
    rest_failures: int
    rest_delays: int
    late_fills: int = 0


class _Rule:
    """``remaining`` more REST calls whose path matches ``prefix`` get ``value``."""

    __slots__ = ("prefix", "remaining", "value")

    def __init__(self, remaining: int, value: float, prefix: str) -> None:
        self.remaining = remaining
        self.value = value
        self.prefix = prefix


def _matches(prefix: str, path: str) -> bool:
    """``path`` starts with ``prefix``; a prefix ending in ``$`` must equal the path (without
    the ``$``): ``/api/v1/user/order$`` is that route alone, not ``/api/v1/user/orders``."""
    if prefix.endswith("$"):
        return path == prefix[:-1]
    return path.startswith(prefix)


def _take(rules: list[_Rule], path: str) -> float | None:
    for rule in rules:
        if _matches(rule.prefix, path):
            rule.remaining -= 1
            if rule.remaining <= 0:
                rules.remove(rule)
            return rule.value
    return None


class FaultSwitches:
    """Switches for the failures an adapter must survive.

    delay_ms: added before every REST response (0 = none); ``delay_next`` delays only some calls
    (before the venue handles them), ``delay_answer_next`` only some answers (the venue has
    handled the call: an order placed is at the venue while its answer is on the way).
    ``path_prefix`` of ``fail_next`` and the delays: the calls whose path (without the query)
    starts with it, or equals it when it ends in ``$``.
    """

    def __init__(self) -> None:
        self.delay_ms = 0.0
        self._failures: list[_Rule] = []
        self._delays: list[_Rule] = []
        self._answer_delays: list[_Rule] = []
        self._seq_skips = 0
        self._late_fills = 0
        self._droppers: list[Callable[[], Awaitable[int]]] = []
        self._n_drops = 0
        self._n_skips = 0
        self._n_failures = 0
        self._n_delays = 0
        self._n_late = 0

    # ------------------------------------------------------------ setters (tests, admin routes)

    def fail_next(self, n: int, status: int = 429, path_prefix: str = "") -> None:
        """Answer the next ``n`` REST calls under ``path_prefix`` with HTTP ``status``."""
        if n < 0:
            raise BadFaultError(f"fail_next: expected n >= 0, found {n}")
        if not (status == 429 or 500 <= status <= 599):
            raise BadFaultError(f"fail_next: expected status 429 or 5xx, found {status}")
        if n:
            self._failures.append(_Rule(n, status, path_prefix))

    def delay_next(self, n: int, ms: float, path_prefix: str = "") -> None:
        """Hold the next ``n`` REST calls under ``path_prefix`` for ``ms`` before handling them."""
        if n < 0 or ms < 0:
            raise BadFaultError(f"delay_next: expected n >= 0 and ms >= 0, found {n}, {ms}")
        if n:
            self._delays.append(_Rule(n, ms, path_prefix))

    def delay_answer_next(self, n: int, ms: float, path_prefix: str = "") -> None:
        """Handle the next ``n`` REST calls under ``path_prefix`` at once but hold their answers
        for ``ms``."""
        if n < 0 or ms < 0:
            raise BadFaultError(
                f"delay_answer_next: expected n >= 0 and ms >= 0, found {n}, {ms}"
            )
        if n:
            self._answer_delays.append(_Rule(n, ms, path_prefix))

    def skip_book_seq(self, n: int = 1) -> None:
        """Make the next ``n`` book messages each jump one sequence number (a gap)."""
        if n < 0:
            raise BadFaultError(f"skip_book_seq: expected n >= 0, found {n}")
        self._seq_skips += n

    def late_fill_frames(self, n: int = 1) -> None:
        """Send the account frames of the next ``n`` fills (the trade, the position and balance
        after it) after the account's next update, not with the fill's order update: as when
        the venue's cancel of an order overtakes the trade that raced it, so that the order's
        end, with the fill counted in its filled quantity, comes before the trade."""
        if n < 0:
            raise BadFaultError(f"late_fill_frames: expected n >= 0, found {n}")
        self._late_fills += n

    def clear(self) -> None:
        """Turn every switch off."""
        self.delay_ms = 0.0
        self._failures.clear()
        self._delays.clear()
        self._answer_delays.clear()
        self._seq_skips = 0
        self._late_fills = 0

    async def drop_connections(self) -> int:
        """Close every WebSocket of the emulator now; returns how many were closed."""
        n = 0
        for dropper in list(self._droppers):
            n += await dropper()
        self._n_drops += n
        return n

    # ------------------------------------------------------------ consulted by the server

    def on_drop(self, dropper: Callable[[], Awaitable[int]]) -> None:
        """Register the server's way of closing its sockets."""
        self._droppers.append(dropper)

    def take_failure(self, path: str) -> int | None:
        """The HTTP status to fail this call with, or None to handle it normally."""
        value = _take(self._failures, path)
        if value is None:
            return None
        self._n_failures += 1
        return int(value)

    def take_delay_s(self, path: str) -> float:
        """Seconds to hold this call before handling it."""
        value = _take(self._delays, path)
        total = self.delay_ms + (value or 0.0)
        if total > 0:
            self._n_delays += 1
        return total / 1000.0

    def take_answer_delay_s(self, path: str) -> float:
        """Seconds to hold this call's answer once it is handled."""
        value = _take(self._answer_delays, path)
        if not value:
            return 0.0
        self._n_delays += 1
        return value / 1000.0

    def take_seq_skip(self) -> int:
        """1 when the book message about to go out must skip a sequence number, else 0."""
        if self._seq_skips <= 0:
            return 0
        self._seq_skips -= 1
        self._n_skips += 1
        return 1

    def take_late_fill(self) -> bool:
        """True when the account frames of the fill about to go out must come late."""
        if self._late_fills <= 0:
            return False
        self._late_fills -= 1
        self._n_late += 1
        return True

    def statistics(self) -> FaultStatistics:
        return FaultStatistics(
            ws_drops=self._n_drops,
            seq_skips=self._n_skips,
            rest_failures=self._n_failures,
            rest_delays=self._n_delays,
            late_fills=self._n_late,
        )
