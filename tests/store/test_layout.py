"""The shards' partition count: recorded once, any other refused, a rebuild's recorded."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

from common.settings import Settings
from consumers.topics import ensure_topics
from store.client import RedisClient, redis_client
from store.keys import Keys
from store.layout import LayoutChanged, claim_partitions, record_partitions
from tests.conftest import seconds, settings_env

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[RedisClient, Keys]]:
    settings = make_settings()
    redis = redis_client(settings, decode_responses=True)
    yield redis, Keys(settings.key_prefix)
    await redis.aclose()


async def test_the_first_count_is_kept_and_another_refused(
    store: tuple[RedisClient, Keys],
) -> None:
    redis, keys = store
    await claim_partitions(redis, keys, partitions=6)
    await claim_partitions(redis, keys, partitions=6)
    with pytest.raises(LayoutChanged, match=f"OCOP_KEY_PREFIX={keys.prefix} was counted with "
                                            "6 partitions, but the input topics have 12"):
        await claim_partitions(redis, keys, partitions=12)
    await record_partitions(redis, keys, partitions=12)
    await claim_partitions(redis, keys, partitions=12)


def _worker(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "worker"], env=settings_env(settings),
                          capture_output=True, text=True, timeout=seconds(60), check=False)


async def test_a_worker_refuses_topics_that_grew_partitions(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(partitions=3)
    await ensure_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_partitions({settings.views_topic: NewPartitions(6),
                                       settings.orders_topic: NewPartitions(6)})
    finally:
        await admin.close()
    refused = _worker(settings)
    assert refused.returncode == 1
    assert "the views and orders topics have 6 partitions but OCOP_PARTITIONS is 3" in \
        refused.stderr
    # Told OCOP_PARTITIONS=6, it still refuses: Redis was counted with 3.
    redis = redis_client(settings)
    try:
        await claim_partitions(redis, Keys(settings.key_prefix), partitions=3)
    finally:
        await redis.aclose()
    refused = _worker(settings.model_copy(update={"partitions": 6}))
    assert refused.returncode == 1
    assert "was counted with 3 partitions, but the input topics have 6" in refused.stderr
    assert "Traceback" not in refused.stderr
