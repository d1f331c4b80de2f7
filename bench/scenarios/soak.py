"""Soak: the paced load for ``BENCH_SOAK_S`` seconds, past every horizon of the write side.

The soak rig shortens the horizons through settings (``BenchConfig.soak_overrides``)
and its producer rotates over groups of sessions, each live for a turn and then quiet
for longer than the order horizon plus the lateness horizon, so every kind of state is
both built up and forgotten several times over the soak. Sampled throughout: worker,
web and Redis memory; the worker's dedup-id and order-state gauges; and what Redis
holds of the same state (order states, fingerprint bytes, minute buckets).

Growth is judged after a warm-up that lasts past the longest horizon once, on medians
of two windows of one whole rotation each (the state saws up and down with the
rotation; whole turns compare the same phases). Ten board screens stay connected, so
the web process does its normal work.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field

from bench.config import BenchConfig
from bench.context import Context, Figures
from bench.live import Rig
from bench.paced import Rotation
from bench.screens import Timings, board_screen
from bench.stats import Series, after_warmup, growth_after, percentile
from store.windows import MINUTE_MS, minute_of

_SCREENS = 10
_SAMPLES = 360


@dataclass(frozen=True, slots=True)
class Horizons:
    """The soak's horizons (seconds) and rotation, and the warm-up they imply.

    Usage::

        horizons = Horizons.of(config)
        horizons.warmup_s            # past the longest horizon once
        horizons.orders_forgotten(rotation, start, end)
        horizons.fingerprints_forgotten(origin, start, end)
    """

    lateness_s: float
    order_horizon_s: float
    minute_retention_s: float
    live_s: float
    groups: int

    @classmethod
    def of(cls, config: BenchConfig) -> Horizons:
        """The horizons a bench configuration gives the soak rig."""
        return cls(config.soak_lateness_s, config.soak_order_horizon_s,
                   config.soak_minute_retention_s, config.soak_live_s, config.soak_groups)

    @property
    def orders_after_s(self) -> float:
        """Quiet time after which a session's order states go: horizon plus lateness."""
        return self.order_horizon_s + self.lateness_s

    @property
    def warmup_s(self) -> float:
        """Until the first group's orders, a whole minute of fingerprints and a minute
        bucket have each been forgotten once, rounded up to whole turns of the rotation."""
        longest = max(self.live_s + self.orders_after_s,
                      self.lateness_s + MINUTE_MS / 1000,
                      self.minute_retention_s + MINUTE_MS / 1000)
        return math.ceil(longest / self.live_s) * self.live_s

    @property
    def window_s(self) -> float:
        """One whole rotation: the length of each window growth compares."""
        return self.groups * self.live_s

    def orders_forgotten(self, rotation: Rotation, start_s: float, end_s: float) -> list[float]:
        """Epoch seconds in [start, end] at which a group's order states are due to go."""
        return [t + self.orders_after_s
                for t in rotation.turns_ended(start_s - self.orders_after_s,
                                              end_s - self.orders_after_s)]

    def fingerprints_forgotten(self, origin_s: float, start_s: float,
                               end_s: float) -> list[float]:
        """Epoch seconds in [start, end] at which a minute of fingerprints (from the
        load's first minute at ``origin_s`` on) is past the lateness horizon: the whole
        minute must be, so it goes at its end plus the horizon."""
        return _each_minute(origin_s, MINUTE_MS / 1000 + self.lateness_s, start_s, end_s)

    def buckets_expired(self, origin_s: float, start_s: float, end_s: float) -> list[float]:
        """Epoch seconds in [start, end] at which a minute bucket (EXPIREAT its minute
        plus the retention, wall clock) expires."""
        return _each_minute(origin_s, self.minute_retention_s, start_s, end_s)


def _each_minute(origin_s: float, after_s: float, start_s: float, end_s: float) -> list[float]:
    """``after_s`` past the start of each minute from ``origin_s``'s on, within [start, end]."""
    first = minute_of(int(origin_s * 1000)) / 1000
    step = MINUTE_MS / 1000
    count = max(0, math.floor((end_s - after_s - first) / step) + 1)
    return [t for t in (first + k * step + after_s for k in range(count)) if t >= start_s]


@dataclass(slots=True)
class SoakSeries:
    """Samples over the soak, (epoch s, value) each, and when the horizons were crossed."""

    worker_rss: list[tuple[float, float]] = field(default_factory=list)
    web_rss: list[tuple[float, float]] = field(default_factory=list)
    redis_memory: list[tuple[float, float]] = field(default_factory=list)
    worker_dedup_ids: list[tuple[float, float]] = field(default_factory=list)
    worker_order_states: list[tuple[float, float]] = field(default_factory=list)
    redis_order_states: list[tuple[float, float]] = field(default_factory=list)
    redis_dedup_bytes: list[tuple[float, float]] = field(default_factory=list)
    minute_buckets: list[tuple[float, float]] = field(default_factory=list)
    lag: list[tuple[float, float]] = field(default_factory=list)
    began: float = 0.0
    warmup_end: float = 0.0
    window_s: float = 0.0
    # Epoch seconds at which a horizon is crossed: a group's orders, a minute of
    # fingerprints and a minute bucket each due to go.
    orders_forgotten: list[float] = field(default_factory=list)
    fingerprints_forgotten: list[float] = field(default_factory=list)
    buckets_expired: list[float] = field(default_factory=list)


