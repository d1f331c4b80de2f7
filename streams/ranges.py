"""Reads a range of one input partition straight from Kafka, beside faust's stream.

The pipeline fills a gap in what faust delivered (``streams/offsets.py``) with the
records this reader fetches; faust's own position is left alone.
"""

from __future__ import annotations

import logging
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from counting.aggregate import Record, record_time_ms
from streams.retry import until_answered

log = logging.getLogger(__name__)


class RangeReader(Protocol):
    """Where the pipeline reads offsets faust skipped (Kafka in production)."""

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Record]:
        """Records of ``topic[partition]`` with ``start <= offset < end``, at most a chunk."""
        ...


class KafkaRangeReader:
    """A consumer of its own (no group, nothing committed) that fetches offset ranges.

    Usage::

        reader = KafkaRangeReader(bootstrap="127.0.0.1:9092")
        records = await reader.read("ocop.views", 3, 1000, 1500)   # may be fewer: a chunk
        await reader.stop()
    """

    def __init__(self, *, bootstrap: str, chunk: int = 20_000,
                 max_fetch_bytes: int = 8 * 1024 * 1024) -> None:
        self.bootstrap = bootstrap
        self.chunk = chunk
        self.max_fetch_bytes = max_fetch_bytes
        self._consumer: AIOKafkaConsumer | None = None

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            # earliest: a start that retention already deleted lands on the oldest record.
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                auto_offset_reset="earliest", max_partition_fetch_bytes=self.max_fetch_bytes,
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Record]:
        """Records of ``topic[partition]`` from ``start`` up to ``end`` (a chunk at most).

        Retried until Kafka answers: the shard cannot go on without these records.
        """
        return await until_answered(
            lambda: self._read(topic, partition, start, end), errors=(KafkaError,),
            what=f"read {topic}[{partition}] offsets {start}..{end - 1}", service="Kafka",
            setting="OCOP_KAFKA_BOOTSTRAP", first_delay_s=0.1,
        )

    async def _read(self, topic: str, partition: int, start: int, end: int) -> list[Record]:
        consumer = await self._started()
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        found: list[Record] = []
        empty = 0
        # Offsets that hold no record (transaction markers) may return nothing at all:
        # a few empty fetches in a row mean the rest of the range is empty.
        while len(found) < self.chunk and empty < 3 and await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=self.chunk)
            rows = batch.get(tp, [])
            empty = 0 if rows else empty + 1
            found += [Record(r.topic, r.partition, r.offset, r.key, r.value,
                             record_time_ms(r.timestamp))
                      for r in rows if start <= r.offset < end]
        log.info("read %s[%d] offsets %d..%d again from Kafka: %d record(s)",
                 topic, partition, start, end - 1, len(found))
        return found[:self.chunk]

    async def stop(self) -> None:
        """Close the consumer."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
