"""Order-book imbalance: raw value, EMA smoothing in event time, activation threshold."""

from __future__ import annotations

import pytest
from test_strategy_factories import make_book

from strategies.estimators.imbalance import ImbalanceParams, ImbalanceSignal

MS = 1_000_000


def make_signal(
    levels: int = 2, half_life_ms: float = 1000.0, threshold: float = 0.0
) -> ImbalanceSignal:
    return ImbalanceSignal(
        ImbalanceParams(levels=levels, half_life_ms=half_life_ms, threshold=threshold)
    )


def test_the_first_reading_is_the_raw_imbalance_of_the_top_levels() -> None:
    book = make_book(bids=[(100, 6), (99, 2), (98, 100)], asks=[(101, 1), (102, 1)])
    # top 2: bids 8, asks 2 -> (8 - 2) / 10
    assert make_signal(levels=2).update(0, book) == pytest.approx(0.6)


def test_one_half_life_later_the_ema_has_moved_half_way() -> None:
    heavy_bid = make_book(bids=[(100, 9)], asks=[(101, 1)])
    balanced = make_book(bids=[(100, 5)], asks=[(101, 5)])
    signal = make_signal(levels=1, half_life_ms=1000.0)
    signal.update(0, heavy_bid)  # 0.8
    assert signal.update(1000 * MS, balanced) == pytest.approx(0.4)


def test_a_smoothed_value_below_the_threshold_reads_as_zero() -> None:
    book = make_book(bids=[(100, 11)], asks=[(101, 9)])  # 0.1
    signal = make_signal(levels=1, threshold=0.2)
    assert signal.update(0, book) == 0.0
    assert signal.statistics().smoothed == pytest.approx(0.1)


def test_an_ask_heavy_book_gives_a_negative_value() -> None:
    book = make_book(bids=[(100, 1)], asks=[(101, 3)])
    assert make_signal(levels=1, threshold=0.2).update(0, book) == pytest.approx(-0.5)


def test_statistics_count_updates() -> None:
    signal = make_signal()
    book = make_book()
    signal.update(0, book)
    signal.update(MS, book)
    assert signal.statistics().updates == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("weight", -1.0), ("levels", 0), ("half_life_ms", 0.0), ("threshold", 1.0)],
)
def test_params_refuse_values_out_of_range_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        ImbalanceParams(**{field: value})  # type: ignore[arg-type]
