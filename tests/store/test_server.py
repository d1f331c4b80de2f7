"""A Redis that may evict keys is refused: by the store check and by a starting worker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from common.settings import Settings
from store.server import UnsafeRedis, require_no_eviction
from tests.conftest import seconds, settings_env

pytestmark = pytest.mark.integration


@pytest.fixture
async def evicting(make_settings: Callable[..., Settings]) -> AsyncIterator[Settings]:
    """The session's Redis switched to allkeys-lru for one test, then set back."""
    settings = make_settings()
    redis = Redis.from_url(settings.redis_url)
    await redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        yield settings
    finally:
        await redis.config_set("maxmemory-policy", "noeviction")
        await redis.aclose()


async def test_the_local_stack_redis_never_evicts(make_settings: Callable[..., Settings]) -> None:
    redis = Redis.from_url(make_settings().redis_url)
    try:
        await require_no_eviction(redis)
    finally:
        await redis.aclose()


async def test_an_evicting_redis_is_refused_with_what_to_do(evicting: Settings) -> None:
    redis = Redis.from_url(evicting.redis_url)
    try:
        with pytest.raises(UnsafeRedis, match=r"allkeys-lru.*maxmemory-policy noeviction"):
            await require_no_eviction(redis)
    finally:
        await redis.aclose()


def test_a_worker_refuses_to_start_on_an_evicting_redis(evicting: Settings) -> None:
    result = subprocess.run([sys.executable, "-m", "cli", "worker"], env=settings_env(evicting),
                            capture_output=True, text=True, timeout=seconds(60), check=False)
    assert result.returncode == 1
    assert "maxmemory-policy allkeys-lru" in result.stderr
    assert "noeviction" in result.stderr
