"""Deterministic client order ids: a prefix and a counter, never a clock or a random draw.

The order manager and the risk gate each own one ``ClientIds``. Ids are ``f"{prefix}-{n}"`` with
``n`` counting from 1, so replaying the same event stream through a fresh engine reproduces every
id exactly, and no id is handed out twice by one source. Uniqueness across sessions is the job of
the prefix, which the runner makes per-session.
"""

from __future__ import annotations

import re

from mmcore.errors import MMError

__all__ = ["BadClientIdPrefix", "ClientIds", "check_prefix", "is_live_session_id"]

_LIVE_SESSION_ID = re.compile(r"(?:mm|rk)[0-9a-z]+-[1-9][0-9]*")
"""The ids a live session gives its orders: ``mm<prefix>-<n>`` from its order manager and
``rk<prefix>-<n>`` from its risk gate, the prefix being base 36 of its start time in ms
(``mmcore.session_ids.session_prefix`` and ``with_client_prefix``)."""

_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
MAX_PREFIX = 24
"""Longest prefix accepted; with a counter the id stays within venues' 32-36 character limits."""


class BadClientIdPrefix(MMError, ValueError):
    """A client id prefix is empty, too long or has characters venues refuse."""


def check_prefix(prefix: str, where: str) -> None:
    """Raise ``BadClientIdPrefix`` naming ``where`` unless ``prefix`` is a usable id prefix."""
    if not prefix or len(prefix) > MAX_PREFIX or not set(prefix) <= _ALLOWED:
        raise BadClientIdPrefix(
            f"{where}: expected 1-{MAX_PREFIX} characters of [A-Za-z0-9-_.], found {prefix!r}"
        )


def is_live_session_id(client_id: str) -> bool:
    """Whether ``client_id`` has the shape of a live session's order id (this session's or an
    earlier one's): how a venue adapter tells a stale order of ours, left by a session that
    ended without canceling it, from an order someone else placed on the same account."""
    return _LIVE_SESSION_ID.fullmatch(client_id) is not None


class ClientIds:
    """Hands out ``prefix-1``, ``prefix-2``, ... in order."""

    __slots__ = ("_head", "issued")

    def __init__(self, prefix: str) -> None:
        check_prefix(prefix, "ClientIds.prefix")
        self._head = prefix + "-"
        self.issued = 0

    def next(self) -> str:
        """The next unused id."""
        self.issued += 1
        return self._head + str(self.issued)
