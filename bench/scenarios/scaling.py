"""Worker scaling: 1, 2 and 4 real workers in one consumer group draining 12 partitions,
on a single Redis (the bench's own stack) and on a Redis Cluster of three masters (a
second stack of three Kafka brokers, three masters and three replicas).

One fair is generated, one event per message, and every run drains the same records.
Each run has a consumer group, key prefix and topics of its own (so Redis starts empty),
and starts its workers at once, each with its own metrics port and static-membership
name. The topics are filled only once the group is stable with every worker in it: the
brokers start a group without waiting for more members
(``group.initial.rebalance.delay.ms=0``), so on pre-filled topics the first worker
would drain alone until the others joined, and the run would time the rebalances as
much as the workers. Each run is timed from the first
record applied to the last, as the pipeline scenario times one worker; the fill runs in
the bench process meanwhile, and the share of the records applied before it ended is
reported (past half, the fill set the pace as much as the workers).

The check is cheap: after the drain, the offsets Redis records for every partition
(``Keys.offsets(shard)``) must be the topics' end offsets minus one, else the run's
figures are NaN, so a run that lost records cannot report a good number. A worker that
exits before the drain ends leaves its run without figures too, and the report says so.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bench.context import Context, Figures
from bench.prefill import Prefilled, fair_messages, now_ms, prefill, singles
from bench.services import Service, ServiceError, python_argv, settings_env
from bench.stats import ratio
from bench.throughput import Progress, window
from bench.topics import Outgoing, create_topics, delete_topics, end_offsets, scenario_settings
from common.settings import Settings
from devtools.stack import LocalStack, StackAddresses
from devtools.stack.ports import pick_free_ports
from store.client import RedisClient, redis_client
from store.keys import Keys

BACKENDS = ("single", "cluster")
WORKERS = (1, 2, 4)
PARTITIONS = 12
_POLL_S = 0.02
# The consumer group is looked at this often until it holds every worker.
_GROUP_POLL_S = 0.25
_TIMEOUT_S = 900.0
_FORM_TIMEOUT_S = 120.0
_STACK_TIMEOUT_S = 300.0
# The figures a run that failed its check does not report.
_MEASURED = ("events_s", "cpu_per_1k")


def key(backend: str, workers: int, name: str) -> str:
    """The flat figure name of one run's figure: ``single.w2.events_s``."""
    return f"{backend}.w{workers}.{name}"


def scaling_figures(rates: Mapping[tuple[str, int], float]) -> Figures:
    """Speed-up over the backend's 1-worker rate and per-worker efficiency (speed-up /
    workers) of each (backend, workers) rate, and the cluster / single ratio per count.

    A backend without a 1-worker rate (or a NaN one) gets NaN speed-ups.
    """
    out: Figures = {}
    for (backend, workers), rate in rates.items():
        base = rates.get((backend, 1), math.nan)
        speedup = ratio(rate, base)
        out[key(backend, workers, "speedup")] = speedup
        out[key(backend, workers, "efficiency")] = ratio(speedup, workers)
    for workers in sorted({w for _, w in rates}):
        out[f"ratio.w{workers}.events_s"] = ratio(rates.get(("cluster", workers), math.nan),
                                                  rates.get(("single", workers), math.nan))
    return out


@dataclass(frozen=True, slots=True)
class Check:
    """The offsets Redis recorded against the topics' end offsets, per partition."""

    partitions: int
    matching: int
    recorded: int
    expected: int

    @property
    def ok(self) -> bool:
        """Whether every partition's recorded offset is its end offset minus one."""
        return self.matching == self.partitions


def compare(recorded: Mapping[tuple[str, int], int | None],
            ends: Mapping[tuple[str, int], int]) -> Check:
    """Check ``recorded`` (last applied offset per (topic, partition), None for none)
    against ``ends`` (the next offset of each)."""
    applied = {tp: (0 if v is None else v + 1) for tp, v in recorded.items()}
    matching = sum(1 for tp, end in ends.items() if applied.get(tp, 0) == end)
    return Check(partitions=len(ends), matching=matching, recorded=sum(applied.values()),
                 expected=sum(ends.values()))


def checked(figures: Figures, check: Check) -> Figures:
    """A run's figures with its check; the measured ones NaN when the check failed."""
    measured = figures if check.ok else figures | dict.fromkeys(_MEASURED, math.nan)
    return measured | {"checked": float(check.ok), "records_recorded": float(check.recorded),
                       "records_expected": float(check.expected)}


