"""More partitions through a copy and a rebuild: every number as before, none split."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from cli.main import main
from common.settings import Settings
from consumers.rebuild import rebuild
from consumers.reshard import ReshardRefused, reshard
from consumers.topics import ensure_topics
from devtools.simulator.fair import FairConfig, generate
from devtools.simulator.producer import KafkaTarget, send_fair
from devtools.simulator.truth import compute_truth
from store.client import redis_client
from store.keys import Keys
from tests.conftest import settings_env
from tests.expectations import drift_from_truth, sample_fair_catalog

pytestmark = pytest.mark.integration

SEED = 31


async def test_a_fair_copied_to_six_partitions_rebuilds_exactly(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(partitions=3)
    await ensure_topics(settings)
    now_ms = time.time_ns() // 1_000_000
    fair = generate(sample_fair_catalog(), FairConfig(
        start_ms=now_ms - 20 * 60_000, span_ms=20 * 60_000, events=20_000, seed=SEED))
    truth = compute_truth(fair.messages, fair.catalog, seed=SEED)
    await send_fair(fair, KafkaTarget(settings.kafka_bootstrap, settings.views_topic,
                                      settings.orders_topic, settings.sessions_topic),
                    paced=False, progress=False)

    views_to, orders_to = f"{settings.views_topic}.p6", f"{settings.orders_topic}.p6"
    told = await asyncio.to_thread(
        CliRunner().invoke, main, ["topics", "reshard", "--partitions", "6",
                                   "--views-to", views_to, "--orders-to", orders_to],
        env=settings_env(settings))
    assert told.exit_code == 0, (told.output, told.exc_info)
    assert f"OCOP_VIEWS_TOPIC={views_to} OCOP_ORDERS_TOPIC={orders_to} OCOP_PARTITIONS=6" in \
        told.output
    grown = settings.model_copy(update={"views_topic": views_to, "orders_topic": orders_to,
                                        "partitions": 6})
    report = await rebuild(grown)
    # A record on another partition than its session's key hashes to is dead-lettered
    # by the rebuild: only the fair's own bad records are.
    assert report.dead_letters == truth["dead_letters"]
    drift = await drift_from_truth(grown, truth)
    assert (drift.lost, drift.double_counted, drift.mismatches) == (0, 0, [])
    redis = redis_client(grown, decode_responses=True)
    try:
        assert await redis.hget(Keys(grown.key_prefix).layout(), "partitions") == "6"
        shards = {s for s in range(6) if await redis.scard(Keys(grown.key_prefix).sessions(s))}
    finally:
        await redis.aclose()
    assert len(shards) == 6

    with pytest.raises(ReshardRefused, match="already hold records"):
        await reshard(settings, partitions=6, views_to=views_to, orders_to=orders_to)
