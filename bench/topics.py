"""Kafka and settings plumbing for scenarios: names, topics, end offsets, fast produce."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from common.settings import Settings
from consumers.topics import ensure_topics
from devtools.stack import StackAddresses
from devtools.stack.ports import pick_free_ports

_IN_FLIGHT = 5_000


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to produce: which input topic (views/orders), key and value."""

    orders: bool
    key: bytes
    value: bytes


def scenario_settings(addrs: StackAddresses, tag: str, *, partitions: int,
                      topics_of: str | None = None,
                      overrides: Mapping[str, int] | None = None) -> Settings:
    """Settings of one scenario: its own topics (or ``topics_of``'s), keys, group and ports.

    ``topics_of`` points a scenario at another tag's pre-filled input topics;
    ``overrides`` sets fields by name (the soak's shortened horizons), validated as
    ``OCOP_*`` variables would be.
    """
    metrics_port, web_port = pick_free_ports(2)
    source = topics_of or tag
    fields: dict[str, Any] = dict(
        kafka_bootstrap=addrs.kafka_bootstrap,
        redis_url=addrs.redis_url,
        key_prefix=tag,
        views_topic=f"{source}.views",
        orders_topic=f"{source}.orders",
        sessions_topic=f"{tag}.sessions",
        dlq_topic=f"{tag}.dlq",
        partitions=partitions,
        app_id=f"ocop-{tag}",
        worker_metrics_port=metrics_port,
        web_port=web_port,
        token_secret=SecretStr(addrs.token_secret),
        # The fan-out opens 1,000 screens next to the rig's own probe screen, all from
        # loopback: the production caps (1,000 board sockets per process, 50 per
        # address) would refuse most of them.
        web_max_board_connections=2_000,
        web_max_host_connections=2_000,
        web_max_connections_per_address=4_000,
        instance_id=f"{tag}-worker",
    )
    return Settings(**(fields | dict(overrides or {})))


async def create_topics(settings: Settings) -> None:
    """The scenario's input, catalog and dead-letter topics, as the worker would make them."""
    await ensure_topics(settings)


async def end_offsets(bootstrap: str, topics: Sequence[str],
                      partitions: int) -> dict[tuple[str, int], int]:
    """Next offset of every partition of ``topics`` (the count of records ever written)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): end for tp, end in ends.items()}


async def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Delete the named topics, so a long bench does not fill the broker's disk."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def produce(bootstrap: str, settings: Settings, records: Iterable[Outgoing]) -> int:
    """Send ``records`` as fast as the broker takes them; return how many were sent."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024,
        max_request_size=2 * 1_048_576, acks=1,
    )
    await producer.start()
    sent = 0
    try:
        pending: list[Awaitable[object]] = []
        for record in records:
            topic = settings.orders_topic if record.orders else settings.views_topic
            pending.append(await producer.send(topic, record.value, key=record.key))
            sent += 1
            if len(pending) >= _IN_FLIGHT:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent
