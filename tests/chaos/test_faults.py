"""Faults against the real broker, Redis and workers; the numbers must stay exact.

Each scenario ends by comparing Redis with the simulator's ground truth: nothing lost,
nothing counted twice, every invalid record dead-lettered once, and no manual step
(dead workers are restarted by the pool's supervisor, as a service manager would).
Short sizes run in CI; `make chaos` (OCOP_CHAOS=full) runs the issue's sizes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from common.settings import Settings
from consumers.rebuild import rebuild
from devtools.simulator.fair import Message
from devtools.simulator.truth import compute_truth
from devtools.stack import LocalStack
from store.client import redis_client
from store.keys import Keys
from tests.chaos.harness import FULL, WorkerPool, check_exact, finish, prepare, supervised
from tests.conftest import seconds

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


# The faults of the workers themselves run on both stacks; the engines' own faults differ
# (kill -9 the one broker or the one Redis here, a cluster master or one broker of three
# in test_cluster_faults.py).
ON_BOTH = pytest.mark.parametrize(
    "on", ["single", pytest.param("cluster", marks=pytest.mark.cluster)])


@pytest.fixture
def settings_on(request: pytest.FixtureRequest, on: str) -> Callable[..., Settings]:
    """Settings for the stack ``on`` names: the session's single stack or its cluster."""
    name = "make_settings" if on == "single" else "make_cluster_settings"
    return cast(Callable[..., Settings], request.getfixturevalue(name))


@ON_BOTH
@pytest.mark.parametrize("static", [False, True], ids=["dynamic", "static-membership"])
async def test_worker_killed_again_and_again(
    settings_on: Callable[..., Settings], tmp_path: Path, static: bool
) -> None:
    kills = 20 if FULL else 3
    run, truth = await prepare(settings_on, 500_000 if FULL else 60_000, kills, seed=101)
    rng = random.Random(101)
    # Static membership hands the partitions straight back to the restarted worker: the
    # fence must hold there too, with no rebalance in between.
    async with supervised(WorkerPool(run.settings, tmp_path, static=static)) as pool:
        pool.start()
        for send in run.send_chunks():
            await send
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            await asyncio.to_thread(pool.kill, 0)
            run.faults += 1
            await pool.wait_alive(0)
        outcome = await finish(run, pool, "kill -9 worker" + (" (static)" if static else ""),
                               truth=truth,
                               expected_letters=truth["dead_letters"],
                               faults_done_at=time.monotonic())
    check_exact(outcome)


@ON_BOTH
async def test_scale_two_to_three_to_one_while_events_flow(
    settings_on: Callable[..., Settings], tmp_path: Path
) -> None:
    run, truth = await prepare(settings_on, 200_000 if FULL else 40_000, 4, seed=202)
    async with supervised(WorkerPool(run.settings, tmp_path)) as pool:
        first, second = pool.start(), pool.start()
        sends = run.send_chunks()
        await next(sends)
        third = await asyncio.to_thread(pool.start)
        await next(sends)
        await asyncio.to_thread(pool.retire, first)
        await next(sends)
        await asyncio.to_thread(pool.retire, second)
        await next(sends)
        run.faults = 3
        outcome = await finish(run, pool, "scale 2→3→1", truth=truth,
                               expected_letters=truth["dead_letters"],
                               faults_done_at=time.monotonic())
        assert list(pool.workers) == [third]
    check_exact(outcome)


