"""Topic specs: the replication the settings ask for (the real brokers: tests/devtools/stack)."""

from __future__ import annotations

import pytest

from common.settings import Settings
from consumers.topics import TopicLayoutError, topic_specs


def test_topics_default_to_one_replica_and_the_broker_min_insync() -> None:
    for spec in topic_specs(Settings()):
        assert spec.replication_factor == 1
        assert "min.insync.replicas" not in spec.configs()


def test_topics_take_the_replication_of_a_three_broker_cluster() -> None:
    specs = topic_specs(Settings(replication_factor=3, min_insync_replicas=2))
    assert len(specs) == 4
    for spec in specs:
        assert spec.replication_factor == 3
        assert spec.configs()["min.insync.replicas"] == "2"
    # The other topic settings stay as they were.
    assert specs[2].configs()["cleanup.policy"] == "compact"


def test_topics_refuse_a_min_insync_above_the_replication_factor() -> None:
    with pytest.raises(TopicLayoutError,
                       match=r"OCOP_MIN_INSYNC_REPLICAS=3 .*OCOP_REPLICATION_FACTOR=2"):
        topic_specs(Settings(replication_factor=2, min_insync_replicas=3))
