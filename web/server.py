"""The web process: HTTP routes and two websockets (board, host) on one websockets server."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from importlib import resources
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from common import metrics
from common.clock import Clock, wall_ms
from common.eventloop import loop_kind
from common.settings import Settings
from common.tokens import HostTokens
from store.client import redis_client
from store.keys import Keys
from web.fanout import DEFAULT_HIGH_WATER, SERVER_EXTENSIONS, Fanout
from web.guard import Guard, Page, client_key, default_origins, parse_origins
from web.host import DEFAULT_AUTH_TIMEOUT_S, HostHub
from web.hub import DEFAULT_RING_SIZE, BoardHub
from web.payload import Json, build_session
from web.reader import READ_TIMEOUT_S, StoreReader
from web.replays import DEFAULT_REPLAY_WINDOW_S, DEFAULT_REPLAYS, ReplayBudget
from web.responses import JSON_TYPE, json_body, json_response, response
from web.scopes import UnknownFair
from web.validation import (
    BadRequest,
    check_single_headers,
    forbid_token_in_query,
    parse_fair,
    parse_resume,
    parse_screen,
)

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]

BOARD_SOCKET = "/ws/board"
HOST_SOCKET = "/ws/host"
BOARD_PAGES = ("/", "/board")
# A screen only ever sends acks and a host page one auth message: a few hundred bytes.
DEFAULT_MAX_FRAME_BYTES = 4096
# The kernel would otherwise grow a socket's send buffer to megabytes, hiding a screen
# that stopped reading for minutes; bounded, the backlog shows in the write buffer the
# fanout watches. Ample for a few board changes a second, even over a slow link.
DEFAULT_SOCKET_SEND_BUFFER = 64 * 1024
# A board's ?rotate=: how long each view (board, fair summary, campaign) stays up. Under
# 10 s nobody reads a view; over 10 min the other views are as good as never shown.
ROTATE_PARAMETER = "rotate"
ROTATE_MIN_S, ROTATE_MAX_S = 10, 600
_ROTATE = re.compile(r"(\d{1,4})(s|m)")
# Encoded API bodies kept: the default board, a few fairs' boards, the fairs list and
# the campaign of the current tick.
_BODIES_KEPT = 8

_STATIC = {
    "board.html": "text/html; charset=utf-8",
    "host.html": "text/html; charset=utf-8",
    "board.css": "text/css; charset=utf-8",
    "host.css": "text/css; charset=utf-8",
    "shared.js": "text/javascript; charset=utf-8",
    "board.js": "text/javascript; charset=utf-8",
    "host.js": "text/javascript; charset=utf-8",
    "fonts.css": "text/css; charset=utf-8",
    "controls.js": "text/javascript; charset=utf-8",
    "controls.css": "text/css; charset=utf-8",
    "rotate.js": "text/javascript; charset=utf-8",
    "rotate.css": "text/css; charset=utf-8",
    "overlay.html": "text/html; charset=utf-8",
    "overlay.css": "text/css; charset=utf-8",
}
# The typeface files shipped under static/fonts/, each served as itself.
_STATIC.update({f"fonts/{font.name}": "font/woff2"
                for font in resources.files("web").joinpath("static", "fonts").iterdir()
                if font.name.endswith(".woff2")})


def _socket_logger() -> logging.Logger:
    # websockets logs every frame's content at DEBUG, a host's auth message included;
    # this logger stays at INFO whatever the root level, so no token reaches a log.
    logger = logging.getLogger("web.sockets")
    if logger.level < logging.INFO:
        logger.setLevel(logging.INFO)
    return logger


class WebApp:
    """Routes HTTP requests and websocket connections.

    Keyword arguments left as None come from ``settings`` (``web_allowed_origins``,
    ``web_max_board_connections``, ``web_max_host_connections``,
    ``web_max_connections_per_address``, ``web_screen_stale_s``): when no origins are
    configured, those of ``http://<web_host>:<web_port>`` (plus 127.0.0.1 and localhost
    for a loopback or wildcard bind). A socket whose unsent backlog passes
    ``write_high_water`` bytes is cut (``socket_send_buffer`` bounds what the kernel holds
    before that); frames over ``max_frame_bytes`` close with 1009. Each client address
    may have ``replays`` resume replays per ``replay_window_s`` (5 per 10 s); a host
    page must authenticate within ``auth_timeout_s`` (2 s, the most it may be).

    Usage::

        app = WebApp(settings=settings, max_board_connections=500)
        async with app.serving() as server: ...
    """

    def __init__(self, *, settings: Settings, clock: Clock = wall_ms,
                 allowed_origins: Iterable[str] | None = None,
                 max_board_connections: int | None = None,
                 max_host_connections: int | None = None,
                 max_connections_per_address: int | None = None,
                 screen_stale_s: float | None = None,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 write_high_water: int = DEFAULT_HIGH_WATER,
                 socket_send_buffer: int = DEFAULT_SOCKET_SEND_BUFFER,
                 ring_size: int = DEFAULT_RING_SIZE,
                 replays: int = DEFAULT_REPLAYS,
                 replay_window_s: float = DEFAULT_REPLAY_WINDOW_S,
                 auth_timeout_s: float = DEFAULT_AUTH_TIMEOUT_S) -> None:
        self.settings = settings
        self.clock = clock
        self.max_frame_bytes = max_frame_bytes
        self.socket_send_buffer = socket_send_buffer
        if allowed_origins is None:
            configured = parse_origins(settings.web_allowed_origins)
            allowed_origins = configured or default_origins(settings.web_host,
                                                            settings.web_port)
        if screen_stale_s is None:
            screen_stale_s = settings.web_screen_stale_s
        self.guard = Guard(
            allowed_origins=allowed_origins,
            max_board_connections=(settings.web_max_board_connections
                                   if max_board_connections is None else max_board_connections),
            max_host_connections=(settings.web_max_host_connections
                                  if max_host_connections is None else max_host_connections),
            max_connections_per_address=(settings.web_max_connections_per_address
                                         if max_connections_per_address is None
                                         else max_connections_per_address))
        self.keys = Keys(settings.key_prefix)
        # No per-reply socket timeout: StoreReader puts one deadline on each round trip
        # (web/reader.py says why); the other calls here have their own.
        self.redis = redis_client(settings, decode_responses=True,
                                    socket_timeout=None, socket_connect_timeout=READ_TIMEOUT_S)
        self.reader = StoreReader(self.redis, keys=self.keys, shards=settings.partitions)
        self.tokens = HostTokens(secret=settings.token_secret.get_secret_value(),
                                 previous=settings.token_secret_previous.get_secret_value())
        self.hub = BoardHub(reader=self.reader, redis=self.redis, keys=self.keys,
                            settings=settings, clock=clock, ring_size=ring_size,
                            stale_after_s=screen_stale_s,
                            replays=ReplayBudget(replays=replays, window_s=replay_window_s),
                            fanout=Fanout(page="board", high_water=write_high_water))
        self.hosts = HostHub(reader=self.reader, tokens=self.tokens, settings=settings,
                             board_changed=self.hub.changed, clock=clock,
                             auth_timeout_s=auth_timeout_s,
                             fanout=Fanout(page="host", high_water=write_high_water))
        # Each admitted upgrade's slot, given back when its connection ends however it
        # ends: a handshake that fails after admission never reaches the handler.
        self._slots: set[asyncio.Task[None]] = set()
        self._bodies: list[tuple[Json | list[Json], bytes]] = []
        self._routes: dict[str, Handler] = {
            "/": self._page("board.html"),
            "/board": self._page("board.html"),
            "/host": self._page("host.html"),
            "/host/overlay": self._page("overlay.html"),
            "/api/board": self._api_board,
            "/api/fairs": self._api_fairs,
            "/api/campaign": self._api_campaign,
            "/healthz": self._healthz,
            "/metrics": self._metrics,
        }

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Answer plain HTTP requests; admit or refuse websocket upgrades."""
        target = urlsplit(request.path)
        path = target.path
        try:
            check_single_headers(request.headers)
            if path == HOST_SOCKET or path.startswith("/api/sessions/"):
                forbid_token_in_query(target.query)
            if path == BOARD_SOCKET:
                parse_resume(target.query)
            if path in (BOARD_SOCKET, "/api/board"):
                parse_fair(target.query)
            if path == BOARD_SOCKET or path in BOARD_PAGES:
                parse_screen(target.query, self.settings.screen_names)
            if path in BOARD_PAGES:
                parse_rotate(target.query)
        except BadRequest as exc:
            log.debug("refused %s: %s", path, exc)
            refused = (_refusal_page(str(exc)) if path in BOARD_PAGES
                       else json_response(400, exc.body))
            metrics.HTTP_REQUESTS.labels(self._route_label(path), "400").inc()
            return refused
        if path in (BOARD_SOCKET, HOST_SOCKET):
            return self._admit(connection, request, path)
        handler = self._routes.get(path)
        if handler is None and path.startswith("/static/"):
            handler = self._static(path.removeprefix("/static/"))
        if handler is None and path.startswith("/api/sessions/"):
            handler = self._session_handler(unquote(path.removeprefix("/api/sessions/")))
        if handler is None:
            result = json_response(404, {"error": "not_found", "path": path})
        else:
            try:
                result = await handler(request)
            except UnknownFair as exc:
                result = json_response(404, {"error": "unknown_fair", "fair": exc.fair_id})
            except (RedisError, OSError) as exc:
                metrics.REDIS_ERRORS.labels("web").inc()
                log.warning("request %s failed: Redis unavailable (%s)", path, exc)
                result = json_response(503, {"error": "store_unavailable"})
        metrics.HTTP_REQUESTS.labels(self._route_label(path), str(result.status_code)).inc()
        return result

    def _admit(self, connection: ServerConnection, request: Request,
               path: str) -> Response | None:
        page: Page = "host" if path == HOST_SOCKET else "board"
        address = client_key(connection.remote_address)
        refusal = self.guard.admit(request, page=page, address=address)
        if refusal is not None:
            metrics.HTTP_REQUESTS.labels(path, str(refusal.status_code)).inc()
            return refusal
        slot = asyncio.create_task(self._hold(connection, page, address))
        self._slots.add(slot)
        slot.add_done_callback(self._slots.discard)
        return None

    async def _hold(self, connection: ServerConnection, page: Page, address: str) -> None:
        try:
            await connection.wait_closed()
        finally:
            self.guard.release(page=page, address=address)

    def _route_label(self, path: str) -> str:
        # Bounded label values: a scanner probing random paths must not grow the series.
        if path in self._routes or path in (BOARD_SOCKET, HOST_SOCKET):
            return path
        for prefix in ("/static/", "/api/sessions/"):
            if path.startswith(prefix):
                return prefix
        return "other"

    async def handler(self, connection: ServerConnection) -> None:
        """Serve one socket: a venue screen or a host page."""
        target = urlsplit(connection.request.path if connection.request else "")
        sock = connection.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.socket_send_buffer)
        if target.path == HOST_SOCKET:
            await self.hosts.serve(connection)
        else:
            # process_request already refused a query that does not parse.
            await self.hub.serve(connection, resume=parse_resume(target.query),
                                 address=client_key(connection.remote_address),
                                 fair_id=parse_fair(target.query),
                                 screen=parse_screen(target.query, self.settings.screen_names))

    def open_connections(self, page: Page) -> int:
        """Sockets of ``page`` admitted and not yet closed."""
        return self.guard.open[page]

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
            return response(200, body, _STATIC[name])
        return serve_file

    def _encoded(self, payload: Json | list[Json]) -> Response:
        # Encoded once per board (or list), not once per request: the last few payloads
        # served, by identity.
        for held, body in self._bodies:
            if held is payload:
                return response(200, body, JSON_TYPE)
        body = json_body(payload)
        self._bodies = [(payload, body), *self._bodies[:_BODIES_KEPT - 1]]
        return response(200, body, JSON_TYPE)

    async def _api_board(self, request: Request) -> Response:
        # process_request already refused a fair id that does not parse.
        fair_id = parse_fair(urlsplit(request.path).query)
        return self._encoded(await self.hub.current(fair_id))

    async def _api_fairs(self, request: Request) -> Response:
        return self._encoded(await self.hub.fairs())

    async def _api_campaign(self, request: Request) -> Response:
        return self._encoded(await self.hub.campaign())

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
            return json_response(200, build_session(rows, title=self.settings.fair_title,
                                                    place=self.settings.fair_place))
        return session

    async def _healthz(self, request: Request) -> Response:
        async with asyncio.timeout(READ_TIMEOUT_S):
            await self.redis.ping()
        return json_response(200, {"status": "ok", "role": "web", "screens": len(self.hub.clients),
                                   "hosts": len(self.hosts.screens),
                                   "event_loop": loop_kind()})

    async def _metrics(self, request: Request) -> Response:
        return response(200, generate_latest(), CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Server]:
        """Run the server and the hubs' loops until the context exits."""
        await self.hub.load()
        tasks = [asyncio.create_task(self.hub.watch()), asyncio.create_task(self.hub.run()),
                 asyncio.create_task(self.hosts.run()),
                 asyncio.create_task(self.hub.record_screens())]
        server: Server = await serve(self.handler, self.settings.web_host, self.settings.web_port,
                                     process_request=self.process_request,
                                     max_size=self.max_frame_bytes, logger=_socket_logger(),
                                     compression=None, extensions=SERVER_EXTENSIONS)
        try:
            yield server
        finally:
            server.close()
            await server.wait_closed()
            self.hub.stop()
            self.hosts.stop()
            # Cancel until done: on Python 3.11 a cancellation can be lost in a timeout race.
            pending = set(tasks) | self._slots
            while pending:
                for task in pending:
                    task.cancel()
                _, pending = await asyncio.wait(pending, timeout=1)
            await self.redis.aclose()


