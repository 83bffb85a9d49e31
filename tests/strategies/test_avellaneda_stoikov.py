"""The Avellaneda–Stoikov quoter driven through a real book, ledger and view."""

from __future__ import annotations

import math
import random
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_strategy_factories import (
    MS,
    SECOND,
    SYMBOL,
    T0,
    Driver,
    make_fill,
    make_funding,
    make_instrument,
    make_snapshot,
    make_timer,
    make_top,
    make_trade,
)

from mmcore.events import BUY, SELL, Event
from mmcore.intents import QuoteTarget
from strategies.avellaneda_stoikov import AvellanedaStoikovParams, AvellanedaStoikovStrategy
from strategies.quote_grid import notional_lots, skewed_size

BID, ASK = 999_990, 1_000_010  # 99_999.0 / 100_001.0: mid 100_000.0
SIGMA_REL = abs(math.log(2_000_002 / 2_000_000)) / math.sqrt(0.1)


def make_params(**overrides: Any) -> AvellanedaStoikovParams:
    fields: dict[str, Any] = {
        "gamma": 0.01,
        "horizon_s": 6000.0,
        "size_lots": 4,
        "max_position_usd": 1000.0,
        "volatility": {"warmup_samples": 4},
    }
    fields.update(overrides)
    return msgspec.convert(fields, AvellanedaStoikovParams)


def make_driver(**overrides: Any) -> Driver:
    inst = make_instrument()
    return Driver(AvellanedaStoikovStrategy(inst, make_params(**overrides), random.Random(1)), inst)


def warm_up(driver: Driver, books: int = 5, start: int = T0) -> int:
    """Books 100 ms apart whose mid alternates by one tick; returns the time of the last."""
    ts = start
    for i in range(books):
        ts = start + i * 100 * MS
        driver.top(BID + i % 2, ASK + i % 2, ts)
    return ts


def quotes(driver: Driver) -> QuoteTarget:
    target = driver.intents[-1]
    assert isinstance(target, QuoteTarget)
    return target


def strategy_of(driver: Driver) -> AvellanedaStoikovStrategy:
    assert isinstance(driver.strategy, AvellanedaStoikovStrategy)
    return driver.strategy


# ---------------------------------------------------------------- formulas end to end


def test_flat_quotes_sit_at_the_hand_computed_optimal_half_spread_around_mid() -> None:
    driver = make_driver()
    warm_up(driver)
    sigma = SIGMA_REL * 100_000.0
    kappa = 1.0 / (100_000.0 * 5e-4)  # no trades: default from fallback_depth_bps = 5
    half = math.log(1 + 0.01 / kappa) / 0.01 + 0.5 * 0.01 * sigma**2 * 6000.0
    assert len(driver.intents) == 1
    assert quotes(driver).bids == ((math.floor((100_000.0 - half) / 0.1), 4),)
    assert quotes(driver).asks == ((math.ceil((100_000.0 + half) / 0.1), 4),)


def test_a_long_position_lowers_the_reservation_price_by_q_gamma_sigma2_tau() -> None:
    driver = make_driver()
    driver.feed(make_fill(BUY, BID, 5, ts=T0 - SECOND))  # 0.005 BTC ≈ 500 USD: q = 0.5
    warm_up(driver)
    sigma = SIGMA_REL * 100_000.0
    shift = 0.5 * 0.01 * sigma**2 * 6000.0
    half = math.log(1 + 0.01 / 0.02) / 0.01 + 0.5 * 0.01 * sigma**2 * 6000.0
    stats = strategy_of(driver).statistics()
    assert stats.q == pytest.approx(0.5)
    assert stats.fair == pytest.approx(100_000.0 - shift)
    assert quotes(driver).bids == ((math.floor((100_000.0 - shift - half) / 0.1), 2),)
    assert quotes(driver).asks == ((math.ceil((100_000.0 - shift + half) / 0.1), 4),)


# ---------------------------------------------------------------- lifecycle


def test_it_does_not_quote_until_volatility_is_warm() -> None:
    driver = make_driver()
    warm_up(driver, books=4)
    assert driver.intents == []
    assert strategy_of(driver).statistics().mode == "waiting"


def test_a_warmup_spread_quotes_before_volatility_is_warm() -> None:
    driver = make_driver(warmup_half_spread_bps=10.0)
    driver.top(BID, ASK, T0)
    assert quotes(driver).bids == ((999_000, 4),) and quotes(driver).asks == ((1_001_000, 4),)
    assert "mode" in driver.codes()


