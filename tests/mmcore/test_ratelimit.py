"""Tests of mmcore/ratelimit.py: sliding windows, the token bucket and the cancel reserve."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcore.ratelimit import RateBudget, RateLimitConfig, venue_defaults

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def make_windows(*windows: tuple[float, int], reserve: float = 0.2) -> RateBudget:
    return RateBudget(RateLimitConfig(windows=list(windows), reserve_for_cancels=reserve))


def make_bucket(capacity: int, refill: int, cost: int, reserve: float = 0.2) -> RateBudget:
    return RateBudget(
        RateLimitConfig(
            bucket_capacity=capacity,
            bucket_refill_per_s=refill,
            cost_per_request=cost,
            reserve_for_cancels=reserve,
        )
    )


def spend_all(budget: RateBudget, now: int, is_cancel: bool, tries: int = 10_000) -> int:
    """Spend at ``now`` until refused; return how many were granted."""
    granted = 0
    while granted < tries and budget.try_spend(now, is_cancel):
        granted += 1
    return granted


# ---------------------------------------------------------------- venue defaults


def test_paradex_defaults_are_its_four_published_windows() -> None:
    config = venue_defaults("paradex")
    assert config.windows == [(1.0, 3), (60.0, 30), (3600.0, 300), (86400.0, 1000)]
    assert config.bucket_capacity == 0


def test_extended_defaults_leave_a_tenth_of_its_thousand_a_minute_to_the_adapter() -> None:
    assert venue_defaults("extended").windows == [(60.0, 900)]


def test_standx_defaults_are_a_credit_bucket() -> None:
    config = venue_defaults("standx")
    assert (config.bucket_capacity, config.bucket_refill_per_s, config.cost_per_request) == (
        900,
        1000,
        45,
    )
    assert config.windows == []


@pytest.mark.parametrize("venue", ["sim", "nowhere"])
def test_sim_and_unknown_venues_have_no_limits(venue: str) -> None:
    config = venue_defaults(venue)
    assert config.windows == [] and config.bucket_capacity == 0
    assert spend_all(RateBudget(config), T0, False, tries=5000) == 5000


# ---------------------------------------------------------------- windows


def test_new_orders_use_only_the_unreserved_part_of_a_window() -> None:
    budget = RateBudget(venue_defaults("paradex"))  # 3 per second, 20 % kept for cancels
    assert spend_all(budget, T0, is_cancel=False) == 2
    assert budget.try_spend(T0, is_cancel=True)
    assert not budget.try_spend(T0, is_cancel=True)


def test_a_window_frees_up_exactly_when_its_span_has_passed() -> None:
    budget = make_windows((1.0, 2), reserve=0.0)
    assert spend_all(budget, T0, False) == 2
    assert not budget.try_spend(T0 + NS - 1, False)
    assert budget.try_spend(T0 + NS, False)


def test_every_window_is_enforced_at_once() -> None:
    budget = make_windows((1.0, 10), (60.0, 15), reserve=0.0)
    assert spend_all(budget, T0, False) == 10
    assert spend_all(budget, T0 + 2 * NS, False) == 5  # the minute window is the binding one
    assert not budget.try_spend(T0 + 59 * NS, False)
    assert budget.try_spend(T0 + 60 * NS, False)


def test_a_refused_request_is_not_counted() -> None:
    budget = make_windows((1.0, 1), reserve=0.0)
    assert budget.try_spend(T0, False)
    for k in range(100):
        assert not budget.try_spend(T0 + k, False)
    assert budget.try_spend(T0 + NS, False)


def test_a_request_forced_out_over_budget_still_counts_in_every_window() -> None:
    budget = make_windows((10.0, 2), reserve=0.0)
    assert spend_all(budget, T0, True) == 2
    assert not budget.force(T0 + 5 * NS, True)  # leaves anyway: the venue counts it
    # the first two left the window; the forced one is still in it, so one more fits, not two
    assert spend_all(budget, T0 + 10 * NS, True) == 1
    assert spend_all(budget, T0 + 15 * NS, True) == 1


def test_a_request_forced_out_over_budget_still_takes_its_credits_from_the_bucket() -> None:
    budget = make_bucket(capacity=100, refill=10, cost=10, reserve=0.0)
    assert spend_all(budget, T0, True) == 10
    assert not budget.force(T0, True)  # 10 credits owed
    assert not budget.try_spend(T0 + NS, True)  # the refill paid the debt only
    assert budget.try_spend(T0 + 2 * NS, True)


def test_a_forced_request_within_budget_is_an_ordinary_grant() -> None:
    budget = make_windows((1.0, 2), reserve=0.0)
    assert budget.force(T0, True)
    assert spend_all(budget, T0, True) == 1
    assert budget.statistics().cancels_granted == 2


def test_time_that_runs_backwards_counts_as_the_latest_time_seen() -> None:
    budget = make_windows((1.0, 1), reserve=0.0)
    assert budget.try_spend(T0 + 5 * NS, False)
    assert not budget.try_spend(T0, False)  # not a free window in the past
    assert budget.try_spend(T0 + 6 * NS, False)


def test_window_memory_stays_bounded_by_its_maximum() -> None:
    budget = make_windows((3600.0, 50), reserve=0.0)
    for k in range(10_000):
        budget.try_spend(T0 + k * 1000, k % 3 == 0)
    assert max(len(w.stamps) for w in budget._windows) <= 50


# ---------------------------------------------------------------- bucket


def test_the_bucket_keeps_its_reserve_for_cancels() -> None:
    budget = RateBudget(venue_defaults("standx"))  # 900 credits, 45 each, 180 kept for cancels
    assert spend_all(budget, T0, is_cancel=False) == (900 - 180) // 45
    assert spend_all(budget, T0, is_cancel=True) == 180 // 45


def test_the_bucket_refills_in_exact_integer_credits() -> None:
    budget = make_bucket(capacity=100, refill=10, cost=10, reserve=0.0)
    assert spend_all(budget, T0, False) == 10
    assert not budget.try_spend(T0 + NS - 1, False)  # 9.999999999 credits
    assert budget.try_spend(T0 + NS, False)


def test_the_bucket_never_holds_more_than_its_capacity() -> None:
    budget = make_bucket(capacity=100, refill=10, cost=10, reserve=0.0)
    assert spend_all(budget, T0 + 3600 * NS, False) == 10


# ---------------------------------------------------------------- statistics and config


def test_statistics_count_grants_and_refusals_by_kind() -> None:
    budget = make_windows((1.0, 5), reserve=0.2)
    spend_all(budget, T0, False)
    spend_all(budget, T0, True)
    stats = budget.statistics()
    assert (stats.places_granted, stats.places_refused) == (4, 1)
    assert (stats.cancels_granted, stats.cancels_refused) == (1, 1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"windows": [(0.0, 3)]}, "windows[0]"),
        ({"windows": [(1.0, 3), (1.0, 0)]}, "windows[1]"),
        ({"windows": [(1.0, 1)], "reserve_for_cancels": 0.2}, "windows[0]"),
        ({"bucket_capacity": -1}, "bucket_capacity"),
        ({"bucket_capacity": 10, "cost_per_request": 1}, "bucket_refill_per_s"),
        ({"bucket_capacity": 10, "bucket_refill_per_s": 1}, "cost_per_request"),
        ({"bucket_capacity": 10, "bucket_refill_per_s": 1, "cost_per_request": 9}, "cost_per"),
        ({"reserve_for_cancels": 1.0}, "reserve_for_cancels"),
        ({"reserve_for_cancels": -0.1}, "reserve_for_cancels"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        RateLimitConfig(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- properties

requests = st.lists(
    st.tuples(st.integers(0, 400_000_000), st.booleans()), min_size=1, max_size=300
)


@settings(max_examples=150, deadline=None)
@given(
    stream=requests,
    windows=st.lists(
        st.tuples(st.sampled_from([0.1, 0.25, 1.0, 2.0]), st.integers(1, 12)),
        min_size=1,
        max_size=3,
    ),
    reserve=st.sampled_from([0.0, 0.2, 0.5]),
)
def test_no_window_is_ever_exceeded_and_new_orders_leave_the_reserve(
    stream: list[tuple[int, bool]], windows: list[tuple[float, int]], reserve: float
) -> None:
    usable = [(s, n) for s, n in windows if int(n * (1 - reserve) + 1e-9) >= 1]
    if not usable:
        return
    budget = make_windows(*usable, reserve=reserve)
    granted: list[tuple[int, bool]] = []
    now = T0
    for gap, is_cancel in stream:
        now += gap
        if budget.try_spend(now, is_cancel):
            granted.append((now, is_cancel))
    for i, (t, is_cancel) in enumerate(granted):
        for seconds, limit in usable:
            span = round(seconds * NS)
            in_window = sum(1 for u, _ in granted[: i + 1] if t - u < span)
            assert in_window <= limit
            if not is_cancel:
                assert in_window <= int(limit * (1 - reserve) + 1e-9)


@settings(max_examples=150, deadline=None)
@given(
    stream=requests,
    capacity=st.integers(10, 200),
    refill=st.integers(1, 500),
    cost=st.integers(1, 10),
)
def test_the_bucket_never_grants_more_credits_than_it_held_and_refilled(
    stream: list[tuple[int, bool]], capacity: int, refill: int, cost: int
) -> None:
    budget = make_bucket(capacity, refill, cost, reserve=0.0)
    granted: list[int] = []
    now = T0
    for gap, is_cancel in stream:
        now += gap
        if budget.try_spend(now, is_cancel):
            granted.append(now)
    for i in range(len(granted)):
        for j in range(i, len(granted)):
            spent = cost * (j - i + 1) * NS
            assert spent <= capacity * NS + (granted[j] - granted[i]) * refill


@settings(max_examples=100, deadline=None)
@given(stream=requests)
def test_the_same_requests_always_get_the_same_answers(stream: list[tuple[int, bool]]) -> None:
    def answers() -> list[bool]:
        budget = RateBudget(venue_defaults("paradex"))
        now = T0
        out = []
        for gap, is_cancel in stream:
            now += gap
            out.append(budget.try_spend(now, is_cancel))
        return out

    assert answers() == answers()
