"""Host pages' live feed (``/ws/host``): one session's numbers for the person selling it.

Protocol, every message JSON with a ``type``:

- page → server, first and within ``auth_timeout_s`` (at most 2 s):
  ``{"type": "auth", "session": "<id>", "token": "<host token>"}``. The token travels
  only inside the socket, never in a URL, so no access log or proxy can keep it;
- a refusal closes the socket before any data is sent: 4401 (token missing, invalid or
  expired), 4403 (another session's token), 4404 (unknown session), 1008 (no or
  malformed auth message); the close reason names the problem;
- server → page: ``session`` (``build_session``'s payload, ranked within the session's
  fair) when it changed, at most every ``push_interval_s``, else ``heartbeat`` every
  ``heartbeat_s``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from common import metrics
from common.clock import Clock, Monotonic, wall_ms
from common.settings import Settings
from common.tokens import HostTokens
from web.cadence import tick_paced
from web.fanout import Fanout
from web.hub import disconnect_reason, encode
from web.payload import Json, build_session
from web.reader import SessionRows, StoreReader

log = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_UNKNOWN = 4404
CLOSE_POLICY = 1008
# The page sends its auth message the moment the socket opens; a socket that has said
# nothing for longer is holding a slot of the host cap for someone else, so no setting
# or argument may allow more than this.
MAX_AUTH_TIMEOUT_S = 2.0
DEFAULT_AUTH_TIMEOUT_S = MAX_AUTH_TIMEOUT_S


@dataclass(slots=True, eq=False)
class HostScreen:
    """One authenticated host page: its session, token and what it was last sent."""

    session_id: str
    token: str
    last: Json | None = None
    sent_at: float = 0.0


def _body(payload: Json) -> Json:
    # ``as_of`` moves every time; it alone is no reason to send the page anything.
    return {k: v for k, v in payload.items() if k != "as_of"}


def payload_inputs(rows: SessionRows) -> tuple[Any, ...]:
    """Everything ``build_session`` reads of ``rows`` but the clock (which only sets
    ``as_of`` and the fair's status, taken here as it stands): equal inputs build equal
    payloads, whatever the time."""
    fair = rows.fair
    return (rows.session_id, rows.found, rows.counters, rows.unique_viewers, rows.minutes,
            rows.today, rows.rank_above, rows.sessions_ranked, rows.next_gmv_above,
            rows.catalog, fair, None if fair is None else fair.status(rows.now_ms))


class HostHub:
    """Authenticates host pages and pushes each its own session's payload.

    Usage::

        hosts = HostHub(reader=reader, tokens=tokens, settings=settings, board_changed=event)
        task = asyncio.create_task(hosts.run())
        await hosts.serve(connection)   # the /ws/host handler
    """

    def __init__(self, *, reader: StoreReader, tokens: HostTokens, settings: Settings,
                 board_changed: asyncio.Event, fanout: Fanout | None = None,
                 auth_timeout_s: float = DEFAULT_AUTH_TIMEOUT_S, clock: Clock = wall_ms,
                 monotonic: Monotonic = time.monotonic) -> None:
        self.reader = reader
        self.tokens = tokens
        self.settings = settings
        self.board_changed = board_changed
        self.fanout = fanout or Fanout(page="host")
        if not 0 < auth_timeout_s <= MAX_AUTH_TIMEOUT_S:
            raise ValueError(f"auth_timeout_s must be above 0 and at most "
                             f"{MAX_AUTH_TIMEOUT_S} s, got {auth_timeout_s}")
        self.auth_timeout_s = auth_timeout_s
        self.clock = clock
        self.monotonic = monotonic
        self.screens: dict[ServerConnection, HostScreen] = {}
        # Per watched session: the inputs, payload and body last built from them.
        self._built: dict[str, tuple[tuple[Any, ...], Json, Json]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._running = True

    async def _refuse(self, connection: ServerConnection, code: int, reason: str) -> None:
        metrics.WS_DISCONNECTS.labels("host", "auth").inc()
        await connection.close(code, reason)

    async def _authenticate(self, connection: ServerConnection) -> HostScreen | None:
        try:
            async with asyncio.timeout(self.auth_timeout_s):
                raw = await connection.recv()
        except TimeoutError:
            await self._refuse(connection, CLOSE_POLICY, "auth_timeout")
            return None
        try:
            message: Any = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict) or message.get("type") != "auth":
            await self._refuse(connection, CLOSE_POLICY, "auth_expected")
            return None
        session_id, token = message.get("session"), message.get("token")
        if not isinstance(session_id, str) or not session_id:
            await self._refuse(connection, CLOSE_POLICY, "session_expected")
            return None
        check = self.tokens.check(token if isinstance(token, str) else None,
                                  session_id=session_id, now_ms=self.clock())
        if check.problem is not None:
            code = CLOSE_FORBIDDEN if check.http_status == 403 else CLOSE_UNAUTHORIZED
            await self._refuse(connection, code, check.problem.value)
            return None
        return HostScreen(session_id=session_id, token=str(token))

    async def serve(self, connection: ServerConnection) -> None:
        """The ``/ws/host`` handler: authenticate, send the session, keep it current."""
        try:
            screen = await self._authenticate(connection)
            if screen is None:
                return
            rows = await self.reader.session(screen.session_id, now_ms=self.clock())
            if not rows.found and rows.catalog is None:
                await self._refuse(connection, CLOSE_UNKNOWN, "unknown_session")
                return
            self._send([screen], [connection], self._payload(rows))
            self.screens[connection] = screen
            metrics.WS_CLIENTS.labels("host").set(len(self.screens))
            async for _ in connection:
                pass  # a host page has nothing to say after its token
        except ConnectionClosed:
            pass
        finally:
            if self.screens.pop(connection, None) is not None:
                metrics.WS_CLIENTS.labels("host").set(len(self.screens))
                reason = disconnect_reason(connection, self.fanout)
                if reason is not None:
                    metrics.WS_DISCONNECTS.labels("host", reason).inc()

    def _payload(self, rows: SessionRows) -> Json:
        return build_session(rows, title=self.settings.fair_title, place=self.settings.fair_place)

    def _current(self, rows: SessionRows) -> tuple[Json, Json]:
        """The session's payload and body, built again only when its inputs changed: of
        the hundreds of sessions a campaign's hosts watch, a tick moves few."""
        inputs = payload_inputs(rows)
        built = self._built.get(rows.session_id)
        if built is not None and built[0] == inputs:
            return built[1], built[2]
        payload = self._payload(rows)
        body = _body(payload)
        self._built[rows.session_id] = (inputs, payload, body)
        return payload, body

    def _send(self, screens: list[HostScreen], connections: list[ServerConnection],
              payload: Json, body: Json | None = None) -> None:
        now = self.monotonic()
        text = encode({"type": "session", "server_time": self.clock(), "session": payload,
                       "heartbeat_ms": int(self.settings.heartbeat_s * 1000)})
        self.fanout.send(connections, text, kind="session")
        body = _body(payload) if body is None else body
        for screen in screens:
            screen.last, screen.sent_at = body, now

    def stop(self) -> None:
        """Make the loop end (see ``BoardHub.stop``)."""
        self._running = False
        self.board_changed.set()

    async def run(self) -> None:
        """Refresh the watched sessions after each board change, or at each heartbeat."""
        await tick_paced(running=lambda: self._running, changed=self.board_changed, tick=self.tick,
                         heartbeat_s=self.settings.heartbeat_s,
                         interval_s=self.settings.push_interval_s, monotonic=self.monotonic)

    async def tick(self) -> None:
        """Send each page its session if it changed, else a heartbeat when one is due."""
        now_ms = self.clock()
        by_session: defaultdict[str, list[tuple[ServerConnection, HostScreen]]] = \
            defaultdict(list)
        for connection, screen in list(self.screens.items()):
            if not self.tokens.check(screen.token, session_id=screen.session_id,
                                     now_ms=now_ms).ok:
                # The token expired while the page was open: it opens nothing any more.
                self.screens.pop(connection, None)
                metrics.WS_CLIENTS.labels("host").set(len(self.screens))
                metrics.WS_DISCONNECTS.labels("host", "auth").inc()
                task = asyncio.create_task(connection.close(CLOSE_UNAUTHORIZED, "expired"))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
                continue
            by_session[screen.session_id].append((connection, screen))
        for gone in self._built.keys() - by_session.keys():
            del self._built[gone]
        if not by_session:
            return
        try:
            rows = await self.reader.sessions(by_session, now_ms=now_ms)
        except (RedisError, OSError) as exc:
            metrics.REDIS_ERRORS.labels("web").inc()
            log.warning("cannot read host sessions from Redis (%s)", exc)
            return
        beat = encode({"type": "heartbeat", "server_time": now_ms})
        due_beats = []
        for session_id, watchers in by_session.items():
            # One payload (and one encoded frame) per session, whatever its watchers.
            payload, body = self._current(rows[session_id])
            stale = [(c, s) for c, s in watchers if s.last is not body and s.last != body]
            if stale:
                self._send([s for _, s in stale], [c for c, _ in stale],
                           {**payload, "as_of": now_ms}, body)
            # Every watcher is current now; those sent nothing for a while get a beat.
            limit = self.monotonic() - self.settings.heartbeat_s
            due_beats += [(c, s) for c, s in watchers if s.sent_at <= limit]
        if due_beats:
            self.fanout.send([c for c, _ in due_beats], beat, kind="heartbeat")
            now = self.monotonic()
            for _, screen in due_beats:
                screen.sent_at = now
