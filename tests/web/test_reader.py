"""Reading several host sessions at once gives what reading each alone would."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from common.settings import Settings
from store.keys import Keys
from tests.web.writes import ORDERS, VIEWS, count, join, now_ms, order
from web.reader import StoreReader

pytestmark = pytest.mark.integration


async def test_sessions_in_one_read_rank_across_shards(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(partitions=3)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        for shard, (sid, amount) in enumerate([("cp-1", 50_000), ("cp-2", 90_000),
                                               ("cp-3", 70_000)]):
            await count(settings, redis, VIEWS, [join(f"v{sid}", sid, "u1")], shard=shard)
            await count(settings, redis, ORDERS, [order(f"o{sid}", sid, amount)], shard=shard)
        reader = StoreReader(redis, keys=Keys(settings.key_prefix), shards=3)
        now = now_ms()
        together = await reader.sessions(["cp-1", "cp-2", "cp-3", "cp-1", "nobody"], now_ms=now)
        assert list(together) == ["cp-1", "cp-2", "cp-3", "nobody"]
        assert [(r.rank_above, r.next_gmv_above, r.sessions_ranked)
                for r in together.values()] == [(2, 70_000, 3), (0, None, 3), (1, 90_000, 3),
                                                 (0, None, 0)]
        assert not together["nobody"].found and together["nobody"].catalog is None
        for sid, rows in together.items():
            assert rows == await reader.session(sid, now_ms=now)
        series = together["cp-2"].minutes
        assert len(series) == 60
        assert any(values[0] == "1" for values in series.values())
    finally:
        await redis.aclose()
