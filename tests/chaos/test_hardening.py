"""Faults that once stopped the count for good: each ends exact, with no input restart.

- oversized records (0.99, 1.0 and 1.04 MB, and a 5 MB value a compressed producer got
  under the broker's limit): dead-lettered, truncated where too large, never a crash;
- the group's committed offsets moved ahead of what Redis recorded: nothing skipped;
- a key of the wrong type planted under one shard: that shard stops and says so, the
  others go on, and once fixed nothing was counted twice;
- a Redis that may evict keys: the worker refuses to start.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from redis.asyncio import Redis

from common.settings import Settings
from consumers.topics import ensure_topics
from counting.partitioner import partition_for
from store.keys import Keys
from streams.deadletters import ORIGINAL_LENGTH, ORIGINAL_SHA256, TRUNCATED
from tests.chaos.harness import Outcome, WorkerPool, check_exact, finish, prepare, supervised
from tests.conftest import seconds, settings_env
from tests.expectations import Drift, read_dead_letters
from tests.processes import end_offsets, running, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

MB = 1_000_000


def _report(outcome: Outcome) -> None:
    path = Path(os.environ.get("OCOP_CHAOS_REPORT", "/tmp/ocop-chaos-report.md"))  # noqa: S108
    with path.open("a", encoding="utf-8") as out:
        out.write(outcome.row() + "\n")


def _joins(sid: str, start: int, n: int, ts: int) -> list[bytes]:
    return [json.dumps({"event_id": f"{sid}-j{i}", "session_id": sid, "viewer_id": f"u{i}",
                        "kind": "join", "ts": ts}).encode() for i in range(start, start + n)]


async def _views(settings: Settings) -> int:
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    keys = Keys(settings.key_prefix)
    try:
        views = [await redis.hget(keys.totals(s), "views") for s in range(settings.partitions)]
        return sum(int(v or 0) for v in views)
    finally:
        await redis.aclose()


async def _send(settings: Settings, records: list[tuple[str, bytes, bytes]], *,
                compression: str | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                max_request_size=6 * MB, compression_type=compression)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def test_oversized_records_are_dead_lettered_and_the_count_goes_on(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(partitions=4)
    await ensure_topics(settings)
    sid = "cp-oversized"
    now = time.time_ns() // 1_000_000
    junk = {size: b"x" * size for size in (990_000, 1_000_000, 1_040_000)}
    async with supervised(WorkerPool(settings, tmp_path)) as pool:
        pool.start()
        started = time.monotonic()
        # The case first: one invalid record of 1,040,000 bytes, then 100 joins.
        await _send(settings, [(settings.views_topic, sid.encode(), junk[1_040_000])])
        await _send(settings, [(settings.views_topic, sid.encode(), v)
                               for v in _joins(sid, 0, 100, now)])
        await wait_caught_up(settings, timeout_s=120)
        views_after_it = await _views(settings)
        # Then the rest: just under and at 1 MB, and 5 MB that gzip takes under the limit.
        await _send(settings, [(settings.views_topic, sid.encode(), junk[990_000]),
                               (settings.orders_topic, sid.encode(), junk[1_000_000])])
        huge = json.dumps([json.loads(v) for v in _joins(sid, 100, 40_000, now)]).encode()
        huge += b" " * (5 * MB - len(huge))
        await _send(settings, [(settings.views_topic, sid.encode(), huge)], compression="gzip")
        await _send(settings, [(settings.views_topic, sid.encode(), v)
                               for v in _joins(sid, 200_000, 50, now)])
        await wait_caught_up(settings, timeout_s=120)
        recover_s = time.monotonic() - started
        restarts = pool.restarts
    letters = await read_dead_letters(settings, expected=4)
    by_offset = {(r.topic, r.offset): dict(r.headers) for r in letters}
    assert views_after_it == 100
    assert await _views(settings) == 150
    assert restarts == 0
    assert len(letters) == 4
    reasons = sorted(h["reason"].decode() for h in by_offset.values())
    assert reasons == ["bad_json", "bad_json", "bad_json", "too_large"]
    (big,) = [r for r in letters if dict(r.headers)["reason"] == b"too_large"]
    headers = dict(big.headers)
    assert headers[TRUNCATED] == b"1"
    assert int(headers[ORIGINAL_LENGTH]) == len(huge)
    assert headers[ORIGINAL_SHA256].decode() == hashlib.sha256(huge).hexdigest()
    assert len(big.value) < len(huge) // 10
    whole = [r for r in letters if dict(r.headers)["reason"] == b"bad_json"]
    assert sorted(len(r.value) for r in whole) == sorted(junk)
    _report(Outcome("oversized + compressed 5 MB records", 150, 4, restarts,
                    Drift(0, 0, []), len(letters), 4, recover_s))


async def test_a_committed_offset_ahead_of_redis_skips_nothing(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(partitions=3)
    await ensure_topics(settings)
    sessions = [f"cp-ahead-{i}" for i in range(6)]
    now = time.time_ns() // 1_000_000
    first = [(settings.views_topic, s.encode(), v)
             for s in sessions for v in _joins(s, 0, 500, now)]
    await _send(settings, first)
    with running(settings, "worker", tmp_path):
        await wait_caught_up(settings, timeout_s=120)
    counted_before = await _views(settings)
    recorded = await end_offsets(settings, [settings.views_topic])
    second = [(settings.views_topic, s.encode(), v)
              for s in sessions for v in _joins(s, 500, 500, now)]
    await _send(settings, second)
    # Kafka's committed offsets get ahead of Redis: halfway into the new records, as a
    # Redis that came back with less than it had (or a faust commit bug) would leave them.
    ends = await end_offsets(settings, [settings.views_topic])
    ahead = {TopicPartition(topic, p): OffsetAndMetadata((recorded[topic, p] + last) // 2, "")
             for (topic, p), last in ends.items()}
    committer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                 group_id=settings.app_id, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign(list(ahead))
        await committer.commit(ahead)
    finally:
        await committer.stop()
    started = time.monotonic()
    with running(settings, "worker", tmp_path):
        await wait_caught_up(settings, timeout_s=120)
        recover_s = time.monotonic() - started
    assert counted_before == 3000
    assert await _views(settings) == 6000
    _report(Outcome("committed offsets ahead of Redis", 6000, 1, 0, Drift(0, 0, []), 0, 0,
                    recover_s))


def _health(port: int) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_a_planted_wrong_type_key_stops_that_shard_only(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    run, truth = await prepare(make_settings, 20_000, 1, seed=707)
    run.faults = 1
    settings = run.settings
    keys = Keys(settings.key_prefix)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    await redis.set(keys.totals(1), "planted by hand")
    others = {sid for sid in truth["sessions"] if partition_for(sid.encode(), 4) != 1}
    async with supervised(WorkerPool(settings, tmp_path)) as pool:
        pool.start()
        for send in run.send_chunks():
            await send
        started = time.monotonic()
        ends = await end_offsets(settings, [settings.views_topic, settings.orders_topic])
        deadline = time.monotonic() + seconds(120)
        while True:
            behind = [tp for tp, last in ends.items() if tp[1] != 1 and int(
                await redis.hget(keys.offsets(tp[1]), tp[0]) or -1) < last]
            if not behind:
                break
            assert time.monotonic() < deadline, f"shards other than 1 never caught up: {behind}"
            await asyncio.sleep(0.25)
        port = pool.workers[0][1].worker_metrics_port
        status, health = await asyncio.to_thread(_health, port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            scrape = page.read().decode()
        # Shard 1 wrote nothing, not even its offsets; every other session is exact.
        assert await redis.exists(keys.offsets(1)) == 0
        for sid in others:
            shard = partition_for(sid.encode(), 4)
            views = int(await redis.hget(keys.session(shard, sid), "views") or 0)
            assert views == truth["sessions"][sid]["views"], sid
        stopped_restarts = pool.restarts
        # A person removes the planted key and restarts the worker: shard 1 counts once.
        await redis.delete(keys.totals(1))
        pool.kill(0)
        await pool.wait_alive(0)
        outcome = await finish(run, pool, "wrong-type key planted in one shard", truth=truth,
                               expected_letters=truth["dead_letters"], faults_done_at=started)
    await redis.aclose()
    assert status == 503
    assert list(health["stopped_shards"]) == ["1"]
    assert "is a string, the batch writes a hash" in health["stopped_shards"]["1"]
    assert "ocop_shards_stopped 1.0" in scrape
    assert 'ocop_apply_failures_total{cause="apply"} 1.0' in scrape
    assert stopped_restarts == 0
    check_exact(outcome)


def test_a_redis_that_may_evict_is_refused_at_start(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    client = sync_redis.Redis.from_url(settings.redis_url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        result = subprocess.run([sys.executable, "-m", "cli", "worker"],
                                env=settings_env(settings), capture_output=True, text=True,
                                timeout=seconds(60), check=False)
    finally:
        client.config_set("maxmemory-policy", "noeviction")
        client.close()
    assert result.returncode == 1
    assert "maxmemory-policy allkeys-lru" in result.stderr
    _report(Outcome("Redis with allkeys-lru: worker refuses to start", 0, 1, 0,
                    Drift(0, 0, []), 0, 0, 0.0))