def test_the_first_book_refits_kappa_and_announces_the_fallback() -> None:
    driver = make_driver()
    driver.top(BID, ASK, T0)
    assert "kappa_fallback" in driver.codes()
    assert strategy_of(driver).statistics().kappa.kappa == pytest.approx(0.02)


def test_a_stale_book_pulls_the_quotes() -> None:
    driver = make_driver()
    ts = warm_up(driver)
    driver.book.stale = True
    driver.feed(make_timer(ts + 2 * SECOND))
    assert quotes(driver) == QuoteTarget(SYMBOL)
    assert strategy_of(driver).statistics().mode == "pulled"


def test_it_requotes_only_past_the_drift_threshold() -> None:
    driver = make_driver(requote_bps=2.0, requote_interval_ms=0)
    ts = warm_up(driver)
    count = len(driver.intents)
    driver.top(BID + 150, ASK + 150, ts + 100 * MS)  # 1.5 bps
    assert len(driver.intents) == count
    driver.top(BID + 250, ASK + 250, ts + 200 * MS)  # 2.5 bps
    assert len(driver.intents) == count + 1


def test_a_fill_requotes_at_once_with_the_new_inventory() -> None:
    driver = make_driver()
    ts = warm_up(driver)
    before = quotes(driver)
    driver.feed(make_fill(SELL, ASK, 5, ts=ts + MS))
    after = quotes(driver)
    assert after.bids[0][0] > before.bids[0][0] and after.asks[0][1] == 2


def test_an_unchanged_target_returns_none() -> None:
    driver = make_driver(requote_interval_ms=500)
    ts = warm_up(driver)
    count = len(driver.intents)
    assert driver.feed(make_timer(ts + SECOND)) is None
    assert len(driver.intents) == count


def test_order_notional_is_converted_to_lots_at_mid() -> None:
    driver = make_driver(order_notional_usd=350.0)  # 3.5 lots of 100 USD -> 3
    warm_up(driver)
    assert quotes(driver).bids[0][1] == 3 and quotes(driver).asks[0][1] == 3


def test_levels_are_spaced_by_the_configured_bps() -> None:
    driver = make_driver(levels=3, level_spacing_bps=5.0)
    warm_up(driver)
    bids = [p for p, _ in quotes(driver).bids]
    asks = [p for p, _ in quotes(driver).asks]
    assert bids[0] - bids[1] in (500, 501) and bids[1] - bids[2] in (500, 501)
    assert asks[1] - asks[0] in (500, 501) and asks[2] - asks[1] in (500, 501)


def test_the_obi_overlay_leans_against_a_bid_heavy_book() -> None:
    def run(weight: float) -> float:
        driver = make_driver(obi={"weight": weight, "levels": 1, "threshold": 0.1})
        ts = warm_up(driver)
        heavy = make_snapshot([(BID, 90)], [(ASK, 10)], ts + SECOND, seq=99)
        driver.feed(heavy)
        return strategy_of(driver).statistics().fair

    assert run(0.5) < run(0.0)


def test_the_linear_model_widens_with_funding() -> None:
    def half(rate_ppb: int) -> float:
        driver = make_driver(spread_model="linear", linear_funding_mult=1.0)
        driver.feed(make_funding(rate_ppb, ts=T0 - SECOND))
        warm_up(driver)
        return strategy_of(driver).statistics().half_spread

    # 100_000 * (5e-4 + 3e-4 / 3) vs 100_000 * 5e-4
    assert half(300_000) == pytest.approx(60.0)
    assert half(0) == pytest.approx(50.0)


def test_a_funding_change_re_quotes_the_linear_model_at_once() -> None:
    driver = make_driver(spread_model="linear", linear_funding_mult=1.0, requote_interval_ms=10_000)
    ts = warm_up(driver)
    before = quotes(driver)
    out = driver.feed(make_funding(300_000, ts=ts + MS))  # half spread 50 -> 60
    assert isinstance(out, QuoteTarget) and out != before
    assert before.bids[0][0] - out.bids[0][0] == 100  # 10.0 wider each side, in 0.1 ticks
    assert out.asks[0][0] - before.asks[0][0] == 100


