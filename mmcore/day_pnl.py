"""The day's PnL carried from one live session to the next, so a restart keeps the loss limits.

The risk gate's daily loss limit (``[risk] max_loss_day_usd``) counts the PnL made since the UTC
day began, and its hourly one (``max_loss_hour_usd``) the drop from the PnL's highest point of the
last 60 minutes. A session knows only its own PnL, so without a carry a crash and a restart (by
hand or by a supervisor) would give the bot a fresh allowance on a day, or in an hour, it already
lost. The live runner saves ``RiskGate.loss_carry()`` (the day's PnL and the last hour's highs,
each as how far above the session's last PnL it stood and when) to a small JSON file on every
timer tick where it changed and at shutdown; the next session reads it before it connects and
feeds it to the engine as a ``PriorDayPnl`` event, which is recorded like any input, so the
session still replays exactly.

The file is ``[session] day_pnl_file``; its ``venue`` and ``network`` must match the session's
(one file per account: give two bots on two accounts two files). A file that cannot be read or
does not match stops start-up with a message naming it: trading on without the carry would
silently lift the limit. Saving writes a temporary file and renames it, so a crash mid-write
leaves the previous file whole.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from pathlib import Path

import msgspec

from mmcore.errors import MMError
from mmcore.instrument import NANOS

__all__ = ["DayPnlFile", "DayPnlFileError", "SavedDayPnl", "default_day_pnl_path"]


class DayPnlFileError(MMError):
    """The day-PnL file cannot be read, does not match the session, or cannot be written."""


class SavedDayPnl(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The file's content: ``day`` is the UTC day number (days since 1970-01-01), ``pnl`` the
    PnL made on it in nanos of the quote currency; ``date`` and ``pnl_usd`` are for people;
    ``hour_highs`` lists ``[ts, above]``: the PnL stood ``above`` nanos over ``pnl`` at ``ts``
    (within the hour before the save); ``marks`` lists ``[inst, lots, mark_x2]``: each market's
    position and the mark (twice, in ticks) it was last valued at. A file from before either
    was kept has none."""

    venue: str
    network: str
    day: int
    pnl: int
    date: str = ""
    pnl_usd: float = 0.0
    hour_highs: list[tuple[int, int]] = []
    marks: list[tuple[str, int, int]] = []


def default_day_pnl_path(venue: str, network: str) -> Path:
    """Where ``[session] day_pnl_file = ""`` puts it: ``out/day-pnl-<venue>-<network>.json``."""
    return Path("out") / f"day-pnl-{venue}-{network}.json"


class DayPnlFile:
    """Load and save one account's carried day PnL (see the module doc)."""

    def __init__(self, path: str | Path, venue: str, network: str) -> None:
        self.path = Path(path)
        self.venue = venue
        self.network = network

    def load(self) -> SavedDayPnl | None:
        """The saved day PnL, or None when there is no file yet."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DayPnlFileError(f"{self.path}: cannot read the day-PnL file ({exc})") from None
        try:
            saved = msgspec.json.decode(raw, type=SavedDayPnl)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DayPnlFileError(
                f"{self.path}: expected the day PnL saved by an earlier session, found "
                f"unreadable content ({exc}); fix or delete the file (deleting it forgets "
                "today's losses)"
            ) from None
        if (saved.venue, saved.network) != (self.venue, self.network):
            raise DayPnlFileError(
                f"{self.path}: expected the day PnL of {self.venue}/{self.network}, found "
                f"{saved.venue}/{saved.network}'s; set [session] day_pnl_file to a file of "
                "this account"
            )
        return saved

    def save(
        self,
        day: int,
        pnl: int,
        hour_highs: Iterable[tuple[int, int]] = (),
        marks: Iterable[tuple[str, int, int]] = (),
    ) -> None:
        """Replace the file with ``(day, pnl, hour_highs, marks)``, atomically."""
        date = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
        saved = SavedDayPnl(
            venue=self.venue,
            network=self.network,
            day=day,
            pnl=pnl,
            date=date.isoformat(),
            pnl_usd=pnl / NANOS,
            hour_highs=list(hour_highs),
            marks=list(marks),
        )
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(msgspec.json.encode(saved) + b"\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            raise DayPnlFileError(f"{self.path}: cannot save the day PnL ({exc})") from None
