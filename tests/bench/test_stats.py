import math

import pytest

from bench.stats import (
    Scrape,
    after_warmup,
    bucket_delta,
    growth_after,
    histogram_quantile,
    median,
    percentile,
    ratio,
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [([3.0], 3.0), ([1.0, 3.0], 2.0), ([5.0, 1.0, 3.0], 3.0), ([4.0, 1.0, 3.0, 2.0], 2.5)],
)
def test_median(values: list[float], expected: float) -> None:
    assert median(values) == expected


def test_median_of_nothing_is_nan() -> None:
    assert math.isnan(median([]))


@pytest.mark.parametrize(
    ("q", "expected"), [(0, 10.0), (50, 30.0), (99, 49.6), (100, 50.0), (25, 20.0)]
)
def test_percentile_interpolates(q: float, expected: float) -> None:
    assert percentile([50.0, 10.0, 40.0, 20.0, 30.0], q) == pytest.approx(expected)


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="q=101"):
        percentile([1.0], 101)


@pytest.mark.parametrize(
    ("top", "bottom", "expected"),
    [(9.0, 10.0, 0.9), (1.0, 0.0, math.nan), (math.nan, 2.0, math.nan)],
)
def test_ratio(top: float, bottom: float, expected: float) -> None:
    got = ratio(top, bottom)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


EXPOSITION = """\
# HELP ocop_events_applied_total Events counted.
# TYPE ocop_events_applied_total counter
ocop_events_applied_total{topic="a.views"} 150.0
ocop_events_applied_total{topic="a.orders"} 50.0
ocop_freshness_applied_seconds_bucket{le="0.1"} 10.0
ocop_freshness_applied_seconds_bucket{le="0.5"} 90.0
ocop_freshness_applied_seconds_bucket{le="+Inf"} 100.0
ocop_freshness_applied_seconds_count 100.0
weird line without value
"""


def test_scrape_sums_over_labels_and_filters() -> None:
    scrape = Scrape.parse(EXPOSITION)
    assert scrape.total("ocop_events_applied_total") == 200.0
    assert scrape.total("ocop_events_applied_total", topic="a.orders") == 50.0
    assert scrape.total("absent_total") == 0.0


def test_scrape_reads_histogram_buckets_in_order() -> None:
    buckets = Scrape.parse(EXPOSITION).buckets("ocop_freshness_applied_seconds")
    assert buckets == [(0.1, 10.0), (0.5, 90.0), (math.inf, 100.0)]


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.1, 10.0), (0.5, 90.0), (math.inf, 100.0)]
    assert histogram_quantile(buckets, 0.5) == pytest.approx(0.1 + 0.4 * 40 / 80)
    assert histogram_quantile(buckets, 0.05) == pytest.approx(0.05)
    # A rank in the +Inf bucket answers the highest finite bound.
    assert histogram_quantile(buckets, 0.99) == 0.5


def test_histogram_quantile_of_an_empty_histogram_is_nan() -> None:
    assert math.isnan(histogram_quantile([(0.1, 0.0), (math.inf, 0.0)], 0.5))


def test_bucket_delta_keeps_only_new_observations() -> None:
    before = [(0.1, 5.0), (math.inf, 6.0)]
    after = [(0.1, 7.0), (math.inf, 10.0)]
    assert bucket_delta(before, after) == [(0.1, 2.0), (math.inf, 4.0)]


def test_growth_after_compares_the_last_window_with_the_first_after_warm_up() -> None:
    flat = [(float(t), 100.0) for t in range(100)]
    rising = [(float(t), 100.0 + t) for t in range(101)]
    assert growth_after(flat, 20.0, 30.0) == 0.0
    # first window t in [20, 50) has median 134.5; the last, t > 70, has median 185.5.
    assert growth_after(rising, 20.0, 30.0) == pytest.approx(185.5 / 134.5 - 1)


def test_growth_after_ignores_the_warm_up() -> None:
    # Climbs during the warm-up, then saws from 200 to 290 with a period of 10.
    series = [(float(t), float(t * 10) if t < 20 else 200.0 + 10 * (t % 10))
              for t in range(120)]
    assert growth_after(series, 20.0, 40.0) == 0.0


def test_windows_after_warm_up_must_be_apart() -> None:
    series = [(float(t), 1.0) for t in range(100)]
    assert after_warmup(series, 40.0, 30.0) == ([], [])
    assert math.isnan(growth_after(series, 40.0, 30.0))
    early, late = after_warmup(series, 30.0, 30.0)
    assert (len(early), len(late)) == (30, 30)
    assert math.isnan(growth_after([], 0.0, 1.0))