def test_a_half_spread_of_whole_ticks_is_quoted_the_same_distance_each_side_of_mid() -> None:
    # mid 100_000.0; 2 bps = 20.0 = exactly 200 ticks of 0.1, which (fair - half) / tick in
    # floats misses by a hair: a plain floor put the bid a tick further out than the ask
    for mid_ticks in range(900_000, 1_100_000, 5_000):  # 2 bps of each is a whole tick count
        driver = make_driver(warmup_half_spread_bps=2.0)
        driver.top(mid_ticks - 1, mid_ticks + 1, T0)
        q = quotes(driver)
        half = mid_ticks // 5_000
        assert (q.bids[0][0], q.asks[0][0]) == (mid_ticks - half, mid_ticks + half), mid_ticks


def test_the_bounded_model_uses_the_market_spread_and_sigma() -> None:
    driver = make_driver(spread_model="bounded", bounded_sigma_mult=2.0, min_half_spread_bps=0.1)
    warm_up(driver)
    market_spread = (ASK - BID) * 0.1
    expected = 0.4 * market_spread + 2.0 * SIGMA_REL * 100_000.0
    assert strategy_of(driver).statistics().half_spread == pytest.approx(expected)


def test_trades_of_the_market_feed_the_kappa_estimator() -> None:
    driver = make_driver(kappa={"method": "trade_rate", "min_trades": 3})
    driver.top(BID, ASK, T0)
    for i in range(5):
        driver.feed(make_trade(ASK + 10 * i, 1, BUY, ts=T0 + i * MS))
    driver.top(BID, ASK, T0 + 6 * SECOND)
    assert strategy_of(driver).statistics().kappa.good_fits == 1


def test_statistics_count_requotes() -> None:
    driver = make_driver()
    warm_up(driver)
    assert strategy_of(driver).statistics().requotes == 1


# ---------------------------------------------------------------- properties

models = st.sampled_from(["as", "linear", "bounded"])


def run_market(params: AvellanedaStoikovParams, position: int, bid: int, spread: int) -> Driver:
    inst = make_instrument(min_size="0.002")
    driver = Driver(AvellanedaStoikovStrategy(inst, params, random.Random(0)), inst)
    if position:
        side = BUY if position > 0 else SELL
        driver.feed(make_fill(side, bid, abs(position), ts=T0 - SECOND))
    for i in range(4):
        driver.top(bid + i % 2, bid + spread + i % 2, T0 + i * 100 * MS)
    return driver


@settings(max_examples=120, deadline=None)
@given(
    bid=st.integers(min_value=100, max_value=5_000_000),
    spread=st.integers(min_value=1, max_value=50),
    position=st.integers(min_value=-40, max_value=40),
    gamma=st.floats(min_value=1e-4, max_value=10.0),
    model=models,
    levels=st.integers(min_value=1, max_value=3),
    obi=st.floats(min_value=0.0, max_value=2.0),
)
def test_quotes_never_cross_the_book_and_sit_on_the_grid(
    bid: int, spread: int, position: int, gamma: float, model: str, levels: int, obi: float
) -> None:
    params = make_params(
        gamma=gamma,
        spread_model=model,
        levels=levels,
        obi={"weight": obi, "threshold": 0.0},
        size_lots=5,
        max_position_usd=50.0 * bid * 0.001 * 0.1,
        volatility={"warmup_samples": 2},
    )
    driver = run_market(params, position, bid, spread)
    assert driver.intents, "a warm strategy with a two-sided book quotes"
    best_bid, best_ask = driver.book.best_bid, driver.book.best_ask
    target = quotes(driver)
    for price, size in target.bids:
        assert type(price) is int and type(size) is int
        assert 1 <= price < best_ask and size >= 2
    for price, size in target.asks:
        assert type(price) is int and type(size) is int
        assert price > best_bid and size >= 2
    if target.bids and target.asks:
        assert target.bids[0][0] < target.asks[0][0]


