"""Creates the input, catalog and dead-letter topics, idempotently."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from common.settings import Settings
from streams.deadletters import DeadLetterLimits

log = logging.getLogger(__name__)


class TopicLayoutError(RuntimeError):
    """An existing topic does not have the layout the pipeline relies on."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic to create."""

    name: str
    partitions: int
    compacted: bool = False
    max_message_bytes: int | None = None
    retention_ms: int | None = None
    replication_factor: int = 1
    min_insync_replicas: int = 1

    def configs(self) -> dict[str, str]:
        """The topic-level settings it is created with."""
        config = {"cleanup.policy": "compact"} if self.compacted else {}
        # 1 is the broker's own default; a cluster stack's brokers may say 2, so only a
        # stronger topic-level value is written.
        if self.min_insync_replicas > 1:
            config["min.insync.replicas"] = str(self.min_insync_replicas)
        if self.max_message_bytes is not None:
            config["max.message.bytes"] = str(self.max_message_bytes)
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        return config


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The topics ocop-live needs; views and orders must be co-partitioned."""
    if settings.min_insync_replicas > settings.replication_factor:
        raise TopicLayoutError(
            f"OCOP_MIN_INSYNC_REPLICAS={settings.min_insync_replicas} is above "
            f"OCOP_REPLICATION_FACTOR={settings.replication_factor}: no write acknowledged by "
            "all in-sync replicas could ever succeed; lower it or raise the replication factor"
        )
    n = settings.partitions
    # The input is what a rebuild recomputes the campaign from: keep all of it.
    keep = settings.retention_days * 86_400_000
    specs = [
        TopicSpec(settings.views_topic, n, retention_ms=keep),
        TopicSpec(settings.orders_topic, n, retention_ms=keep),
        TopicSpec(settings.sessions_topic, n, compacted=True),
        # A dead letter carries a whole input value up to the input limit, plus its key and
        # headers: above the broker's default of about 1 MiB, so the topic says so itself.
        TopicSpec(settings.dlq_topic, n, max_message_bytes=DeadLetterLimits(
            max_value_bytes=settings.max_message_bytes).request_bytes),
    ]
    return [replace(spec, replication_factor=settings.replication_factor,
                    min_insync_replicas=settings.min_insync_replicas) for spec in specs]


async def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics; return the names created. Raises on a wrong layout."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        specs = topic_specs(settings)
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        for spec in missing:
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, spec.replication_factor,
                              topic_configs=spec.configs())]
                )
            except TopicAlreadyExistsError:
                log.info("topic %s was created concurrently", spec.name)
        counts = await _partition_counts(admin, [settings.views_topic, settings.orders_topic])
        if len(set(counts.values())) != 1:
            raise TopicLayoutError(
                f"views and orders topics must have the same partition count so one "
                f"session's events share a shard, found {counts}; recreate one of them"
            )
        if set(counts.values()) != {settings.partitions}:
            # The web process reads OCOP_PARTITIONS shards: with more partitions it would
            # miss sessions, and partitions added to a topic move keys (store/layout.py).
            raise TopicLayoutError(
                f"the views and orders topics have {counts[settings.views_topic]} "
                f"partitions but OCOP_PARTITIONS is {settings.partitions}; set it to the "
                f"topics' count, and never add partitions to a counted topic "
                f"(docs/runbook.md, \"More partitions\")"
            )
        for spec in specs:
            if spec not in missing and spec.max_message_bytes is not None:
                await _check_message_limit(admin, spec)
            if spec not in missing and spec.retention_ms is not None:
                await _keep_long_enough(admin, spec.name, spec.retention_ms)
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


async def _check_message_limit(admin: AIOKafkaAdminClient, spec: TopicSpec) -> None:
    """Say loudly when an existing topic takes smaller records than it must."""
    found = (await _topic_configs(admin, spec.name, "max.message.bytes")).get("max.message.bytes")
    if found is not None and spec.max_message_bytes is not None \
            and int(found) < spec.max_message_bytes:
        log.error(
            "topic %s takes records of at most %s bytes but a dead letter can be %d bytes "
            "(OCOP_MAX_MESSAGE_BYTES plus key and headers); larger dead letters will stop "
            "their shard. Raise it: kafka-configs.sh --bootstrap-server <broker> --alter "
            "--entity-type topics --entity-name %s --add-config max.message.bytes=%d",
            spec.name, found, spec.max_message_bytes, spec.name, spec.max_message_bytes,
        )


async def _keep_long_enough(admin: AIOKafkaAdminClient, topic: str, keep_ms: int) -> None:
    """Say loudly when an existing input topic keeps records for less than the campaign.

    It is not altered here: the broker's AlterConfigs replaces every topic setting at
    once, and the topic may carry settings this process does not know about.
    """
    found = (await _topic_configs(admin, topic, "retention.ms")).get("retention.ms")
    if found is None or int(found) < 0 or int(found) >= keep_ms:
        return
    log.error(
        "topic %s keeps records for %s ms, less than OCOP_RETENTION_DAYS (%d ms): the first "
        "weeks of a campaign will be deleted before a rebuild can read them. Raise it: "
        "kafka-configs.sh --bootstrap-server <broker> --alter --entity-type topics "
        "--entity-name %s --add-config retention.ms=%d",
        topic, found, keep_ms, topic, keep_ms,
    )


async def _topic_configs(admin: AIOKafkaAdminClient, topic: str, *names: str) -> dict[str, str]:
    """Some of a topic's settings as the broker reports them."""
    (response,) = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, dict.fromkeys(names))]
    )
    # DescribeConfigs rows: (error, message, type, name, [(name, value, ...), ...]).
    return {entry[0]: entry[1] for resource in response.resources for entry in resource[4]}


async def input_partitions(settings: Settings) -> int:
    """The partition count of the (co-partitioned) input topics: the number of shards."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        counts = await _partition_counts(admin, [settings.views_topic, settings.orders_topic])
    finally:
        await admin.close()
    if len(set(counts.values())) != 1 or not all(counts.values()):
        raise TopicLayoutError(
            f"views and orders topics must exist with the same partition count, found {counts}"
        )
    return next(iter(counts.values()))
