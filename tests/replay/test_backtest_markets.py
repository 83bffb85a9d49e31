"""mm backtest of several markets: each market trades as it does alone, on its own clock."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.commands import Cancel, CancelAll, Place
from mmcore.config import AppConfig, parse_config
from mmcore.events import (
    BookDelta,
    BookSnapshot,
    Fill,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    Trade,
)
from mmcore.instrument import Instrument
from mmcore.log import FORMAT_VERSION, LogHeader, LogWriter, open_log
from replay.backtest import run_backtest
from replay.synthetic import MarketSpec, generate_market

MS = 1_000_000
T0 = 1_700_000_000_000_000_000
BTC = Instrument(venue="sim", symbol="BTC-USD", tick_size="0.1", lot_size="0.001",
                 min_size="0.001")
ETH = Instrument(venue="sim", symbol="ETH-USD", tick_size="0.01", lot_size="0.01",
                 min_size="0.01")
TRADING = (Place, Cancel, CancelAll, OrderAccepted, OrderRejected, OrderCanceled, Fill)


# ---------------------------------------------------------------- factories


def make_config(*markets: str) -> AppConfig:
    """A simple quoter on ``markets``, tight enough to trade often on the generated data."""
    listed = ", ".join(f'"{m}"' for m in markets)
    return parse_config(f"""
