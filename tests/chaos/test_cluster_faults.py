"""Faults of the distributed engines: a Redis Cluster master and one of three brokers.

Both end exact against the simulator's ground truth, with the worker (restarted by the
pool's supervisor if it dies) as the only recovery.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from common.settings import Settings
from devtools.stack import LocalStack
from store.keys import Keys
from tests.chaos.harness import FULL, WorkerPool, check_exact, finish, prepare, supervised
from tests.conftest import seconds

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.cluster]


def _cluster(settings: Settings) -> redis.RedisCluster:
    return redis.RedisCluster.from_url(settings.redis_url, decode_responses=True)


def _is_master(port: int) -> bool:
    node = redis.Redis(port=port, decode_responses=True, socket_timeout=2)
    try:
        return bool(node.info("replication")["role"] == "master")
    except (redis.RedisError, OSError):
        return False
    finally:
        node.close()


def _drop_replicas(port: int) -> None:
    node = redis.Redis(port=port, socket_timeout=2)
    try:
        assert node.client_kill_filter(_type="replica") >= 1
    finally:
        node.close()


async def _replica_of(port: int) -> int:
    """The port of the replica following the master on ``port``, once it is in sync."""
    found: list[int] = []

    def synced() -> bool:
        node = redis.Redis(port=port, decode_responses=True, socket_timeout=2)
        try:
            info = node.info("replication")
        finally:
            node.close()
        found[:] = [int(info[f"slave{i}"]["port"]) for i in range(int(info["connected_slaves"]))
                    if info[f"slave{i}"]["state"] == "online"]
        return bool(found)

    await _until(synced, f"a replica in sync with the master on port {port}", 60)
    return found[0]


async def _until(check: Callable[[], bool], what: str, within_s: float) -> float:
    """Wait until ``check()``; return how long it took."""
    started = time.monotonic()
    while not await asyncio.to_thread(check):
        if time.monotonic() - started > seconds(within_s):
            raise AssertionError(f"{what} did not happen within {within_s} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def test_a_redis_master_killed_after_its_replica_fell_behind(
    make_cluster_settings: Callable[..., Settings], cluster_stack: LocalStack, tmp_path: Path
) -> None:
    run, truth = await prepare(make_cluster_settings, 150_000 if FULL else 45_000, 3, seed=606)
    settings = run.settings
    client = _cluster(settings)
    url_port = int(settings.redis_url.rsplit(":", 1)[1].split("/")[0])
    keys = Keys(settings.key_prefix)
    # A shard whose master is not the node OCOP_REDIS_URL names (new clients start there).
    shard, master = next(
        (s, node) for s in range(settings.partitions)
        if (node := client.nodes_manager.slots_cache[key_slot(keys.offsets(s).encode())][0]).port
        != url_port)
    replica = await _replica_of(master.port)
    pids = cluster_stack.redis_pids_by_port()
    master_pid, replica_pid = pids[master.port], pids[replica]
    assert master_pid is not None and replica_pid is not None
    async with supervised(WorkerPool(settings, tmp_path)) as pool:
        pool.start()
        sends = run.send_chunks()
        await next(sends)
        await _until(lambda: client.hget(keys.offsets(shard), settings.views_topic) is not None,
                     f"shard {shard} counted", 120)
        # The replica stops and the master drops its link (what the kernel had already
        # taken for the replica still reaches it); the master keeps acknowledging the
        # next chunk's writes, which the replica never gets: promoted, it holds less
        # than the worker applied.
        os.kill(replica_pid, signal.SIGSTOP)
        try:
            _drop_replicas(master.port)
            before = client.hgetall(keys.offsets(shard))
            await next(sends)
            await _until(lambda: client.hgetall(keys.offsets(shard)) != before,
                         f"shard {shard} applied past what its replica holds", 60)
            os.kill(master_pid, signal.SIGKILL)
        finally:
            os.kill(replica_pid, signal.SIGCONT)
        run.faults = 1
        promoted_s = await _until(lambda: _is_master(replica), "the replica's promotion",
                                  60)
        run.notes.append(f"replica promoted {promoted_s:.1f} s after the kill")
        await asyncio.to_thread(cluster_stack.up, timeout_s=seconds(300))
        await next(sends)
        outcome = await finish(run, pool, "kill -9 a Redis master (replica behind)",
                               truth=truth, expected_letters=truth["dead_letters"],
                               faults_done_at=time.monotonic())
    client.close()
    check_exact(outcome)
    # The worker noticed Redis behind what it had applied and read the rest again: at
    # its next batch (the fence) or, with no new records, by the stall sweep.
    logs = "".join(path.read_text() for path in tmp_path.glob("worker-*.log"))
    assert re.search(rf"shard {shard}: .*(Redis lost writes|stalled at offset)", logs)


async def test_one_broker_of_three_killed_while_events_flow(
    make_cluster_settings: Callable[..., Settings], cluster_stack: LocalStack, tmp_path: Path
) -> None:
    run, truth = await prepare(make_cluster_settings, 150_000 if FULL else 45_000, 3, seed=707)
    victim = cluster_stack.kafka_pids()[1]
    assert victim is not None
    async with supervised(WorkerPool(run.settings, tmp_path)) as pool:
        pool.start()
        sends = run.send_chunks()
        await next(sends)
        second = asyncio.create_task(next(sends))
        await asyncio.sleep(0.5)  # the kill lands while the producer and worker are busy
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        run.faults = 1
        await second
        await next(sends)
        # Its recovery time is from the kill until every event sent is counted.
        outcome = await finish(run, pool, "kill -9 one broker of three", truth=truth,
                               expected_letters=truth["dead_letters"], faults_done_at=killed_at)
        await asyncio.to_thread(cluster_stack.up, timeout_s=seconds(300))
    check_exact(outcome)
