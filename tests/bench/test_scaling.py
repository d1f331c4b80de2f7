"""The scaling scenario's pure parts: speed-up and efficiency, the offsets check, the
busiest partition, the report table and section, and the plot."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench import plots
from bench.report import Meta, render, scaling_rows, scaling_section
from bench.scenarios.scaling import (
    Check,
    checked,
    compare,
    hottest_share,
    key,
    scaling_figures,
)
from bench.targets import Results


def _rates() -> dict[tuple[str, int], float]:
    return {("single", 1): 10_000.0, ("single", 2): 18_000.0, ("single", 4): 20_000.0,
            ("cluster", 1): 8_000.0, ("cluster", 2): 12_000.0, ("cluster", 4): 16_000.0}


def test_speedup_is_over_the_backends_own_one_worker_rate_and_efficiency_per_worker() -> None:
    f = scaling_figures(_rates())
    assert f[key("single", 1, "speedup")] == 1.0
    assert f[key("single", 2, "speedup")] == pytest.approx(1.8)
    assert f[key("single", 4, "efficiency")] == pytest.approx(0.5)
    assert f[key("cluster", 2, "efficiency")] == pytest.approx(0.75)
    assert f[key("cluster", 4, "speedup")] == pytest.approx(2.0)
    assert f["ratio.w1.events_s"] == pytest.approx(0.8)
    assert f["ratio.w4.events_s"] == pytest.approx(0.8)


def test_a_missing_one_worker_rate_leaves_that_backends_speedups_nan() -> None:
    rates = _rates() | {("cluster", 1): math.nan}
    f = scaling_figures(rates)
    assert math.isnan(f[key("cluster", 2, "speedup")])
    assert math.isnan(f[key("cluster", 4, "efficiency")])
    assert math.isnan(f["ratio.w1.events_s"])
    assert f[key("single", 2, "speedup")] == pytest.approx(1.8)


def test_the_check_wants_every_partition_recorded_at_its_end_offset_minus_one() -> None:
    ends = {("v", 0): 10, ("v", 1): 5, ("o", 0): 0}
    good = compare({("v", 0): 9, ("v", 1): 4, ("o", 0): None}, ends)
    assert good.ok
    assert (good.recorded, good.expected) == (15, 15)
    short = compare({("v", 0): 9, ("v", 1): 3, ("o", 0): None}, ends)
    assert not short.ok
    assert (short.matching, short.recorded) == (2, 14)
    assert not compare({("v", 0): 9, ("o", 0): None}, ends).ok


def test_a_failed_check_blanks_the_measured_figures() -> None:
    figures = {"events_s": 9_000.0, "cpu_per_1k": 0.1, "seconds": 5.0}
    bad = checked(figures, Check(partitions=24, matching=23, recorded=99, expected=100))
    assert math.isnan(bad["events_s"]) and math.isnan(bad["cpu_per_1k"])
    assert (bad["seconds"], bad["checked"], bad["records_recorded"]) == (5.0, 0.0, 99.0)
    good = checked(figures, Check(partitions=24, matching=24, recorded=100, expected=100))
    assert (good["events_s"], good["checked"]) == (9_000.0, 1.0)


def test_the_hottest_share_adds_a_partitions_views_and_orders() -> None:
    ends = {("v", 0): 30, ("o", 0): 10, ("v", 1): 50, ("o", 1): 10}
    assert hottest_share(ends) == pytest.approx(0.6)
    assert math.isnan(hottest_share({}))


def _once() -> dict[str, float]:
    rates = _rates()
    f = {key(b, n, "events_s"): v for (b, n), v in rates.items()}
    f |= {key(b, n, name): v for b, n in rates for name, v in
          (("checked", 1.0), ("records_recorded", 60_000.0), ("records_expected", 60_000.0),
           ("fill_share", 0.1))}
    return f | scaling_figures(rates) | {"partitions": 12.0, "events": 60_000.0, "cores": 2.0,
                                         "hottest_partition_share": 0.25}


def test_table_rows_are_worker_counts_with_rates_ratio_and_efficiencies() -> None:
    assert scaling_rows(_once()) == [
        ["1", "10,000", "8,000", "0.80x", "100%", "100%"],
        ["2", "18,000", "12,000", "0.67x", "90%", "75%"],
        ["4", "20,000", "16,000", "0.80x", "50%", "50%"],
    ]


def test_section_states_the_cores_and_a_failed_check() -> None:
    once = _once() | {key("cluster", 4, "checked"): 0.0,
                      key("cluster", 4, "records_recorded"): 59_000.0}
    text = "\n".join(scaling_section(Results(once={"scaling": once})))
    assert "This machine has 2 cores" in text
    assert "flattens past 2 workers" in text
    assert "busiest partition holds 25% of the records (an even spread: 8%)" in text
    assert "cluster, 4 workers (59,000 of 60,000 records recorded)" in text
    assert "| 4 | 20,000 | 16,000 | 0.80x | 50% | 50% |" in text


def test_section_tells_a_worker_that_exited_from_a_failed_check() -> None:
    once = _once() | {key("single", 2, "exited"): 1.0, key("single", 2, "checked"): 0.0}
    text = "\n".join(scaling_section(Results(once={"scaling": once})))
    assert "A worker exited before the drain ended in single, 2 workers**" in text
    assert "did not record" not in text
    assert "no run lost records" not in text
    assert "kept up with the fill" not in text


def test_section_names_the_runs_the_fill_paced() -> None:
    once = _once() | {key("cluster", 4, "fill_share"): 0.8}
    text = "\n".join(scaling_section(Results(once={"scaling": once})))
    assert "applied before it ended) in cluster, 4 workers: there the fill" in text


def test_render_puts_the_section_in_a_scaling_only_run() -> None:
    meta = Meta(command="make bench", started="now", minutes=1.0, runs=0, quick=True,
                only=("scaling",))
    text = render(Results(once={"scaling": _once()}), meta)
    assert "## Worker scaling" in text
    assert "no run lost records" in text
    assert scaling_section(Results()) == []


def test_the_plot_is_written(tmp_path: Path) -> None:
    path = tmp_path / "scaling.png"
    plots.scaling(_once() | {key("cluster", 1, "events_s"): math.nan}, path)
    assert path.stat().st_size > 0
