"""The account a live session trades, as the files kept per account name it.

Some state belongs to an account, not to a session: the day's PnL that the loss limits carry
across restarts (``mmcore.day_pnl``) and the lock that keeps a second session off the account
(``mmcore.account_lock``). Both are named by venue, network and the account's id at the venue
(``VenueAdapter.account_id``: Extended's vault), so two accounts never share one. The id is an
identifier, not a secret (never a key), and may be shown in messages and file names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["account_file_stem", "account_label", "state_dir"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
"""What may not appear in a file name built from an account id (an emulator's ``host:port``)."""


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where what is kept per account lives: ``$XDG_STATE_HOME/mmengine``, or
    ``~/.local/state/mmengine`` when that is unset or not absolute (the XDG base directory
    rule). Every session of one user on the machine finds the same directory, whatever its
    working directory: a restart from elsewhere must find the same lock and the same day PnL."""
    env = os.environ if environ is None else environ
    state = env.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "mmengine"


def account_label(venue: str, network: str, account: str) -> str:
    """``venue/network/account``, e.g. ``extended/mainnet/10001``: the account in messages."""
    return f"{venue}/{network}/{account}"


def account_file_stem(venue: str, network: str, account: str) -> str:
    """``venue-network-account`` with every character a file name should not hold replaced by
    ``_`` (``10001@127.0.0.1:8080`` → ``10001_127.0.0.1_8080``). Two ids that differ only there
    would share a name, which can only refuse a start-up, never mix them: the second
    session's lock is refused, and the day-PnL file records its account and refuses another."""
    return _UNSAFE.sub("_", f"{venue}-{network}-{account}")