def parse_rotate(query: str) -> int | None:
    """``rotate`` from a board page's query string, in seconds (None: no rotation).

    ``BadRequest`` naming the value unless it is whole seconds or minutes (``30s``,
    ``2m``) from ``ROTATE_MIN_S`` to ``ROTATE_MAX_S``; web/static/rotate.js reads it
    the same way.
    """
    values = parse_qs(query, keep_blank_values=True).get(ROTATE_PARAMETER)
    if values is None:
        return None
    if len(values) > 1:
        raise BadRequest(f"query parameter {ROTATE_PARAMETER} given {len(values)} times",
                         {"error": "duplicate_parameter", "parameter": ROTATE_PARAMETER})
    match = _ROTATE.fullmatch(values[0])
    seconds = int(match[1]) * (60 if match[2] == "m" else 1) if match else 0
    if not ROTATE_MIN_S <= seconds <= ROTATE_MAX_S:
        raise BadRequest(f"query parameter rotate={values[0][:40]!r}: not a duration from "
                         f"{ROTATE_MIN_S}s to {ROTATE_MAX_S // 60}m (e.g. 30s or 2m)",
                         {"error": "bad_rotate", "parameter": ROTATE_PARAMETER})
    return seconds


def _refusal_page(reason: str) -> Response:
    """A board page refused with 400: the screen itself shows why, for whoever set it up."""
    text = html.escape(reason)
    body = (f'<!doctype html><html lang="en"><meta charset="utf-8"><title>OCOP: refused'
            f'</title><body style="background:#111;color:#eee;font:2rem sans-serif;'
            f'padding:2rem"><h1>This board address is refused</h1><p id="refusal">{text}'
            f'</p></body></html>').encode()
    return response(400, body, "text/html; charset=utf-8")


async def run_web(settings: Settings) -> None:
    """Serve until cancelled."""
    app = WebApp(settings=settings)
    async with app.serving():
        log.info("web serving on http://%s:%d/board", settings.web_host, settings.web_port)
        await asyncio.Future()

