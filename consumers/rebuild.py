"""Recompute all of Redis from the retained topics: empty keyspace, replay from earliest.

The replay goes through the same aggregation and the same fenced store as the live
worker, so it decides every rule the same way (lateness is judged on stream time, not
the wall clock) and ends with Redis recording the offsets it covers: workers started
afterwards resume exactly there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from common.settings import Settings
from consumers.topics import input_partitions
from counting.aggregate import Record, record_time_ms
from counting.delta import DeadLetter
from store.client import RedisClient, redis_client
from store.keys import Keys
from store.layout import record_partitions
from streams.catalog import CatalogProcessor
from streams.pipeline import BatchProcessor
from streams.ranges import KafkaRangeReader
from streams.wiring import aggregator_for, catalog_store_for, store_for

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


# Seconds, one try a second, that Kafka gets to elect a coordinator for the group.
_COORDINATOR_TRIES = 30


class RebuildRefused(RuntimeError):
    """Rebuilding now would race live workers."""


class RebuildIncomplete(RuntimeError):
    """Some shards could not be applied; the message names them and why."""


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """What a rebuild read and wrote."""

    messages: int
    dead_letters: int
    sessions: int
    fairs: int
    keys_removed: int


class CountingSink:
    """Counts dead letters instead of publishing them: the live run already did."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Count, do not publish."""
        self.count += len(letters)


async def _active_members(settings: Settings) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        # A cluster where no group ever ran creates its offsets topic on this first
        # question and has no coordinator for a few seconds.
        for attempt in range(_COORDINATOR_TRIES):
            try:
                responses = await admin.describe_consumer_groups([settings.app_id])
                break
            except GroupCoordinatorNotAvailableError:
                if attempt == _COORDINATOR_TRIES - 1:
                    raise
                await asyncio.sleep(1)
    finally:
        await admin.close()
    # DescribeGroups v0 rows: (error, group_id, state, protocol_type, protocol, members).
    return sum(len(group[5]) for response in responses for group in response.groups)


async def _wipe(redis: RedisClient, keys: Keys) -> int:
    removed = 0
    batch: list[str] = []
    async for key in redis.scan_iter(match=keys.everything(), count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            removed += await redis.unlink(*batch)
            batch = []
    if batch:
        removed += await redis.unlink(*batch)
    return removed


async def _end_offsets(
    consumer: AIOKafkaConsumer, settings: Settings, topics: Sequence[str]
) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = [
        TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]
    ]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    return ends


async def rebuild(
    settings: Settings, *, progress: Progress | None = None, batch_max: int = 5000
) -> RebuildReport:
    """Wipe this deployment's keys and replay views, orders and the catalog into Redis."""
    members = await _active_members(settings)
    if members:
        raise RebuildRefused(
            f"{members} worker(s) of group {settings.app_id!r} are running; stop every "
            "`ocop-live worker` before a rebuild, then start them again after it"
        )
    redis = redis_client(settings, decode_responses=True)
    keys = Keys(settings.key_prefix)
    # earliest: a seek to an offset retention already deleted lands on the oldest kept.
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, max_poll_records=batch_max,
                                auto_offset_reset="earliest")
    await consumer.start()
    ranges = KafkaRangeReader(bootstrap=settings.kafka_bootstrap)
    try:
        removed = await _wipe(redis, keys)
        log.info("removed %d keys matching %s", removed, keys.everything())
        # The same decoding and the same aggregation as the workers, so the rebuild
        # judges and counts every record as they did.
        sink = CountingSink()
        catalog = catalog_store_for(redis, settings)
        await _replay(consumer, settings, [settings.sessions_topic],
                      CatalogProcessor(store=catalog, sink=sink).process, batch_max)
        # The live workers dead-letter records on the wrong partition: so must this.
        partitions = await input_partitions(settings)
        await record_partitions(redis, keys, partitions=partitions)
        processor = BatchProcessor(aggregator=aggregator_for(settings, partitions=partitions),
                                   store=store_for(redis, settings), sink=sink, ranges=ranges)
        done = await _replay(consumer, settings, [settings.views_topic, settings.orders_topic],
                             processor.process, batch_max, progress)
        if processor.stopped:
            raise RebuildIncomplete(
                "the rebuild could not apply every shard: " + "; ".join(
                    f"shard {shard}: {why}" for shard, why in sorted(processor.stopped.items()))
                + ". Fix the cause and run the rebuild again")
        return RebuildReport(messages=done, dead_letters=sink.count,
                             sessions=await catalog.count(), fairs=await catalog.count_fairs(),
                             keys_removed=removed)
    finally:
        await ranges.stop()
        await consumer.stop()
        await redis.aclose()


async def _replay(
    consumer: AIOKafkaConsumer, settings: Settings, topics: Sequence[str],
    apply: Callable[[Sequence[Record]], Awaitable[object]], batch_max: int,
    progress: Progress | None = None,
) -> int:
    """Feed ``topics`` from their beginning to their current end through ``apply``."""
    ends = await _end_offsets(consumer, settings, topics)
    total = sum(ends.values())
    done = 0
    while any(await _behind(consumer, ends)):
        batch = await consumer.getmany(timeout_ms=1000, max_records=batch_max)
        records = [
            Record(r.topic, r.partition, r.offset, r.key, r.value, record_time_ms(r.timestamp))
            for tp, rows in batch.items() for r in rows if r.offset < ends[tp]
        ]
        if records:
            await apply(records)
            done += len(records)
            if progress is not None:
                progress(done, total)
    return done


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> list[bool]:
    return [await consumer.position(tp) < end for tp, end in ends.items()]
