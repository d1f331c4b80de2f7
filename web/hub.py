"""The venue board's live feed: one board per web process, pushed to every screen.

Protocol (``/ws/board``), every message JSON with a ``type``:

- server → screen: ``snapshot`` (the whole board, the process's ``epoch``, ``seq`` and
  ``heartbeat_ms``), then ``change`` (``seq`` + 1, the changed top-level keys and any
  ``banners``), ``heartbeat`` (the current ``seq``) and ``reload``;
- screen → server: ``{"type": "ack", "seq": N}`` every few seconds.

A screen that reconnects with ``?epoch=E&seq=N`` gets the changes it missed from a
bounded ring, then a heartbeat; when the gap cannot be filled, or its address has used
its replays for now (``web/replays.py``), it gets a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from common import metrics
from common.clock import Clock, Monotonic, wall_ms
from common.settings import Settings
from store.keys import Keys
from web.banners import detect_banners
from web.cadence import tick_paced
from web.fanout import Fanout
from web.payload import Json, board_changes, build_board
from web.reader import StoreReader
from web.replays import ReplayBudget
from web.ring import ChangeRing
from web.validation import Resume

log = logging.getLogger(__name__)

RELOAD = "reload"
DEFAULT_RING_SIZE = 256
DEFAULT_STALE_AFTER_S = 15.0
# A board older than this many heartbeats is what a screen would show as stale; nobody
# else is handed it as current either.
STALE_HEARTBEATS = 3


def encode(payload: Json) -> str:
    """A message as the compact JSON text every socket receives."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def disconnect_reason(connection: ServerConnection, fanout: Fanout) -> str | None:
    """Why a socket ended, as a bounded label (None when the fanout already counted it)."""
    if fanout.was_dropped(connection):
        return None
    # The frame we sent is either our own reason or the echo of the peer's.
    frame = connection.protocol.close_sent or connection.protocol.close_rcvd
    code = frame.code if frame is not None else None
    if code in (1000, 1001):
        return "closed"
    if code == 1009:
        return "too_big"
    if code == 1008 or (code is not None and 4400 <= code < 4500):
        return "auth"
    return "error"


@dataclass(slots=True)
class Screen:
    """What the hub knows of one connected screen: its last report."""

    acked_seq: int
    acked_at: float


