"""SIGUSR1/SIGUSR2 (the operator's resume and halt) never terminate a session: before the
runner's handlers are installed and after they are removed they are logged and ignored, so the
adapter still closes and the log's tail is written; their earlier disposition comes back when
``run`` returns."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest
from fake_venue import InstantVenue, simple_session

from mmcore.events import ConnectionState, OrderCanceled
from mmcore.log import open_log
from replay.verify import verify_log

ROOT = Path(__file__).resolve().parents[2]


def make_venue(on_start: Callable[[], None], on_close: Callable[[], None]) -> InstantVenue:
    """A venue whose ``start`` and ``close`` run these, then let the loop deliver signals."""
    return InstantVenue(on_start, on_close, pause_s=0.2)


async def session(path: Path, venue: InstantVenue, handle_signals: bool = True) -> None:
    await simple_session(path, venue, handle_signals)


def _kill_self() -> None:
    import os

    os.kill(os.getpid(), signal.SIGUSR2)
    os.kill(os.getpid(), signal.SIGUSR1)


CHILD = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {root!r})
sys.path.insert(0, {root!r} + "/tests/live")
from test_live_signals_teardown import _kill_self, make_venue, session
phase = sys.argv[2]
venue = make_venue(_kill_self if phase == "start" else (lambda: None),
              _kill_self if phase == "close" else (lambda: None))
asyncio.run(session(Path(sys.argv[1]), venue))
print("session ended; adapter closed:", venue.closed)
"""


@pytest.mark.parametrize("phase", ["start", "close"])
def test_sigusr2_and_sigusr1_while_starting_up_or_closing_do_not_kill_the_session(
    tmp_path: Path, phase: str
) -> None:
    path = tmp_path / "s.mmlog"
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT)), str(path), phase],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert child.returncode == 0, (child.returncode, child.stdout, child.stderr)
    assert "adapter closed: True" in child.stdout
    assert "SIGUSR2 ignored" in child.stderr and "SIGUSR1 ignored" in child.stderr
    records = list(open_log(path, repair=False))  # closed cleanly: no torn tail to repair
    controls = [r.state for r in records if type(r) is ConnectionState and r.stream == "session"]
    assert controls == ["stopping"]  # neither signal halted nor resumed anything
    assert any(type(r) is OrderCanceled for r in records)
    verdict = verify_log(path)
    assert verdict.ok, verdict.divergence.describe() if verdict.divergence else verdict


def test_the_earlier_disposition_of_sigusr1_and_sigusr2_comes_back_when_run_returns(
    tmp_path: Path,
) -> None:
    seen: list[int] = []

    def mine(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    before = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2)}
    signal.signal(signal.SIGUSR2, mine)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    try:
        venue = make_venue(lambda: None, lambda: None)
        asyncio.run(session(tmp_path / "r.mmlog", venue))
        assert signal.getsignal(signal.SIGUSR2) is mine
        assert signal.getsignal(signal.SIGUSR1) is signal.SIG_IGN
        signal.raise_signal(signal.SIGUSR2)
        assert seen == [signal.SIGUSR2]
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def test_without_handle_signals_the_runner_leaves_every_disposition_alone(
    tmp_path: Path,
) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2)}
    seen: list[object] = []

    def on_start() -> None:
        seen.extend(signal.getsignal(s) for s in before)

    venue = make_venue(on_start, lambda: None)
    asyncio.run(session(tmp_path / "n.mmlog", venue, handle_signals=False))
    assert seen == list(before.values())
    assert {s: signal.getsignal(s) for s in before} == before


def test_restoring_the_operator_signals_never_passes_through_the_default_disposition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIG_DFL terminates: were it set for a moment while run returns, a SIGUSR1 sent to the
    process then (taken by any thread) would end it."""

    def mine(signum: int, frame: FrameType | None) -> None:
        pass

    set_to: list[tuple[int, object]] = []
    real = signal.signal

    def recording(sig: int, handler: object) -> object:
        set_to.append((sig, handler))
        return real(sig, handler)  # type: ignore[arg-type]

    before = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2)}
    real(signal.SIGUSR1, mine)
    real(signal.SIGUSR2, mine)
    try:
        monkeypatch.setattr(signal, "signal", recording)
        asyncio.run(session(tmp_path / "r.mmlog", make_venue(lambda: None, lambda: None)))
        monkeypatch.undo()
        usr = [(s, h) for s, h in set_to if s in (signal.SIGUSR1, signal.SIGUSR2)]
        assert usr and all(h is not signal.SIG_DFL for _, h in usr), usr
        assert signal.getsignal(signal.SIGUSR1) is mine  # the loop's close left it alone
        assert signal.getsignal(signal.SIGUSR2) is mine
    finally:
        for s, handler in before.items():
            real(s, handler)


KILLED_WHILE_CLOSING = """
import asyncio, os, signal, sys
from pathlib import Path
sys.path.insert(0, {root!r})
sys.path.insert(0, {root!r} + "/tests/live")
from test_live_signals_teardown import make_venue, session
venue = make_venue(lambda: None, lambda: os.kill(os.getpid(), signal.SIGKILL))
asyncio.run(session(Path(sys.argv[1]), venue, handle_signals=False))
"""


def test_a_kill_while_the_adapter_closes_keeps_the_shutdown_in_the_log(tmp_path: Path) -> None:
    """The process is killed while the adapter closes (a supervisor's SIGKILL, a second Ctrl-C):
    the stop, its CancelAll and the venue's confirmations are in the log all the same. They
    were held in the writer's buffer until after the close, and the log ended before the stop."""
    path = tmp_path / "k.mmlog"
    child = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_CLOSING.format(root=str(ROOT)), str(path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stdout, child.stderr)
    records = list(open_log(path, repair=False))
    controls = [r.state for r in records if type(r) is ConnectionState and r.stream == "session"]
    assert controls == ["stopping"]
    assert any(type(r) is OrderCanceled for r in records)
    verdict = verify_log(path)
    assert verdict.ok, verdict.divergence.describe() if verdict.divergence else verdict
