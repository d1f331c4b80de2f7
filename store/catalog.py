"""The catalog hashes in Redis: the one place that writes them (live agent, rebuild, samples)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from store.client import RedisClient
from store.keys import Keys

_NONE: Mapping[str, str | None] = MappingProxyType({})


class CatalogStore:
    """Session id → session JSON and fair id → fair JSON, as the read side looks them up.

    Usage::

        catalog = CatalogStore(redis, keys=Keys("ocop"))
        await catalog.apply({"cg-01": '{"session_id": "cg-01", ...}', "old": None},
                            fairs={"cg-2023-11-25": '{"fair_id": "cg-2023-11-25", ...}'})
    """

    def __init__(self, redis: RedisClient, *, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def apply(
        self, sessions: Mapping[str, str | None], *, fairs: Mapping[str, str | None] = _NONE
    ) -> None:
        """Store each session's and fair's JSON, and remove those mapped to None, in one
        transaction (both hashes share the catalog's slot)."""
        if not sessions and not fairs:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            for key, changes in ((self.keys.catalog(), sessions), (self.keys.fairs(), fairs)):
                for item_id, value in changes.items():
                    if value is None:
                        pipe.hdel(key, item_id)
                    else:
                        pipe.hset(key, item_id, value)
            await pipe.execute()

    async def count(self) -> int:
        """How many sessions the catalog holds."""
        return int(await self.redis.hlen(self.keys.catalog()))

    async def count_fairs(self) -> int:
        """How many fairs the catalog holds."""
        return int(await self.redis.hlen(self.keys.fairs()))
