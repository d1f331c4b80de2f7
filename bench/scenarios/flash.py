"""Flash sale: the paced base load jumps tenfold for a while; how long until lag < 1 s.

The producer never catches up on what it could not send, so the spike it really
reached is reported next to the one asked for. The lower bound on recovery follows
from the backlog: (reached - capacity) x spike length / (capacity - base).
"""

from __future__ import annotations

import asyncio
import math
import time

from bench.context import Context, Figures
from bench.live import Rig, sent_between

_LEAD_S = 5.0


def recovery_floor(*, reached: float, capacity: float, base: float, spike_s: float) -> float:
    """Shortest possible drain time (s) of the backlog a spike leaves; 0 if none builds."""
    backlog = max(0.0, reached - capacity) * spike_s
    if backlog == 0:
        return 0.0
    spare = capacity - base
    return backlog / spare if spare > 0 else math.inf


async def flash_sale(ctx: Context, rig: Rig, *, capacity: float) -> Figures:
    """Spike, then wait (bounded) for lag to stay under 1 s."""
    config = ctx.config
    base, spike = rig.rate, rig.rate * config.flash_factor
    await rig.warm_up()
    spike_start = time.time() + _LEAD_S
    await rig.set_load([(0.0, base), (_LEAD_S, spike), (_LEAD_S + config.flash_s, base)])
    await asyncio.sleep(max(0.0, spike_start + config.flash_s - time.time()))
    spike_end = time.time()
    recovered = await rig.settle(cap_s=config.recover_cap_s)
    done = time.time()
    # Swapping the producer collects the spike producer's report (what it really sent).
    await rig.set_load([(0.0, base)])
    reached = sent_between(rig.loads, spike_start, spike_end)
    lags = [s.lag_s for s in rig.lag_between(spike_start, done) if not math.isnan(s.lag_s)]
    return {
        "base_rate": base,
        "spike_asked": spike,
        "spike_reached": reached,
        "max_lag_s": max(lags, default=math.nan),
        "recover_s": math.inf if recovered is None else recovered,
        "recover_cap_s": config.recover_cap_s,
        "recover_floor_s": recovery_floor(reached=reached, capacity=capacity, base=base,
                                          spike_s=config.flash_s),
        "t_spike_start": spike_start,
        "t_spike_end": spike_end,
    }