[session]
venue = "sim"
markets = [{listed}]
seed = 7
timer_interval_ms = 1000
[strategy]
name = "simple"
[strategy.params]
spread_bps = 0.2
requote_bps = 0.1
size_lots = 10
[orders]
replace_threshold_bps = 0.1
max_open_orders = 4
[risk]
max_position_lots = 100
max_open_orders = 4
price_band_bps = 200
[sim]
entry_latency_ms = 2.0
response_latency_ms = 2.0
maker_fee = "-0.00002"
taker_fee = "0.0005"
""")


def make_data_log(path: Path, events: list[Any], *insts: Instrument) -> Path:
    """A market-data log of ``insts`` (as ``mm import`` writes one) holding ``events``."""
    header = LogHeader(format_version=FORMAT_VERSION, code_version="test",
                       instruments=list(insts), config={}, created_ns=0, meta={})
    with LogWriter(path, header, fsync="never") as writer:
        writer.append_many(events)
    return path


def make_market(inst: Instrument, count: int, seed: int, *, feed_ns: int, start_ns: int = T0,
                step_ns: int = 2 * MS, start_mid: int = 600_000) -> list[Any]:
    """``count`` generated events of ``inst`` received ``feed_ns`` after they happened
    (negative: a recorder whose clock runs behind the exchange's)."""
    spec = MarketSpec(inst=inst.symbol, start_mid=start_mid, step_ns=step_ns,
                      latency_ns=feed_ns, start_ns=start_ns)
    return list(generate_market(spec, count, seed))


def trading(log: Path, inst: str) -> list[tuple[Any, ...]]:
    """The commands and account events of ``inst`` in ``log``, in order. Client ids are renamed
    in order of first appearance (the engine numbers them across markets) and fills' trade ids
    left out (the venue numbers fills across markets)."""
    names: dict[str, str] = {}
    out: list[tuple[Any, ...]] = []
    for record in open_log(log):
        if type(record) not in TRADING or record.inst != inst:  # type: ignore[union-attr]
            continue
        fields = msgspec.structs.asdict(record)  # type: ignore[arg-type]
        if "client_id" in fields:
            fields["client_id"] = names.setdefault(fields["client_id"], f"#{len(names)}")
        fields.pop("trade_id", None)
        out.append((type(record).__name__, *fields.items()))
    return out


def backtest(tmp_path: Path, name: str, markets: tuple[str, ...], data: list[Path]) -> Path:
    out = tmp_path / f"bt-{name}.mmlog"
    run_backtest(make_config(*markets), list(data), out, progress=None)
    return out


# ---------------------------------------------------------------- the reviewer's case


def test_a_market_trades_the_same_beside_a_market_whose_feed_is_faster(tmp_path: Path) -> None:
    # ETH's feed is 7 ms late, BTC's 1 ms: merged by receive time, a BTC event that happened
    # later used to hold older ETH events back from the venue, and the venue stamped ETH's fills
    # with BTC's time. ETH's data outlasts BTC's, so the two-market session ends when ETH's does.
    btc = make_data_log(tmp_path / "btc.mmlog", make_market(BTC, 3000, 1, feed_ns=1 * MS), BTC)
    eth_events = make_market(ETH, 3000, 2, feed_ns=7 * MS, step_ns=3 * MS,
                             start_ns=T0 + MS // 2, start_mid=300_000)
    eth = make_data_log(tmp_path / "eth.mmlog", eth_events, ETH)
    alone = trading(backtest(tmp_path, "eth", ("ETH-USD",), [eth]), "ETH-USD")
    assert sum(1 for kind, *_ in alone if kind == "Fill") >= 10
    both = backtest(tmp_path, "both", ("BTC-USD", "ETH-USD"), [btc, eth])
    assert trading(both, "ETH-USD") == alone
    swapped = backtest(tmp_path, "swapped", ("BTC-USD", "ETH-USD"), [eth, btc])
    assert trading(swapped, "ETH-USD") == alone


def test_each_markets_fills_carry_that_markets_time(tmp_path: Path) -> None:
    btc_events = make_market(BTC, 3000, 1, feed_ns=1 * MS)
    eth_events = make_market(ETH, 3000, 2, feed_ns=7 * MS, step_ns=3 * MS,
                             start_ns=T0 + MS // 2, start_mid=300_000)
    btc = make_data_log(tmp_path / "btc.mmlog", btc_events, BTC)
    eth = make_data_log(tmp_path / "eth.mmlog", eth_events, ETH)
    times = {
        "BTC-USD": {e.ts for e in btc_events if type(e) in (BookDelta, Trade, BookSnapshot)},
        "ETH-USD": {e.ts for e in eth_events if type(e) in (BookDelta, Trade, BookSnapshot)},
    }
    assert not times["BTC-USD"] & times["ETH-USD"]  # so a fill's time tells its market
    fills = [r for r in open_log(backtest(tmp_path, "both", ("BTC-USD", "ETH-USD"), [btc, eth]))
             if type(r) is Fill]
    makers = [f for f in fills if f.maker]
    assert {f.inst for f in makers} == {"BTC-USD", "ETH-USD"}
    assert [f for f in makers if f.ts not in times[f.inst]] == []  # the event that filled it


def test_a_log_of_two_markets_backtests_as_the_two_markets_logs_do(tmp_path: Path) -> None:
    btc_events = make_market(BTC, 1500, 1, feed_ns=1 * MS)
    eth_events = make_market(ETH, 1500, 2, feed_ns=7 * MS, step_ns=3 * MS,
                             start_ns=T0 + MS // 2, start_mid=300_000)
    merged = sorted(btc_events + eth_events, key=lambda e: e.ts_recv)
    one = make_data_log(tmp_path / "one.mmlog", merged, BTC, ETH)
    btc = make_data_log(tmp_path / "btc.mmlog", btc_events, BTC)
    eth = make_data_log(tmp_path / "eth.mmlog", eth_events, ETH)
    markets = ("BTC-USD", "ETH-USD")
    from_one = backtest(tmp_path, "from-one", markets, [one])
    from_two = backtest(tmp_path, "from-two", markets, [btc, eth])
    frames = [[p for seq, _, p in open_log(log).raw_frames() if seq > 0]
              for log in (from_one, from_two)]
    assert frames[0] == frames[1]
    alone = trading(backtest(tmp_path, "eth", ("ETH-USD",), [eth]), "ETH-USD")
    assert trading(from_one, "ETH-USD") == alone


# ---------------------------------------------------------------- any feed latencies


@settings(max_examples=12, deadline=None)
@given(
    data_seed=st.integers(0, 2**16),
    feed_a=st.integers(-1500, 20).map(lambda ms: ms * MS),
    feed_b=st.integers(-1500, 20).map(lambda ms: ms * MS),
    jitter=st.sampled_from([0, 3 * MS]),
)
def test_a_market_trades_the_same_whatever_the_feed_latencies_of_the_others(
    tmp_path_factory: Any, data_seed: int, feed_a: int, feed_b: int, jitter: int
) -> None:
    """B alone and B beside A trade alike, for any constant feed latency of either log (negative:
    a recorder's clock behind the exchange's, as in the Binance capture, about -1.27 s), with the
    receive times jittered. A's data ends before B's, so the session ends with B's data."""
    print("data_seed", data_seed, "feeds", feed_a, feed_b, "jitter", jitter)
    tmp = tmp_path_factory.mktemp("feeds")
    b_events = jittered(make_market(ETH, 700, data_seed, feed_ns=feed_b, step_ns=3 * MS,
                                    start_mid=300_000), jitter, data_seed)
    a_events = jittered(make_market(BTC, 500, data_seed + 1, feed_ns=feed_a,
                                    start_ns=T0 + 50 * MS), jitter, data_seed + 1)
    last = b_events[-1].ts_recv
    a_events = [e for e in a_events if e.ts_recv < last]
    a = make_data_log(tmp / "a.mmlog", a_events, BTC)
    b = make_data_log(tmp / "b.mmlog", b_events, ETH)
    alone = trading(backtest(tmp, "b", ("ETH-USD",), [b]), "ETH-USD")
    assert any(kind == "Place" for kind, *_ in alone)
    assert trading(backtest(tmp, "ab", ("BTC-USD", "ETH-USD"), [a, b]), "ETH-USD") == alone


def jittered(events: list[Any], jitter: int, seed: int) -> list[Any]:
    """``events`` with each receive time delayed by up to ``jitter`` more, kept in order."""
    if not jitter:
        return events
    rng = random.Random(seed)
    out = []
    recv = 0
    for ev in events:
        recv = max(recv, ev.ts_recv + rng.randrange(jitter))
        out.append(msgspec.structs.replace(ev, ts_recv=recv))
    return out
