"""Freshness at a paced share of the sustained maximum: event time to Redis, to a screen.

To Redis: the worker's ``ocop_freshness_applied_seconds`` histogram over the window
(its buckets bound the resolution). To a screen: a board websocket client's receive
time minus the board's ``newest_event_ms`` in each change message, and receive time
minus the message's ``server_time`` (delivery alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from bench.context import Context, Figures
from bench.live import Rig
from bench.procfs import ProcSample
from bench.screens import Timings, board_screen
from bench.stats import bucket_delta, histogram_quantile, percentile

_FRESHNESS = "ocop_freshness_applied_seconds"


def cpu_share(before: ProcSample | None, after: ProcSample | None, seconds: float) -> float:
    """CPU used between two samples as a share of one core."""
    if before is None or after is None or seconds <= 0:
        return float("nan")
    return (after.cpu_s - before.cpu_s) / seconds


async def freshness(ctx: Context, rig: Rig, *, rate: float) -> tuple[Figures, Timings]:
    """Measure for ``freshness_s`` at the rig's current ``rate``; figures and raw timings."""
    timings = Timings(recording=False)
    screen = asyncio.create_task(board_screen(rig.board_url, timings, newest=True))
    try:
        kept_up = await rig.warm_up()
        worker, web = rig.worker, rig.web
        if worker is None or web is None:
            raise RuntimeError("the rig has no worker or web process")
        before = rig.worker_scrape().buckets(_FRESHNESS)
        cpu0, web0, t0 = worker.sample(), web.sample(), time.time()
        timings.recording = True
        await asyncio.sleep(ctx.config.freshness_s)
        timings.recording = False
        cpu1, web1, t1 = worker.sample(), web.sample(), time.time()
        applied = bucket_delta(before, rig.worker_scrape().buckets(_FRESHNESS))
    finally:
        screen.cancel()
        # The screen's own fate (closed, cancelled) no longer matters once the window ended.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await screen
    lags = [s.lag_s for s in rig.lag_between(t0, t1)]
    return {
        "rate": rate,
        "kept_up": float(kept_up),
        "applied_p50_ms": 1000 * histogram_quantile(applied, 0.5),
        "applied_p99_ms": 1000 * histogram_quantile(applied, 0.99),
        "screen_p50_ms": percentile(timings.freshness_ms, 50),
        "screen_p99_ms": percentile(timings.freshness_ms, 99),
        "delivery_p50_ms": percentile(timings.delivery_ms, 50),
        "delivery_p99_ms": percentile(timings.delivery_ms, 99),
        "screen_messages": float(len(timings.freshness_ms)),
        "lag_p99_s": percentile(lags, 99),
        "worker_cpu_share": cpu_share(cpu0, cpu1, t1 - t0),
        "web_cpu_share": cpu_share(web0, web1, t1 - t0),
    }, timings
