"""Latency models: constant, and lognormal drawn from the seeded random source."""

from __future__ import annotations

import random
import statistics
import sys

from adapters.sim.config import SimConfig
from adapters.sim.latency import ConstantLatency, LognormalLatency, make_latency, ms_to_ns

MS = 1_000_000


def make_lognormal(seed: int, median_ms: float = 5.0, cap_ms: float = 100.0) -> LognormalLatency:
    entry, response, cap = ms_to_ns(median_ms), ms_to_ns(2 * median_ms), ms_to_ns(cap_ms)
    return LognormalLatency(entry, response, 0.5, cap, random.Random(seed))


def test_constant_latency_answers_the_configured_nanoseconds() -> None:
    model = make_latency(SimConfig(entry_latency_ms=2.5, response_latency_ms=0.75), random.Random())
    assert type(model) is ConstantLatency
    assert (model.entry(0), model.response(123)) == (2_500_000, 750_000)


def test_lognormal_draws_spread_around_the_median() -> None:
    model = make_lognormal(seed=3)
    draws = [model.entry(0) for _ in range(2000)]
    assert len(set(draws)) > 1000
    assert 4.5 * MS < statistics.median(draws) < 5.5 * MS
    assert 9 * MS < statistics.median(model.response(0) for _ in range(2000)) < 11 * MS


def test_lognormal_draws_are_capped() -> None:
    model = make_lognormal(seed=5, median_ms=50.0, cap_ms=60.0)
    draws = [model.entry(0) for _ in range(500)]
    assert max(draws) == 60 * MS
    assert min(draws) > 0


def test_lognormal_draws_repeat_with_the_seed_and_differ_across_seeds() -> None:
    a = make_lognormal(seed=11)
    b = make_lognormal(seed=11)
    c = make_lognormal(seed=12)
    run_a = [a.entry(0) for _ in range(50)]
    assert run_a == [b.entry(0) for _ in range(50)]
    assert run_a != [c.entry(0) for _ in range(50)]


def test_a_zero_median_is_always_zero() -> None:
    model = LognormalLatency(0, 0, 0.5, ms_to_ns(100), random.Random(1))
    assert {model.entry(0) for _ in range(20)} == {0}


def test_the_config_chooses_the_lognormal_model() -> None:
    config = SimConfig(latency_model="lognormal", latency_sigma=0.2, latency_cap_ms=30.0)
    model = make_latency(config, random.Random(1))
    assert type(model) is LognormalLatency
    assert (model.sigma, model.cap_ns, model.entry_ns) == (0.2, 30 * MS, 5 * MS)


def test_a_huge_sigma_draws_the_cap_or_next_to_nothing_instead_of_overflowing() -> None:
    # exp(800 * z) overflows a float for most z; the config accepts any finite sigma
    for sigma in (800.0, sys.float_info.max):
        config = SimConfig(latency_model="lognormal", latency_sigma=sigma, latency_cap_ms=100.0)
        model = make_latency(config, random.Random(1))
        draws = [model.entry(0) for _ in range(200)]
        assert all(0 <= d <= 100 * MS for d in draws)
        assert 100 * MS in draws and min(draws) < MS


def test_a_zero_cap_draws_zero() -> None:
    model = LognormalLatency(ms_to_ns(5.0), ms_to_ns(5.0), 0.5, 0, random.Random(1))
    assert {model.entry(0) for _ in range(20)} == {0}
