"""Delivery to Kafka: an idempotent producer kept connected, and all-or-503 sends.

A request's events go out and are all acknowledged (``acks=all``), or the request is
told Kafka is unavailable and answers 503: the client retries, and event ids make the
retry safe (the worker skips events it already counted). After any failed send the
producer is replaced, so a broker that comes back meets a fresh producer rather than
one whose sequence numbers lost track of the broker's.

Usage::

    delivery = Delivery(settings)
    await delivery.start()
    await delivery.send([Record("ocop.views", b"cp-01", b'[{...}]')])  # or Unavailable
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from common.settings import Settings
from ingest import metrics

log = logging.getLogger(__name__)

# Between attempts to reach a broker that is down.
_RECONNECT_S = 1.0
# A health check waits this long for the broker's metadata.
_HEALTH_TIMEOUT_S = 2.0


class Unavailable(RuntimeError):
    """Kafka did not acknowledge (or cannot take) a request's records."""


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record: an envelope of one session's events."""

    topic: str
    key: bytes
    value: bytes


class Delivery:
    """The gateway's one producer, reconnected in the background when Kafka goes away."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def _new_producer(self) -> AIOKafkaProducer:
        timeout_ms = int(self.settings.ingest_send_timeout_s * 1000)
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            client_id="ocop-ingest",
            enable_idempotence=True,
            acks="all",
            # Records of concurrent requests share broker round trips.
            linger_ms=5,
            max_batch_size=256 * 1024,
            request_timeout_ms=timeout_ms,
        )

    async def start(self) -> None:
        """Begin connecting; requests get 503 until a broker answers."""
        self._connecting = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        while True:
            producer = self._new_producer()
            try:
                await producer.start()
            except (KafkaError, OSError) as exc:
                log.warning("cannot reach Kafka at %s (OCOP_KAFKA_BOOTSTRAP): %s",
                            self.settings.kafka_bootstrap, exc)
                await producer.stop()
                await asyncio.sleep(_RECONNECT_S)
                continue
            self._producer = producer
            log.info("producing to Kafka at %s", self.settings.kafka_bootstrap)
            return

    @property
    def ready(self) -> bool:
        """Whether a producer is connected (it may still fail on the next send)."""
        return self._producer is not None

    async def send(self, records: list[Record]) -> None:
        """Send every record and wait until Kafka acknowledged all of them."""
        producer = self._producer
        if producer is None:
            raise Unavailable("not connected to Kafka yet")
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.ingest_send_timeout_s):
                pending = [await producer.send(r.topic, r.value, key=r.key) for r in records]
                await asyncio.gather(*pending)
        except (KafkaError, OSError, TimeoutError) as exc:
            self._replace(producer)
            raise Unavailable(f"Kafka did not acknowledge: {type(exc).__name__}: {exc}") from exc
        metrics.KAFKA_SEND.observe(time.monotonic() - started)

    def _replace(self, producer: AIOKafkaProducer) -> None:
        if self._producer is not producer:
            return
        log.warning("a send to Kafka failed; reconnecting with a new producer")
        self._producer = None
        closing = asyncio.create_task(self._close(producer))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        self._connecting = asyncio.create_task(self._connect())

    async def _close(self, producer: AIOKafkaProducer) -> None:
        # Its unsent records may still go out once a broker is back: duplicates of what
        # the client re-sends, which the worker skips by event id.
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            async with asyncio.timeout(self.settings.ingest_send_timeout_s):
                await producer.stop()

    async def healthy(self) -> bool:
        """Whether a broker answers a metadata request now."""
        producer = self._producer
        if producer is None:
            return False
        try:
            async with asyncio.timeout(_HEALTH_TIMEOUT_S):
                await producer.client.fetch_all_metadata()
        except (KafkaError, OSError, TimeoutError):
            return False
        return True

    async def stop(self) -> None:
        """Flush and close the producer."""
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self._producer is not None:
            await self._close(self._producer)
            self._producer = None
        for closing in list(self._closing):
            await closing