@settings(max_examples=80, deadline=None)
@given(
    bid=st.integers(min_value=10_000, max_value=5_000_000),
    spread=st.integers(min_value=1, max_value=20),
    size=st.integers(min_value=1, max_value=30),
    gamma=st.floats(min_value=1e-3, max_value=1.0),
    model=models,
)
def test_long_inventory_quotes_lower_and_short_higher_than_flat(
    bid: int, spread: int, size: int, gamma: float, model: str
) -> None:
    params = make_params(
        gamma=gamma,
        spread_model=model,
        size_lots=50,
        max_position_usd=40.0 * bid * 0.001 * 0.1,
        volatility={"warmup_samples": 2},
    )
    flat, long, short = (run_market(params, p, bid, spread) for p in (0, size, -size))
    fair = {name: strategy_of(d).statistics().fair for name, d in
            (("flat", flat), ("long", long), ("short", short))}
    assert fair["long"] < fair["flat"] < fair["short"]
    # A fill makes a strategy requote sooner, so the runs may last have quoted around mids a tick
    # apart: compare each quote with the mid it was made around (in half ticks). Around different
    # mids, rounding to the tick grid can move a quote by up to one tick (2 half ticks) relative
    # to its mid; around the same mid the order must hold exactly.
    runs = (flat, long, short)
    stats = [strategy_of(d).statistics() for d in runs]
    if model == "bounded" and max(abs(stats[1].q), abs(stats[2].q)) > 0.5:
        # the bounded model widens with inventory (x (1 + |q|) past |q| = 0.5): a wider half
        # moves both quotes out, so only the fair's order above is the skew
        assert min(stats[1].half_spread, stats[2].half_spread) > stats[0].half_spread
        return
    (fb, fa), (lb, la), (sb, sa) = (offsets_from_mid(d) for d in runs)
    same_mid = len({strategy_of(d)._quoted_mid_x2 for d in runs}) == 1
    slack = 0 if same_mid else 2
    assert lb <= fb + slack and fb <= sb + slack
    assert la <= fa + slack and fa <= sa + slack


def offsets_from_mid(driver: Driver) -> tuple[int, int]:
    """Twice (top bid - quoted mid) and twice (top ask - quoted mid), in ticks."""
    target = quotes(driver)
    mid_x2 = strategy_of(driver)._quoted_mid_x2
    return 2 * target.bids[0][0] - mid_x2, 2 * target.asks[0][0] - mid_x2


def random_session(seed: int) -> list[Event]:
    rng = random.Random(seed)
    events: list[Event] = []
    mid = 1_000_000
    ts = T0
    for seq in range(1, 300):
        ts += rng.randint(1, 200) * MS
        mid += rng.randint(-30, 30)
        kind = rng.random()
        if kind < 0.75:
            half = rng.randint(1, 10)
            events.append(make_top(mid - half, mid + half, ts, seq=seq))
        elif kind < 0.95:
            side = rng.choice((BUY, SELL))
            events.append(make_trade(mid + side * rng.randint(1, 40), rng.randint(1, 9), side, ts))
        else:
            events.append(make_fill(rng.choice((BUY, SELL)), mid, rng.randint(1, 5), ts))
    return events


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), model=models)
def test_the_same_events_always_give_the_same_intents_and_notes(seed: int, model: str) -> None:
    print(f"seed={seed}")
    events = random_session(seed)
    params = make_params(
        spread_model=model,
        kappa={"min_trades": 5, "refit_interval_s": 1.0},
        obi={"weight": 0.3},
        volatility={"warmup_samples": 5},
    )
    runs = []
    for _ in range(2):
        driver = make_driver()
        driver.strategy = AvellanedaStoikovStrategy(make_instrument(), params, random.Random(9))
        driver.feed_all(events)
        runs.append((driver.intents, driver.notes))
    assert runs[0] == runs[1]
    assert runs[0][0], "the session quotes at least once"


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    method=st.sampled_from(["trade_rate", "virtual_quotes", "depth_intensity"]),
    min_r2=st.floats(min_value=0.0, max_value=1.0),
)
def test_every_kappa_fallback_is_announced_by_a_strategy_event_and_kappa_stays_finite(
    seed: int, method: str, min_r2: float
) -> None:
    print(f"seed={seed}")
    kappa = {
        "method": method,
        "min_trades": 5,
        "min_points": 3,
        "min_r2": min_r2,
        "refit_interval_s": 1.0,
        "max_depth_pct": 0.05,
    }
    driver = make_driver(kappa=kappa)
    strategy = strategy_of(driver)
    was_active = False
    for event in random_session(seed):
        before = driver.codes().count("kappa_fallback")
        driver.feed(event)
        stats = strategy.statistics().kappa
        if stats.fits:
            assert math.isfinite(stats.kappa) and stats.kappa > 0
        if stats.fallback_active and not was_active:
            assert driver.codes().count("kappa_fallback") == before + 1
        was_active = stats.fallback_active
    assert "kappa_fallback" in driver.codes()  # the first fit, on an empty window, falls back


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gamma", 0.0),
        ("horizon_s", -1.0),
        ("min_half_spread_bps", 0.0),
        ("max_half_spread_bps", 0.5),
        ("max_skew_bps", -1.0),
        ("size_lots", 0),
        ("levels", 0),
        ("requote_bps", -1.0),
        ("order_notional_usd", math.nan),
    ],
)
def test_params_refuse_values_out_of_range_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        AvellanedaStoikovParams(**{field: value})  # type: ignore[arg-type]


