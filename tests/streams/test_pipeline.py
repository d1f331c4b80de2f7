"""The batch pipeline on the real Redis: redelivery, zombies, and a Redis that lost writes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence

import pytest
from redis.asyncio import Redis

from common.settings import Settings
from counting.aggregate import Aggregator, Record
from counting.delta import DeadLetter
from store.keys import Keys
from streams.pipeline import BatchProcessor
from streams.shardstore import ShardStore

pytestmark = pytest.mark.integration

NOW = 1_795_748_400_000


class RecordingSink:
    """Keeps dead letters in memory (a fake we own, standing in for the DLQ producer)."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        self.letters += letters


def _views(offsets: range) -> list[Record]:
    return [
        Record("v", 0, i, b"s1", json.dumps({
            "event_id": f"e{i}", "session_id": "s1", "viewer_id": f"u{i}", "kind": "join",
            "ts": NOW - 60_000 + i,
        }).encode())
        for i in offsets
    ]


@pytest.fixture
async def setup(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[tuple[Redis, Keys, Callable[[], BatchProcessor]]]:
    settings = make_settings()
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    keys = Keys(settings.key_prefix)

    def processor() -> BatchProcessor:
        return BatchProcessor(
            aggregator=Aggregator(topics={"v": "views"}),
            store=ShardStore(redis, keys=keys), sink=RecordingSink(), clock=lambda: NOW,
        )

    yield redis, keys, processor
    await redis.aclose()


async def _views_total(redis: Redis, keys: Keys) -> int:
    return int(await redis.hget(keys.totals(0), "views") or 0)


async def test_redelivery_after_a_restart_counts_nothing_twice(setup: tuple) -> None:
    redis, keys, processor = setup
    await processor().process(_views(range(0, 10)))
    # A new worker whose faust commit was behind gets 5..14 again.
    restarted = processor()
    assert await restarted.resume_offsets([("v", 0)]) == {("v", 0): 10}
    await restarted.process(_views(range(5, 15)))
    assert await _views_total(redis, keys) == 15


async def test_two_workers_on_one_shard_never_double_count(setup: tuple) -> None:
    redis, keys, processor = setup
    old, new = processor(), processor()
    await old.process(_views(range(0, 5)))
    await new.process(_views(range(0, 10)))      # took over, re-read from 0
    await old.process(_views(range(5, 12)))      # the zombie goes on: fenced, then catches up
    assert await _views_total(redis, keys) == 12
    assert await redis.hget(keys.offsets(0), "v") == "11"


async def test_a_redis_that_lost_writes_is_refilled_from_kafka(setup: tuple) -> None:
    redis, keys, processor = setup
    worker = processor()
    await worker.process(_views(range(0, 5)))
    saved = {k: await redis.dump(k) for k in await redis.keys(f"{keys.prefix}:*")}
    await worker.process(_views(range(5, 10)))
    # Redis restarts from an AOF that missed the last batch.
    await redis.delete(*await redis.keys(f"{keys.prefix}:*"))
    for key, value in saved.items():
        await redis.restore(key, 0, value)
    assert await _views_total(redis, keys) == 5

    await worker.process(_views(range(10, 13)))
    assert worker.take_seeks() == {("v", 0): 5}
    # Records fetched before the seek took effect are dropped, not counted past a hole.
    await worker.process(_views(range(13, 15)))
    assert await _views_total(redis, keys) == 5
    await worker.process(_views(range(5, 15)))   # the re-read after the seek
    assert await _views_total(redis, keys) == 15
    assert worker.take_seeks() == {}
