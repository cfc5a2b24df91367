"""The mergeable histogram: bucket resolution, nearest-rank percentiles, exact merging."""

import random

from services.figures.histogram import bucket_of, bucket_width, merge, percentile, record


def nearest_rank(values, percent):
    ordered = sorted(values)
    return ordered[max(1, -(-percent * len(ordered) // 100)) - 1]


def test_values_below_64_have_their_own_bucket():
    assert [bucket_of(v) for v in range(64)] == list(range(64))
    assert bucket_width(63) == 1


def test_a_bucket_is_at_most_a_32nd_of_its_values_wide_and_holds_them():
    for value in (64, 65, 127, 128, 1_000, 40_000, 150_000, 10**9):
        lower = bucket_of(value)
        assert lower <= value < lower + bucket_width(lower)
        assert bucket_width(lower) * 32 <= max(lower, 64)


def test_percentiles_are_nearest_rank_within_a_64th_of_the_true_value():
    rng = random.Random(7)
    values = [rng.randint(1, 600_000) for _ in range(1_001)]
    hist: dict[int, int] = {}
    for v in values:
        record(hist, v)
    for q, percent in ((0.5, 50), (0.95, 95), (0.99, 99)):
        exact = nearest_rank(values, percent)
        assert abs(percentile(hist, q) - exact) <= exact / 64


def test_small_values_give_exact_percentiles_and_the_rank_is_not_a_float_artefact():
    hist: dict[int, int] = {}
    for v in range(1, 21):  # 20 values: the 95th percentile is the 19th, not the 20th
        record(hist, v)
    assert percentile(hist, 0.95) == 19
    assert percentile(hist, 0.5) == 10
    assert percentile({}, 0.5) is None


def test_merged_histograms_equal_one_histogram_of_all_values():
    a: dict[int, int] = {}
    b: dict[int, int] = {}
    whole: dict[int, int] = {}
    for n, v in enumerate([5, 70, 900, 900, 12_345, 77, 3]):
        record(a if n % 2 else b, v)
        record(whole, v)
    assert merge([a, b]) == whole
    assert merge([]) == {}
