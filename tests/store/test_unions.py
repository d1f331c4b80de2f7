"""Unions of HyperLogLogs counted through scratch copies give PFCOUNT's own numbers."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from common.settings import Settings
from store.client import redis_client
from store.keys import Keys
from store.unions import union_counts

pytestmark = pytest.mark.integration


@pytest.fixture
async def filled(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[Redis, Keys]]:
    """Six HyperLogLogs of overlapping viewers: sparse ones and dense ones."""
    settings = make_settings()
    redis = redis_client(settings, decode_responses=True)
    assert isinstance(redis, Redis)
    keys = Keys(settings.key_prefix)
    rng = random.Random(7)
    for shard, size in enumerate((3, 40, 900, 5_000, 20_000, 0)):
        viewers = [f"u{rng.randrange(30_000)}" for _ in range(size)]
        for start in range(0, len(viewers), 1000):
            await redis.pfadd(keys.viewers(shard), *viewers[start:start + 1000])
    yield redis, keys
    await redis.aclose()


async def test_copies_count_what_pfcount_counts(filled: tuple[Redis, Keys]) -> None:
    redis, keys = filled
    groups = [[keys.viewers(s) for s in range(6)], [keys.viewers(0), keys.viewers(1)],
              [keys.viewers(4)], [keys.viewers(5)], [], [keys.viewers(2), keys.viewers(3)]]
    direct = await union_counts(redis, keys, groups, copy=False)
    assert direct[0] > 15_000 and direct[3:5] == [0, 0]
    assert await union_counts(redis, keys, groups, copy=True) == direct
    # The copies are gone once counted.
    assert [key async for key in redis.scan_iter(match=keys.scratch("*"))] == []
