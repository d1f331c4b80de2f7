"""PNG plots of a bench run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.targets import Results

Series = Sequence[tuple[float, float]]

_CONSUMERS = (
    ("ceiling.single", "ceiling, 1/msg"), ("floor.single", "faust floor, 1/msg"),
    ("pipeline.single", "pipeline, 1/msg"), ("pipeline.single_quiet", "pipeline, no metrics"),
    ("naive", "naive per-event"), ("ceiling.envelopes", "ceiling, envelopes"),
    ("floor.envelopes", "faust floor, envelopes"), ("pipeline.envelopes", "pipeline, envelopes"),
)


def throughput(results: Results, path: Path) -> None:
    """Events/s per consumer: median bar, each run as a dot (log scale)."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    labels = []
    for i, (scenario, label) in enumerate(_CONSUMERS):
        runs = results.per_run(scenario, "events_s")
        if not runs:
            continue
        labels.append((i, label))
        ax.barh(i, results.median(scenario, "events_s"), color="#4c78a8")
        ax.plot(runs, [i] * len(runs), "o", color="#f58518", markersize=4)
    ax.set_yticks([i for i, _ in labels], [label for _, label in labels])
    ax.set_xscale("log")
    ax.set_xlabel("events per second (log scale); dots: each run")
    ax.set_title("Throughput on pre-filled topics")
    ax.invert_yaxis()
    _save(fig, path)


def cdf(curves: Mapping[str, Sequence[float]], path: Path, *, title: str,
        xlabel: str) -> None:
    """Cumulative distributions of several samples (or quantile lists) on one chart."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in curves.items():
        ordered = sorted(values)
        if not ordered:
            continue
        ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
        ax.plot(ordered, ys, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of messages")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def lag(series: Series, path: Path, *, title: str, marks: Mapping[str, float] | None = None,
        spans: Mapping[str, tuple[float, float]] | None = None) -> None:
    """Lag over time, with events marked (vertical lines) and spans shaded."""
    if not series:
        return
    t0 = series[0][0]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot([t - t0 for t, _ in series], [v for _, v in series], color="#4c78a8")
    for label, (start, end) in (spans or {}).items():
        ax.axvspan(start - t0, end - t0, color="#f58518", alpha=0.2, label=label)
    for label, at in (marks or {}).items():
        ax.axvline(at - t0, color="#e45756", linestyle="--", label=label)
    ax.axhline(1.0, color="grey", linewidth=0.8, label="1 s")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("seconds")
    ax.set_ylabel("lag, s (newest applied view event)")
    ax.set_title(title)
    ax.legend()
    _save(fig, path)


def memory(curves: Mapping[str, Series], path: Path) -> None:
    """Memory over the soak, MiB."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    start = min((s[0][0] for s in curves.values() if s), default=0.0)
    for label, series in curves.items():
        ax.plot([(t - start) / 60 for t, _ in series], [v / 2**20 for _, v in series],
                label=label)
    ax.set_xlabel("minutes")
    ax.set_ylabel("MiB")
    ax.set_title("Memory during the soak")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def _save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
