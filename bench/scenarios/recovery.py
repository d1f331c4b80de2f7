"""Worker crash: SIGKILL the worker under the paced load, start another at once.

Measures the time until the new worker applies its first event (group rebalance and
resume from Redis) and until lag is back under 1 s.
"""

from __future__ import annotations

import asyncio
import math
import time

from bench.context import Context, Figures
from bench.live import Rig

_POLL_S = 0.1


async def worker_killed(ctx: Context, rig: Rig) -> Figures:
    """Kill, restart, and wait (bounded) for the lag to settle."""
    config = ctx.config
    await rig.warm_up()
    worker = rig.worker
    if worker is None:
        raise RuntimeError("the rig has no worker")
    marks = await rig.probe.watermarks(rig.keys, rig.settings.views_topic, config.partitions)
    killed = time.time()
    worker.kill()
    rig.start_worker()
    takeover: float | None = None
    while time.time() - killed < config.recover_cap_s:
        now = await rig.probe.watermarks(rig.keys, rig.settings.views_topic, config.partitions)
        if any(now.get(p, 0) > m for p, m in marks.items()):
            takeover = time.time() - killed
            break
        rig.producer_alive()
        await asyncio.sleep(_POLL_S)
    settle_from = time.time()
    left = config.recover_cap_s - (settle_from - killed)
    settled = await rig.settle(cap_s=left) if takeover is not None and left > 0 else None
    done = time.time()
    lags = [s.lag_s for s in rig.lag_between(killed, done) if not math.isnan(s.lag_s)]
    return {
        "takeover_s": math.inf if takeover is None else takeover,
        "recover_s": math.inf if settled is None else settle_from - killed + settled,
        "max_lag_s": max(lags, default=math.nan),
        "recover_cap_s": config.recover_cap_s,
        "t_killed": killed,
    }
