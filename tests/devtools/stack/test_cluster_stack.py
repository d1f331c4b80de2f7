"""The cluster shape of the local stack: three KRaft brokers and a Redis Cluster, for real."""

from __future__ import annotations

import shlex
import uuid
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from click.testing import CliRunner
from redis.cluster import RedisCluster

from common.settings import Settings
from consumers.topics import ensure_topics
from devtools.stack import LocalStack, StackAddresses, StackError
from devtools.stack.cli import stack as stack_cli
from tests.conftest import seconds
from tests.processes import gone


@pytest.fixture
def cluster(cluster_stack: LocalStack) -> LocalStack:
    """The session's cluster stack, up (a test here stops it; the next brings it back)."""
    cluster_stack.up(timeout_s=seconds(300))
    return cluster_stack


@pytest.fixture
def run_dir(cluster: LocalStack) -> Path:
    """The cluster stack's run folder."""
    return cluster.run_dir


@pytest.fixture
def addrs(cluster: LocalStack) -> StackAddresses:
    """The cluster stack's addresses."""
    return cluster.addresses()


def _redis_ports(run_dir: Path) -> list[int]:
    ports = []
    for conf in sorted((run_dir / "redis").glob("node-*/redis.conf")):
        (line,) = [line for line in conf.read_text().splitlines() if line.startswith("port ")]
        ports.append(int(line.split()[1]))
    return ports


@pytest.mark.cluster
def test_redis_cluster_serves_every_slot_with_a_replica_per_master(
    cluster: LocalStack, addrs: StackAddresses
) -> None:
    ports = _redis_ports(cluster.run_dir)
    assert len(ports) == 6
    for port in ports:
        node = redis.Redis(port=port, decode_responses=True)
        try:
            info = node.cluster("INFO")
            nodes = node.cluster("NODES")
        finally:
            node.close()
        assert (info["cluster_state"], info["cluster_slots_ok"]) == ("ok", "16384")
        roles = [("master" in flags["flags"], flags["master_id"]) for flags in nodes.values()]
        masters = {entry["node_id"] for entry in nodes.values() if "master" in entry["flags"]}
        assert len(masters) == 3
        # Every replica follows a master, and every master has one.
        assert sorted(master_id for is_master, master_id in roles if not is_master) == \
            sorted(masters)

    client = RedisCluster.from_url(addrs.redis_url)
    try:
        keys = {f"cluster-test:{n}": str(n) for n in range(50)}
        for key, value in keys.items():
            client.set(key, value)
        assert {key: client.get(key) for key in keys} == {k: v.encode() for k, v in keys.items()}
        # Fifty keys land on every master.
        assert len({client.keyslot(key) * 3 // 16384 for key in keys}) == 3
    finally:
        client.close()


@pytest.mark.cluster
async def test_three_brokers_keep_three_in_sync_copies_of_the_app_topics(
    addrs: StackAddresses,
) -> None:
    env = addrs.env()
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap=addrs.kafka_bootstrap,
        replication_factor=int(env["OCOP_REPLICATION_FACTOR"]),
        min_insync_replicas=int(env["OCOP_MIN_INSYNC_REPLICAS"]),
        views_topic=f"c{tag}.views", orders_topic=f"c{tag}.orders",
        sessions_topic=f"c{tag}.sessions", dlq_topic=f"c{tag}.dlq", partitions=3,
    )
    assert (settings.replication_factor, settings.min_insync_replicas) == (3, 2)
    created = await ensure_topics(settings)
    assert settings.views_topic in created

    admin = AIOKafkaAdminClient(bootstrap_servers=addrs.kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([settings.views_topic])
        (configs,) = await admin.describe_configs([ConfigResource(
            ConfigResourceType.TOPIC, settings.views_topic, {"min.insync.replicas": None})])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 3
    for partition in described["partitions"]:
        assert sorted(partition["replicas"]) == [1, 2, 3]
        assert sorted(partition["isr"]) == [1, 2, 3]
    values = {entry[0]: entry[1] for resource in configs.resources for entry in resource[4]}
    assert values["min.insync.replicas"] == "2"

    producer = AIOKafkaProducer(bootstrap_servers=addrs.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        record = await producer.send_and_wait(settings.views_topic, b"v", key=b"k")
    finally:
        await producer.stop()
    assert record.offset == 0


@pytest.mark.cluster
def test_status_env_and_down_cover_every_node(
    cluster: LocalStack, addrs: StackAddresses, run_dir: Path
) -> None:
    runner = CliRunner()
    status = runner.invoke(stack_cli, ["status", "--run-dir", str(run_dir)])
    assert status.exit_code == 0, status.output
    assert "3 brokers, replication factor 3, min.insync.replicas 2" in status.stdout
    assert "cluster of 3 masters with a replica each" in status.stdout
    assert status.stdout.count("running (pids") == 2

    env = runner.invoke(stack_cli, ["env", "--run-dir", str(run_dir)])
    assert env.exit_code == 0, env.output
    parsed = dict(shlex.split(line)[1].split("=", 1) for line in env.stdout.splitlines())
    assert parsed == addrs.env()
    assert len(parsed["OCOP_KAFKA_BOOTSTRAP"].split(",")) == 3
    assert (parsed["OCOP_REDIS_CLUSTER"], parsed["OCOP_REPLICATION_FACTOR"],
            parsed["OCOP_MIN_INSYNC_REPLICAS"]) == ("1", "3", "2")

    pids = [pid for pid in cluster.kafka_pids() + cluster.redis_pids() if pid is not None]
    assert len(pids) == 9
    down = runner.invoke(stack_cli, ["down", "--run-dir", str(run_dir)])
    assert down.exit_code == 0, down.output
    assert all(gone(pid) for pid in pids)
    status = runner.invoke(stack_cli, ["status", "--run-dir", str(run_dir)])
    assert status.stdout.count("stopped") == 2


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ({"redis_cluster": 2}, "--redis-cluster 2: a Redis Cluster needs at least 3 masters"),
        ({"kafka_brokers": 2}, "--kafka-brokers 2: pass 1, or 3 or more"),
    ],
)
def test_shapes_that_cannot_survive_a_loss_are_refused(
    tmp_path: Path, shape: dict[str, int], message: str
) -> None:
    local = LocalStack(run_dir=tmp_path / "run")
    with pytest.raises(StackError, match=message):
        local.up(**shape)
    assert not (tmp_path / "run").exists()


@pytest.mark.cluster
def test_down_and_up_again_rejoin_the_same_cluster_with_its_keys(
    cluster: LocalStack, addrs: StackAddresses
) -> None:
    assert cluster.up(timeout_s=seconds(300)) == addrs
    client = RedisCluster.from_url(addrs.redis_url)
    try:
        client.set("cluster-test:restart", "kept")
    finally:
        client.close()
    cluster.down()
    assert cluster.kafka_pids() + cluster.redis_pids() == [None] * 9
    assert cluster.up(timeout_s=seconds(300)) == addrs
    client = RedisCluster.from_url(addrs.redis_url)
    try:
        # Each node's append-only file and nodes.conf kept its keys and its place.
        assert client.get("cluster-test:restart") == b"kept"
    finally:
        client.close()
