"""The catalog hash in Redis: the one place that writes it (live agent, rebuild, samples)."""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

from store.keys import Keys


class CatalogStore:
    """Session id → catalog JSON, as the read side looks sessions up.

    Usage::

        catalog = CatalogStore(redis, keys=Keys("ocop"))
        await catalog.apply({"cg-01": '{"session_id": "cg-01", ...}', "old": None})
    """

    def __init__(self, redis: Redis, *, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def apply(self, sessions: Mapping[str, str | None]) -> None:
        """Store each session's JSON, and remove those mapped to None, in one transaction."""
        if not sessions:
            return
        key = self.keys.catalog()
        async with self.redis.pipeline(transaction=True) as pipe:
            for sid, value in sessions.items():
                if value is None:
                    pipe.hdel(key, sid)
                else:
                    pipe.hset(key, sid, value)
            await pipe.execute()

    async def count(self) -> int:
        """How many sessions the catalog holds."""
        return int(await self.redis.hlen(self.keys.catalog()))
