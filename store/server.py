"""What the store needs of the Redis server itself: it must never evict a key.

The offset fence keeps each shard's applied offsets next to its counters. A Redis that
evicts keys under memory pressure (any ``maxmemory-policy`` but ``noeviction``) could
drop an offsets hash, a dedup minute or an order state and keep the rest: the worker
would then count events twice or lose them without a trace.
"""

from __future__ import annotations

from redis.asyncio import RedisCluster

from store.client import RedisClient

SAFE_POLICY = "noeviction"


class UnsafeRedis(RuntimeError):
    """The Redis server may evict keys, which would silently break exact counting."""


async def eviction_policies(redis: RedisClient) -> dict[str, str]:
    """Each server's ``maxmemory-policy`` by address (read from INFO, which managed Redis
    allows): every master and replica of a cluster, since a replica may be promoted."""
    if isinstance(redis, RedisCluster):
        replies = await redis.info("memory", target_nodes=RedisCluster.ALL_NODES)
        return {node: str(info.get("maxmemory_policy", "unknown"))
                for node, info in sorted(replies.items())}
    info = await redis.info("memory")
    return {"OCOP_REDIS_URL": str(info.get("maxmemory_policy", "unknown"))}


async def require_no_eviction(redis: RedisClient) -> None:
    """Raise :class:`UnsafeRedis` unless every server never evicts keys."""
    unsafe = {node: policy for node, policy in (await eviction_policies(redis)).items()
              if policy != SAFE_POLICY}
    if unsafe:
        where = ", ".join(f"{node} has maxmemory-policy {policy}"
                          for node, policy in unsafe.items())
        raise UnsafeRedis(
            f"Redis at {where}: it may evict keys, and an evicted offsets or dedup key "
            f"would make the numbers wrong without a trace. Set it to {SAFE_POLICY} "
            f"(redis.conf `maxmemory-policy {SAFE_POLICY}`, or CONFIG SET maxmemory-policy "
            f"{SAFE_POLICY}) and give Redis enough memory; docs/runbook.md, \"Redis must "
            f"never evict\", says why."
        )