async def test_twelve_partitions_scaled_one_to_four_to_two_while_events_flow(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    run, truth = await prepare(make_settings, 200_000 if FULL else 48_000, 4, seed=212,
                               partitions=12)
    async with supervised(WorkerPool(run.settings, tmp_path)) as pool:
        first = pool.start()
        sends = run.send_chunks()
        await next(sends)
        # Three more join at once: every partition moves while events are in flight.
        added = [await asyncio.to_thread(pool.start) for _ in range(3)]
        await next(sends)
        for index in (first, added[0]):
            await asyncio.to_thread(pool.retire, index)
        await next(sends)
        await asyncio.to_thread(pool.start)
        await next(sends)
        run.faults = 4
        outcome = await finish(run, pool, "12 partitions: scale 1→4→2→3", truth=truth,
                               expected_letters=truth["dead_letters"],
                               faults_done_at=time.monotonic())
        assert len(pool.workers) == 3
    check_exact(outcome)


@pytest.mark.parametrize(
    ("component", "seed", "label"),
    [("kafka", 303, "kill -9 Kafka"), ("redis", 404, "kill -9 Redis (AOF everysec)")],
)
async def test_stack_component_killed_and_restarted(
    make_settings: Callable[..., Settings], local_stack: LocalStack, tmp_path: Path,
    component: str, seed: int, label: str,
) -> None:
    run, truth = await prepare(make_settings, 200_000 if FULL else 40_000, 2, seed=seed)
    async with supervised(WorkerPool(run.settings, tmp_path)) as pool:
        pool.start()
        sends = run.send_chunks()
        await next(sends)
        await asyncio.sleep(1.5)  # mid-way through the first chunk
        pid = local_stack.kafka_pid() if component == "kafka" else local_stack.redis_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        run.faults = 1
        await asyncio.sleep(1)
        await asyncio.to_thread(local_stack.up, timeout_s=seconds(180))
        await next(sends)
        outcome = await finish(run, pool, label, truth=truth,
                               expected_letters=truth["dead_letters"],
                               faults_done_at=time.monotonic())
    check_exact(outcome)


@ON_BOTH
async def test_redis_wiped_then_rebuilt(
    settings_on: Callable[..., Settings], tmp_path: Path
) -> None:
    run, truth = await prepare(settings_on, 100_000 if FULL else 30_000, 1, seed=505)
    async with supervised(WorkerPool(run.settings, tmp_path)) as pool:
        pool.start()
        for send in run.send_chunks():
            await send
        await finish(run, pool, "(before wipe)", truth=truth,
                     expected_letters=truth["dead_letters"], faults_done_at=time.monotonic())
    redis = redis_client(run.settings, decode_responses=True)
    keys = [key async for key in redis.scan_iter(match=Keys(run.settings.key_prefix)
                                                 .everything())]
    assert keys
    for key in keys:
        await redis.delete(key)
    await redis.aclose()
    run.faults = 1
    started = time.monotonic()
    await rebuild(run.settings)
    outcome = await finish(run, None, "wipe Redis + rebuild", truth=truth,
                           expected_letters=truth["dead_letters"], faults_done_at=started)
    check_exact(outcome)


def _without(messages: list[Message], prefix: str) -> tuple[list[Message], int]:
    """The messages as the pipeline will count them, and how many events will fail."""
    kept: list[Message] = []
    failing = 0
    for m in messages:
        if m.invalid_reason is not None:
            kept.append(m)
            continue
        good = [e for e in m.events if not str(e["event_id"]).startswith(prefix)]
        failing += len(m.events) - len(good)
        if good:
            value = json.dumps(good if len(good) > 1 else good[0]).encode()
            kept.append(Message(m.topic_kind, m.key, value, good))
    return kept, failing


@ON_BOTH
async def test_handler_failures_are_dead_lettered_and_the_rest_counts(
    settings_on: Callable[..., Settings], tmp_path: Path
) -> None:
    prefix = "e1"
    run, _ = await prepare(settings_on, 100_000 if FULL else 30_000, 1, seed=606,
                            fault_event_prefix=prefix)
    counted, failing = _without(run.fair.messages, prefix)
    assert failing > 0
    truth = compute_truth(counted, run.fair.catalog, seed=606)
    async with supervised(WorkerPool(run.settings, tmp_path)) as pool:
        pool.start()
        for send in run.send_chunks():
            await send
        run.faults = failing
        outcome = await finish(run, pool, "handler exceptions", truth=truth,
                               expected_letters=truth["dead_letters"] + failing,
                               faults_done_at=time.monotonic())
        assert pool.restarts == 0
    check_exact(outcome)
