"""The partition count the shards were counted with, kept in Redis beside them.

Shard N holds the sessions whose key hashes to partition N. Adding partitions to the
topics moves most keys to other partitions, so a session's later events would be
counted in another shard than its earlier ones: two half-sessions, and event ids
remembered in the wrong place. A worker therefore records the count the first time and
refuses any other; a rebuild, which recounts everything from topics of one count,
records that one.

Usage::

    await claim_partitions(redis, keys, partitions=12)   # raises LayoutChanged
"""

from __future__ import annotations

from store.client import RedisClient
from store.keys import Keys

_FIELD = "partitions"


class LayoutChanged(RuntimeError):
    """The topics' partition count is not the one Redis was counted with."""


async def claim_partitions(redis: RedisClient, keys: Keys, *, partitions: int) -> None:
    """Record ``partitions`` unless a count is recorded; raise :class:`LayoutChanged`
    when the recorded one differs."""
    await redis.hsetnx(keys.layout(), _FIELD, str(partitions))
    stored = await redis.hget(keys.layout(), _FIELD)
    recorded = stored.decode() if isinstance(stored, bytes) else str(stored)
    if recorded != str(partitions):
        raise LayoutChanged(
            f"Redis under OCOP_KEY_PREFIX={keys.prefix} was counted with {recorded} "
            f"partitions, but the input topics have {partitions}: partitions added to a "
            f"topic move sessions' keys to other partitions, so their events would be "
            f"split across shards. Refused: keep {recorded} partitions, or copy the "
            f"events into new topics (`ocop-live topics reshard`) and rebuild from them "
            f"(docs/runbook.md, \"More partitions\")."
        )


async def record_partitions(redis: RedisClient, keys: Keys, *, partitions: int) -> None:
    """Record ``partitions`` whatever was recorded (a rebuild recounted everything)."""
    await redis.hset(keys.layout(), _FIELD, str(partitions))
