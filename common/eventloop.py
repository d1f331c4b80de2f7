"""The event loop the worker, the web process and the bench consumers run on: uvloop.

faust's per-message path is mostly asyncio scheduling (41 % of the worker's self time
with one event per message in bench/results), and the web process' fan-out is socket
writes: both are what libuv's loop does faster than asyncio's pure-Python one. Measured
side by side on the bench's pre-filled topics (two runs each): the do-nothing faust
agent went from 6,846-7,179 to 10,978-13,916 events/s with one event per message, the
worker from 6,013-6,322 to 8,814-10,496; with 50-event envelopes the worker went from
68,958-76,390 to 73,705-97,117 events/s.
"""

from __future__ import annotations

import asyncio

import uvloop

from common import kafka_on_uvloop, redis_on_uvloop


def use_uvloop() -> None:
    """Make every event loop created from now on (any thread) a uvloop loop, with
    aiokafka's and redis-py's connections taught uvloop's closed-socket error."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    kafka_on_uvloop.install()
    redis_on_uvloop.install()


def loop_kind() -> str:
    """``uvloop`` or ``asyncio``: the loop running the caller (for /healthz)."""
    return "uvloop" if isinstance(asyncio.get_running_loop(), uvloop.Loop) else "asyncio"
