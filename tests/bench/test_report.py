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
