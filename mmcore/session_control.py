"""Events a runner feeds the engine to control the session: stop, and the operator's halt/resume.

They are ``ConnectionState`` events of the ``session`` stream, so they are recorded in the log
like any other input and a replay takes the same decisions at the same moments:

- ``stop_event``: the session ends; the engine answers ``CancelAll("")`` and takes no new intent;
- ``halt_event``: the operator halts trading; the risk gate cancels every order and lets only
  cancels and reduce-only orders out until a resume (code ``operator_halt``);
- ``resume_event``: the operator lifts every halt (``RiskGate.resume``); tripped limits re-arm,
  and quoting comes back at the next re-quote of the standing intents (the next timer at latest).
"""

from __future__ import annotations

from mmcore.events import ConnectionState

__all__ = [
    "HALT",
    "RESUME",
    "SESSION_STREAM",
    "STOPPING",
    "halt_event",
    "resume_event",
    "stop_event",
]

SESSION_STREAM = "session"
STOPPING = "stopping"
HALT = "halt"
RESUME = "resume"


def stop_event(now: int, reason: str = "shutdown") -> ConnectionState:
    """The event a runner feeds the engine to end a session."""
    return ConnectionState(now, now, SESSION_STREAM, STOPPING, reason)


def halt_event(now: int, reason: str = "operator") -> ConnectionState:
    """The operator halts trading (every market) until a ``resume_event``."""
    return ConnectionState(now, now, SESSION_STREAM, HALT, reason)


def resume_event(now: int, reason: str = "operator") -> ConnectionState:
    """The operator lifts every halt."""
    return ConnectionState(now, now, SESSION_STREAM, RESUME, reason)