class BoardHub:
    """Keeps the current board and pushes changes to every connected screen.

    A Redis pub/sub message (published by the worker in the same transaction as the
    counters) marks the board dirty; the hub rebuilds it at most once per
    ``push_interval_s`` and broadcasts only the keys that changed, or a heartbeat.

    Usage::

        hub = BoardHub(reader=reader, redis=redis, keys=keys, settings=settings)
        await hub.load()
        tasks = [asyncio.create_task(hub.listen()), asyncio.create_task(hub.run())]
        await hub.serve(connection, resume=Resume(), address="10.0.0.7")  # /ws/board
        board = await hub.current()   # GET /api/board
    """

    def __init__(self, *, reader: StoreReader, redis: Redis, keys: Keys, settings: Settings,
                 fanout: Fanout | None = None, ring_size: int = DEFAULT_RING_SIZE,
                 stale_after_s: float = DEFAULT_STALE_AFTER_S,
                 replays: ReplayBudget | None = None, clock: Clock = wall_ms,
                 monotonic: Monotonic = time.monotonic) -> None:
        self.reader = reader
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.fanout = fanout or Fanout(page="board")
        self.ring = ChangeRing(size=ring_size)
        self.replays = ReplayBudget() if replays is None else replays
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.monotonic = monotonic
        # Sequence numbers restart with the process; the epoch tells a screen whether
        # the seq it remembers belongs to this process at all.
        self.epoch = uuid.uuid4().hex[:12]
        self.clients: dict[ServerConnection, Screen] = {}
        self.board: Json | None = None
        self.built_at: float | None = None
        self.seq = 0
        self.changed = asyncio.Event()
        self._dirty = asyncio.Event()
        self._last_sent = monotonic()
        self._running = True
        self._reading: asyncio.Task[Json] | None = None

    async def build(self) -> Json:
        """Read the store and build the board now."""
        started = time.perf_counter()
        rows = await self.reader.board(now_ms=self.clock())
        board = build_board(rows, top_n=self.settings.top_n, title=self.settings.fair_title,
                            place=self.settings.fair_place)
        metrics.SNAPSHOT_SECONDS.observe(time.perf_counter() - started)
        return board

    def _keep(self, board: Json) -> None:
        self.board, self.built_at = board, self.monotonic()

    async def load(self) -> None:
        """Build the first board, before any screen joins."""
        self._keep(await self.build())

    async def current(self) -> Json:
        """The board of the last tick; one read shared by all callers when it is stale.

        Anonymous ``GET /api/board`` requests read this: however many arrive, Redis
        sees the hub's own reads, plus at most one more at a time while the hub has no
        fresh board (Redis was down). That read's board is not kept: the next tick
        diffs against the board the screens were sent.
        """
        limit = STALE_HEARTBEATS * self.settings.heartbeat_s
        if (self.board is not None and self.built_at is not None
                and self.monotonic() - self.built_at <= limit):
            return self.board
        if self._reading is None:
            self._reading = asyncio.create_task(self.build())
            self._reading.add_done_callback(self._read_done)
        # Shielded: a caller that gives up must not cancel the others' read.
        return await asyncio.shield(self._reading)

    def _read_done(self, task: asyncio.Task[Json]) -> None:
        self._reading = None
        if not task.cancelled():
            # Retrieved here, so a failure every caller abandoned is not logged as lost.
            task.exception()

    def _text(self, kind: str, server_time: int | None = None, **fields: Any) -> str:
        now = self.clock() if server_time is None else server_time
        return encode({"type": kind, "seq": self.seq, "server_time": now, **fields})

    def join(self, connection: ServerConnection, *, resume: Resume, address: str) -> None:
        """Catch ``connection`` up (resume or snapshot) and subscribe it, with no await."""
        if self.board is None:
            raise RuntimeError("board not built yet")
        missed = None
        if resume.epoch == self.epoch and resume.seq is not None:
            missed = self.ring.since(resume.seq, current=self.seq)
        # Only a replay that sends frames costs anything; a screen already current pays
        # nothing, and one past its budget is as well served by a snapshot.
        if missed and not self.replays.take(address, now=self.monotonic()):
            missed = None
        if missed is None:
            snapshot = self._text("snapshot", board=self.board, epoch=self.epoch,
                                  heartbeat_ms=int(self.settings.heartbeat_s * 1000))
            self.fanout.send([connection], snapshot, kind="snapshot")
        else:
            for text in missed:
                self.fanout.send([connection], text, kind="change")
            self.fanout.send([connection], self._text("heartbeat"), kind="heartbeat")
        self.clients[connection] = Screen(acked_seq=self.seq, acked_at=self.monotonic())
        metrics.WS_CLIENTS.labels("board").set(len(self.clients))

    def leave(self, connection: ServerConnection) -> None:
        """Forget a closed connection."""
        self.clients.pop(connection, None)
        metrics.WS_CLIENTS.labels("board").set(len(self.clients))

    def receive(self, connection: ServerConnection, raw: str | bytes) -> None:
        """Take a screen's report (``ack``); anything else a screen sends is ignored."""
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("type") != "ack":
            return
        seq = message.get("seq")
        screen = self.clients.get(connection)
        if screen is not None and isinstance(seq, int) and not isinstance(seq, bool):
            screen.acked_seq = seq
            screen.acked_at = self.monotonic()

    def count_stale(self) -> int:
        """Screens silent for too long or still showing a seq superseded too long ago."""
        now = self.monotonic()
        stale = 0
        for screen in self.clients.values():
            since = self.ring.superseded_at(screen.acked_seq, current=self.seq)
            if now - screen.acked_at > self.stale_after_s or (
                since is not None and now - since > self.stale_after_s
            ):
                stale += 1
        metrics.SCREENS_STALE.set(stale)
        return stale

    def reload(self) -> None:
        """Tell every screen of this process to reload its page."""
        self.fanout.send(list(self.clients), encode({"type": RELOAD}), kind=RELOAD)

    async def serve(self, connection: ServerConnection, *, resume: Resume,
                    address: str) -> None:
        """The ``/ws/board`` handler: catch up, then read reports until the screen leaves.

        ``resume`` comes from the request's query (``web.validation.parse_resume``) and
        ``address`` is the client's, which the replay budget is kept by.
        """
        if self.board is None:
            await self.load()
        self.join(connection, resume=resume, address=address)
        try:
            async for raw in connection:
                self.receive(connection, raw)
        except ConnectionClosed:
            pass
        finally:
            self.leave(connection)
            reason = disconnect_reason(connection, self.fanout)
            if reason is not None:
                metrics.WS_DISCONNECTS.labels("board", reason).inc()

    def stop(self) -> None:
        """Make the loops end, and cancel a shared read still in flight.

        On Python 3.11 a cancellation that lands as a timeout fires can be lost, so the
        loops also check this flag rather than rely on being cancelled.
        """
        self._running = False
        self._dirty.set()
        if self._reading is not None:
            self._reading.cancel()

    async def listen(self) -> None:
        """Follow the change feed and staff commands; resubscribe when Redis drops."""
        changes, screens = self.keys.changes(), self.keys.screens()
        while self._running:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(changes, screens)
                    # Notifications published while we were not subscribed are lost.
                    self._dirty.set()
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        if message.get("channel") == screens:
                            if message.get("data") == RELOAD:
                                self.reload()
                        else:
                            self._dirty.set()
            except (RedisError, OSError) as exc:
                metrics.REDIS_ERRORS.labels("web").inc()
                log.warning("change feed lost (%s); resubscribing in 1 s", exc)
                await asyncio.sleep(1)

    async def run(self) -> None:
        """Rebuild on change (or at every heartbeat, since windows roll with the clock)."""
        await tick_paced(running=lambda: self._running, changed=self._dirty, tick=self.tick,
                         heartbeat_s=self.settings.heartbeat_s,
                         interval_s=self.settings.push_interval_s, monotonic=self.monotonic)

    async def tick(self) -> None:
        """Rebuild once; broadcast the change (with banners) or a due heartbeat."""
        try:
            new = await self.build()
        except (RedisError, OSError) as exc:
            metrics.REDIS_ERRORS.labels("web").inc()
            log.warning("cannot read the board from Redis (%s); screens keep the last "
                        "frame and will show stale", exc)
            self.count_stale()
            return
        old = self.board
        self._keep(new)
        metrics.BOARD_VIEWERS_NOW.set(new["totals"]["viewers_now"])
        changes = board_changes(old, new)
        if changes:
            self.seq += 1
            now = self.clock()
            banners = detect_banners(old, new)
            extra = {"banners": banners} if banners else {}
            text = self._text("change", server_time=now, changes=changes, **extra)
            self.ring.append(self.seq, text, at=self.monotonic())
            self.fanout.send(list(self.clients), text, kind="change")
            newest = new.get("newest_event_ms")
            if newest is not None:
                metrics.FRESHNESS_SCREEN.observe(max(0, now - newest) / 1000)
            self._last_sent = self.monotonic()
            self.changed.set()
        elif self.monotonic() - self._last_sent >= self.settings.heartbeat_s:
            self.fanout.send(list(self.clients), self._text("heartbeat"), kind="heartbeat")
            self._last_sent = self.monotonic()
        self.count_stale()
