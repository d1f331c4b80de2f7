"""Shared fixtures: the real Kafka and Redis for the test session, and per-test names."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from devtools.stack import LocalStack, StackAddresses
from devtools.stack.ports import pick_free_ports

# One unit for every wait in the suite; slow machines scale it up.
TIME_UNIT = float(os.environ.get("OCOP_TEST_TIME_SCALE", "1"))


def seconds(n: float) -> float:
    """``n`` seconds scaled by OCOP_TEST_TIME_SCALE."""
    return n * TIME_UNIT


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A real Kafka broker and Redis server, started once for the whole test session."""
    local = LocalStack(run_dir=Path(tmp_path_factory.mktemp("stack")))
    try:
        local.up(timeout_s=seconds(180))
        yield local
    finally:
        local.down()


@pytest.fixture
def stack(local_stack: LocalStack) -> StackAddresses:
    """The session stack's addresses, brought back up if a fault test stopped a part."""
    return local_stack.up(timeout_s=seconds(180))


def settings_maker(stack: StackAddresses) -> Callable[..., Settings]:
    """Settings pointing at ``stack``, with topics and keys of one test only."""

    def make(**overrides: Any) -> Settings:
        tag = uuid.uuid4().hex[:10]
        metrics_port, web_port, ingest_port = pick_free_ports(3)
        values: dict[str, Any] = {
            "kafka_bootstrap": stack.kafka_bootstrap,
            "redis_url": stack.redis_url,
            "redis_cluster": stack.redis_cluster,
            "replication_factor": stack.replication_factor,
            "min_insync_replicas": stack.min_insync_replicas,
            "key_prefix": f"t{tag}",
            "views_topic": f"t{tag}.views",
            "orders_topic": f"t{tag}.orders",
            "sessions_topic": f"t{tag}.sessions",
            "dlq_topic": f"t{tag}.dlq",
            "app_id": f"ocop-test-{tag}",
            "partitions": 3,
            "worker_metrics_port": metrics_port,
            "web_port": web_port,
            "ingest_port": ingest_port,
            "token_secret": "test-secret-" + tag * 2,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def make_settings(stack: StackAddresses) -> Callable[..., Settings]:
    """Settings pointing at the session's stack, with topics and keys of this test only."""
    return settings_maker(stack)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the cluster tests last, so the cluster stack starts once, late, and the other
    tests never share the machine with its nine servers."""
    items.sort(key=lambda item: item.get_closest_marker("cluster") is not None)


@pytest.fixture(scope="session")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Three KRaft brokers and a Redis Cluster of three masters with a replica each,
    started once for the session's tests on the cluster (about a minute)."""
    local = LocalStack(run_dir=Path(tmp_path_factory.mktemp("cluster-stack")))
    try:
        local.up(kafka_brokers=3, redis_cluster=3, timeout_s=seconds(300))
        yield local
    finally:
        local.down()


@pytest.fixture
def make_cluster_settings(cluster_stack: LocalStack) -> Callable[..., Settings]:
    """Settings pointing at the cluster stack (brought back up if a fault test stopped a
    part), with topics and keys of this test only."""
    return settings_maker(cluster_stack.up(timeout_s=seconds(300)))


def settings_env(settings: Settings) -> dict[str, str]:
    """The OCOP_* environment a subprocess needs to see ``settings``."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"OCOP_{name.upper()}"] = str(value)
    return env
