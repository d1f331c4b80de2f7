"""The web process: HTTP routes and the board's websocket, on one websockets server."""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from ocop_live import metrics
from ocop_live.keys import Keys
from ocop_live.settings import Settings
from ocop_live.tokens import HostTokens
from web.payload import Json, board_changes, build_board, build_session
from web.reader import StoreReader

log = logging.getLogger(__name__)

Clock = Callable[[], int]
Handler = Callable[[Request], Awaitable[Response]]

_STATIC = {
    "board.html": "text/html; charset=utf-8",
    "host.html": "text/html; charset=utf-8",
    "board.css": "text/css; charset=utf-8",
    "board.js": "text/javascript; charset=utf-8",
    "host.js": "text/javascript; charset=utf-8",
}


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _response(status: int, body: bytes, content_type: str, **extra: str) -> Response:
    headers = Headers({"Content-Type": content_type, "Content-Length": str(len(body)),
                       "Cache-Control": "no-store", **extra})
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


def json_response(status: int, payload: Any) -> Response:
    """A JSON HTTP response."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return _response(status, body, "application/json; charset=utf-8")


class BoardHub:
    """Keeps the current board and pushes changes to every connected screen.

    A Redis pub/sub message (published by the worker in the same transaction as the
    counters) marks the board dirty; the hub rebuilds it at most once per
    ``push_interval_s`` and broadcasts only the keys that changed, or a heartbeat.
    ``broadcast`` writes to each socket without waiting, so a slow screen never holds
    the others back.
    """

    def __init__(self, *, reader: StoreReader, redis: Redis, keys: Keys, settings: Settings,
                 clock: Clock = _wall_ms) -> None:
        self.reader = reader
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.clock = clock
        self.clients: set[ServerConnection] = set()
        self.board: Json | None = None
        self.seq = 0
        self._dirty = asyncio.Event()

    async def build(self) -> Json:
        """Read the store and build the board now."""
        started = time.perf_counter()
        rows = await self.reader.board(now_ms=self.clock())
        board = build_board(rows, top_n=self.settings.top_n, title=self.settings.fair_title,
                            place=self.settings.fair_place)
        metrics.SNAPSHOT_SECONDS.observe(time.perf_counter() - started)
        return board

    def join(self, connection: ServerConnection) -> None:
        """Send the snapshot and subscribe ``connection`` with no await in between."""
        if self.board is None:
            raise RuntimeError("board not built yet")
        broadcast([connection], self._message("snapshot", board=self.board))
        self.clients.add(connection)
        metrics.WS_CLIENTS.labels("board").set(len(self.clients))

    def leave(self, connection: ServerConnection) -> None:
        """Forget a closed connection."""
        self.clients.discard(connection)
        metrics.WS_CLIENTS.labels("board").set(len(self.clients))

    def _message(self, kind: str, **fields: Any) -> str:
        payload = {"type": kind, "seq": self.seq, "server_time": self.clock(), **fields}
        metrics.WS_MESSAGES.labels("board", kind).inc(len(self.clients))
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))

    async def listen(self) -> None:
        """Mark the board dirty on every change notification; reconnect when Redis drops."""
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(self.keys.changes())
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._dirty.set()
            except (RedisError, OSError) as exc:
                log.warning("change feed lost (%s); resubscribing in 1 s", exc)
                await asyncio.sleep(1)

    async def run(self) -> None:
        """Rebuild on change (or at every heartbeat, since windows roll with the clock)."""
        last_sent = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.settings.heartbeat_s)
            self._dirty.clear()
            try:
                new = await self.build()
            except (RedisError, OSError) as exc:
                log.warning("cannot read the board from Redis (%s); screens keep the last "
                            "frame and will show stale", exc)
                await asyncio.sleep(self.settings.push_interval_s)
                continue
            changes = board_changes(self.board, new)
            self.board = new
            if changes:
                self.seq += 1
                broadcast(self.clients, self._message("change", changes=changes))
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= self.settings.heartbeat_s:
                broadcast(self.clients, self._message("heartbeat"))
                last_sent = time.monotonic()
            await asyncio.sleep(self.settings.push_interval_s)


class WebApp:
    """Routes HTTP requests and websocket connections.

    Usage::

        app = WebApp(settings=settings)
        async with app.serving() as server: ...
    """

    def __init__(self, *, settings: Settings, clock: Clock = _wall_ms) -> None:
        self.settings = settings
        self.clock = clock
        self.keys = Keys(settings.key_prefix)
        self.redis = Redis.from_url(settings.redis_url, decode_responses=True)
        self.reader = StoreReader(self.redis, keys=self.keys, shards=settings.partitions)
        self.tokens = HostTokens(secret=settings.token_secret.get_secret_value())
        self.hub = BoardHub(reader=self.reader, redis=self.redis, keys=self.keys,
                            settings=settings, clock=clock)
        self._routes: dict[str, Handler] = {
            "/": self._page("board.html"),
            "/board": self._page("board.html"),
            "/host": self._page("host.html"),
            "/api/board": self._api_board,
            "/healthz": self._healthz,
            "/metrics": self._metrics,
        }

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Answer plain HTTP requests; let websocket upgrades through."""
        path = urlsplit(request.path).path
        if path == "/ws/board":
            return None
        handler = self._routes.get(path)
        if handler is None and path.startswith("/static/"):
            handler = self._static(path.removeprefix("/static/"))
        if handler is None and path.startswith("/api/sessions/"):
            handler = self._session_handler(unquote(path.removeprefix("/api/sessions/")))
        if handler is None:
            response = json_response(404, {"error": "not_found", "path": path})
        else:
            try:
                response = await handler(request)
            except (RedisError, OSError) as exc:
                log.warning("request %s failed: Redis unavailable (%s)", path, exc)
                response = json_response(503, {"error": "store_unavailable"})
        metrics.HTTP_REQUESTS.labels(self._route_label(path), str(response.status_code)).inc()
        return response

    def _route_label(self, path: str) -> str:
        # Bounded label values: a scanner probing random paths must not grow the series.
        if path in self._routes:
            return path
        for prefix in ("/static/", "/api/sessions/"):
            if path.startswith(prefix):
                return prefix
        return "other"

    async def handler(self, connection: ServerConnection) -> None:
        """Serve one screen: snapshot, then changes and heartbeats until it leaves."""
        if self.hub.board is None:
            self.hub.board = await self.hub.build()
        self.hub.join(connection)
        try:
            await connection.wait_closed()
        finally:
            self.hub.leave(connection)

    def _page(self, name: str) -> Handler:
        handler = self._static(name)
        if handler is None:
            raise KeyError(f"no static page {name!r}")
        return handler

    def _static(self, name: str) -> Handler | None:
        if name not in _STATIC:
            return None
        body = resources.files("web").joinpath("static", name).read_bytes()

        async def serve_file(request: Request) -> Response:
            return _response(200, body, _STATIC[name])
        return serve_file

    async def _api_board(self, request: Request) -> Response:
        return json_response(200, await self.hub.build())

    def _session_handler(self, session_id: str) -> Handler:
        async def session(request: Request) -> Response:
            auth = request.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
            check = self.tokens.check(token, session_id=session_id, now_ms=self.clock())
            if check.problem is not None:
                return json_response(check.http_status, {"error": check.problem.value})
            rows = await self.reader.session(session_id, now_ms=self.clock())
            if not rows.found and rows.catalog is None:
                return json_response(404, {"error": "unknown_session", "session_id": session_id})
            return json_response(200, build_session(rows))
        return session

    async def _healthz(self, request: Request) -> Response:
        await self.redis.ping()
        return json_response(200, {"status": "ok", "role": "web", "screens": len(self.hub.clients)})

    async def _metrics(self, request: Request) -> Response:
        return _response(200, generate_latest(), CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def serving(self) -> Any:
        """Run the server and the hub's loops until the context exits."""
        self.hub.board = await self.hub.build()
        tasks = [asyncio.create_task(self.hub.listen()), asyncio.create_task(self.hub.run())]
        server: Server = await serve(self.handler, self.settings.web_host, self.settings.web_port,
                                     process_request=self.process_request, max_size=4096)
        try:
            yield server
        finally:
            server.close()
            await server.wait_closed()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.redis.aclose()


async def run_web(settings: Settings) -> None:
    """Serve until cancelled."""
    app = WebApp(settings=settings)
    async with app.serving():
        log.info("web serving on http://%s:%d/board", settings.web_host, settings.web_port)
        await asyncio.Future()
