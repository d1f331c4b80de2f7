"""What the store needs of the Redis server itself: it must never evict a key.

The offset fence keeps each shard's applied offsets next to its counters. A Redis that
evicts keys under memory pressure (any ``maxmemory-policy`` but ``noeviction``) could
drop an offsets hash, a dedup minute or an order state and keep the rest: the worker
would then count events twice or lose them without a trace.
"""

from __future__ import annotations

from redis.asyncio import Redis

SAFE_POLICY = "noeviction"


class UnsafeRedis(RuntimeError):
    """The Redis server may evict keys, which would silently break exact counting."""


async def eviction_policy(redis: Redis) -> str:
    """The server's ``maxmemory-policy`` (read from INFO, which managed Redis allows)."""
    info = await redis.info("memory")
    return str(info.get("maxmemory_policy", "unknown"))


async def require_no_eviction(redis: Redis) -> None:
    """Raise :class:`UnsafeRedis` unless the server never evicts keys."""
    policy = await eviction_policy(redis)
    if policy != SAFE_POLICY:
        raise UnsafeRedis(
            f"Redis at OCOP_REDIS_URL has maxmemory-policy {policy}: it may evict keys, and "
            f"an evicted offsets or dedup key would make the numbers wrong without a trace. "
            f"Set it to {SAFE_POLICY} (redis.conf `maxmemory-policy {SAFE_POLICY}`, or "
            f"CONFIG SET maxmemory-policy {SAFE_POLICY}) and give Redis enough memory; "
            f"docs/runbook.md, \"Redis must never evict\", says why."
        )
