"""Copy the input topics into new topics of another partition count, for a rebuild.

Partitions added to a counted topic would move sessions' keys (``store/layout.py``), so
the product never grows topics in place. Instead every retained record is copied into
new topics created with the new count, keyed by its session as before, so the producer's
partitioner puts all of a session's records into one new partition; ``ocop-live
rebuild`` then counts them under the new layout. Each record keeps its key, value,
headers and timestamp (the rebuild's stream-time rules read the timestamp), and the old
partitions are merged by timestamp, each in its own order, so every session's records
keep their order.

Usage::

    copied = await reshard(settings, partitions=12, views_to="ocop.views.p12",
                           orders_to="ocop.orders.p12", progress=print_progress)
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from common.settings import Settings
from consumers.topics import ensure_topics, input_partitions

Progress = Callable[[int, int], None]
# Records fetched from one old partition at a time: the merge holds at most this many
# per partition in memory, whatever the size of the campaign.
_FETCH = 2000


class ReshardRefused(RuntimeError):
    """The copy would not give topics a rebuild can count exactly."""


@dataclass(frozen=True, slots=True)
class ReshardReport:
    """What was copied: records per source topic, and what arrived during the copy."""

    copied: dict[str, int]
    arrived_during: int


async def reshard(settings: Settings, *, partitions: int, views_to: str, orders_to: str,
                  progress: Progress | None = None) -> ReshardReport:
    """Create ``views_to`` and ``orders_to`` with ``partitions`` partitions and copy the
    views and orders topics into them, up to their end offsets when the copy starts.

    Raises ReshardRefused when a target topic already holds records (a second copy would
    double every record) or is a source topic.
    """
    sources = {settings.views_topic: views_to, settings.orders_topic: orders_to}
    if set(sources) & set(sources.values()) or views_to == orders_to:
        raise ReshardRefused(f"copy into new topics: {views_to!r} and {orders_to!r} must "
                             f"differ from each other and from {sorted(sources)}")
    target = settings.model_copy(update={"views_topic": views_to, "orders_topic": orders_to,
                                         "partitions": partitions})
    old = await input_partitions(settings)
    # Creates the new topics, or refuses existing ones of another partition count.
    await ensure_topics(target)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_idempotence=True, acks="all", linger_ms=20)
    await consumer.start()
    await producer.start()
    try:
        held = await _holding(consumer, [views_to, orders_to], partitions)
        if held:
            raise ReshardRefused(f"{', '.join(held)} already hold records: copying again "
                                 "would count every record twice; delete those topics or "
                                 "name new ones")
        tps = [TopicPartition(topic, p) for topic in sources for p in range(old)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
        total = sum(ends[tp] - starts[tp] for tp in tps)
        copied = dict.fromkeys(sources, 0)
        pending: list[asyncio.Future[Any]] = []
        for topic in sources:
            streams = [_partition(consumer, tp, ends[tp]) for tp in tps if tp.topic == topic]
            async for record in _merged(streams):
                pending.append(await producer.send(
                    sources[topic], value=record.value, key=record.key,
                    headers=list(record.headers), timestamp_ms=record.timestamp))
                copied[topic] += 1
                if len(pending) >= _FETCH:
                    # Every acknowledgement is awaited: a failed send raises, not vanishes.
                    await asyncio.gather(*pending)
                    pending.clear()
                    if progress is not None:
                        progress(sum(copied.values()), total)
        await asyncio.gather(*pending)
        if progress is not None:
            progress(sum(copied.values()), total)
        later = await consumer.end_offsets(tps)
        return ReshardReport(copied=copied,
                             arrived_during=sum(later[tp] - ends[tp] for tp in tps))
    finally:
        await producer.stop()
        await consumer.stop()


async def _holding(consumer: AIOKafkaConsumer, topics: list[str], partitions: int) -> list[str]:
    """Those of ``topics`` (of ``partitions`` partitions each) that hold a record."""
    tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
    ends = await consumer.end_offsets(tps)
    starts = await consumer.beginning_offsets(tps)
    return sorted({tp.topic for tp in tps if ends[tp] > starts[tp]})


async def _partition(consumer: AIOKafkaConsumer, tp: TopicPartition,
                     end: int) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """One partition's records below ``end``, in offset order, fetched a batch at a time."""
    while await consumer.position(tp) < end:
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=_FETCH)
        for record in batch.get(tp, []):
            if record.offset < end:
                yield record


async def _merged(streams: list[AsyncIterator[ConsumerRecord[bytes, bytes]]],
                  ) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """The streams' records by timestamp (ties by partition and offset), each stream's
    own order kept: a stream's next record is read only once its previous one is out."""
    heads: list[tuple[int, int, int, int, ConsumerRecord[bytes, bytes]]] = []
    for index, stream in enumerate(streams):
        first = await anext(stream, None)
        if first is not None:
            heads.append((first.timestamp, first.partition, first.offset, index, first))
    heapq.heapify(heads)
    while heads:
        _, _, _, index, record = heapq.heappop(heads)
        yield record
        following = await anext(streams[index], None)
        if following is not None:
            heapq.heappush(heads, (following.timestamp, following.partition,
                                   following.offset, index, following))

