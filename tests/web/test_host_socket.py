"""The host socket against the real server and Redis: token first, own session only."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from common.settings import Settings
from common.tokens import HostTokens
from tests.conftest import seconds
from tests.web.writes import ORDERS, count, count_two_sessions, now_ms, order
from web.server import WebApp

pytestmark = pytest.mark.integration

# The client side of these tests must not log frames either: the token is in one.
_CLIENT_LOG = logging.getLogger("tests.web.host_client")
_CLIENT_LOG.setLevel(logging.WARNING)


@pytest.fixture
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[WebApp]:
    settings = make_settings(heartbeat_s=0.5, push_interval_s=0.05, partitions=2)
    await count_two_sessions(settings)
    web = WebApp(settings=settings, auth_timeout_s=0.5)
    async with web.serving():
        yield web


def _token(app: WebApp, session_id: str, ttl_ms: int = 60_000) -> str:
    tokens = HostTokens(secret=app.settings.token_secret.get_secret_value())
    return tokens.issue(session_id, expires_at_ms=now_ms() + ttl_ms)


def _open(app: WebApp) -> Any:
    return connect(f"ws://127.0.0.1:{app.settings.web_port}/ws/host", logger=_CLIENT_LOG)


async def _recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))  # type: ignore[no-any-return]


async def _refusal(ws: ClientConnection) -> tuple[list[str], int | None, str | None]:
    received = []
    try:
        while True:
            received.append(str(await asyncio.wait_for(ws.recv(), seconds(10))))
    except ConnectionClosed as closed:
        frame = closed.rcvd
        return received, frame.code if frame else None, frame.reason if frame else None


async def test_own_session_then_updates_and_heartbeats(
    app: WebApp, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = _token(app, "cp-1")
    async with _open(app) as ws:
        await ws.send(json.dumps({"type": "auth", "session": "cp-1", "token": token}))
        first = await _recv(ws)
        assert first["type"] == "session"
        page = first["session"]
        assert (page["session_id"], page["views"], page["gmv_vnd"]) == ("cp-1", 2, 50_000)
        assert (page["rank_gmv"], page["gap_to_next_vnd"], page["conversion"]) == (2, 40_000, 0.5)
        assert "cp-2" not in json.dumps(first)
        redis = Redis.from_url(app.settings.redis_url, decode_responses=True)
        await count(app.settings, redis, ORDERS, [order("o3", "cp-1", 60_000)])
        await redis.aclose()
        while (message := await _recv(ws))["type"] != "session":
            pass
        assert (message["session"]["gmv_vnd"], message["session"]["rank_gmv"]) == (110_000, 1)
        while (message := await _recv(ws))["type"] != "heartbeat":
            pass
    assert token not in caplog.text
    assert '"token"' not in caplog.text


@pytest.mark.parametrize(("auth", "code", "reason"), [
    ({"type": "auth", "session": "cp-1"}, 4401, "missing"),
    ({"type": "auth", "session": "cp-1", "token": "forged"}, 4401, "invalid"),
    ({"type": "auth", "session": "cp-1", "token": "EXPIRED"}, 4401, "expired"),
    ({"type": "auth", "session": "cp-1", "token": "OTHER"}, 4403, "other_session"),
    ({"type": "auth", "session": "nobody", "token": "NOBODY"}, 4404, "unknown_session"),
    ({"type": "hello"}, 1008, "auth_expected"),
    ("not json", 1008, "auth_expected"),
    (None, 1008, "auth_timeout"),
])
async def test_refusals_close_before_any_data(
    app: WebApp, auth: dict[str, str] | str | None, code: int, reason: str,
) -> None:
    tokens = {"EXPIRED": _token(app, "cp-1", ttl_ms=-1), "OTHER": _token(app, "cp-2"),
              "NOBODY": _token(app, "nobody")}
    async with _open(app) as ws:
        if isinstance(auth, dict):
            if auth.get("token") in tokens:
                auth = {**auth, "token": tokens[auth["token"]]}
            await ws.send(json.dumps(auth))
        elif auth is not None:
            await ws.send(auth)
        received, got_code, got_reason = await _refusal(ws)
    assert received == []
    assert (got_code, got_reason) == (code, reason)


async def test_a_token_that_expires_while_open_closes_the_page(app: WebApp) -> None:
    async with _open(app) as ws:
        await ws.send(json.dumps({"type": "auth", "session": "cp-1",
                                  "token": _token(app, "cp-1", ttl_ms=1500)}))
        assert (await _recv(ws))["type"] == "session"
        try:
            while True:
                await _recv(ws)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            assert (closed.rcvd.code, closed.rcvd.reason) == (4401, "expired")
