"""The targets of issue 6, judged on the medians of per-run figures.

A ratio is formed inside each run (both sides measured minutes apart on the same
machine) and the median is taken over runs, never a ratio of medians.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.context import Figures
from bench.stats import median, ratio


@dataclass(slots=True)
class Results:
    """Figures of every run (scenario → name → value) and of the once-only scenarios.

    Usage::

        results = Results(runs=[{"pipeline.single": {"events_s": 9000.0}}], once={})
        results.median("pipeline.single", "events_s")   # 9000.0
    """

    runs: list[dict[str, Figures]] = field(default_factory=list)
    once: dict[str, Figures] = field(default_factory=dict)

    def per_run(self, scenario: str, name: str) -> list[float]:
        """The figure in each run that has it."""
        return [run[scenario][name] for run in self.runs
                if scenario in run and name in run[scenario]]

    def median(self, scenario: str, name: str) -> float:
        """Median over runs; once-only scenarios answer their single value."""
        if scenario in self.once:
            return self.once[scenario].get(name, math.nan)
        return median(self.per_run(scenario, name))

    def run_ratios(self, top: tuple[str, str], bottom: tuple[str, str]) -> list[float]:
        """``top / bottom`` inside each run that measured both."""
        return [ratio(run[top[0]][top[1]], run[bottom[0]][bottom[1]]) for run in self.runs
                if top[0] in run and bottom[0] in run
                and top[1] in run[top[0]] and bottom[1] in run[bottom[0]]]

    def ratio(self, top: tuple[str, str], bottom: tuple[str, str]) -> float:
        """Median over runs of the in-run ratio ``top / bottom``."""
        return median(self.run_ratios(top, bottom))


@dataclass(frozen=True, slots=True)
class Target:
    """One requirement: a measured value compared with a limit."""

    key: str
    text: str
    measure: Callable[[Results], float]
    limit: float
    at_least: bool
    unit: str
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """A target judged: the value, met or not (None when it could not be measured)."""

    target: Target
    value: float
    met: bool | None

    def shown(self, value: float | None = None) -> str:
        """The value (or the limit) in the target's unit."""
        v = self.value if value is None else value
        if math.isnan(v):
            return "not measured"
        if math.isinf(v):
            return "not within the bound"
        scaled = v * self.target.scale
        digits = 3 if abs(scaled) < 0.1 else (2 if abs(scaled) < 10 else 1)
        return f"{scaled:.{digits}f}{self.target.unit}"

    def margin(self) -> str:
        """How far from the limit, in words, relative to the limit."""
        if self.met is None:
            return "-"
        limit = self.target.limit
        if math.isinf(self.value):
            return "never, within the scenario's bound"
        if limit == 0:
            return "met" if self.met else "missed"
        off = abs(self.value - limit) / abs(limit)
        if self.met:
            return f"{off:.0%} to spare"
        return f"{'short' if self.target.at_least else 'over'} by {off:.0%}"


def judge(target: Target, results: Results) -> Verdict:
    """Compare the target's measured value with its limit."""
    value = target.measure(results)
    if math.isnan(value):
        return Verdict(target, value, None)
    met = value >= target.limit if target.at_least else value <= target.limit
    return Verdict(target, value, met)


def _metrics_cost(results: Results) -> float:
    share = results.ratio(("pipeline.single", "events_s"), ("pipeline.single_quiet", "events_s"))
    return 1.0 - share


TARGETS: Sequence[Target] = (
    Target("single_vs_floor", "one event per message: pipeline ≥ 0.9 x faust floor",
           lambda r: r.ratio(("pipeline.single", "events_s"), ("floor.single", "events_s")),
           0.9, True, "x"),
    Target("envelopes_vs_ceiling", "envelopes: pipeline ≥ 0.5 x ceiling",
           lambda r: r.ratio(("pipeline.envelopes", "events_s"),
                             ("ceiling.envelopes", "events_s")),
           0.5, True, "x"),
    Target("envelopes_vs_naive", "envelopes: pipeline ≥ 10 x naive baseline",
           lambda r: r.ratio(("pipeline.envelopes", "events_s"), ("naive", "events_s")),
           10.0, True, "x"),
    Target("single_vs_naive", "one event per message: pipeline ≥ 10 x naive baseline",
           lambda r: r.ratio(("pipeline.single", "events_s"), ("naive", "events_s")),
           10.0, True, "x"),
    Target("round_trips_single", "one event per message: ≤ 0.01 Redis round trips per event",
           lambda r: r.median("pipeline.single", "round_trips_per_event"),
           0.01, False, " per event"),
    Target("round_trips_envelopes", "envelopes: ≤ 0.01 Redis round trips per event",
           lambda r: r.median("pipeline.envelopes", "round_trips_per_event"),
           0.01, False, " per event"),
    Target("screen_p99", "freshness to screen at 70 % load: p99 ≤ 500 ms",
           lambda r: r.median("freshness", "screen_p99_ms"), 500.0, False, " ms"),
    Target("screen_p50", "freshness to screen at 70 % load: p50 ≤ 200 ms",
           lambda r: r.median("freshness", "screen_p50_ms"), 200.0, False, " ms"),
    Target("fanout_p99", "fan-out, 1,000 clients: delivery p99 ≤ 100 ms",
           lambda r: r.median("fanout", "board_p99_ms"), 100.0, False, " ms"),
    Target("fanout_cpu", "fan-out, 1,000 clients: web process ≤ 25 % of one core",
           lambda r: r.median("fanout", "web_cpu_share"), 0.25, False, " %", 100.0),
    Target("metrics_cost", "metrics cost ≤ 3 % of throughput", _metrics_cost,
           0.03, False, " %", 100.0),
    Target("soak_worker_rss", "soak past every horizon: worker RSS growth ≤ 10 % after warm-up",
           lambda r: r.median("soak", "worker_rss_growth"), 0.10, False, " %", 100.0),
    Target("soak_redis_memory",
           "soak past every horizon: Redis used_memory growth ≤ 10 % after warm-up",
           lambda r: r.median("soak", "redis_memory_growth"), 0.10, False, " %", 100.0),
    Target("soak_web_rss", "soak: web RSS growth ≤ 10 % after warm-up",
           lambda r: r.median("soak", "web_rss_growth"), 0.10, False, " %", 100.0),
    Target("recovery", "worker SIGKILLed: lag back under 1 s within 15 s",
           lambda r: r.median("recovery", "recover_s"), 15.0, False, " s"),
)
