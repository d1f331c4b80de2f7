"""Dead-letter records: the original bytes, where they came from and why they failed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Protocol

from counting.delta import DeadLetter

_DETAIL_LIMIT = 500

Headers = list[tuple[str, bytes]]


def encode_dead_letter(letter: DeadLetter) -> tuple[bytes | None, bytes, Headers]:
    """Key, value and headers of the dead-letter record for ``letter`` (pure)."""
    rejected = letter.rejected
    headers: Headers = [
        ("reason", rejected.reason.value.encode()),
        ("source_topic", letter.topic.encode()),
        ("source_partition", str(letter.partition).encode()),
        ("source_offset", str(letter.offset).encode()),
        ("source_index", str(rejected.index).encode()),
        ("detail", rejected.detail[:_DETAIL_LIMIT].encode("utf-8", "replace")),
    ]
    return letter.key, rejected.raw, headers


class Producer(Protocol):
    """The part of a Kafka producer the sink needs (faust's and aiokafka's both fit)."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Headers | None,
    ) -> Awaitable[object]: ...


class DeadLetterSink:
    """Publishes dead letters and returns once the broker has them all.

    Usage::

        sink = DeadLetterSink(producer, topic="ocop.dlq")
        await sink.send(delta.dead_letters)
    """

    def __init__(self, producer: Producer, *, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Publish ``letters`` and wait for every acknowledgement."""
        # Queue them all, then wait: one linger for the lot instead of one per record.
        pending = []
        for letter in letters:
            key, value, headers = encode_dead_letter(letter)
            pending.append(
                await self.producer.send(self.topic, key, value, None, None, headers)
            )
        await asyncio.gather(*pending)
