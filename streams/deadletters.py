"""Dead-letter records: the original bytes, where they came from and why they failed.

A dead letter must always fit what the dead-letter topic and the producer accept, or
the worker would fail on the very record it is trying to set aside, again after every
restart. ``DeadLetterLimits`` derives both limits from the input limit: a value up to the
input limit travels whole; a larger one (only a compressed producer can deliver one) is
cut to its first ``TRUNCATED_PREFIX_BYTES``, with its length and sha256 in headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

from counting.delta import DeadLetter

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]

# Header names, spelled once: the dead-letter tools in consumers/ read them back.
REASON = "reason"
SOURCE_TOPIC = "source_topic"
SOURCE_PARTITION = "source_partition"
SOURCE_OFFSET = "source_offset"
SOURCE_INDEX = "source_index"
DETAIL = "detail"
TRUNCATED = "truncated"
ORIGINAL_LENGTH = "original_length"
ORIGINAL_SHA256 = "original_sha256"
ORIGINAL_KEY_LENGTH = "original_key_length"

DETAIL_LIMIT = 500
TRUNCATED_PREFIX_BYTES = 64 * 1024
KEY_LIMIT = 1024
# Above the carried value: the key, the headers and Kafka's record-batch framing.
_HEADROOM_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class DeadLetterLimits:
    """How large a dead letter may be, from the input limit (``OCOP_MAX_MESSAGE_BYTES``).

    Usage::

        limits = DeadLetterLimits(max_value_bytes=settings.max_message_bytes)
        limits.request_bytes   # the producer's max request and the topic's max.message.bytes
    """

    max_value_bytes: int

    @property
    def request_bytes(self) -> int:
        """The largest dead-letter record: a whole value at the limit, key and headers."""
        return self.max_value_bytes + KEY_LIMIT + _HEADROOM_BYTES


def encode_dead_letter(
    letter: DeadLetter, limits: DeadLetterLimits
) -> tuple[bytes | None, bytes, Headers]:
    """Key, value and headers of the dead-letter record for ``letter`` (pure)."""
    rejected = letter.rejected
    key, raw = letter.key, rejected.raw
    headers: Headers = [
        (REASON, rejected.reason.value.encode()),
        (SOURCE_TOPIC, letter.topic.encode()),
        (SOURCE_PARTITION, str(letter.partition).encode()),
        (SOURCE_OFFSET, str(letter.offset).encode()),
        (SOURCE_INDEX, str(rejected.index).encode()),
        (DETAIL, rejected.detail[:DETAIL_LIMIT].encode("utf-8", "replace")),
    ]
    if len(raw) > limits.max_value_bytes:
        headers += [
            (TRUNCATED, b"1"),
            (ORIGINAL_LENGTH, str(len(raw)).encode()),
            (ORIGINAL_SHA256, hashlib.sha256(raw).hexdigest().encode()),
        ]
        raw = raw[:TRUNCATED_PREFIX_BYTES]
    if key is not None and len(key) > KEY_LIMIT:
        headers.append((ORIGINAL_KEY_LENGTH, str(len(key)).encode()))
        key = key[:KEY_LIMIT]
    return key, raw, headers


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


class DeadLetterSendFailed(RuntimeError):
    """The dead-letter topic did not take these letters after every retry."""

    def __init__(self, letters: Sequence[DeadLetter], cause: BaseException) -> None:
        self.letters = list(letters)
        self.cause = cause
        first = self.letters[0]
        super().__init__(
            f"{len(self.letters)} dead letter(s) not accepted, first from {first.topic}"
            f"[{first.partition}]@{first.offset}: {type(cause).__name__}: {cause}"
        )


class DeadLetterSink:
    """Publishes dead letters and returns once the broker has them all.

    A letter the broker refuses is retried ``attempts`` times with a growing pause (a
    broker restart takes seconds); after that :class:`DeadLetterSendFailed` names them.

    Usage::

        sink = DeadLetterSink(producer, topic="ocop.dlq", limits=DeadLetterLimits(1_048_576))
        await sink.send(delta.dead_letters)
    """

    def __init__(self, producer: Producer, *, topic: str, limits: DeadLetterLimits,
                 attempts: int = 8, timeout_s: float = 30.0, pause_max_s: float = 10.0) -> None:
        self.producer = producer
        self.topic = topic
        self.limits = limits
        self.attempts = attempts
        self.timeout_s = timeout_s
        self.pause_max_s = pause_max_s

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Publish ``letters`` and wait for every acknowledgement."""
        pending = list(letters)
        pause = 0.5
        for attempt in range(1, self.attempts + 1):
            # Queue them all, then wait: one linger for the lot instead of one per record.
            results = await asyncio.gather(*(self._one(letter) for letter in pending),
                                           return_exceptions=True)
            failed = [(letter, result) for letter, result in zip(pending, results, strict=True)
                      if isinstance(result, BaseException)]
            if not failed:
                return
            pending = [letter for letter, _ in failed]
            cause = failed[0][1]
            if attempt == self.attempts:
                raise DeadLetterSendFailed(pending, cause)
            first = pending[0]
            log.warning(
                "the dead-letter topic %s refused %d record(s), first from %s[%d]@%d "
                "(%s: %s); try %d of %d in %.1f s", self.topic, len(pending), first.topic,
                first.partition, first.offset, type(cause).__name__, cause, attempt,
                self.attempts, pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.pause_max_s)

    async def _one(self, letter: DeadLetter) -> None:
        key, value, headers = encode_dead_letter(letter, self.limits)
        # A send to a broker that never answers must not hold the shard forever.
        async with asyncio.timeout(self.timeout_s):
            await (await self.producer.send(self.topic, key, value, None, None, headers))
