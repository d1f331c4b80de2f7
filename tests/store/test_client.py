"""Every process's Redis client: a single server, or a Redis Cluster with OCOP_REDIS_CLUSTER."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from redis.asyncio import Redis, RedisCluster

from common.settings import Settings
from devtools.stack.ports import pick_free_ports
from store.client import is_cluster, redis_client, redis_client_sync
from store.server import UnsafeRedis, require_no_eviction


def test_the_setting_picks_the_client() -> None:
    single = Settings(redis_url="redis://127.0.0.1:1/0")
    assert isinstance(redis_client(single), Redis)
    assert not is_cluster(redis_client(single))
    assert isinstance(redis_client_sync(single), redis.Redis)
    # The cluster clients learn the cluster's nodes as they are made, so they are made
    # against a real cluster below.


@pytest.mark.cluster
async def test_every_node_of_a_cluster_must_never_evict(
    make_cluster_settings: Callable[..., Settings],
) -> None:
    settings = make_cluster_settings()
    staff = redis_client_sync(settings)
    assert isinstance(staff, redis.RedisCluster)
    staff.close()
    client = redis_client(settings, decode_responses=True)
    assert isinstance(client, RedisCluster) and is_cluster(client)
    try:
        await require_no_eviction(client)
        # The last node the client knows: a replica once they are all in sync, else a
        # master other than the first; each must be checked.
        replica = client.get_nodes()[-1]
        await client.config_set("maxmemory-policy", "allkeys-lru", target_nodes=replica)
        try:
            with pytest.raises(UnsafeRedis, match=f"{replica.name} has maxmemory-policy "
                                                  "allkeys-lru"):
                await require_no_eviction(client)
        finally:
            await client.config_set("maxmemory-policy", "noeviction", target_nodes=replica)
    finally:
        await client.aclose()


@pytest.mark.cluster
async def test_a_process_starts_while_the_first_listed_node_is_down(
    make_cluster_settings: Callable[..., Settings],
) -> None:
    settings = make_cluster_settings()
    (dead,) = pick_free_ports(1)
    listed = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{dead}/0,{settings.redis_url}"})
    client = redis_client(listed, decode_responses=True)
    try:
        await client.set(f"{settings.key_prefix}:seeded", "yes")
        assert await client.get(f"{settings.key_prefix}:seeded") == "yes"
    finally:
        await client.aclose()
    staff = redis_client_sync(listed)
    try:
        assert staff.ping()
    finally:
        staff.close()
