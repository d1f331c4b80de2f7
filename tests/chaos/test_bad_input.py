"""10,000 hostile records mixed into a good stream: all dead-lettered, the rest exact."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from common.settings import Settings
from consumers.topics import ensure_topics
from devtools.simulator.truth import compute_truth
from tests.chaos.corpus import hostile_records
from tests.chaos.harness import Run, WorkerPool, finish, supervised
from tests.expectations import read_dead_letters

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

HOSTILE = 10_000
REASONS = {"too_large", "bad_json", "bad_envelope", "invalid_field", "bad_timestamp",
           "key_mismatch", "wrong_partition", "future_event", "too_late"}
# Valid events but for where they came: on another partition than their key's, or keyless.
MISPLACED = {"wrong_partition", "no_key"}
SOURCE = ("source_topic", "source_partition", "source_offset", "source_index")
# Look-alike ids: control, format and separator characters inside an otherwise valid id.
HIDDEN_CHARACTERS = {"id_bidi_override", "id_zero_width", "id_bom", "id_line_separator",
                     "id_nel", "session_zero_width_joiner", "viewer_rtl_isolate",
                     "product_soft_hyphen", "order_zero_width"}


async def test_hostile_corpus_is_dead_lettered_and_good_events_count_exactly(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(partitions=4, max_message_bytes=65_536)
    await ensure_topics(settings)
    run = Run.plan(settings, events=20_000, chunks=1, seed=707)
    truth = compute_truth(run.fair.messages, run.fair.catalog, seed=707)
    sessions = [s.session_id for s in run.fair.catalog.sessions]
    fair_end_ms = run.fair.config.start_ms + run.fair.config.span_ms
    corpus = list(hostile_records(sessions, HOSTILE, seed=707, partitions=settings.partitions,
                                  now_ms=fair_end_ms))
    kinds = Counter(h.kind for h in corpus)
    assert len(kinds) >= 40
    assert all(kinds[kind] >= 20 for kind in MISPLACED | HIDDEN_CHARACTERS), kinds
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap,
                                max_request_size=1_048_576, linger_ms=20)
    topics = {"views": settings.views_topic, "orders": settings.orders_topic}
    async with supervised(WorkerPool(settings, tmp_path)) as pool:
        pool.start()
        pid = pool.workers[0][0].pid
        await producer.start()
        try:
            good = asyncio.create_task(next(run.send_chunks()))
            for record in corpus:
                await producer.send(topics[record.topic_kind], record.value, key=record.key,
                                    partition=record.partition)
            await producer.flush()
            await good
        finally:
            await producer.stop()
        run.faults = HOSTILE
        outcome = await finish(run, pool, "hostile corpus (10,000 records)", truth=truth,
                               expected_letters=truth["dead_letters"] + HOSTILE,
                               faults_done_at=time.monotonic())
        assert pool.restarts == 0
        assert pool.workers[0][0].pid == pid
    assert outcome.drift.mismatches == []
    assert outcome.dead_letters_unique == truth["dead_letters"] + HOSTILE
    letters = await read_dead_letters(settings, truth["dead_letters"] + HOSTILE)
    reasons = Counter(dict(r.headers)["reason"].decode() for r in letters)
    assert set(reasons) <= REASONS, reasons
    # Dead letters are at-least-once: count each source record once.
    misplaced = {tuple(dict(r.headers)[name] for name in SOURCE) for r in letters
                 if dict(r.headers)["reason"] == b"wrong_partition"}
    assert len(misplaced) == sum(kinds[kind] for kind in MISPLACED), reasons
    kind_of = {h.value: h.kind for h in corpus}
    hidden = [r for r in letters if kind_of.get(r.value) in HIDDEN_CHARACTERS]
    assert len(hidden) >= sum(kinds[kind] for kind in HIDDEN_CHARACTERS)
    assert {dict(r.headers)["reason"] for r in hidden} == {b"invalid_field"}
    assert all(b"U+" in dict(r.headers)["detail"] for r in hidden)
    assert all(dict(r.headers).get("detail") for r in letters)
