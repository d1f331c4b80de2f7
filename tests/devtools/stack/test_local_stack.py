"""Integration tests: the real Kafka broker and redis-server brought up by LocalStack."""

from __future__ import annotations

import shlex
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient
from click.testing import CliRunner

from devtools.stack import LocalStack, StackAddresses, StackError
from devtools.stack.cli import stack as stack_cli
from tests.processes import gone

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder shared by this module's tests."""
    return tmp_path_factory.mktemp("stack") / "run"


@pytest.fixture(scope="module")
def local(run_dir: Path) -> Iterator[LocalStack]:
    """A stack that is up at the start of every test and stopped after the module."""
    stack = LocalStack(run_dir=run_dir)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture
def addrs(local: LocalStack) -> StackAddresses:
    """The addresses of the running stack."""
    return local.addresses()


def _cluster_id(run_dir: Path) -> str:
    for line in (run_dir / "kafka" / "data" / "meta.properties").read_text().splitlines():
        if line.startswith("cluster.id="):
            return line.split("=", 1)[1]
    raise AssertionError("meta.properties has no cluster.id")


async def _topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        topics: list[str] = await admin.list_topics()
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    assert [b["node_id"] for b in cluster["brokers"]] == [1]
    return topics


async def test_kafka_answers_a_metadata_request(addrs: StackAddresses) -> None:
    host, port = addrs.kafka_bootstrap.split(":")
    assert host == "127.0.0.1"
    assert 20000 <= int(port) < 30000
    assert isinstance(await _topics(addrs.kafka_bootstrap), list)


def test_redis_answers_ping_and_keeps_data(addrs: StackAddresses) -> None:
    client = redis.Redis.from_url(addrs.redis_url)
    try:
        assert client.ping()
        client.set("stack-test", "ok")
        assert client.get("stack-test") == b"ok"
        assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        client.close()


def test_up_again_is_a_no_op(local: LocalStack, addrs: StackAddresses) -> None:
    kafka_pid, redis_pid = local.kafka_pid(), local.redis_pid()
    assert kafka_pid is not None
    assert redis_pid is not None
    assert local.up() == addrs
    assert (local.kafka_pid(), local.redis_pid()) == (kafka_pid, redis_pid)
    status = local.status()
    assert status.addresses == addrs
    assert status.kafka_running
    assert status.redis_running


def test_addresses_env_and_secret(local: LocalStack, addrs: StackAddresses) -> None:
    env = addrs.env()
    assert env == {
        "OCOP_KAFKA_BOOTSTRAP": addrs.kafka_bootstrap,
        "OCOP_REDIS_URL": addrs.redis_url,
        "OCOP_WEB_PORT": str(addrs.web_port),
        "OCOP_WORKER_METRICS_PORT": str(addrs.worker_metrics_port),
        "OCOP_TOKEN_SECRET": addrs.token_secret,
        "OCOP_INGEST_PORT": str(addrs.ingest_port),
    }
    assert addrs.web_url == f"http://127.0.0.1:{addrs.web_port}/"
    assert len(addrs.token_secret) >= 40
    ports = {addrs.web_port, addrs.worker_metrics_port, int(addrs.redis_url.split(":")[2][:-2])}
    assert len(ports) == 3
    mode = stat.S_IMODE((local.run_dir / "stack.json").stat().st_mode)
    assert mode == 0o600


def test_cli_status_and_env(run_dir: Path, addrs: StackAddresses) -> None:
    runner = CliRunner()
    status = runner.invoke(stack_cli, ["status", "--run-dir", str(run_dir)])
    assert status.exit_code == 0, status.output
    for needle in (addrs.kafka_bootstrap, addrs.redis_url, addrs.web_url, "running (pid"):
        assert needle in status.stdout
    assert f"127.0.0.1:{addrs.worker_metrics_port}" in status.stdout

    env = runner.invoke(stack_cli, ["env"], env={"OCOP_RUN_DIR": str(run_dir)})
    assert env.exit_code == 0, env.output
    parsed = {}
    for line in env.stdout.splitlines():
        export, assignment = shlex.split(line)
        assert export == "export"
        name, value = assignment.split("=", 1)
        parsed[name] = value
    assert parsed == addrs.env()


def test_cli_without_a_stack_explains_what_to_do(tmp_path: Path) -> None:
    runner = CliRunner()
    env = runner.invoke(stack_cli, ["env", "--run-dir", str(tmp_path / "none")])
    assert env.exit_code != 0
    assert "stack up" in env.output
    status = runner.invoke(stack_cli, ["status", "--run-dir", str(tmp_path / "none")])
    assert status.exit_code == 0
    assert "stack up" in status.stdout
    down = runner.invoke(stack_cli, ["down", "--run-dir", str(tmp_path / "none")])
    assert down.exit_code == 0, down.output
    with pytest.raises(StackError, match="stack up"):
        LocalStack(run_dir=tmp_path / "none").addresses()


async def test_down_then_up_reuses_storage_and_ports(
    local: LocalStack, addrs: StackAddresses
) -> None:
    pids = [local.kafka_pid(), local.redis_pid()]
    cluster_id = _cluster_id(local.run_dir)

    local.down()
    assert all(pid is not None and gone(pid) for pid in pids)
    assert local.kafka_pid() is None
    assert local.redis_pid() is None
    status = local.status()
    assert (status.kafka_running, status.redis_running) == (False, False)
    assert status.addresses == addrs
    local.down()

    assert local.up() == addrs
    assert _cluster_id(local.run_dir) == cluster_id
    assert local.kafka_pid() not in pids
    assert isinstance(await _topics(addrs.kafka_bootstrap), list)
    client = redis.Redis.from_url(addrs.redis_url)
    try:
        # Written by an earlier test before the restart: the append-only file kept it.
        assert client.get("stack-test") == b"ok"
    finally:
        client.close()


def test_saved_port_taken_by_a_foreign_process(local: LocalStack, addrs: StackAddresses) -> None:
    local.down()
    redis_port = int(addrs.redis_url.split(":")[2].split("/")[0])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", redis_port))
        squatter.listen()
        with pytest.raises(StackError, match=rf"{redis_port}.*stack down"):
            local.up()
        assert local.kafka_pid() is None
    assert local.up() == addrs


def test_broker_dying_at_startup_is_reported_with_its_log(tmp_path: Path) -> None:
    broken = LocalStack(run_dir=tmp_path / "run")
    data = broken.run_dir / "kafka" / "data"
    data.mkdir(parents=True)
    # Storage that claims another node id: the real broker refuses it and exits.
    (data / "meta.properties").write_text(
        "version=1\nnode.id=7\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\n"
    )
    with pytest.raises(StackError, match="exited during startup") as failure:
        broken.up(timeout_s=60)
    assert "server.log" in str(failure.value)
    assert broken.kafka_pid() is None
    assert broken.redis_pid() is None
    broken.down()
