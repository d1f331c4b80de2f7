"""Soak: the paced load for ``BENCH_SOAK_S`` seconds; worker, web and Redis memory over time.

Ten board screens stay connected throughout, so the web process does its normal work.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from bench.context import Context, Figures
from bench.live import Rig
from bench.screens import Timings, board_screen
from bench.stats import growth, percentile

_SCREENS = 10
_SAMPLES = 360


@dataclass(slots=True)
class SoakSeries:
    """Samples over the soak: (epoch s, bytes) per process, and lag."""

    worker_rss: list[tuple[float, float]] = field(default_factory=list)
    web_rss: list[tuple[float, float]] = field(default_factory=list)
    redis_memory: list[tuple[float, float]] = field(default_factory=list)
    lag: list[tuple[float, float]] = field(default_factory=list)


async def soak(ctx: Context, rig: Rig) -> tuple[Figures, SoakSeries]:
    """Hold the load, sampling memory about 360 times over the soak."""
    duration = ctx.config.soak_s
    every = max(1.0, duration / _SAMPLES)
    timings = Timings()
    screens = [asyncio.create_task(board_screen(rig.board_url, timings))
               for _ in range(_SCREENS)]
    series = SoakSeries()
    try:
        await rig.warm_up()
        began = time.time()
        while time.time() - began < duration:
            worker, web = rig.worker, rig.web
            w = worker.sample() if worker else None
            s = web.sample() if web else None
            now = time.time()
            if w is None or s is None:
                raise RuntimeError("the worker or the web process exited during the soak")
            series.worker_rss.append((now, float(w.rss_bytes)))
            series.web_rss.append((now, float(s.rss_bytes)))
            series.redis_memory.append((now, float(await rig.probe.used_memory())))
            if rig.lag:
                series.lag.append((now, rig.lag[-1].lag_s))
            rig.producer_alive()
            await asyncio.sleep(every)
    finally:
        for task in screens:
            task.cancel()
        for task in screens:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return {
        "seconds": duration,
        "rate": rig.rate,
        "worker_rss_growth": growth(series.worker_rss),
        "web_rss_growth": growth(series.web_rss),
        "redis_memory_growth": growth(series.redis_memory),
        "worker_rss_end_mb": series.worker_rss[-1][1] / 2**20 if series.worker_rss else 0.0,
        "web_rss_end_mb": series.web_rss[-1][1] / 2**20 if series.web_rss else 0.0,
        "lag_p99_s": percentile([v for _, v in series.lag], 99),
        "screen_delivery_p99_ms": percentile(timings.delivery_ms, 99),
    }, series
