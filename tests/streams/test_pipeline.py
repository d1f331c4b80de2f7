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
from streams.deadletters import DeadLetterSendFailed
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


class LogReader:
    """The partitions as Kafka holds them: answers the pipeline's range reads (a fake we own)."""

    def __init__(self, records: Sequence[Record] = ()) -> None:
        self.records = list(records)
        self.reads: list[tuple[str, int, int, int]] = []

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Record]:
        self.reads.append((topic, partition, start, end))
        return [r for r in self.records
                if (r.topic, r.partition) == (topic, partition) and start <= r.offset < end]


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

    def processor(log: LogReader | None = None) -> BatchProcessor:
        return BatchProcessor(
            aggregator=Aggregator(topics={"v": "views"}),
            store=ShardStore(redis, keys=keys), sink=RecordingSink(),
            ranges=log or LogReader(), clock=lambda: NOW,
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
    log = LogReader(_views(range(0, 15)))
    worker = processor(log)
    await worker.process(_views(range(0, 5)))
    saved = {k: await redis.dump(k) for k in await redis.keys(f"{keys.prefix}:*")}
    await worker.process(_views(range(5, 10)))
    # Redis restarts from an AOF that missed the last batch.
    await redis.delete(*await redis.keys(f"{keys.prefix}:*"))
    for key, value in saved.items():
        await redis.restore(key, 0, value)
    assert await _views_total(redis, keys) == 5

    # The fence refuses, the worker reloads, and reads what Redis lost from Kafka.
    await worker.process(_views(range(10, 13)))
    assert log.reads == [("v", 0, 5, 10)]
    assert await _views_total(redis, keys) == 13
    await worker.process(_views(range(13, 15)))
    assert await _views_total(redis, keys) == 15


async def test_offsets_faust_jumped_over_are_read_from_kafka(setup: tuple) -> None:
    redis, keys, processor = setup
    log = LogReader(_views(range(0, 25)))
    worker = processor(log)
    await worker.process(_views(range(0, 10)))
    # faust's recovery moved the partition to a committed offset ahead of Redis.
    await worker.process(_views(range(20, 25)))
    assert log.reads == [("v", 0, 10, 20)]
    assert await _views_total(redis, keys) == 25
    assert await redis.hget(keys.offsets(0), "v") == "24"


async def test_offsets_that_hold_no_record_are_passed(setup: tuple) -> None:
    redis, keys, processor = setup
    # 10..14 are transaction markers: Kafka has no record there.
    log = LogReader([*_views(range(0, 10)), *_views(range(15, 20))])
    worker = processor(log)
    await worker.process(_views(range(0, 10)))
    await worker.process(_views(range(15, 20)))
    assert log.reads == [("v", 0, 10, 15)]
    assert await _views_total(redis, keys) == 15
    assert await redis.hget(keys.offsets(0), "v") == "19"


def _shard_views(shard: int, sid: str, offsets: range) -> list[Record]:
    return [Record("v", shard, i, sid.encode(), json.dumps({
        "event_id": f"{sid}-{i}", "session_id": sid, "viewer_id": f"u{i}", "kind": "join",
        "ts": NOW - 60_000 + i}).encode()) for i in offsets]


async def test_a_wrong_type_key_stops_its_shard_and_only_it(setup: tuple) -> None:
    redis, keys, processor = setup
    await redis.set(keys.totals(1), "planted")
    worker = processor()
    await worker.process(_shard_views(0, "s0", range(0, 4)) + _shard_views(1, "s1", range(0, 4)))
    assert await redis.hget(keys.totals(0), "views") == "4"
    assert set(worker.stopped) == {1}
    assert "is a string, the batch writes a hash" in worker.stopped[1]
    # Nothing of shard 1 was written, its offsets included, and it stays stopped.
    assert await redis.exists(keys.offsets(1), keys.session(1, "s1")) == 0
    await worker.process(_shard_views(0, "s0", range(4, 6)) + _shard_views(1, "s1", range(4, 6)))
    assert await redis.hget(keys.totals(0), "views") == "6"
    assert await redis.exists(keys.offsets(1)) == 0
    # Fixed by a person and handed back: it counts from where Redis stands, once.
    await redis.delete(keys.totals(1))
    worker.forget([1])
    assert await worker.resume_offsets([("v", 1)]) == {("v", 1): 0}
    await worker.process(_shard_views(1, "s1", range(0, 6)))
    assert worker.stopped == {}
    assert await redis.hget(keys.totals(1), "views") == "6"


class RefusingSink:
    """A dead-letter topic that refuses every letter of one shard."""

    def __init__(self, shard: int) -> None:
        self.shard = shard

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        refused = [letter for letter in letters if letter.partition == self.shard]
        if refused:
            raise DeadLetterSendFailed(refused, RuntimeError("MessageSizeTooLargeError"))


async def test_a_dead_letter_the_topic_refuses_stops_its_shard_not_the_worker(
    setup: tuple,
) -> None:
    redis, keys, processor = setup
    worker = processor()
    worker.sink = RefusingSink(shard=1)
    bad = Record("v", 1, 4, b"s1", b"{not json")
    await worker.process(_shard_views(0, "s0", range(0, 3)) + _shard_views(1, "s1", range(0, 4))
                         + [bad])
    assert await redis.hget(keys.totals(0), "views") == "3"
    assert set(worker.stopped) == {1}
    assert "v[1]@4" in worker.stopped[1]
    # Redis holds nothing of shard 1: a restarted worker reads it all again.
    assert await redis.exists(keys.offsets(1)) == 0


async def test_a_partition_that_stalls_behind_the_consumer_is_read_from_kafka(
        setup: tuple) -> None:
    redis, keys, make = setup
    processor = make(LogReader(_views(range(10))))
    await processor.process(_views(range(4)))
    # faust moved the consumer to offset 10 and no record of the partition arrives.
    assert await processor.catch_up({("v", 0): 10}) == 0  # one look is not a stall
    assert await processor.catch_up({("v", 0): 10}) == 6
    assert await _views_total(redis, keys) == 10
    # Caught up: nothing more to read, however often it looks.
    assert await processor.catch_up({("v", 0): 10}) == 0
    assert await processor.catch_up({("v", 0): 10}) == 0


async def test_writes_redis_lost_with_no_record_after_are_read_again(setup: tuple) -> None:
    redis, keys, make = setup
    processor = make(LogReader(_views(range(10))))
    await processor.process(_views(range(4)))
    saved = {k: await redis.dump(k) for k in await redis.keys(f"{keys.prefix}:*")}
    await processor.process(_views(range(4, 10)))
    # A failover to a replica that lacked the last batch; the partition stays quiet.
    await redis.delete(*await redis.keys(f"{keys.prefix}:*"))
    for key, value in saved.items():
        await redis.restore(key, 0, value)
    assert await processor.catch_up({("v", 0): 10}) == 0
    assert await processor.catch_up({("v", 0): 10}) == 6
    assert await _views_total(redis, keys) == 10
    assert await redis.hget(keys.offsets(0), "v") == "9"


async def test_a_partition_still_moving_is_left_to_the_consumer(setup: tuple) -> None:
    _, _, make = setup
    log = LogReader(_views(range(20)))
    processor = make(log)
    await processor.process(_views(range(4)))
    assert await processor.catch_up({("v", 0): 10}) == 0
    await processor.process(_views(range(4, 8)))
    assert await processor.catch_up({("v", 0): 12}) == 0
    assert log.reads == []