async def _recorded(redis: RedisClient, keys: Keys,
                    topics: Sequence[str]) -> dict[tuple[str, int], int | None]:
    """The last applied offset of every partition of ``topics`` that Redis records."""
    pairs = [(topic, p) for topic in topics for p in range(PARTITIONS)]
    # On a cluster the pipeline sends each master the HGETs of its own shards.
    async with redis.pipeline(transaction=False) as pipe:
        for topic, partition in pairs:
            pipe.hget(keys.offsets(partition), topic)
        values = await pipe.execute()
    return {tp: (None if v is None else int(v)) for tp, v in zip(pairs, values, strict=True)}


async def _group_formed(admin: AIOKafkaAdminClient, group: str, members: int) -> bool:
    """Whether ``group`` is stable with ``members`` members (each then holds partitions).

    Not yet, while the brokers have no coordinator for it (a new cluster creates its
    offsets topic on the first group's request).
    """
    try:
        responses = await admin.describe_consumer_groups([group])
    except KafkaError as exc:
        if exc.retriable:
            return False
        raise
    for response in responses:
        for entry in response.groups:
            # (error_code, group, state, protocol_type, protocol, members, ...)
            if entry[1] == group and entry[2] == "Stable" and len(entry[5]) == members:
                return True
    return False


def _cpu(workers: Sequence[Service]) -> float | Service:
    """The workers' CPU seconds so far, or the first worker found exited."""
    total = 0.0
    for worker in workers:
        stat = worker.sample()
        if stat is None:
            return worker
        total += stat.cpu_s
    return total


async def _wait_formed(admin: AIOKafkaAdminClient, group: str,
                       workers: Sequence[Service]) -> None:
    """Until ``group`` is stable with every worker in it; ServiceError if one exits or
    the group does not form in time."""
    deadline = time.monotonic() + _FORM_TIMEOUT_S
    while not await _group_formed(admin, group, len(workers)):
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            raise ServiceError(f"group {group} did not hold its {len(workers)} workers "
                               f"within {_FORM_TIMEOUT_S:.0f} s; logs in "
                               f"{workers[0].log_path.parent}")
        await asyncio.sleep(_GROUP_POLL_S)


def _first_error(worker: Service) -> str:
    """The first ERROR line of a worker's log (what made it exit), or its last lines."""
    tail = worker.log_tail(1500)
    try:
        lines = worker.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return tail
    return next((line for line in lines if "[ERROR]" in line), tail)


async def run_group(ctx: Context, addrs: StackAddresses, records: Sequence[Outgoing], *,
                    backend: str, count: int) -> Figures:
    """``count`` workers in one fresh group on topics of their own: once the group holds
    them all, fill the topics with ``records``, then drain, time and check."""
    tag = ctx.tag(f"scale-{backend}-{count}w")
    settings = _settings(addrs, tag)
    keys = Keys(settings.key_prefix)
    topics = [settings.views_topic, settings.orders_topic]
    redis = redis_client(settings, decode_responses=True)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    workers: list[Service] = []
    fill: asyncio.Task[Prefilled] | None = None
    try:
        await create_topics(settings)
        for i, port in enumerate(pick_free_ports(count)):
            env = settings_env(settings, OCOP_WORKER_METRICS_PORT=str(port),
                               OCOP_INSTANCE_ID=f"{tag}-worker{i}")
            workers.append(Service.start(f"{tag}-w{i}", python_argv("cli", "worker"), env=env,
                                         log_dir=ctx.log_dir))
        began = time.perf_counter()
        await _wait_formed(admin, settings.app_id, workers)
        formed_s = time.perf_counter() - began
        fill_began = time.perf_counter()
        fill = asyncio.create_task(prefill(settings, records))
        fill_s = math.nan
        fill_done = 0
        samples: list[Progress] = []
        exited: Service | None = None
        deadline = time.monotonic() + _TIMEOUT_S
        while True:
            if fill.done() and math.isnan(fill_s):
                fill_s = time.perf_counter() - fill_began
                fill_done = len(samples)
            applied = sum(v + 1 for v in (await _recorded(redis, keys, topics)).values()
                          if v is not None)
            cpu = _cpu(workers)
            if isinstance(cpu, Service):
                exited = cpu
                break
            samples.append(Progress(time.perf_counter(), applied, cpu))
            if applied >= len(records):
                break
            if time.monotonic() > deadline:
                raise ServiceError(f"{count} workers applied {applied}/{len(records)} "
                                   f"in {_TIMEOUT_S:.0f} s; logs in {ctx.log_dir}")
            await asyncio.sleep(_POLL_S)
        filled = await fill
        ends = await end_offsets(settings.kafka_bootstrap, topics, PARTITIONS)
        check = compare(await _recorded(redis, keys, topics), ends)
    finally:
        if fill is not None and not fill.done():
            fill.cancel()
        await asyncio.gather(*(asyncio.to_thread(w.stop) for w in workers))
        await admin.close()
        await redis.aclose()
        await delete_topics(settings.kafka_bootstrap, [*topics, settings.sessions_topic,
                                                       settings.dlq_topic])
    shape = {"formed_s": formed_s, "fill_s": fill_s, "hottest_share": hottest_share(ends)}
    if exited is not None:
        # A worker that dies mid-drain is a finding of its own: the run reports it and
        # no figures, and the other runs go on.
        ctx.log(f"{backend}, {count} workers: {exited.name} exited with "
                f"{exited.proc.returncode} before the drain ended; its figures are left "
                f"out. Its log: {exited.log_path}; first error: {_first_error(exited)}")
        return checked(shape | {"events_s": math.nan, "cpu_per_1k": math.nan,
                                "seconds": math.nan, "fill_share": math.nan,
                                "exited": 1.0}, check)
    measured = window(samples, events_per_message=filled.events_per_message)
    figures: Figures = shape | {
        "events_s": measured.events_per_s,
        "cpu_per_1k": measured.cpu_per_1k,
        "seconds": measured.seconds,
        "fill_share": (ratio(samples[fill_done].done, filled.messages)
                       if not math.isnan(fill_s) else 1.0),
        "exited": 0.0,
    }
    if not check.ok:
        ctx.log(f"{backend}, {count} workers: Redis records {check.matching} of "
                f"{check.partitions} partitions at their end offsets ({check.recorded:,} of "
                f"{check.expected:,} records); its figures are left out. Worker logs are "
                f"in {ctx.log_dir}")
    return checked(figures, check)


