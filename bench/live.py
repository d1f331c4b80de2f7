"""A live rig: the real worker and web process on fresh topics, fed by the paced producer.

The rig samples lag from outside all the time: wall clock minus the newest view event
Redis holds, on the partition furthest behind (the paced producer stamps events with
the time it sends them, so this is how far the board trails the fair).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from aiokafka.errors import KafkaError

from bench.context import Context
from bench.paced import Rotation, Schedule
from bench.redisprobe import RedisProbe
from bench.services import Service, fetch_text, python_argv, settings_env
from bench.stats import Scrape, median
from bench.topics import create_topics, delete_topics, scenario_settings
from common.catalog import SAMPLE_CATALOG, load_catalog
from common.settings import Settings
from consumers.catalog import publish_catalog
from store.keys import Keys

_LAG_EVERY_S = 0.2


@dataclass(frozen=True, slots=True)
class LagSample:
    """Lag at one moment: wall time (epoch s) and seconds behind (NaN before any event)."""

    t: float
    lag_s: float


@dataclass(slots=True)
class LoadReport:
    """What one paced producer sent: its start (epoch s) and events per second of its run."""

    wall_start: float = 0.0
    per_second: list[int] = field(default_factory=list)


class Rig:
    """Worker, web and paced producer, with lag sampled every 0.2 s.

    ``overrides`` are settings of the worker and web process (by field name);
    ``rotation`` makes the producer rotate over groups of sessions (its epoch is set when
    the rig starts, and kept in ``rig.rotation``).

    Usage::

        async with Rig(ctx, "fresh", rate=3500.0) as rig:
            await rig.warm_up()
            ...                       # rig.lag, rig.worker, rig.web, rig.worker_scrape()
    """

    def __init__(self, ctx: Context, name: str, *, rate: float,
                 overrides: Mapping[str, int] | None = None,
                 rotation: Rotation | None = None) -> None:
        self.ctx = ctx
        self.name = name
        self.rate = rate
        self.settings: Settings = scenario_settings(ctx.addrs, ctx.tag(name),
                                                    partitions=ctx.config.partitions,
                                                    overrides=overrides)
        self.rotation = rotation
        self.keys = Keys(self.settings.key_prefix)
        self.probe = RedisProbe(self.settings.redis_url)
        self.lag: list[LagSample] = []
        self.loads: list[LoadReport] = []
        self.worker: Service | None = None
        self.web: Service | None = None
        self._producer: tuple[Service, Path] | None = None
        self._sampler: asyncio.Task[None] | None = None
        self._started_ms = 0

    async def __aenter__(self) -> Rig:
        await self.probe.flush()
        await create_topics(self.settings)
        await publish_catalog(load_catalog(SAMPLE_CATALOG), settings=self.settings)
        self._started_ms = time.time_ns() // 1_000_000
        worker = self.start_worker()
        env = settings_env(self.settings)
        self.web = Service.start(f"{self.name}-web", python_argv("cli", "web"), env=env,
                                 log_dir=self.ctx.log_dir)
        self.web.wait_http(f"http://127.0.0.1:{self.settings.web_port}/healthz")
        worker.wait_http(f"http://127.0.0.1:{self.settings.worker_metrics_port}/healthz")
        if self.rotation is not None:
            # The first turn starts with the load, so the groups' turns are whole.
            self.rotation = replace(self.rotation, epoch_s=time.time())
        await self.set_load([(0.0, self.rate)])
        self._sampler = asyncio.create_task(self._sample_lag())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        self._stop_producer()
        for service in (self.web, self.worker):
            if service is not None:
                service.stop()
        await self.probe.close()
        s = self.settings
        with contextlib.suppress(KafkaError, OSError):
            await delete_topics(s.kafka_bootstrap, [s.views_topic, s.orders_topic,
                                                    s.sessions_topic, s.dlq_topic])

    def start_worker(self) -> Service:
        """Start a worker of this rig's group (again, after a kill)."""
        self.worker = Service.start(f"{self.name}-worker", python_argv("cli", "worker"),
                                    env=settings_env(self.settings), log_dir=self.ctx.log_dir)
        return self.worker

    @property
    def board_url(self) -> str:
        """The web process' board feed."""
        return f"ws://127.0.0.1:{self.settings.web_port}/ws/board"

    @property
    def host_url(self) -> str:
        """The web process' host feed (if it serves one)."""
        return f"ws://127.0.0.1:{self.settings.web_port}/ws/host"

    async def set_load(self, schedule: Schedule) -> None:
        """Replace the paced producer; the old one stops a second after the new one starts.

        The overlap keeps events flowing, so the switch itself shows no lag.
        """
        out = self.ctx.log_dir / f"{self.settings.app_id}-load-{time.monotonic_ns()}.json"
        argv = python_argv(
            "bench.paced", "--bootstrap", self.settings.kafka_bootstrap,
            "--views", self.settings.views_topic, "--orders", self.settings.orders_topic,
            "--schedule", json.dumps([list(seg) for seg in schedule]),
            "--seed", str(self.ctx.config.seed + len(self.loads)), "--out", str(out),
            "--partitions", str(self.ctx.config.partitions),
            *(("--rotation", self.rotation.to_json()) if self.rotation else ()),
        )
        new = Service.start(f"{self.name}-load", argv, env=settings_env(self.settings),
                            log_dir=self.ctx.log_dir)
        if self._producer is not None:
            await asyncio.sleep(1.0)
            self._stop_producer()
        self._producer = (new, out)

    def _stop_producer(self) -> None:
        if self._producer is None:
            return
        service, out = self._producer
        self._producer = None
        service.stop(timeout_s=30)
        with contextlib.suppress(OSError, ValueError, KeyError):
            raw: dict[str, Any] = json.loads(out.read_text())
            self.loads.append(LoadReport(raw["wall_start"], list(raw["per_second"])))

    def producer_alive(self) -> None:
        """Raise if the paced producer died."""
        if self._producer is not None:
            self._producer[0].check_alive()

    @property
    def started_s(self) -> float:
        """When the rig started (epoch s): its minute buckets are all from then on."""
        return self._started_ms / 1000

    async def lag_now(self) -> float:
        """Seconds between now and the newest view event Redis holds, worst partition."""
        marks = await self.probe.watermarks(self.keys, self.settings.views_topic,
                                            self.ctx.config.partitions)
        fresh = [m for m in marks.values() if m >= self._started_ms]
        if not fresh:
            return math.nan
        return max(0.0, time.time() - min(fresh) / 1000)

    async def _sample_lag(self) -> None:
        while True:
            self.lag.append(LagSample(time.time(), await self.lag_now()))
            await asyncio.sleep(_LAG_EVERY_S)

    def lag_between(self, start: float, end: float) -> list[LagSample]:
        """Lag samples taken in [start, end] (epoch seconds)."""
        return [s for s in self.lag if start <= s.t <= end]

    async def settle(self, *, below_s: float = 1.0, hold_s: float = 3.0,
                     cap_s: float = 90.0) -> float | None:
        """Seconds until lag is under ``below_s``; None past ``cap_s``.

        Lag saws up and down with every batch, so "under" means the median of the samples
        of the last ``hold_s`` seconds; the answer is when that window began.
        """
        began = time.time()
        while time.time() - began < cap_s:
            self.producer_alive()
            now = time.time()
            recent = [s.lag_s for s in self.lag_between(now - hold_s, now)]
            if (len(recent) >= hold_s / _LAG_EVERY_S / 2 and now - began >= hold_s
                    and median(recent) < below_s):
                return max(0.0, now - hold_s - began)
            await asyncio.sleep(_LAG_EVERY_S)
        return None

    async def warm_up(self) -> bool:
        """Wait (up to ``warmup_s``) until the worker keeps up; False if it did not.

        Measuring goes on either way: a worker that cannot keep up is a result too.
        """
        cap_s = self.ctx.config.warmup_s
        ready = await self.settle(cap_s=cap_s) is not None
        if not ready:
            self.ctx.log(f"{self.name}: lag stayed over 1 s for {cap_s:.0f} s; measuring anyway")
        return ready

    def worker_scrape(self) -> Scrape:
        """The worker's /metrics now."""
        return Scrape.parse(fetch_text(
            f"http://127.0.0.1:{self.settings.worker_metrics_port}/metrics"))

    def web_scrape(self) -> Scrape:
        """The web process' /metrics now."""
        return Scrape.parse(fetch_text(f"http://127.0.0.1:{self.settings.web_port}/metrics"))


def sent_between(loads: Sequence[LoadReport], start: float, end: float) -> float:
    """Events the producers sent per second, on average, within [start, end] (epoch s)."""
    total = 0
    for load in loads:
        for second, n in enumerate(load.per_second):
            if start <= load.wall_start + second < end:
                total += n
    return total / (end - start) if end > start else math.nan
