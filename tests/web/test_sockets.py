"""The board socket against the real server and Redis: resume, reports, reload, safety."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from cli.screens import screens
from common.settings import Settings
from tests.conftest import seconds, settings_env
from tests.web.writes import VIEWS, count, join, now_ms
from web.server import WebApp

pytestmark = pytest.mark.integration


@asynccontextmanager
async def _serving(make_settings: Callable[..., Settings],
                   **options: Any) -> AsyncIterator[tuple[WebApp, Redis]]:
    settings = make_settings(heartbeat_s=0.5, push_interval_s=0.05, partitions=2)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    app = WebApp(settings=settings, **options)
    try:
        async with app.serving():
            yield app, redis
    finally:
        await redis.aclose()


def _url(app: WebApp, query: str = "") -> str:
    return f"ws://127.0.0.1:{app.settings.web_port}/ws/board{query}"


async def _recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))  # type: ignore[no-any-return]


async def _next(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message = await _recv(ws)
        if message["type"] == kind:
            return message


async def _until(condition: Callable[[], bool | Awaitable[bool]], what: str,
                 timeout_s: float = 10) -> None:
    deadline = time.monotonic() + seconds(timeout_s)
    while time.monotonic() < deadline:
        result = condition()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def _views(app: WebApp, redis: Redis, n: int, start: int, **kw: Any) -> None:
    await count(app.settings, redis, VIEWS,
                [join(f"e{start + i}", "cp-1", f"u{start + i}", **kw) for i in range(n)])


async def test_resume_fills_the_gap_or_falls_back_to_a_snapshot(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings, ring_size=3) as (app, redis):
        async with connect(_url(app)) as ws:
            snapshot = await _recv(ws)
        epoch, seq = snapshot["epoch"], snapshot["seq"]
        for i in range(2):
            await _views(app, redis, 1, i)
            await _until(lambda i=i: app.hub.seq == seq + i + 1, "a change")  # type: ignore[misc]
        async with connect(_url(app, f"?epoch={epoch}&seq={seq}")) as ws:
            replayed = [await _recv(ws) for _ in range(3)]
        assert [(m["type"], m["seq"]) for m in replayed] == [
            ("change", seq + 1), ("change", seq + 2), ("heartbeat", seq + 2)]
        assert replayed[1]["changes"]["totals"]["views"] == 2
        async with connect(_url(app, f"?epoch=elsewhere&seq={seq}")) as ws:
            assert (await _recv(ws))["type"] == "snapshot"
        for i in range(2, 6):
            await _views(app, redis, 1, i)
            await _until(lambda i=i: app.hub.seq == seq + i + 1, "a change")  # type: ignore[misc]
        async with connect(_url(app, f"?epoch={epoch}&seq={seq}")) as ws:
            fresh = await _recv(ws)
        assert fresh["type"] == "snapshot"
        assert fresh["board"]["totals"]["views"] == 6


async def test_changes_carry_the_newest_event_time(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings) as (app, redis):
        observed = _sample("ocop_freshness_screen_seconds_count")
        async with connect(_url(app)) as ws:
            assert (await _recv(ws))["board"]["newest_event_ms"] is None
            ts = now_ms() - 1500
            await _views(app, redis, 2, 0, ts=ts)
            change = await _next(ws, "change")
        assert change["changes"]["newest_event_ms"] == ts
        assert change["server_time"] - ts >= 1500
        assert _sample("ocop_freshness_screen_seconds_count") > observed


async def _report(ws: ClientConnection) -> None:
    latest = None
    while True:
        with contextlib.suppress(TimeoutError):
            latest = json.loads(await asyncio.wait_for(ws.recv(), 0.1)).get("seq", latest)
        if latest is not None:
            await ws.send(json.dumps({"type": "ack", "seq": latest}))


async def test_screens_report_their_seq_and_silent_ones_count_as_stale(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings, screen_stale_s=1.0) as (app, redis):
        async with connect(_url(app)) as silent, connect(_url(app)) as reporting:
            reporters = [asyncio.create_task(_report(reporting))]
            try:
                await _views(app, redis, 1, 0)
                await _until(lambda: app.hub.count_stale() == 1
                             and _sample("ocop_screens_stale") == 1, "one stale screen")
                await silent.send("not json")  # ignored, not fatal
                reporters.append(asyncio.create_task(_report(silent)))
                await _until(lambda: app.hub.count_stale() == 0, "no stale screen")
            finally:
                for task in reporters:
                    task.cancel()


async def test_reload_command_reaches_every_screen(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings) as (app, _):
        async with connect(_url(app)) as ws:
            await _recv(ws)
            env = settings_env(app.settings)
            result = await asyncio.to_thread(CliRunner().invoke, screens, ["reload"], env=env)
            assert result.exit_code == 0, result.output
            assert "asked 1 web process" in result.output
            assert await _next(ws, "reload") == {"type": "reload"}


async def test_foreign_origin_is_refused_before_the_upgrade(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings) as (app, _):
        own = Origin(f"http://127.0.0.1:{app.settings.web_port}")
        async with connect(_url(app), origin=own) as ws:
            assert (await _recv(ws))["type"] == "snapshot"
        for path in ("/ws/board", "/ws/host"):
            url = f"ws://127.0.0.1:{app.settings.web_port}{path}"
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, origin=Origin("http://evil.example"))
            assert refused.value.response.status_code == 403


def _host_url(app: WebApp) -> str:
    return f"ws://127.0.0.1:{app.settings.web_port}/ws/host"


async def _refused(url: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refused:
        await connect(url)
    answer = refused.value.response
    return answer.status_code, json.loads(answer.body)


async def test_board_and_host_caps_answer_503_each_on_its_own(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings, max_board_connections=2, max_host_connections=1,
                        max_connections_per_address=10) as (app, _):
        async with connect(_url(app)) as first, connect(_url(app)) as second:
            await _recv(first)
            await _recv(second)
            assert await _refused(_url(app)) == (503, {
                "error": "too_many_connections", "cap": "OCOP_WEB_MAX_BOARD_CONNECTIONS",
                "limit": 2})
            # A full board does not keep a host page out, nor the other way round.
            async with connect(_host_url(app)):
                await _until(lambda: app.open_connections("host") == 1, "the host socket")
                status, body = await _refused(_host_url(app))
                assert (status, body["cap"]) == (503, "OCOP_WEB_MAX_HOST_CONNECTIONS")
        await _until(lambda: app.open_connections("board") == 0, "the sockets to close")
        async with connect(_url(app)) as again:
            assert (await _recv(again))["type"] == "snapshot"


async def test_one_address_is_capped_with_429_loopback_included(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings, max_connections_per_address=2) as (app, _):
        async with connect(_url(app)) as board, connect(_host_url(app)):
            await _recv(board)
            for url in (_url(app), _host_url(app)):
                assert await _refused(url) == (429, {
                    "error": "too_many_connections_from_address",
                    "cap": "OCOP_WEB_MAX_CONNECTIONS_PER_ADDRESS", "limit": 2})
        await _until(lambda: not app.guard.by_address, "the address to be let go")
        async with connect(_url(app)) as again:
            assert (await _recv(again))["type"] == "snapshot"


async def test_a_handshake_that_fails_after_admission_gives_its_slot_back(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings, max_board_connections=1) as (app, _):
        port = app.settings.web_port
        for _ in range(3):
            # Admitted by the guard, then refused by websockets: not an upgrade (426).
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /ws/board HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            status = await asyncio.wait_for(reader.readuntil(b"\r\n"), seconds(10))
            assert status.startswith(b"HTTP/1.1 426"), status
            writer.close()
            await _until(lambda: app.open_connections("board") == 0, "the slot to be freed")
        async with connect(_url(app)) as ws:
            assert (await _recv(ws))["type"] == "snapshot"


async def test_replays_past_an_addresss_budget_get_a_snapshot_instead(
    make_settings: Callable[..., Settings],
) -> None:
    # A window no test outlasts: the budget does not refill while the test runs.
    async with _serving(make_settings, replays=2, replay_window_s=3600.0) as (app, redis):
        async with connect(_url(app)) as ws:
            snapshot = await _recv(ws)
        epoch, seq = snapshot["epoch"], snapshot["seq"]
        await _views(app, redis, 1, 0)
        await _until(lambda: app.hub.seq == seq + 1, "a change")
        resume = _url(app, f"?epoch={epoch}&seq={seq}")
        firsts = []
        for _ in range(4):
            async with connect(resume) as ws:
                firsts.append(await _recv(ws))
        assert [m["type"] for m in firsts] == ["change", "change", "snapshot", "snapshot"]
        assert firsts[2]["board"]["totals"]["views"] == 1
        # A screen that is already current is sent no frames and spends nothing.
        async with connect(_url(app, f"?epoch={epoch}&seq={seq + 1}")) as ws:
            assert (await _recv(ws))["type"] == "heartbeat"


async def test_an_oversized_frame_closes_with_1009(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings, max_frame_bytes=1024) as (app, _):
        before = _sample("ocop_ws_disconnects_total", {"page": "board", "reason": "too_big"})
        async with connect(_url(app)) as ws:
            await _recv(ws)
            await ws.send(json.dumps({"type": "ack", "pad": "x" * 2000}))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await _recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        await _until(lambda: _sample("ocop_ws_disconnects_total",
                                     {"page": "board", "reason": "too_big"}) == before + 1,
                     "the disconnect to be counted")


async def _non_reading_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    # A tiny receive buffer and a reader that stops after the handshake: the server's
    # writes back up as they would behind a frozen screen.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET /ws/board HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), seconds(10))
    assert status.startswith(b"HTTP/1.1 101")
    return reader, writer


async def test_a_screen_that_stops_reading_is_dropped_and_others_keep_receiving(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings, write_high_water=16 * 1024,
                        socket_send_buffer=8 * 1024) as (app, redis):
        slow_before = _sample("ocop_ws_disconnects_total", {"page": "board", "reason": "slow"})
        async with connect(_url(app)) as healthy:
            seq = (await _recv(healthy))["seq"]
            reader, writer = await _non_reading_client(app.settings.web_port)
            await _until(lambda: len(app.hub.clients) == 2, "both screens to join")
            for i in range(400):
                # Big changes: many sessions, each a new entry in the top lists.
                await count(app.settings, redis, VIEWS,
                            [join(f"e{i}-{j}", f"cp-{i}-{j}", f"u{i}") for j in range(8)])
                change = await _next(healthy, "change")
                assert change["seq"] == seq + 1, "the healthy screen missed a change"
                seq = change["seq"]
                if len(app.hub.clients) == 1:
                    break
            assert len(app.hub.clients) == 1, "the non-reading screen was never dropped"
            assert _sample("ocop_ws_disconnects_total",
                           {"page": "board", "reason": "slow"}) == slow_before + 1
            await count(app.settings, redis, VIEWS, [join("after", "cp-1", "u-after")])
            assert (await _next(healthy, "change"))["seq"] == seq + 1
        # Once it reads again, the dropped screen finds its connection cut.
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), seconds(10))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", None)
        writer.close()
