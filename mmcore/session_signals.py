"""The process signals of a live session, from the start of ``LiveRunner.run`` to its return.

- SIGINT and SIGTERM stop the session (every order canceled), from the start of ``run`` until
  its teardown: one that comes during start-up lets the start-up finish (stale orders of an
  earlier session canceled, the account read) and the session then stops at once, the normal
  way, instead of the process dying by the default action with orders left as they were;
- SIGUSR2 halts trading and SIGUSR1 resumes it over the same window. Their default action
  terminates the process, which would lose the end of the log and leave orders working, so
  outside that window (start-up, teardown) they are logged and ignored, and the disposition
  they had before ``run`` comes back only when it returns, with no moment at the default.

This module is an I/O component: it uses asyncio's loop signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["SessionSignals"]

log = logging.getLogger("mmcore.live")

_OPERATOR_SIGNALS = (signal.SIGUSR2, signal.SIGUSR1)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SessionSignals:
    """A session's signal handlers on the running loop; does nothing when not ``enabled``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        # USR1/USR2 dispositions before ``hold`` (put back by ``restore``)
        self._saved: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def hold(self, stop: Callable[[str], None]) -> None:
        """At the start of ``run``: SIGINT/SIGTERM call ``stop`` with the signal's name;
        SIGUSR1/SIGUSR2 are logged and ignored until ``install``, their dispositions kept for
        ``restore``."""
        if not self.enabled:
            return
        loop = asyncio.get_running_loop()
        for stop_sig in _STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, OSError):
                loop.add_signal_handler(stop_sig, stop, stop_sig.name)
        for sig in _OPERATOR_SIGNALS:
            try:
                previous = signal.getsignal(sig)
                loop.add_signal_handler(sig, self._ignored, sig.name, "starting up")
            except (NotImplementedError, RuntimeError, ValueError, OSError):
                continue  # not the main thread, or no signals here: nothing to restore either
            self._saved[sig] = previous

    def install(self, halt: Callable[[str], None], resume: Callable[[str], None]) -> None:
        """Once the session trades: SIGUSR2 calls ``halt`` and SIGUSR1 ``resume``, each with
        the signal's name."""
        if not self.enabled:
            return
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGUSR2, halt, "SIGUSR2")
            loop.add_signal_handler(signal.SIGUSR1, resume, "SIGUSR1")
            log.info(
                "live: pid %d: SIGUSR2 halts trading, SIGUSR1 resumes, SIGINT/SIGTERM stops",
                os.getpid(),
            )

    def release(self, why: str) -> None:
        """At the teardown: SIGINT/SIGTERM back to their own handlers, and the operator's
        signals ignored, never fatal, until ``restore`` (the adapter still closes and the log's
        tail is still written)."""
        if not self.enabled:
            return
        self._release_stop_signals()
        # replaced in place by handlers that log and ignore: no gap in which the default
        # action would apply
        with contextlib.suppress(Exception):
            loop = asyncio.get_running_loop()
            for sig in self._saved:
                loop.add_signal_handler(sig, self._ignored, signal.Signals(sig).name, why)

    def restore(self) -> None:
        """When ``run`` returns: SIGUSR1/SIGUSR2 back to what they were before it, with no
        moment at the default disposition (which terminates). asyncio's
        ``remove_signal_handler`` would set SIG_DFL before the previous disposition could go
        back, and a signal sent to the process then, taken by any thread, would end it; so the
        previous disposition goes in first and the loop then forgets its handler as that method
        would (its table, and the wakeup fd once the table is empty; asyncio 3.10's own)."""
        if self.enabled:
            self._release_stop_signals()  # (already done, unless run failed before its teardown)
        saved = self._saved
        if not saved:
            return
        loop = asyncio.get_running_loop()
        handlers = getattr(loop, "_signal_handlers", None)
        for sig, previous in saved.items():
            try:
                if previous is None:  # set outside Python: the default is all we can name
                    previous = signal.SIG_DFL
                signal.signal(sig, previous)
                if isinstance(handlers, dict):
                    handlers.pop(sig, None)
                else:  # another loop: its public way, with its moment at SIG_DFL
                    loop.remove_signal_handler(sig)
                    signal.signal(sig, previous)
            except (RuntimeError, ValueError, OSError) as exc:
                log.warning("live: could not restore %s: %s", signal.Signals(sig).name, exc)
        saved.clear()
        if isinstance(handlers, dict) and not handlers:
            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(-1)

    @staticmethod
    def _release_stop_signals() -> None:
        with contextlib.suppress(Exception):
            loop = asyncio.get_running_loop()
            for stop in _STOP_SIGNALS:
                loop.remove_signal_handler(stop)

    @staticmethod
    def _ignored(name: str, why: str) -> None:
        log.warning("live: %s ignored: %s", name, why)
