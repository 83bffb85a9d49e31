"""Queue position models: what trades and level changes do to the size queued ahead of us."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sim.config import SimConfig
from adapters.sim.order import SimOrder
from adapters.sim.queue import ProbabilisticQueue, RiskAverseQueue, make_queue_model


def make_order(ahead: int, size: int = 5) -> SimOrder:
    return SimOrder("q1", 1, 100, size, ahead, False)


def test_a_trade_at_our_price_shrinks_the_queue_ahead_in_both_models() -> None:
    for model in (RiskAverseQueue(), ProbabilisticQueue(2.0, random.Random(1))):
        order = make_order(ahead=10)
        model.on_trade(order, 4)
        assert (order.ahead, order.traded) == (6, 4)
        model.on_trade(order, 9)
        assert order.ahead == 0


def test_risk_averse_ignores_cancels_while_the_level_stays_longer_than_our_queue() -> None:
    order = make_order(ahead=10)
    RiskAverseQueue().on_depth(order, 30, 20)
    assert order.ahead == 10


def test_risk_averse_caps_the_queue_at_the_visible_level() -> None:
    order = make_order(ahead=10)
    RiskAverseQueue().on_depth(order, 30, 6)
    assert order.ahead == 6


def test_probabilistic_splits_cancels_by_the_power_of_each_side() -> None:
    # 10 ahead, 30 behind, f(x) = x**2: 100 / (100 + 900) of the 10 cancels were ahead
    order = make_order(ahead=10)
    ProbabilisticQueue(2.0, random.Random(1)).on_depth(order, 40, 30)
    assert order.ahead == 9


def test_probabilistic_does_not_count_traded_volume_as_cancels() -> None:
    model = ProbabilisticQueue(1.0, random.Random(1))
    order = make_order(ahead=10)
    model.on_trade(order, 4)  # the feed then shows the level down by the 4 traded
    model.on_depth(order, 20, 16)
    assert (order.ahead, order.traded) == (6, 0)


def test_probabilistic_puts_cancels_ahead_when_there_is_not_enough_behind() -> None:
    # power 0 splits evenly: 5 of 10 behind expected, but only 2 are behind, so 8 were ahead
    order = make_order(ahead=10)
    ProbabilisticQueue(0.0, random.Random(1)).on_depth(order, 12, 2)
    assert order.ahead == 2


def test_probabilistic_rounds_a_fractional_advance_either_way_with_the_seeded_rng() -> None:
    outcomes = set()
    for seed in range(40):
        order = make_order(ahead=10)
        ProbabilisticQueue(1.0, random.Random(seed)).on_depth(order, 20, 15)
        outcomes.add(order.ahead)
    assert outcomes == {7, 8}  # 2.5 expected to come from ahead


def test_the_config_chooses_the_model() -> None:
    rng = random.Random(1)
    assert type(make_queue_model(SimConfig(), rng)) is RiskAverseQueue
    chosen = make_queue_model(SimConfig(queue_model="probabilistic", queue_power=3.0), rng)
    assert type(chosen) is ProbabilisticQueue and chosen.power == 3.0


@settings(max_examples=300, deadline=None)
@given(
    ahead=st.integers(0, 1000),
    behind=st.integers(0, 1000),
    new=st.integers(0, 3000),
    power=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]),
    seed=st.integers(0, 2**32),
)
def test_the_queue_ahead_never_grows_and_never_exceeds_the_level(
    ahead: int, behind: int, new: int, power: float, seed: int
) -> None:
    old = ahead + behind
    for model in (RiskAverseQueue(), ProbabilisticQueue(power, random.Random(seed))):
        order = make_order(ahead=ahead)
        model.on_depth(order, old, new)
        assert 0 <= order.ahead <= min(ahead, new), (model, seed)


def test_probabilistic_never_lets_a_later_order_at_a_level_pass_an_earlier_one() -> None:
    # first has 1 ahead / 2 behind, second 2 ahead / 1 behind; 2 of the 3 cancel. Rounded
    # separately, some seeds advance second by 2 but first by 0: second would then be ahead
    for seed in range(40):
        first, second = make_order(ahead=1), make_order(ahead=2)
        ProbabilisticQueue(1.0, random.Random(seed)).on_level_depth([first, second], 3, 1)
        assert first.ahead <= second.ahead <= 1, seed


def test_risk_averse_level_depth_is_on_depth_for_each_order() -> None:
    orders = [make_order(ahead=a) for a in (2, 5, 9)]
    RiskAverseQueue().on_level_depth(orders, 12, 6)
    assert [o.ahead for o in orders] == [2, 5, 6]


@settings(max_examples=300, deadline=None)
@given(
    aheads=st.lists(st.integers(0, 200), min_size=1, max_size=6),
    behind=st.integers(0, 200),
    new=st.integers(0, 600),
    traded=st.integers(0, 50),
    power=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]),
    seed=st.integers(0, 2**32),
)
def test_a_level_update_keeps_our_queue_order_and_never_grows_the_queue_ahead(
    aheads: list[int], behind: int, new: int, traded: int, power: float, seed: int
) -> None:
    aheads.sort()  # a level's orders in arrival order: later ones joined behind more
    old = aheads[-1] + behind
    runs = []
    for _ in range(2):  # the same seed gives the same queue
        orders = [make_order(ahead=a) for a in aheads]
        for order in orders:
            order.traded = traded
        ProbabilisticQueue(power, random.Random(seed)).on_level_depth(orders, old, new)
        got = [o.ahead for o in orders]
        assert got == sorted(got), seed
        assert all(0 <= a <= min(was, new) for a, was in zip(got, aheads)), seed
        runs.append(got)
    assert runs[0] == runs[1]
    orders = [make_order(ahead=a) for a in aheads]
    RiskAverseQueue().on_level_depth(orders, old, new)
    assert [o.ahead for o in orders] == [min(a, new) for a in aheads]
