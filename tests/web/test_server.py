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
from prometheus_client import REGISTRY
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
        # Clock-driven fields (the minute's rate, live flags) may change again before
        # the heartbeat; each such change still comes in sequence, and the heartbeat
        # carries the sequence of the last change sent.
        last = second["seq"]
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))
            if message["type"] == "heartbeat":
                break
            assert (message["type"], message["seq"]) == ("change", last + 1)
            last = message["seq"]
        assert message["seq"] == last


async def test_http_routes(web: tuple[Settings, Redis]) -> None:
    settings, redis = web
    base = f"http://127.0.0.1:{settings.web_port}"
    await _count_views(settings, redis, 4, 0)
    # The board of the hub's next tick, a push interval after the change.
    deadline = time.monotonic() + seconds(10)
    while True:
        status, body, ctype = await asyncio.to_thread(_get, f"{base}/api/board")
        if json.loads(body)["totals"]["views"] == 4 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
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


async def _raw(port: int, head: str) -> tuple[int, dict[str, Any]]:
    """Send a hand-written request (duplicate headers, raw bytes); status and JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode() + b"\r\n\r\n")
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), seconds(5))
        lines = raw.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        body = await asyncio.wait_for(reader.readexactly(int(headers["Content-Length"])),
                                      seconds(5))
        return int(lines[0].split()[1]), json.loads(body) if body else {}
    finally:
        writer.close()


_UPGRADE = ("Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13")


async def test_duplicate_headers_and_a_bad_seq_answer_400_naming_them(
    web: tuple[Settings, Redis],
) -> None:
    settings, _ = web
    port = settings.web_port
    host = f"Host: 127.0.0.1:{port}"
    cases = [
        (f"GET /api/board HTTP/1.1\r\n{host}\r\nHost: evil.example",
         {"error": "duplicate_header", "header": "Host"}),
        (f"GET /ws/board HTTP/1.1\r\n{host}\r\nOrigin: http://127.0.0.1:{port}\r\n"
         f"Origin: http://evil.example\r\n{_UPGRADE}",
         {"error": "duplicate_header", "header": "Origin"}),
        (f"GET /api/sessions/cp-1 HTTP/1.1\r\n{host}\r\nAuthorization: Bearer a\r\n"
         "Authorization: Bearer b", {"error": "duplicate_header", "header": "Authorization"}),
    ]
    seq_refused = {"error": "bad_parameter", "parameter": "seq",
                   "expected": "1 to 18 ASCII digits"}
    # "²" percent-encoded as a browser would send it, Arabic-Indic "٣", and plain junk.
    for seq in ("%C2%B2", "%D9%A3", "abc", "1" * 5000):
        cases.append((f"GET /ws/board?epoch=e&seq={seq} HTTP/1.1\r\n{host}\r\n{_UPGRADE}",
                      seq_refused))
    for head, body in cases:
        assert await _raw(port, head) == (400, body), head[:60]
    # Still serving after all of them, and a well-formed resume is admitted.
    async with connect(f"ws://127.0.0.1:{port}/ws/board?epoch=e&seq=12") as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), seconds(5)))["type"] == "snapshot"


async def test_a_token_in_the_url_is_refused(web: tuple[Settings, Redis]) -> None:
    settings, _ = web
    tokens = HostTokens(secret=settings.token_secret.get_secret_value())
    token = tokens.issue("cp-1", expires_at_ms=time.time_ns() // 1_000_000 + 60_000)
    port = settings.web_port
    refused = {"error": "token_in_url", "parameter": "token"}
    for target in (f"/ws/host?token={token}", f"/api/sessions/cp-1?token={token}"):
        head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{_UPGRADE}"
        assert await _raw(port, head) == (400, refused), target
    status, body, _ = await asyncio.to_thread(
        _get, f"http://127.0.0.1:{port}/api/sessions/cp-1?token={token}")
    assert (status, json.loads(body)) == (400, refused)


async def test_api_board_is_the_hubs_board_not_a_read_per_request(
    make_settings: Callable[..., Settings],
) -> None:
    # Heartbeats far apart: the hub ticks only when the worker publishes a change.
    settings = make_settings(heartbeat_s=seconds(120), push_interval_s=0.05, partitions=2)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    app = WebApp(settings=settings)
    url = f"http://127.0.0.1:{settings.web_port}/api/board"
    try:
        async with app.serving():
            await _count_views(settings, redis, 3, 0)
            deadline = time.monotonic() + seconds(10)
            while app.hub.board is None or app.hub.board["totals"]["views"] != 3:
                assert time.monotonic() < deadline, "the hub never showed the views"
                await asyncio.sleep(0.05)
            # Written without the change notification: only a read of Redis would see it.
            await redis.hincrby(Keys(settings.key_prefix).totals(0), "views", 100)
            builds = REGISTRY.get_sample_value("ocop_snapshot_build_seconds_count")
            answers = await asyncio.gather(*(asyncio.to_thread(_get, url) for _ in range(20)))
            assert {(status, json.loads(body)["totals"]["views"])
                    for status, body, _ in answers} == {(200, 3)}
            assert REGISTRY.get_sample_value("ocop_snapshot_build_seconds_count") == builds
    finally:
        await redis.aclose()
