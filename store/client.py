"""The Redis client of every process: one server, or a Redis Cluster.

``OCOP_REDIS_URL`` names the server, or a node of a cluster, or several nodes separated by
commas; ``OCOP_REDIS_CLUSTER=1`` says it is a cluster, and the cluster client learns the
other nodes from the first listed one that is up
(redis-py's cluster client takes the same ``redis://`` URL, so the mode is a setting,
not a scheme). The key layout (``store/keys.py``) keeps every multi-key command and
script inside one hash slot, so the same code runs on both.

Usage::

    redis = redis_client(settings, decode_responses=True)
    client = redis_client_sync(settings)   # for one-shot commands
"""

from __future__ import annotations

import socket
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import redis as sync_redis
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline

from common.settings import Settings

# A node that does not accept a connection this soon is passed over for the next one.
_PROBE_TIMEOUT_S = 1.0

RedisClient: TypeAlias = Redis | RedisCluster
SyncRedisClient: TypeAlias = sync_redis.Redis | sync_redis.RedisCluster
RedisPipeline: TypeAlias = Pipeline | ClusterPipeline


def redis_client(settings: Settings, **options: Any) -> RedisClient:
    """An asyncio client for ``settings.redis_url``: the cluster client when
    ``settings.redis_cluster`` is set. ``options`` go to the client unchanged."""
    if settings.redis_cluster:
        return RedisCluster.from_url(_reachable(settings.redis_url), **options)
    return Redis.from_url(settings.redis_url, **options)


def redis_client_sync(settings: Settings, **options: Any) -> SyncRedisClient:
    """The blocking client of one-shot commands, chosen as :func:`redis_client` chooses."""
    if settings.redis_cluster:
        return sync_redis.RedisCluster.from_url(_reachable(settings.redis_url), **options)
    return sync_redis.Redis.from_url(settings.redis_url, **options)


def _reachable(urls: str) -> str:
    """The first of the comma-separated node URLs that accepts a connection now (the
    cluster client learns every other node from it); the first one when none does, so
    the client's error names a node that was asked for."""
    candidates = [url.strip() for url in urls.split(",") if url.strip()]
    for url in candidates:
        parts = urlsplit(url)
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379),
                                          timeout=_PROBE_TIMEOUT_S):
                return url
        except OSError:
            continue
    return candidates[0]



def is_cluster(client: RedisClient) -> bool:
    """Whether ``client`` talks to a Redis Cluster (some commands must then stay in one
    slot: ``store/unions.py``)."""
    return isinstance(client, RedisCluster)
