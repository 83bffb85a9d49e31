"""Every shipped config loads, and every strategy runs in the engine from its config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmcore.commands import Place
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter, open_log
from replay.backtest import run_backtest
from replay.session import load_session, resolve_instruments
from replay.synthetic import MarketSpec, generate_market

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))
SIM_CONFIGS = [p for p in CONFIGS if 'venue = "sim"' in p.read_text()]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    config = load_session(path)
    assert config.session.markets


def test_there_is_a_runnable_config_for_every_strategy() -> None:
    names = {load_session(p).strategy.name for p in SIM_CONFIGS}
    assert {"simple", "avellaneda_stoikov", "ping_pong", "symmetric_uptime"} <= names


@pytest.mark.parametrize("path", SIM_CONFIGS, ids=lambda p: p.name)
def test_each_strategy_quotes_from_its_config_on_the_simulated_venue(
    path: Path, tmp_path: Path
) -> None:
    """As its comment says to run it: ``mm backtest`` over a data log of its market, with the
    spec ``mm import`` gives such data (the example configs used to declare another and were
    refused)."""
    config = load_session(path)
    symbol = config.session.markets[0]
    spec = Instrument(venue="binance", symbol=symbol, tick_size="0.1", lot_size="0.001")
    data = tmp_path / "data.mmlog"
    header = LogHeader(format_version=FORMAT_VERSION, code_version="test", instruments=[spec],
                       config={}, created_ns=0, meta={})
    with LogWriter(data, header, fsync="never") as writer:
        writer.append_many(generate_market(MarketSpec(inst=symbol), 20_000, seed=5))
    out = tmp_path / "s.mmlog"
    result = run_backtest(config, [data], out, progress=None)
    assert result.run.commands > 0
    places = [r for r in open_log(out) if isinstance(r, Place)]
    assert places, f"{path.name}: no order placed"
    inst = resolve_instruments(config, {symbol: spec})[symbol]
    assert all(p.size >= inst.min_lots for p in places)


@pytest.mark.parametrize(
    ("line", "bad", "message"),
    [
        ("[sim]", "[sim]\nbogus = 1", "<cfg>: sim.bogus: unknown key"),
        ('queue_model = "risk_averse"', 'queue_model = "fifo"', "<cfg>: sim.queue_model: "),
        ("entry_latency_ms = 5.0", 'entry_latency_ms = "x"',
         "<cfg>: sim.entry_latency_ms: Expected `float"),
    ],
)
def test_a_bad_sim_value_is_named_once_with_its_table(line: str, bad: str, message: str) -> None:
    from mmcore.config import parse_config
    from mmcore.errors import ConfigError
    from replay.session import check_components

    text = (Path(__file__).resolve().parents[1] / "configs" / "backtest.toml").read_text()
    assert line in text
    config = parse_config(text.replace(line, bad, 1), "<cfg>")
    with pytest.raises(ConfigError) as info:
        check_components(config, "<cfg>")
    assert str(info.value).startswith(message), str(info.value)
    assert "sim: sim." not in str(info.value)
