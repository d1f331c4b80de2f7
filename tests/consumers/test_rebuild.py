"""Rebuild: wipe Redis, replay the retained topics, get exactly what the live run had."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from common.catalog import SAMPLE_CATALOG, load_catalog
from common.settings import Settings
from consumers.rebuild import RebuildRefused, rebuild
from consumers.topics import ensure_topics
from devtools.simulator.fair import FairConfig, generate
from devtools.simulator.producer import KafkaTarget, send_fair
from store.keys import Keys
from tests.processes import running, wait_caught_up
from web.payload import build_board, build_session
from web.reader import StoreReader

pytestmark = pytest.mark.integration


async def _snapshot(settings: Settings, sessions: list[str], now_ms: int) -> dict[str, Any]:
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    reader = StoreReader(redis, keys=Keys(settings.key_prefix), shards=settings.partitions)
    try:
        board = build_board(await reader.board(now_ms=now_ms), top_n=10, title="", place="")
        pages = {sid: build_session(await reader.session(sid, now_ms=now_ms))
                 for sid in sessions}
    finally:
        await redis.aclose()
    return {"board": board, "sessions": pages}


async def test_rebuild_equals_the_live_pipeline(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    await ensure_topics(settings)
    # 12 sessions of the sample's Cần Giờ fair, and that fair.
    sample = load_catalog(SAMPLE_CATALOG)
    catalog = sample.with_sessions(sample.for_fair("cg-2023-11-25").sessions[:12])
    now_ms = time.time_ns() // 1_000_000
    fair = generate(catalog, FairConfig(start_ms=now_ms - 20 * 60_000, span_ms=20 * 60_000,
                                        events=20_000, seed=5))
    target = KafkaTarget(settings.kafka_bootstrap, settings.views_topic,
                         settings.orders_topic, settings.sessions_topic)
    with running(settings, "worker", tmp_path):
        await send_fair(fair, target, paced=False, progress=False)
        await wait_caught_up(settings, timeout_s=120)
        with pytest.raises(RebuildRefused, match="stop every"):
            await rebuild(settings)
    sessions = [s.session_id for s in catalog.sessions]
    live = await _snapshot(settings, sessions, now_ms)
    assert live["board"]["totals"]["views"] > 0

    report = await rebuild(settings)
    assert report.messages == len(fair.messages)
    assert (report.sessions, report.fairs) == (len(sessions), 1)
    assert await _snapshot(settings, sessions, now_ms) == live
