"""Creates the input, catalog and dead-letter topics, idempotently."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from common.settings import Settings

log = logging.getLogger(__name__)


class TopicLayoutError(RuntimeError):
    """An existing topic does not have the layout the pipeline relies on."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic to create."""

    name: str
    partitions: int
    compacted: bool = False


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The topics ocop-live needs; views and orders must be co-partitioned."""
    n = settings.partitions
    return [
        TopicSpec(settings.views_topic, n),
        TopicSpec(settings.orders_topic, n),
        TopicSpec(settings.sessions_topic, n, compacted=True),
        TopicSpec(settings.dlq_topic, n),
    ]


async def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics; return the names created. Raises on a wrong layout."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        specs = topic_specs(settings)
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        for spec in missing:
            config = {"cleanup.policy": "compact"} if spec.compacted else {}
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, 1, topic_configs=config)]
                )
            except TopicAlreadyExistsError:
                log.info("topic %s was created concurrently", spec.name)
        counts = await _partition_counts(admin, [settings.views_topic, settings.orders_topic])
        if len(set(counts.values())) != 1:
            raise TopicLayoutError(
                f"views and orders topics must have the same partition count so one "
                f"session's events share a shard, found {counts}; recreate one of them"
            )
        return [spec.name for spec in missing]
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    # A topic created a moment ago can still describe with no partitions while its
    # metadata spreads; give it a few seconds before judging the layout.
    counts: dict[str, int] = {}
    for _ in range(50):
        described = await admin.describe_topics(names)
        counts = {d["topic"]: len(d["partitions"]) for d in described}
        if all(counts.values()):
            break
        await asyncio.sleep(0.1)
    return counts