# ---------------------------------------------------------------- skew bound


def test_the_skew_bound_caps_fair_at_max_skew_bps_of_mid_and_says_so() -> None:
    # q = 0.5 with a huge gamma puts the unbounded fair far below mid
    driver = make_driver(gamma=5.0, max_skew_bps=10.0, max_half_spread_bps=5.0)
    driver.feed(make_fill(BUY, BID, 5, ts=T0 - SECOND))
    warm_up(driver)
    stats = strategy_of(driver).statistics()
    assert stats.fair == pytest.approx(100_000.0 * (1 - 10e-4))
    assert "skew_capped" in driver.codes()
    target = quotes(driver)
    half = 100_000.0 * 5e-4  # max_half_spread_bps binds
    assert target.bids == ((math.floor((100_000.0 * (1 - 10e-4) - half) / 0.1), 2),)
    assert target.asks[0][0] == BID + 1  # fair + half is below the best bid: just above it


def test_without_a_skew_bound_the_same_inventory_moves_fair_further() -> None:
    driver = make_driver(gamma=5.0, max_half_spread_bps=5.0)
    driver.feed(make_fill(BUY, BID, 5, ts=T0 - SECOND))
    warm_up(driver)
    assert strategy_of(driver).statistics().fair < 100_000.0 * (1 - 10e-4)
    assert "skew_capped" not in driver.codes()


@settings(max_examples=80, deadline=None)
@given(
    bid=st.integers(min_value=10_000, max_value=5_000_000),
    spread=st.integers(min_value=1, max_value=20),
    position=st.integers(min_value=-40, max_value=40),
    gamma=st.floats(min_value=1e-3, max_value=100.0),
    model=models,
    obi=st.floats(min_value=0.0, max_value=2.0),
    bound=st.floats(min_value=0.5, max_value=50.0),
)
def test_fair_never_leaves_mid_by_more_than_the_skew_bound(
    bid: int, spread: int, position: int, gamma: float, model: str, obi: float, bound: float
) -> None:
    params = make_params(
        gamma=gamma,
        spread_model=model,
        obi={"weight": obi, "threshold": 0.0},
        size_lots=50,
        max_position_usd=40.0 * bid * 0.001 * 0.1,
        max_skew_bps=bound,
        volatility={"warmup_samples": 2},
    )
    driver = run_market(params, position, bid, spread)
    strategy = strategy_of(driver)
    mid = strategy._quoted_mid_x2 * 0.5 * 0.1
    # fair = mid ± bound is rounded to a double near mid: allow a few of mid's ulps
    assert abs(strategy.statistics().fair - mid) <= mid * bound * 1e-4 + 4 * math.ulp(mid)


# ---------------------------------------------------------------- inventory limit across levels

REVIEW_BID, REVIEW_ASK = 618_094, 618_095  # the reviewer's book: mid 61_809.45, a lot 61.81 USD


def review_driver(long_lots: int) -> Driver:
    """The reviewer's case: 3 levels of 500 USD 0.5 bps apart against max_position_usd 1000."""
    driver = make_driver(
        levels=3, level_spacing_bps=0.5, order_notional_usd=500.0, max_position_usd=1000.0
    )
    if long_lots:
        driver.feed(make_fill(BUY, REVIEW_BID, long_lots, T0 - SECOND))
    for i in range(5):  # the last book, the first quoted (volatility warm), is the reviewer's
        driver.top(REVIEW_BID + i % 2, REVIEW_ASK + i % 2, T0 + i * 100 * MS)
    assert strategy_of(driver)._quoted_mid_x2 == REVIEW_BID + REVIEW_ASK
    return driver


def test_flat_the_levels_together_hold_no_more_than_max_position_usd() -> None:
    # 8 lots (494 USD) a level; 3 levels were 24 lots = 1483 USD against 1000 of room (q 1.48
    # if all filled); the room is floor(1000 / 61.80945) = 16 lots: two levels of 8
    target = quotes(review_driver(0))
    assert [size for _, size in target.bids] == [8, 8]
    assert [size for _, size in target.asks] == [8, 8]
    assert 16 * 0.001 * 61_809.45 <= 1000.0 < 17 * 0.001 * 61_809.45


