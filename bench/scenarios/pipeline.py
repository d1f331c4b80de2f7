"""Pipeline: the real ``ocop-live worker`` on pre-filled topics, measured from outside.

Progress is read from Redis (the offsets the worker records with its counters, as
tests/processes.py ``wait_caught_up`` does), CPU from ``/proc``, round trips from the
worker's own ``/metrics`` and command counts from Redis ``INFO``.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

from bench.context import Context, Figures
from bench.prefill import Prefilled
from bench.profiler import Recording
from bench.redisprobe import RedisProbe
from bench.services import Service, ServiceError, fetch_text, python_argv, settings_env
from bench.stats import Scrape
from bench.throughput import Progress, window
from bench.topics import scenario_settings
from store.keys import Keys

_POLL_S = 0.02
_TIMEOUT_S = 900.0
WORKER = "cli"
QUIET_WORKER = "bench.quiet"


async def run_worker(ctx: Context, prefilled: Prefilled, *, source_tag: str, name: str,
                     module: str = WORKER, profile: Path | None = None) -> Figures:
    """Start a worker on ``prefilled`` topics, wait until Redis holds every offset."""
    config = ctx.config
    settings = scenario_settings(ctx.addrs, ctx.tag(name), partitions=config.partitions,
                                 topics_of=source_tag)
    keys = Keys(settings.key_prefix)
    topics = [(settings.views_topic, config.partitions), (settings.orders_topic,
                                                          config.partitions)]
    probe = RedisProbe(settings.redis_url)
    await probe.flush()
    before = await probe.counters()
    own_before = probe.own_commands
    worker = Service.start(name, python_argv(module, "worker"), env=settings_env(settings),
                           log_dir=ctx.log_dir)
    samples: list[Progress] = []
    recording = Recording(worker.pid, profile, seconds=config.profile_s) if profile else None
    try:
        deadline = time.monotonic() + _TIMEOUT_S
        while True:
            applied = await probe.applied(keys, topics)
            stat = worker.sample()
            if stat is None:
                worker.check_alive()
                raise ServiceError(f"{name}: cannot read /proc of pid {worker.pid}")
            samples.append(Progress(time.perf_counter(), applied, stat.cpu_s))
            if applied >= prefilled.messages:
                break
            if recording is not None and applied:
                recording.start()
            if time.monotonic() > deadline:
                raise ServiceError(f"{name} applied {applied}/{prefilled.messages} in time")
            await asyncio.sleep(_POLL_S)
        if recording is not None:
            recording.stop()
        after = await probe.counters()
        # The worker counts a batch in its metrics just after Redis answered for it.
        await asyncio.sleep(0.5)
        scrape = Scrape.parse(fetch_text(
            f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"))
    finally:
        if recording is not None:
            recording.stop()
        worker.stop()
        await probe.close()
    measured = window(samples, events_per_message=prefilled.events_per_message)
    commands = after.minus(before)
    own = probe.own_commands - own_before
    events = prefilled.events
    round_trips = scrape.total("ocop_redis_roundtrip_seconds_count")
    batches = scrape.total("ocop_batch_messages_count")
    figures: Figures = {
        "events_s": measured.events_per_s,
        "cpu_per_1k": measured.cpu_per_1k,
        "seconds": measured.seconds,
        "commands_per_event": (commands.total - own) / events,
        "scripts_per_event": commands.evalsha / events,
    }
    if module == WORKER:
        figures |= {
            "round_trips_per_event": round_trips / events if round_trips else math.nan,
            "batch_messages_mean": (scrape.total("ocop_batch_messages_sum") / batches
                                    if batches else math.nan),
            "applied_events": scrape.total("ocop_events_applied_total"),
        }
    return figures
