"""The push loop both hubs run: tick after a change, or at each heartbeat, paced."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


async def tick_paced(*, running: Callable[[], bool], changed: asyncio.Event,
                     tick: Callable[[], Awaitable[None]], heartbeat_s: float,
                     interval_s: float, monotonic: Callable[[], float]) -> None:
    """Call ``tick`` after ``changed`` is set, or every ``heartbeat_s`` without a change.

    At most one tick per ``interval_s``, counted from tick start to tick start: a sleep
    after the tick would stretch every period by the tick's own time (screens got ~2
    updates/s instead of 4 when a tick took 100+ ms).
    """
    while running():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(heartbeat_s):
                await changed.wait()
        changed.clear()
        started = monotonic()
        await tick()
        await asyncio.sleep(max(0.0, interval_s - (monotonic() - started)))
