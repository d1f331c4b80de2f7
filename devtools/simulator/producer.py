"""Send a generated fair to Kafka: the sessions catalog first, then every message in order.

Keys are the session ids (UTF-8), so each session's messages land on one partition in
generation order, and the idempotent producer keeps that order across retries. In paced
mode each message waits for the wall clock to reach its ``due_ms``, so event times track
the time of sending; unpaced mode sends as fast as the broker accepts. A recorded feed (a
campaign) sends each record with its ``due_ms`` as the Kafka timestamp
(``record_times``), the moment the platform handed it over, so the worker's time rules
judge it as they would have live, whenever it is sent.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

import click
from aiokafka import AIOKafkaProducer

from common.catalog import Catalog, encode_fair, encode_session, fair_key
from devtools.simulator.fair import Message

# Deliveries are awaited in chunks: it bounds memory and surfaces a broker error early,
# without the round trip per message that awaiting each send would cost.
_IN_FLIGHT = 5_000
_PROGRESS_EVERY = 500
# A sleep shorter than this costs more in scheduling than it buys in accuracy.
_MIN_SLEEP_S = 0.002


@dataclass(frozen=True, slots=True)
class KafkaTarget:
    """Where to send: the broker and the topic names::

    KafkaTarget("127.0.0.1:9092", sessions_topic=None)  # skip publishing the catalog
    """

    bootstrap: str
    views_topic: str = "ocop.views"
    orders_topic: str = "ocop.orders"
    sessions_topic: str | None = "ocop.sessions"


class Feed(Protocol):
    """What ``send_fair`` sends: a catalog and messages in delivery order (a Fair, a
    Campaign)."""

    @property
    def catalog(self) -> Catalog:
        """The catalog published before the messages."""
        ...

    @property
    def messages(self) -> list[Message]:
        """The messages, in delivery order."""
        ...


@dataclass(frozen=True, slots=True)
class SendReport:
    """What was sent and how long it took::

    report = await send_fair(fair, target, paced=False)
    print(report.messages / report.seconds, "messages/s")
    """

    messages: int
    events: int
    value_bytes: int
    seconds: float


def new_producer(bootstrap: str) -> AIOKafkaProducer:
    """An idempotent producer tuned for many small keyed records."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="ocop-simulator",
        enable_idempotence=True,
        acks="all",
        # A short linger groups the records of one flush into few requests.
        linger_ms=20,
        max_batch_size=256 * 1024,
        max_request_size=1_048_576,
    )


async def publish_sessions(producer: AIOKafkaProducer, topic: str, catalog: Catalog) -> None:
    """Publish each fair (key ``fair:<fair_id>``) and each session's metadata (key = its
    id) to the compacted catalog topic."""
    deliveries = [
        await producer.send(topic, encode_fair(f), key=fair_key(f.fair_id).encode())
        for f in catalog.fairs
    ]
    deliveries += [
        await producer.send(topic, encode_session(s), key=s.session_id.encode())
        for s in catalog.sessions
    ]
    await asyncio.gather(*deliveries)


async def _pace(due_ms: int) -> None:
    """Sleep until the wall clock reaches ``due_ms``."""
    delay = due_ms / 1000 - time.time()
    if delay > _MIN_SLEEP_S:
        await asyncio.sleep(delay)


async def send_fair(
    fair: Feed, target: KafkaTarget, *, paced: bool, progress: bool = True,
    record_times: bool = False,
) -> SendReport:
    """Send the catalog (unless disabled) and every message of ``fair``; wait for acks.

    With ``record_times`` each record's Kafka timestamp is its message's ``due_ms``
    instead of the time of sending.
    """
    producer = new_producer(target.bootstrap)
    started = time.monotonic()
    await producer.start()
    try:
        if target.sessions_topic:
            await publish_sessions(producer, target.sessions_topic, fair.catalog)
        messages = fair.messages
        pending: list[Awaitable[object]] = []
        sent_bytes = 0
        with click.progressbar(
            length=len(messages),
            label="sending",
            file=sys.stderr,
            hidden=not progress,
            update_min_steps=_PROGRESS_EVERY,  # redrawing per message would cost more
        ) as bar:
            for message in messages:
                if paced:
                    await _pace(message.due_ms)
                topic = target.views_topic if message.topic_kind == "views" else target.orders_topic
                stamp = message.due_ms if record_times else None
                pending.append(await producer.send(
                    topic, message.value, key=message.key.encode(), timestamp_ms=stamp
                ))
                sent_bytes += len(message.value)
                if len(pending) >= _IN_FLIGHT:
                    await asyncio.gather(*pending)
                    pending.clear()
                bar.update(1)
            await asyncio.gather(*pending)
    finally:
        await producer.stop()
    events = sum(len(m.events) or 1 for m in messages)
    return SendReport(len(messages), events, sent_bytes, time.monotonic() - started)
