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

The file is ``[session] day_pnl_file``, by default ``default_day_pnl_path``: one per venue,
network and account (the adapter's ``account_id``, Extended's vault), so two accounts never
share it, in the user's state directory (``mmcore.account.state_dir``, beside the account's
lock), so that a restart from another working directory finds it: a default relative to the
working directory would give such a restart a fresh allowance. It records all three, and they
must match the session's: a file of another account would halt this one for that one's losses,
or lift its limit by that one's gains. A file that cannot be read or does not match stops
start-up with a message naming it: trading on without the carry would silently lift the limit.

Saving writes a temporary file, syncs it to disk, renames it and syncs the directory, so a crash
at any point leaves the previous file or the new one whole (a rename not synced first can come
back from a crash as an empty or zero-filled file, which would stop the next start-up until
deleted, forgetting today's losses). One session per account writes it: ``mm run`` holds the
account's lock, ``mmcore.account_lock``.

The default used to be ``out/day-pnl-<venue>-<network>-<account>.json``, relative to the
working directory (``earlier_day_pnl_path``): when the state directory holds no file yet, or one
saved before it (a version rolled back for a while saves there), that one is read (it names its
account, which is checked as always) and the next save goes to the new place, so an upgrade,
and a rollback and upgrade again, keep the day's losses.

A file saved before files named their account has no ``account``. At the path the session
was given it is taken as this account's (and the next save names the account): that path was
chosen for this account (the documentation said one file per account), and refusing it would
leave the operator one easy way on, deleting it, which forgets today's losses. The old default
path (``shared_day_pnl_path``, without the account) was every account's on the venue and
network, so it holds the PnL of whichever saved last: when the session's own default file does
not exist yet and that one does, start-up stops and says to rename it to the file of the account
that saved it (the operator knows which; the file does not). Read silently, another account's
PnL would count here; left unread, the losses made before the upgrade would be forgotten.

Each market's position and last mark are integers (lots and half ticks), so the file saves with
them the ``tick_size`` and ``lot_size`` they are counted in (``saved_marks``): the next session's
instruments come fresh from the venue, which may have changed either in between, and the same
integers read in new units would be another position at another price (a tick refined from 1 to
0.1 would turn an unchanged 1 BTC long at $60,000 into $54,000 of PnL). ``carried_marks`` puts
each saved mark into the session's units, exactly, before it goes into the ``PriorDayPnl``
event; a mark that does not land on the new grid is left out, with a reason the runner logs.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Mapping
from decimal import Context, Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

import msgspec

from mmcore.account import account_file_stem, account_label, state_dir
from mmcore.errors import MMError
from mmcore.instrument import NANOS, Instrument, OffGridError

__all__ = [
    "DayPnlFile",
    "DayPnlFileError",
    "SavedDayPnl",
    "SavedMark",
    "carried_marks",
    "default_day_pnl_path",
    "earlier_day_pnl_path",
    "saved_marks",
    "shared_day_pnl_path",
]

_EXACT = Context(prec=200)
"""Wide enough that a position or a price shown in a message is exact."""


class DayPnlFileError(MMError):
    """The day-PnL file cannot be read, does not match the session, or cannot be written."""


class SavedMark(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """One market's position, ``lots`` of ``lot_size``, and the mark it was last valued at,
    ``mark_x2`` half ticks of ``tick_size`` (both as the venue published them): saved with the
    integers because only the spec says what they mean. A file from before the spec was saved
    has neither (``[inst, lots, mark_x2]``, empty strings here): ``in_units`` reads its integers
    in the session's units, as that version did. Such a file is the last session's before an
    upgrade, and its next save adds the spec: dropping its marks would lose every market's
    bridge on each such restart, while only a spec change at that very restart misreads them.
    Anything but both or neither as positive decimals is refused: the file is then unreadable
    (start-up stops naming it), not silently misread."""

    inst: str
    lots: int
    mark_x2: int
    tick_size: str = ""
    lot_size: str = ""

    def __post_init__(self) -> None:
        if not (self.tick_size or self.lot_size):
            return
        if not (_positive(self.tick_size) and _positive(self.lot_size)):
            raise ValueError(
                f"{self.inst}: expected the tick_size and lot_size the mark is in as positive "
                f"decimals (or neither), found {self.tick_size!r} and {self.lot_size!r}"
            )

    def in_units(self, instrument: Instrument) -> tuple[str, int, int]:
        """``(inst, lots, mark_x2)`` in ``instrument``'s units, the same position and price
        exactly; raises ``OffGridError`` when either is not a whole number of them (a coarser
        lot or tick than the saved one), which no rounding may paper over: it would count a
        position or a price move that never happened."""
        if not self.tick_size:
            return (self.inst, self.lots, self.mark_x2)
        lots = _rescale(self.lots, self.lot_size, instrument.lot_size)
        if lots is None:
            raise OffGridError(
                f"{self.inst}: expected a position that is a whole number of this session's "
                f"lots of {instrument.lot_size}, found {_times(self.lots, self.lot_size)} "
                f"({self.lots} lots of {self.lot_size})"
            )
        mark_x2 = _rescale(self.mark_x2, self.tick_size, instrument.tick_size)
        if mark_x2 is None:
            price = _EXACT.divide(_times(self.mark_x2, self.tick_size), 2)
            raise OffGridError(
                f"{self.inst}: expected a mark on this session's half ticks of "
                f"{instrument.tick_size}, found {price} (mark_x2 {self.mark_x2} in ticks of "
                f"{self.tick_size})"
            )
        return (self.inst, lots, mark_x2)


def _positive(text: str) -> bool:
    """True when ``text`` is a finite decimal above 0."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return False
    return value.is_finite() and value > 0


def _rescale(count: int, unit: str, new_unit: str) -> int | None:
    """``count`` units of ``unit`` as a whole number of ``new_unit``, or None when it is not."""
    scaled = count * Fraction(Decimal(unit)) / Fraction(Decimal(new_unit))
    return scaled.numerator if scaled.denominator == 1 else None


def _times(count: int, unit: str) -> Decimal:
    """``count`` units of ``unit``, exactly (for messages)."""
    return _EXACT.multiply(Decimal(count), Decimal(unit))


def saved_marks(
    marks: Iterable[tuple[str, int, int]], instruments: Mapping[str, Instrument]
) -> list[SavedMark]:
    """The risk gate's ``(inst, lots, mark_x2)`` (``LossCarry.marks``), each with the spec of
    its instrument in ``instruments`` (the session's), which its integers are in. A market
    with no spec there raises ``DayPnlFileError`` before anything is written: saved without
    one, its mark would be read in whatever units the next session has."""
    out: list[SavedMark] = []
    for inst, lots, mark_x2 in marks:
        spec = instruments.get(inst)
        if spec is None:
            raise DayPnlFileError(
                f"{inst}: cannot save its mark: expected the spec of one of this session's "
                f"markets {sorted(instruments)}, found none"
            )
        out.append(SavedMark(inst, lots, mark_x2, spec.tick_size, spec.lot_size))
    return out


def carried_marks(
    marks: Iterable[SavedMark], instruments: Mapping[str, Instrument]
) -> tuple[tuple[tuple[str, int, int], ...], list[str]]:
    """The saved marks in the session's units, for ``PriorDayPnl.marks``, and why each one left
    out was (for the runner's log). A market this session does not trade is left out silently
    (the risk gate would ignore it). One whose position or mark does not land on the session's
    grid is left out with its reason: the day's PnL carried stays whole, only the bridge for
    that market is lost, i.e. what its position made from that mark until the session first
    values it is counted as 0 (rather than as a move that never happened)."""
    kept: list[tuple[str, int, int]] = []
    dropped: list[str] = []
    for mark in marks:
        spec = instruments.get(mark.inst)
        if spec is None:
            continue
        try:
            kept.append(mark.in_units(spec))
        except OffGridError as exc:
            dropped.append(
                f"{exc}; the last session's mark is dropped: what the position made from it "
                "until this session values it is not counted (the day's PnL carried still is)"
            )
    return tuple(kept), dropped


class SavedDayPnl(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The file's content: ``account`` is the account's id at the venue (its vault on
    Extended; "" in a file saved before it was recorded), ``day`` is the UTC day number (days
    since 1970-01-01), ``pnl`` the PnL made on it in nanos of the quote currency; ``date`` and
    ``pnl_usd`` are for people; ``hour_highs`` lists ``[ts, above]``: the PnL stood ``above``
    nanos over ``pnl`` at ``ts`` (within the hour before the save); ``marks`` lists ``[inst,
    lots, mark_x2, tick_size, lot_size]`` (``SavedMark``): each market's position and the mark
    (twice, in ticks) it was last valued at, in the units the spec says. A file from before the
    hour's highs or the marks were kept has none; one from before the spec was saved has
    ``[inst, lots, mark_x2]``."""

    venue: str
    network: str
    account: str = ""
    day: int
    pnl: int
    date: str = ""
    pnl_usd: float = 0.0
    hour_highs: list[tuple[int, int]] = []
    marks: list[SavedMark] = []


def default_day_pnl_path(
    venue: str, network: str, account: str, environ: Mapping[str, str] | None = None
) -> Path:
    """Where ``[session] day_pnl_file = ""`` puts it, one per account, in the state directory:
    ``<state_dir>/day-pnl/<venue>-<network>-<account>.json`` (``mmcore.account``)."""
    return state_dir(environ) / "day-pnl" / f"{account_file_stem(venue, network, account)}.json"


def earlier_day_pnl_path(venue: str, network: str, account: str) -> Path:
    """The default before it moved to the state directory, relative to the working directory:
    ``out/day-pnl-<venue>-<network>-<account>.json`` (see the module doc)."""
    return Path("out") / f"day-pnl-{account_file_stem(venue, network, account)}.json"


def shared_day_pnl_path(venue: str, network: str) -> Path:
    """The default before it named the account, ``out/day-pnl-<venue>-<network>.json``, which
    every account on the venue and network shared (see the module doc)."""
    return Path("out") / f"day-pnl-{venue}-{network}.json"


class DayPnlFile:
    """Load and save one account's carried day PnL (see the module doc). Given when ``path`` is
    the default, and looked at only when it does not exist: ``earlier``, the default before it
    moved to the state directory, read in its place; ``shared``, the default before it named the
    account, which stops start-up."""

    def __init__(
        self,
        path: str | Path,
        venue: str,
        network: str,
        account: str,
        *,
        earlier: str | Path | None = None,
        shared: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.venue = venue
        self.network = network
        self.account = account
        self.earlier = None if earlier is None else Path(earlier)
        self.shared = None if shared is None else Path(shared)

    @property
    def label(self) -> str:
        """The account, ``venue/network/account``, as messages name it."""
        return account_label(self.venue, self.network, self.account)

    def load(self) -> SavedDayPnl | None:
        """The saved day PnL, or None when there is no file yet. With both the file and the
        earlier default, the one saved last is read: a version rolled back for a while saves
        to the earlier one only."""
        path = self.path
        if self.earlier is not None and _saved_after(self.earlier, path):
            path = self.earlier  # (also when the file does not exist yet)
        saved = self._read(path)
        if saved is None:
            self._check_shared()
        return saved

    def _read(self, path: Path) -> SavedDayPnl | None:
        """The day PnL in ``path``, checked to be this account's; None when it does not exist."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DayPnlFileError(f"{path}: cannot read the day-PnL file ({exc})") from None
        try:
            saved = msgspec.json.decode(raw, type=SavedDayPnl)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DayPnlFileError(
                f"{path}: expected the day PnL saved by an earlier session, found "
                f"unreadable content ({exc}); fix or delete the file (deleting it forgets "
                "today's losses)"
            ) from None
        found = (saved.venue, saved.network, saved.account or self.account)  # "": an old file
        if found != (self.venue, self.network, self.account):
            whose = f"{saved.venue}/{saved.network}"  # a file from before the account
            if saved.account:
                whose = account_label(saved.venue, saved.network, saved.account)
            raise DayPnlFileError(
                f"{path}: expected the day PnL of {self.label}, found {whose}'s; set "
                '[session] day_pnl_file to a file of this account (or to "": one per account)'
            )
        return saved

    def _check_shared(self) -> None:
        """Stop start-up when the old shared default exists and this account's file does not
        (see the module doc): the operator says whose it is."""
        shared = self.shared
        if shared is None or not shared.exists():
            return
        raise DayPnlFileError(
            f"{self.path}: expected this account's day-PnL file or none at all, found only "
            f"{shared}, the default before it named the account, which every account on "
            f"{self.venue}/{self.network} shared: it holds the PnL of the account that saved "
            "it last (maybe today's losses); rename it to that account's file (this "
            f"account's, {self.label}, is {self.path})"
        )

    def save(
        self,
        day: int,
        pnl: int,
        hour_highs: Iterable[tuple[int, int]] = (),
        marks: Iterable[SavedMark] = (),
    ) -> None:
        """Replace the file with ``(day, pnl, hour_highs, marks)``, atomically; ``saved_marks``
        gives the marks with their spec."""
        date = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
        saved = SavedDayPnl(
            venue=self.venue,
            network=self.network,
            account=self.account,
            day=day,
            pnl=pnl,
            date=date.isoformat(),
            pnl_usd=pnl / NANOS,
            hour_highs=list(hour_highs),
            marks=list(marks),
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _replace_durably(self.path, msgspec.json.encode(saved) + b"\n")
        except OSError as exc:
            raise DayPnlFileError(f"{self.path}: cannot save the day PnL ({exc})") from None


def _saved_after(a: Path, b: Path) -> bool:
    """Whether file ``a`` exists and was written after ``b`` (or ``b`` does not exist)."""
    try:
        mine = a.stat().st_mtime_ns
    except OSError:
        return False
    try:
        return mine > b.stat().st_mtime_ns
    except OSError:
        return True


def _replace_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash at any point leaves the old content or
    the new one: write a temporary file beside it, sync it, rename it over ``path``, then sync
    the directory so the rename itself survives."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