def _settings(addrs: StackAddresses, tag: str, *, topics_of: str | None = None) -> Settings:
    return scenario_settings(addrs, tag, partitions=PARTITIONS, topics_of=topics_of,
                             overrides={"redis_cluster": addrs.redis_cluster,
                                        "replication_factor": addrs.replication_factor,
                                        "min_insync_replicas": addrs.min_insync_replicas})


def hottest_share(ends: Mapping[tuple[str, int], int]) -> float:
    """The share of all records in the busiest partition, its views and orders together
    (one shard): a worker holding it cannot finish before it."""
    by_partition: dict[int, int] = {}
    for (_, partition), end in ends.items():
        by_partition[partition] = by_partition.get(partition, 0) + end
    return ratio(max(by_partition.values(), default=0), sum(by_partition.values()))


async def _backend(ctx: Context, addrs: StackAddresses, backend: str,
                   records: Sequence[Outgoing]) -> dict[int, Figures]:
    """Each worker count in turn on ``addrs``."""
    out: dict[int, Figures] = {}
    for count in WORKERS:
        workers = f"{count} worker{'s' if count > 1 else ''}"
        ctx.log(f"scaling, {backend}: {workers}, then {len(records):,} messages on "
                f"{PARTITIONS} partitions")
        run = out[count] = await run_group(ctx, addrs, records, backend=backend, count=count)
        if not run["exited"]:
            ctx.log(f"scaling, {backend}, {workers}: {run['events_s']:,.0f} events/s, "
                    f"{run['fill_share']:.0%} of the records applied while filling")
    return out


def cluster_run_dir(run_dir: Path) -> Path:
    """The cluster stack's own run folder (a folder's shape is fixed when created)."""
    return run_dir / "cluster"


async def scaling(ctx: Context) -> Figures:
    """Both backends, each worker count; the flat figures of every run and the ratios."""
    config = ctx.config
    ctx.log(f"generating {config.scaling_events:,} events for the scaling runs")
    records = list(singles(fair_messages(config.scaling_events, seed=config.seed + 3,
                                         now_ms=now_ms())))
    runs = {"single": await _backend(ctx, ctx.addrs, "single", records)}
    stack = LocalStack(run_dir=cluster_run_dir(config.run_dir))
    ctx.log("scaling: starting the cluster stack (3 Kafka brokers, Redis Cluster of 3 "
            "masters + 3 replicas)")
    try:
        addrs = await asyncio.to_thread(stack.up, kafka_brokers=3, redis_cluster=3,
                                        timeout_s=_STACK_TIMEOUT_S)
        runs["cluster"] = await _backend(ctx, addrs, "cluster", records)
    finally:
        await asyncio.to_thread(stack.down)
    figures: Figures = {key(b, n, name): value for b, by_count in runs.items()
                        for n, run in by_count.items() for name, value in run.items()}
    figures |= scaling_figures({(b, n): run["events_s"] for b, by_count in runs.items()
                                for n, run in by_count.items()})
    return figures | {"partitions": float(PARTITIONS), "events": float(config.scaling_events),
                      # Every run gets the same keys on as many partitions.
                      "hottest_partition_share": runs["single"][1]["hottest_share"],
                      "cores": float(os.cpu_count() or math.nan)}
