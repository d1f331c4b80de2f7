"""PNG plots of a bench run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.scenarios.scaling import BACKENDS, PARTITIONS, WORKERS, key
from bench.scenarios.soak import SoakSeries
from bench.stats import Series
from bench.targets import Results

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
        xlabel: str, ylabel: str = "share of messages") -> None:
    """Cumulative distributions of several samples (or quantile lists) on one chart."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in curves.items():
        ordered = sorted(values)
        if not ordered:
            continue
        ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
        ax.plot(ordered, ys, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
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


def soak_memory(soak: SoakSeries, path: Path) -> None:
    """Worker, web and Redis memory over the soak, MiB, with the warm-up and the two
    windows growth compares shaded."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    t0 = soak.began
    for label, series in (("worker RSS", soak.worker_rss), ("web RSS", soak.web_rss),
                          ("Redis used_memory", soak.redis_memory)):
        ax.plot(_minutes(series, t0), [v / 2**20 for _, v in series], label=label)
    _shade_windows(ax, soak)
    ax.set_xlabel("minutes")
    ax.set_ylabel("MiB")
    ax.set_title("Memory during the soak (rotating sessions, shortened horizons)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)


def soak_state(soak: SoakSeries, path: Path) -> None:
    """The state with a horizon over the soak, one panel per kind, with a vertical line
    at each moment its horizon was crossed."""
    fig, axes = plt.subplots(3, 1, figsize=(12, 9), sharex=True)
    t0 = soak.began
    panels: Sequence[tuple[str, Sequence[tuple[str, Series, float]], Sequence[float], str]] = (
        ("order states", (("worker (ocop_worker_order_states)", soak.worker_order_states, 1.0),
                          ("Redis (HLEN of {sN}:orders)", soak.redis_order_states, 1.0)),
         soak.orders_forgotten, "a group quiet for order horizon + lateness"),
        ("dedup fingerprints", (("worker (ocop_worker_dedup_ids)", soak.worker_dedup_ids, 1.0),
                                ("Redis ({sN}:seen:* bytes / 8)", soak.redis_dedup_bytes,
                                 1 / 8)),
         soak.fingerprints_forgotten, "a minute of them past the lateness horizon"),
        ("minute buckets in Redis", (("{sN}:minute:* keys", soak.minute_buckets, 1.0),),
         soak.buckets_expired, "a minute bucket past its retention"),
    )
    for ax, (title, curves, crossings, crossing_label) in zip(axes, panels, strict=True):
        for label, series, scale in curves:
            ax.plot(_minutes(series, t0), [v * scale for _, v in series], label=label)
        for i, at in enumerate(crossings):
            ax.axvline((at - t0) / 60, color="#e45756", linestyle=":", linewidth=0.9,
                       label=crossing_label if i == 0 else None)
        _shade_windows(ax, soak)
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1].set_xlabel("minutes")
    _save(fig, path)


def scaling(figures: Mapping[str, float], path: Path) -> None:
    """Events/s against workers, one line per backend, each with the ideal linear
    speed-up from its own 1-worker rate (dashed)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = {"single": "single Redis", "cluster": "Redis Cluster (3 masters)"}
    for backend, color in zip(BACKENDS, ("#4c78a8", "#f58518"), strict=True):
        rates = [figures.get(key(backend, n, "events_s"), math.nan) for n in WORKERS]
        ax.plot(WORKERS, rates, "o-", color=color, label=labels[backend])
        if not math.isnan(rates[0]):
            ax.plot(WORKERS, [rates[0] * n for n in WORKERS], "--", color=color, alpha=0.5,
                    label=f"{labels[backend]}, ideal linear")
    cores = figures.get("cores", math.nan)
    if not math.isnan(cores):
        ax.axvline(cores, color="grey", linewidth=0.8, linestyle=":",
                   label=f"{cores:.0f} cores")
    ax.set_xticks(WORKERS)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"workers (one consumer group, {PARTITIONS} partitions)")
    ax.set_ylabel("events per second")
    ax.set_title("Worker scaling: one consumer group draining the same fair")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)


def _minutes(series: Series, t0: float) -> list[float]:
    return [(t - t0) / 60 for t, _ in series]


def _shade_windows(ax: Axes, soak: SoakSeries) -> None:
    """The warm-up, and the two windows of one rotation each that growth compares."""
    t0 = soak.began
    end = soak.worker_rss[-1][0] if soak.worker_rss else t0
    ax.axvspan(0, max(0.0, soak.warmup_end - t0) / 60, color="grey", alpha=0.12,
               label="warm-up")
    if end - soak.window_s >= soak.warmup_end + soak.window_s:
        for i, start in enumerate((soak.warmup_end, end - soak.window_s)):
            ax.axvspan((start - t0) / 60, (start + soak.window_s - t0) / 60,
                       color="#4c78a8", alpha=0.07,
                       label="windows compared (one rotation each)" if i == 0 else None)


def _save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
