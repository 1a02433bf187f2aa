"""The duration histogram: buckets 2^(1/4) wide, percentiles within ±9 % of the truth."""

import random

import pytest

from app.invoke.stats import BUCKET_COUNT, bucket_midpoint_ms, bucket_of, percentile_ms


def test_a_duration_falls_in_the_bucket_whose_bounds_hold_it() -> None:
    for duration in (0.05, 0.1, 0.13, 1.0, 7.3, 11.0, 250.0, 29_999.0):
        index = bucket_of(duration)
        upper = 0.1 * 2 ** (index / 4)
        lower = 0.1 * 2 ** ((index - 1) / 4) if index else 0.0
        assert lower < duration <= upper or (index == 0 and duration <= 0.1)
    assert bucket_of(10**12) == BUCKET_COUNT - 1


@pytest.mark.parametrize("fraction", [0.5, 0.95])
def test_percentiles_are_within_the_buckets_precision(fraction: float) -> None:
    rng = random.Random(7)
    durations = sorted(rng.lognormvariate(2.0, 0.6) for _ in range(5000))
    buckets: dict[int, int] = {}
    for duration in durations:
        buckets[bucket_of(duration)] = buckets.get(bucket_of(duration), 0) + 1
    exact = durations[int(fraction * len(durations)) - 1]
    estimate = percentile_ms(buckets, fraction)
    assert estimate is not None
    assert abs(estimate - exact) / exact < 0.1


def test_no_invocations_have_no_percentile() -> None:
    assert percentile_ms({}, 0.5) is None
    assert bucket_midpoint_ms(0) == 0.1
