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
