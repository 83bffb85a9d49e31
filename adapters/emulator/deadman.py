"""A dead man's switch: when its countdown runs out without being re-armed, cancel everything."""

from __future__ import annotations

from mmcore.errors import MMError

__all__ = ["BadCountdownError", "DeadMansSwitch"]


class BadCountdownError(MMError, ValueError):
    """A dead man's switch countdown was negative."""


class DeadMansSwitch:
    """One per account; ``arm(0, now)`` disarms it, as on the venues."""

    __slots__ = ("deadline_ns", "fired")

    def __init__(self) -> None:
        self.deadline_ns = 0
        self.fired = 0

    @property
    def armed(self) -> bool:
        return self.deadline_ns > 0

    def arm(self, countdown_s: float, now_ns: int) -> None:
        if countdown_s < 0:
            raise BadCountdownError(
                f"dead man's switch: expected countdown >= 0 s, found {countdown_s}"
            )
        self.deadline_ns = now_ns + int(countdown_s * 1e9) if countdown_s else 0

    def expired(self, now_ns: int) -> bool:
        """True exactly once when the countdown has run out; the switch is then disarmed."""
        if self.deadline_ns and now_ns >= self.deadline_ns:
            self.deadline_ns = 0
            self.fired += 1
            return True
        return False
