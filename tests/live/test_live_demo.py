"""``mm demo``: the live path against the in-process emulator, shortened to a few seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmcore.cli.live_demo import quote_uptime, run_live_demo
from mmcore.log import open_log


def test_the_live_demo_stops_clean_verifies_its_log_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_live_demo(tmp_path, seconds=3.0, seed=1)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "the emulator holds no open order of ours" in out
    assert "replay verified" in out and "two-sided quote uptime" in out
    assert "PnL" in out and "spread" in out and "funding" in out
    log_path = tmp_path / "demo-live.mmlog"
    assert open_log(log_path, repair=False).header.meta["mode"] == "demo"
    uptime = quote_uptime(log_path)["BTC-USD"]
    assert 0.0 < uptime < 1.0  # quoting starts after warm-up and stops at shutdown
