"""The web process against the real Redis: board socket protocol, HTTP routes, auth."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect

from common.settings import Settings
from common.tokens import HostTokens
from counting.aggregate import Aggregator, Record
from store.keys import Keys
from streams.shardstore import ShardStore
from tests.conftest import seconds
from web.server import WebApp

pytestmark = pytest.mark.integration


@pytest.fixture
async def web(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[Settings, Redis]]:
    settings = make_settings(heartbeat_s=0.5, push_interval_s=0.05, partitions=2)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    app = WebApp(settings=settings)
    async with app.serving():
        yield settings, redis
    await redis.aclose()


async def _count_views(settings: Settings, redis: Redis, n: int, offset: int) -> None:
    now = time.time_ns() // 1_000_000
    values = [json.dumps({"event_id": f"e{offset + i}", "session_id": "cp-1",
                          "viewer_id": f"u{i}", "kind": "join", "ts": now}).encode()
              for i in range(n)]
    records = [Record("v", 0, offset + i, b"cp-1", v) for i, v in enumerate(values)]
    store = ShardStore(redis, keys=Keys(settings.key_prefix))
    state = await store.load(0)
    await store.apply([Aggregator(topics={"v": "views"}).batch(state, records, now_ms=now)])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=seconds(5)) as r:  # noqa: S310
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


async def _next(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))
        if message["type"] == kind:
            return message  # type: ignore[no-any-return]


async def test_snapshot_then_sequenced_changes_then_heartbeats(
    web: tuple[Settings, Redis],
) -> None:
    settings, redis = web
    async with connect(f"ws://127.0.0.1:{settings.web_port}/ws/board") as ws:
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), seconds(5)))
        assert snapshot["type"] == "snapshot"
        assert snapshot["board"]["totals"]["views"] == 0
        await _count_views(settings, redis, 3, 0)
        change = await _next(ws, "change")
        assert change["seq"] == snapshot["seq"] + 1
        assert change["changes"]["totals"]["views"] == 3
        await _count_views(settings, redis, 2, 3)
        second = await _next(ws, "change")
        assert second["seq"] == change["seq"] + 1
        assert second["changes"]["totals"]["views"] == 5
        beat = await _next(ws, "heartbeat")
        assert beat["seq"] == second["seq"]


async def test_http_routes(web: tuple[Settings, Redis]) -> None:
    settings, redis = web
    base = f"http://127.0.0.1:{settings.web_port}"
    await _count_views(settings, redis, 4, 0)
    status, body, ctype = await asyncio.to_thread(_get, f"{base}/api/board")
    assert (status, json.loads(body)["totals"]["views"]) == (200, 4)
    assert ctype.startswith("application/json")
    for page in ("/", "/board", "/host", "/static/board.js"):
        assert (await asyncio.to_thread(_get, base + page))[0] == 200, page
    assert (await asyncio.to_thread(_get, f"{base}/static/../pyproject.toml"))[0] == 404
    assert (await asyncio.to_thread(_get, f"{base}/nope"))[0] == 404
    status, body, _ = await asyncio.to_thread(_get, f"{base}/healthz")
    assert (status, json.loads(body)["status"]) == (200, "ok")
    status, body, ctype = await asyncio.to_thread(_get, f"{base}/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    assert b"ocop_snapshot_build_seconds_count" in body


async def test_session_api_needs_that_sessions_token(web: tuple[Settings, Redis]) -> None:
    settings, redis = web
    await _count_views(settings, redis, 2, 0)
    url = f"http://127.0.0.1:{settings.web_port}/api/sessions/cp-1"
    tokens = HostTokens(secret=settings.token_secret.get_secret_value())
    now = time.time_ns() // 1_000_000

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    status, body, _ = await asyncio.to_thread(
        _get, url, bearer(tokens.issue("cp-1", expires_at_ms=now + 60_000)))
    assert status == 200
    assert json.loads(body)["views"] == 2
    cases = [
        ({}, 401),
        (bearer("not-a-token"), 401),
        (bearer(tokens.issue("cp-1", expires_at_ms=now - 1)), 401),
        (bearer(tokens.issue("cp-2", expires_at_ms=now + 60_000)), 403),
    ]
    for headers, expected in cases:
        status, body, _ = await asyncio.to_thread(_get, url, headers)
        assert status == expected
        assert b"views" not in body
    unknown = f"http://127.0.0.1:{settings.web_port}/api/sessions/nobody"
    token = tokens.issue("nobody", expires_at_ms=now + 60_000)
    assert (await asyncio.to_thread(_get, unknown, bearer(token)))[0] == 404
