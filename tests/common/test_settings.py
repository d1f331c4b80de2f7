"""Settings derived from the environment."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from common.settings import Settings


def test_instance_id_names_the_host_or_means_dynamic_membership() -> None:
    assert Settings(instance_id="").group_instance_id is None
    assert Settings(instance_id="worker-1").group_instance_id == "worker-1"
    named = Settings(instance_id="worker-{hostname}").group_instance_id
    assert named == f"worker-{socket.gethostname()}"


@pytest.mark.parametrize("bad", ["worker 1", "w/1", "w\n1", "x" * 201])
def test_instance_id_refuses_what_kafka_would_choke_on(bad: str) -> None:
    with pytest.raises(ValidationError, match="instance_id"):
        Settings(instance_id=bad)


def test_several_redis_servers_only_for_a_cluster() -> None:
    several = "redis://10.0.0.1:6379/0,redis://10.0.0.2:6379/0"
    assert Settings(redis_url=several, redis_cluster=True).redis_url == several
    with pytest.raises(ValidationError, match="OCOP_REDIS_URL lists several servers"):
        Settings(redis_url=several)
