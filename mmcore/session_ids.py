"""What makes a live session's client order ids and log file its own.

A live session takes a prefix from its start time (``session_prefix``: base 36 of the time in
ms), puts it into the order manager's and the risk gate's id prefixes (``with_client_prefix``:
``mm<prefix>`` and ``rk<prefix>``) and, when the log path names a folder, into the log's file
name (``session_log_path``). The prefix is written to the log's header with the config, so a
replay reproduces every id; ``mmcore.client_ids.is_live_session_id`` recognises these ids on the
venue after a restart.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from mmcore.config import AppConfig

__all__ = ["session_log_path", "session_prefix", "with_client_prefix"]

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def session_prefix(now_ns: int) -> str:
    """Base 36 of ``now_ns`` in milliseconds: sessions started 1 ms apart never share ids."""
    n = now_ns // 1_000_000
    digits = []
    while True:
        n, r = divmod(n, 36)
        digits.append(_B36[r])
        if not n:
            return "".join(reversed(digits))


def with_client_prefix(config: AppConfig, prefix: str) -> AppConfig:
    """``config`` with the order manager's and the risk gate's ids made unique to a session."""
    replace = msgspec.structs.replace
    return replace(
        config,
        orders=replace(config.orders, client_id_prefix=f"mm{prefix}"),
        risk=replace(config.risk, client_id_prefix=f"rk{prefix}"),
    )


def session_log_path(path: str | Path, prefix: str) -> Path:
    """``path``, or ``path/session-<prefix>.mmlog`` when it names a directory; parents made."""
    p = Path(path)
    if p.is_dir() or str(path).endswith(("/", "\\")):
        p = p / f"session-{prefix}.mmlog"
    p.parent.mkdir(parents=True, exist_ok=True)
    return p
