"""The web process on a Redis Cluster: changes reach the screens without pub/sub, and
staff commands reach every process."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from websockets.asyncio.client import ClientConnection, connect

from cli.main import main
from common.settings import Settings
from counting.aggregate import Aggregator, Record
from store.client import redis_client
from store.keys import Keys
from streams.shardstore import ShardStore
from tests.conftest import seconds, settings_env
from tests.processes import running

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


async def _count_views(settings: Settings, n: int) -> None:
    now = time.time_ns() // 1_000_000
    records = [Record("v", 1, i, b"cp-1", json.dumps(
        {"event_id": f"e{i}", "session_id": "cp-1", "viewer_id": f"u{i}", "kind": "join",
         "ts": now}).encode()) for i in range(n)]
    redis = redis_client(settings, decode_responses=True)
    try:
        store = ShardStore(redis, keys=Keys(settings.key_prefix))
        state = await store.load(1)
        outcome = await store.apply([Aggregator(topics={"v": "views"}).batch(
            state, records, now_ms=now)])
        assert outcome.ok
    finally:
        await redis.aclose()


async def _next(ws: ClientConnection, kind: str, within_s: float) -> dict[str, Any]:
    async with asyncio.timeout(within_s):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message  # type: ignore[no-any-return]


async def test_a_change_and_a_reload_reach_the_screen_long_before_a_heartbeat(
    make_cluster_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # A heartbeat far away: what arrives sooner came through the poll of the offsets.
    settings = make_cluster_settings(heartbeat_s=60)
    with running(settings, "web", tmp_path):
        url = f"ws://127.0.0.1:{settings.web_port}/ws/board"
        async with connect(url) as ws:
            snapshot = await _next(ws, "snapshot", seconds(10))
            assert snapshot["board"]["totals"]["views"] == 0
            await _count_views(settings, 3)
            change = await _next(ws, "change", seconds(10))
            assert change["changes"]["totals"]["views"] == 3
            told = CliRunner().invoke(main, ["screens", "reload"], env=settings_env(settings))
            assert told.exit_code == 0, told.output
            assert "asked 1 web process(es)" in told.output
            await _next(ws, "reload", seconds(10))
