"""A simulated fair posted through the running gateway reaches the board exactly, also
when Kafka is killed in the middle and the client retries its 503s."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from common.catalog import Catalog
from common.settings import Settings
from consumers.topics import ensure_topics
from devtools.simulator.fair import FairConfig, Message, generate
from devtools.simulator.truth import compute_truth
from devtools.stack import LocalStack
from tests.chaos.harness import WorkerPool, supervised
from tests.conftest import seconds
from tests.expectations import COUNTS, drift_from_truth, hll_close, sample_fair_catalog
from tests.ingest.client import add_key, events_body, post, publish_catalog
from tests.processes import running, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

BATCH = 500
# Bounds the retry loop: a gateway that never recovers fails the test instead of hanging.
MAX_ATTEMPTS = 600


def _fair(events: int, seed: int) -> tuple[list[Message], Catalog, dict[str, Any]]:
    now_ms = time.time_ns() // 1_000_000
    span = 20 * 60_000
    fair = generate(sample_fair_catalog(),
                    FairConfig(start_ms=now_ms - span, span_ms=span, events=events, seed=seed))
    # Records the simulator makes invalid on purpose (bad JSON, another session's key) are
    # the worker's dead letters; a gateway client has none of them to send.
    valid = [m for m in fair.messages if m.invalid_reason is None]
    return valid, fair.catalog, compute_truth(valid, fair.catalog, seed=seed)


def _batches(messages: list[Message]) -> list[bytes]:
    events = [event for m in messages for event in m.events]
    return [events_body(events[i:i + BATCH]) for i in range(0, len(events), BATCH)]


@dataclass
class Poster:
    """Posts batches in order; a 503, 429 or lost connection is retried after a pause."""

    settings: Settings
    key: str
    answers: list[int] = field(default_factory=list)

    def send(self, body: bytes) -> None:
        for _ in range(MAX_ATTEMPTS):
            try:
                answer = post(self.settings, body, key=self.key)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                self.answers.append(0)
                time.sleep(0.5)
                continue
            self.answers.append(answer.status)
            if answer.status == 202:
                assert answer.body["rejected"] == 0, answer.body
                return
            assert answer.status in (429, 503), answer.body
            time.sleep(int(answer.headers["Retry-After"]))
        raise AssertionError(f"no 202 after {MAX_ATTEMPTS} attempts: {self.answers[-5:]}")

    def send_all(self, bodies: list[bytes]) -> None:
        for body in bodies:
            self.send(body)


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=seconds(10)) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def _check_exact(settings: Settings, truth: dict[str, Any]) -> None:
    await wait_caught_up(settings, timeout_s=300)
    await asyncio.sleep(seconds(1))  # the catalog agent runs beside the counting agent
    status, board = _get(f"http://127.0.0.1:{settings.web_port}/api/board")
    assert status == 200
    for name in (*COUNTS, "viewers_now"):
        assert board["totals"][name] == truth["totals"][name], name
    assert hll_close(board["totals"]["unique_viewers"], truth["totals"]["unique_viewers"])
    drift = await drift_from_truth(settings, truth)
    assert drift.mismatches == []
    assert (drift.lost, drift.double_counted) == (0, 0)


async def test_a_fair_posted_in_500_event_batches_reaches_the_board_exactly(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings(partitions=4, ingest_key_rate=1_000_000.0)
    await ensure_topics(settings)
    messages, catalog, truth = _fair(6_000, seed=1301)
    await publish_catalog(settings, catalog)
    with running(settings, "worker", tmp_path), running(settings, "web", tmp_path), \
            running(settings, "ingest", tmp_path):
        poster = Poster(settings, add_key(settings, "fair-feed"))
        await asyncio.to_thread(poster.send_all, _batches(messages))
        assert set(poster.answers) == {202}
        await _check_exact(settings, truth)


async def test_kafka_killed_mid_run_the_client_retries_503s_and_totals_end_exact(
        make_settings: Callable[..., Settings], local_stack: LocalStack, tmp_path: Path) -> None:
    settings = make_settings(partitions=4, ingest_key_rate=1_000_000.0,
                             ingest_send_timeout_s=3.0)
    await ensure_topics(settings)
    messages, catalog, truth = _fair(5_000, seed=1302)
    await publish_catalog(settings, catalog)
    bodies = _batches(messages)
    async with supervised(WorkerPool(settings, tmp_path)) as pool:
        pool.start()
        with running(settings, "web", tmp_path), running(settings, "ingest", tmp_path):
            poster = Poster(settings, add_key(settings, "fair-feed"))
            await asyncio.to_thread(poster.send_all, bodies[:3])
            pid = local_stack.kafka_pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            rest = asyncio.create_task(asyncio.to_thread(poster.send_all, bodies[3:]))
            while 503 not in poster.answers and not rest.done():
                await asyncio.sleep(0.1)
            assert 503 in poster.answers, poster.answers
            health, body = _get(f"http://127.0.0.1:{settings.ingest_port}/healthz")
            assert (health, body["status"]) == (503, "kafka_unreachable")
            await asyncio.to_thread(local_stack.up, timeout_s=seconds(180))
            await rest
            assert poster.answers.count(202) == len(bodies)
            await _check_exact(settings, truth)
