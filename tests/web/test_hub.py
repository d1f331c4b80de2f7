"""The board hub's current board against the real Redis: the tick's, or one shared read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from common.settings import Settings
from store.keys import Keys
from tests.web.writes import VIEWS, count, join
from web.hub import STALE_HEARTBEATS, BoardHub
from web.reader import StoreReader

pytestmark = pytest.mark.integration


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _builds() -> float:
    return REGISTRY.get_sample_value("ocop_snapshot_build_seconds_count") or 0.0


async def test_current_is_the_ticks_board_and_one_shared_read_when_there_is_none(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(partitions=2, heartbeat_s=1.0)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    keys = Keys(settings.key_prefix)
    clock = FakeMonotonic()
    # No loops run: every build below is one of these calls.
    hub = BoardHub(reader=StoreReader(redis, keys=keys, shards=2), redis=redis, keys=keys,
                   settings=settings, monotonic=clock)
    try:
        before = _builds()
        boards = await asyncio.gather(*(hub.current() for _ in range(20)))
        assert _builds() == before + 1, "concurrent callers did not share one read"
        assert all(board is boards[0] for board in boards)
        assert hub.board is None, "a shared read must not become the board screens diff"

        await hub.load()
        await count(settings, redis, VIEWS, [join("v1", "cp-1", "u1")])
        before = _builds()
        for _ in range(20):
            assert await hub.current() is hub.board
        assert _builds() == before, "a fresh board was read again"
        assert hub.board is not None and hub.board["totals"]["views"] == 0

        # Past the stale limit (no tick for three heartbeats: Redis was down).
        clock.now += STALE_HEARTBEATS * settings.heartbeat_s + 0.1
        stale = await asyncio.gather(*(hub.current() for _ in range(20)))
        assert _builds() == before + 1
        assert stale[0]["totals"]["views"] == 1
        assert hub.board["totals"]["views"] == 0

        await hub.tick()
        assert await hub.current() is hub.board
        assert hub.board["totals"]["views"] == 1
    finally:
        await redis.aclose()
