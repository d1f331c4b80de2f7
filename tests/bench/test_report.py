import math

import pytest

from bench.report import Meta, number, render, table
from bench.targets import TARGETS, Results, Target, judge


@pytest.mark.parametrize(
    ("value", "scale", "text"),
    [(12345.6, 1, "12,346"), (42.42, 1, "42.4"), (0.256, 100, "25.6"), (0.5, 1, "0.50"),
     (0.00123, 1, "0.0012"), (math.nan, 1, "-"), (math.inf, 1, "never (bounded)")],
)
def test_number(value: float, scale: float, text: str) -> None:
    assert number(value, scale) == text


def test_table_renders_markdown_and_escapes_pipes() -> None:
    assert table(["a", "b"], [["1", "x|y"]]) == "| a | b |\n| --- | --- |\n| 1 | x\\|y |"


def _results(pipe: list[float], floor: list[float]) -> Results:
    return Results(runs=[
        {"pipeline.single": {"events_s": p}, "floor.single": {"events_s": f}}
        for p, f in zip(pipe, floor, strict=True)
    ])


def test_ratios_are_formed_inside_each_run_then_medianed() -> None:
    results = _results([90.0, 50.0, 100.0], [100.0, 100.0, 200.0])
    # In-run ratios 0.9, 0.5, 0.5 -> median 0.5 (a ratio of medians would say 0.9).
    assert results.ratio(("pipeline.single", "events_s"), ("floor.single", "events_s")) == 0.5


def test_judge_and_margin_for_at_least_targets() -> None:
    target = next(t for t in TARGETS if t.key == "single_vs_floor")
    short = judge(target, _results([72.0], [100.0]))
    assert short.met is False
    assert short.margin() == "short by 20%"
    assert judge(target, _results([99.0], [100.0])).margin() == "10% to spare"


def test_judge_for_at_most_targets_and_missing_figures() -> None:
    target = Target("lat", "latency ≤ 100 ms", lambda r: r.median("fanout", "p99"), 100.0,
                    False, " ms")
    assert judge(target, Results(runs=[{"fanout": {"p99": 150.0}}])).margin() == "over by 50%"
    missing = judge(target, Results())
    assert missing.met is None
    assert missing.shown() == "not measured"


def test_once_only_figures_and_unbounded_values() -> None:
    target = next(t for t in TARGETS if t.key == "recovery")
    verdict = judge(target, Results(once={"recovery": {"recover_s": math.inf}}))
    assert verdict.met is False
    assert verdict.shown() == "not within the bound"


def test_render_lists_every_target_and_explains_misses() -> None:
    results = _results([50.0], [100.0])
    meta = Meta(command="make bench", started="2024-01-01T00:00:00", minutes=1.0, runs=1,
                quick=True, notes={"single_vs_floor": "because of a reason"},
                versions={"Python": "3.11"})
    text = render(results, meta)
    for target in TARGETS:
        assert target.text.replace("|", "\\|") in text
    assert "because of a reason" in text
    assert "| pipeline, 1 event/message | 50.0 | events/s |  |" in text


def _soak(**figures: float) -> dict[str, float]:
    base = {"seconds": 1800.0, "rate": 6000.0, "lateness_s": 120.0, "order_horizon_s": 180.0,
            "minute_retention_s": 300.0, "live_s": 120.0, "groups": 4.0, "warmup_s": 480.0,
            "window_s": 480.0, "order_groups_forgotten": 12.0,
            "fingerprint_minutes_forgotten": 26.0, "minute_buckets_expired": 25.0,
            "worker_rss_growth": 0.02, "redis_memory_growth": -0.01, "web_rss_growth": 0.0,
            "worker_rss_end_mb": 300.0, "redis_memory_end_mb": 80.0, "web_rss_end_mb": 90.0,
            "worker_order_states_peak_first": 150_000.0,
            "worker_order_states_peak_last": 151_000.0}
    return base | figures


def test_a_partial_run_judges_only_what_it_measured_and_explains_the_soak() -> None:
    results = Results(runs=[{"pipeline.single": {"events_s": 8000.0}}],
                      once={"soak": _soak()})
    meta = Meta(command="BENCH_ONLY=soak make bench", started="2024-01-01T00:00:00",
                minutes=35.0, runs=1, quick=False, only=("soak",))
    text = render(results, meta)
    assert "BENCH_ONLY=soak" in text
    assert "Redis used_memory growth ≤ 10 % after warm-up | -1.00 %" in text
    assert "faust floor" not in text
    assert "round trips per event |" not in text
    assert "15 lateness horizons long, 6 minute retentions and 6 order horizons" in text
    assert "about 3.5 groups' worth" in text
    assert "OCOP_MAX_LATENESS_S=120, OCOP_ORDER_HORIZON_S=180" in text
    assert "quiet 360 s" in text
    assert "warm-up of 480 s" in text
    assert "| order states in the worker | 150,000 | 151,000 | states |" in text
    assert "| Redis used_memory | -1.00 % | 80.0 MiB |" in text


def test_a_soak_too_short_for_two_windows_says_how_long_it_needs() -> None:
    results = Results(once={"soak": _soak(seconds=60.0, worker_rss_growth=math.nan)})
    meta = Meta(command="make bench", started="2024-01-01T00:00:00", minutes=6.0, runs=1,
                quick=True)
    assert "needs at least 1,440 s" in render(results, meta)