def test_long_each_side_gets_the_room_left_in_its_direction() -> None:
    # long 5 lots: q = 0.309, skewed bids int(8 * 0.691) = 5 lots a level (15 in all) but only
    # 16 - 5 = 11 lots of room: 5, 5, 1; the asks reduce the position, and all filled would
    # leave it short 19 past the 16-lot limit: 16 + 5 = 21 lots of room, 8, 8, 5
    target = quotes(review_driver(5))
    assert [size for _, size in target.bids] == [5, 5, 1]
    assert [size for _, size in target.asks] == [8, 8, 5]


def test_long_by_one_lot_the_asks_stop_at_the_opposite_limit() -> None:
    target = quotes(review_driver(1))  # 17 lots of room for asks: 8, 8, 1
    assert [size for _, size in target.asks] == [8, 8, 1]


def test_a_single_level_larger_than_the_room_is_cut_to_it() -> None:
    driver = make_driver(order_notional_usd=5000.0, max_position_usd=1000.0)  # 50 lots vs 10
    warm_up(driver)
    target = quotes(driver)
    assert target.bids[0][1] == 10 and target.asks[0][1] == 10


@settings(max_examples=150, deadline=None)
@given(
    bid=st.integers(min_value=10_000, max_value=5_000_000),
    position=st.integers(min_value=-80, max_value=80),
    levels=st.integers(min_value=1, max_value=5),
    spacing=st.floats(min_value=0.1, max_value=20.0),
    order_lots=st.one_of(st.just(0.0), st.floats(min_value=1.0, max_value=30.0)),
    size_lots=st.integers(min_value=1, max_value=30),
    limit_lots=st.floats(min_value=0.5, max_value=60.0),
    min_size=st.sampled_from(["0.001", "0.002", "0.003"]),
    model=models,
)
def test_the_adding_side_never_takes_the_position_past_max_position_usd(
    bid: int,
    position: int,
    levels: int,
    spacing: float,
    order_lots: float,
    size_lots: int,
    limit_lots: float,
    min_size: str,
    model: str,
) -> None:
    """All filled, either side's levels leave the position within ``max_position_usd`` at the
    quoted mid; a reducing side that stays within the opposite limit is what it always was
    (``levels`` x the base size).

    Stated exactly, in lots at the quoted mid (``L = max_position_usd / (lot * mid)``, not
    whole): ``side * position + total <= L`` up to 1e-9 lot for the float conversion, so never
    a whole lot past it; the cap rounds down, so the limit is missed by less than one minimum
    order (``side * position + total + min_lots > L``) whenever it cut anything."""
    lot_usd = bid * 0.1 * 0.001  # sizes are drawn in lots at about this mid
    params = make_params(
        spread_model=model,
        gamma=1e-3,
        max_skew_bps=50.0,  # fair near mid: the deepest bid stays above a tick
        levels=levels,
        level_spacing_bps=spacing,
        order_notional_usd=order_lots * lot_usd,
        size_lots=size_lots,
        max_position_usd=limit_lots * lot_usd,
        volatility={"warmup_samples": 2},
    )
    inst = make_instrument(min_size=min_size)
    driver = Driver(AvellanedaStoikovStrategy(inst, params, random.Random(0)), inst)
    if position:
        driver.feed(make_fill(BUY if position > 0 else SELL, bid, abs(position), T0 - SECOND))
    for i in range(4):
        driver.top(bid + i % 2, bid + 2 + i % 2, T0 + i * 100 * MS)
    strategy = strategy_of(driver)
    mid_x2 = strategy._quoted_mid_x2  # the last target was computed around this mid
    limit = params.max_position_usd / (mid_x2 * 0.5 * 0.1 * 0.001)
    base = notional_lots(params.order_notional_usd, mid_x2, 100_000) if order_lots else size_lots
    min_lots = inst.min_lots
    target = quotes(driver)
    for side, side_levels in ((1, target.bids), (-1, target.asks)):
        sizes = [size for _, size in side_levels]
        skewed = skewed_size(base, strategy.statistics().q, side, min_lots)
        uncut = [skewed] * (levels if skewed else 0)
        total = sum(sizes)
        if side * position < 0 and position * side + sum(uncut) <= limit:
            assert sizes == uncut, "a reducing side within the opposite limit is untouched"
            continue
        assert side * position + total <= limit + 1e-9 or total == 0
        assert all(min_lots <= size <= skewed for size in sizes)
        kept_whole = sizes[:-1]
        assert kept_whole == uncut[: len(kept_whole)], "cut from the deepest level only"
        assert len(sizes) <= len(uncut)
        if sizes != uncut:
            assert side * position + total + min_lots > limit - 1e-9, "cut no more than needed"