async def soak(ctx: Context, rig: Rig) -> tuple[Figures, SoakSeries]:
    """Hold the rotating load, sampling about 360 times over the soak."""
    duration = ctx.config.soak_s
    horizons = Horizons.of(ctx.config)
    rotation = rig.rotation
    if rotation is None:
        raise ValueError(f"the soak needs a rig with a rotation; {rig.name!r} has none")
    every = max(1.0, duration / _SAMPLES)
    timings = Timings()
    screens = [asyncio.create_task(board_screen(rig.board_url, timings))
               for _ in range(_SCREENS)]
    series = SoakSeries()
    try:
        await rig.warm_up()
        series.began = began = time.time()
        while time.time() - began < duration:
            await _sample(rig, series)
            rig.producer_alive()
            await asyncio.sleep(every)
    finally:
        for task in screens:
            task.cancel()
        for task in screens:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    end = series.worker_rss[-1][0] if series.worker_rss else began
    # The load, and with it stream time, began with the rig: horizons count from there.
    origin = rotation.epoch_s
    series.warmup_end = origin + horizons.warmup_s
    series.window_s = horizons.window_s
    series.orders_forgotten = horizons.orders_forgotten(rotation, began, end)
    series.fingerprints_forgotten = horizons.fingerprints_forgotten(origin, began, end)
    series.buckets_expired = horizons.buckets_expired(origin, began, end)
    return _figures(duration, rig.rate, horizons, series, timings), series


async def _sample(rig: Rig, series: SoakSeries) -> None:
    worker, web = rig.worker, rig.web
    w = worker.sample() if worker else None
    s = web.sample() if web else None
    if w is None or s is None:
        raise RuntimeError(f"{rig.name}: the worker or the web process exited during the soak")
    scrape = rig.worker_scrape()
    now = time.time()
    held = await rig.probe.held_state(rig.keys, rig.ctx.config.partitions,
                                      int(rig.started_s * 1000), int(now * 1000))
    series.worker_rss.append((now, float(w.rss_bytes)))
    series.web_rss.append((now, float(s.rss_bytes)))
    series.redis_memory.append((now, float(await rig.probe.used_memory())))
    series.worker_dedup_ids.append((now, scrape.total("ocop_worker_dedup_ids")))
    series.worker_order_states.append((now, scrape.total("ocop_worker_order_states")))
    series.redis_order_states.append((now, float(held.order_states)))
    series.redis_dedup_bytes.append((now, float(held.dedup_bytes)))
    series.minute_buckets.append((now, float(held.minute_buckets)))
    if rig.lag:
        series.lag.append((now, rig.lag[-1].lag_s))


def _figures(duration: float, rate: float, horizons: Horizons, series: SoakSeries,
             timings: Timings) -> Figures:
    start, window = series.warmup_end, series.window_s

    def grew(samples: Series) -> float:
        return growth_after(samples, start, window)

    def peak(samples: Series, which: int, scale: float = 1.0) -> float:
        values = after_warmup(samples, start, window)[which]
        return max(values) * scale if values else math.nan

    return {
        "seconds": duration,
        "rate": rate,
        "lateness_s": horizons.lateness_s,
        "order_horizon_s": horizons.order_horizon_s,
        "minute_retention_s": horizons.minute_retention_s,
        "live_s": horizons.live_s,
        "groups": float(horizons.groups),
        "warmup_s": horizons.warmup_s,
        "window_s": window,
        "order_groups_forgotten": float(len(series.orders_forgotten)),
        "fingerprint_minutes_forgotten": float(len(series.fingerprints_forgotten)),
        "minute_buckets_expired": float(len(series.buckets_expired)),
        "worker_rss_growth": grew(series.worker_rss),
        "web_rss_growth": grew(series.web_rss),
        "redis_memory_growth": grew(series.redis_memory),
        "order_states_growth": grew(series.worker_order_states),
        "dedup_ids_growth": grew(series.worker_dedup_ids),
        "worker_rss_end_mb": _last(series.worker_rss) / 2**20,
        "web_rss_end_mb": _last(series.web_rss) / 2**20,
        "redis_memory_end_mb": _last(series.redis_memory) / 2**20,
        # Peaks of the first and of the last window after the warm-up: a plateau has
        # the same peak in both.
        "worker_order_states_peak_first": peak(series.worker_order_states, 0),
        "worker_order_states_peak_last": peak(series.worker_order_states, 1),
        "redis_order_states_peak_first": peak(series.redis_order_states, 0),
        "redis_order_states_peak_last": peak(series.redis_order_states, 1),
        "worker_dedup_ids_peak_first": peak(series.worker_dedup_ids, 0),
        "worker_dedup_ids_peak_last": peak(series.worker_dedup_ids, 1),
        "redis_dedup_mb_peak_first": peak(series.redis_dedup_bytes, 0, 1 / 2**20),
        "redis_dedup_mb_peak_last": peak(series.redis_dedup_bytes, 1, 1 / 2**20),
        "minute_buckets_peak_first": peak(series.minute_buckets, 0),
        "minute_buckets_peak_last": peak(series.minute_buckets, 1),
        "lag_p99_s": percentile([v for _, v in series.lag], 99),
        "screen_delivery_p99_ms": percentile(timings.delivery_ms, 99),
    }


def _last(samples: Series) -> float:
    return samples[-1][1] if samples else math.nan
