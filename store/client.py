"""The Redis client of every process: one server, or a Redis Cluster.

``OCOP_REDIS_URL`` names the server, or any one node of a cluster; ``OCOP_REDIS_CLUSTER=1``
says it is a cluster, and the cluster client learns the other nodes from that one
(redis-py's cluster client takes the same ``redis://`` URL, so the mode is a setting,
not a scheme). The key layout (``store/keys.py``) keeps every multi-key command and
script inside one hash slot, so the same code runs on both.

Usage::

    redis = redis_client(settings, decode_responses=True)
    client = redis_client_sync(settings)   # for one-shot commands
"""

from __future__ import annotations

from typing import Any, TypeAlias

import redis as sync_redis
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline

from common.settings import Settings

RedisClient: TypeAlias = Redis | RedisCluster
SyncRedisClient: TypeAlias = sync_redis.Redis | sync_redis.RedisCluster
RedisPipeline: TypeAlias = Pipeline | ClusterPipeline


def redis_client(settings: Settings, **options: Any) -> RedisClient:
    """An asyncio client for ``settings.redis_url``: the cluster client when
    ``settings.redis_cluster`` is set. ``options`` go to the client unchanged."""
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, **options)
    return Redis.from_url(settings.redis_url, **options)


def redis_client_sync(settings: Settings, **options: Any) -> SyncRedisClient:
    """The blocking client of one-shot commands, chosen as :func:`redis_client` chooses."""
    if settings.redis_cluster:
        return sync_redis.RedisCluster.from_url(settings.redis_url, **options)
    return sync_redis.Redis.from_url(settings.redis_url, **options)



def is_cluster(client: RedisClient) -> bool:
    """Whether ``client`` talks to a Redis Cluster (some commands must then stay in one
    slot: ``store/unions.py``)."""
    return isinstance(client, RedisCluster)
