"""The venue boards' live feed: one board per fair that has screens, pushed to them.

Protocol (``/ws/board``, ``?fair=ID`` for one fair's board, else the default fair's),
every message JSON with a ``type``:

- server → screen: ``snapshot`` (the whole board, the channel's ``epoch``, ``seq`` and
  ``heartbeat_ms``), then ``change`` (``seq`` + 1, the changed top-level keys and any
  ``banners``), ``heartbeat`` (the current ``seq``) and ``reload``;
- screen → server: ``{"type": "ack", "seq": N}`` every few seconds;
- a screen named by ``?screen=NAME`` (one of ``OCOP_SCREENS``) has its last contact
  (joining, each ack, leaving) recorded in Redis for every web process to report;
- a fair the store does not hold closes the socket with 4404, reason
  ``unknown_fair <id>``.

A screen that reconnects with ``?epoch=E&seq=N`` (and the same ``fair``) gets the
changes it missed from a bounded ring, then a heartbeat; when the gap cannot be filled,
or its address has used its replays for now (``web/replays.py``), it gets a fresh
snapshot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from common import metrics
from common.clock import Clock, Monotonic, wall_ms
from common.settings import Settings
from store.client import RedisClient
from store.keys import Keys
from web.banners import detect_banners
from web.cadence import tick_paced
from web.controls import goal_progress, read_controls
from web.fanout import Fanout
from web.payload import Json, board_changes, build_board, build_campaign, build_fairs
from web.reader import READ_TIMEOUT_S, StoreReader
from web.replays import ReplayBudget
from web.ring import ChangeRing
from web.scopes import UnknownFair, parse_time_ms
from web.validation import Resume

log = logging.getLogger(__name__)

RELOAD = "reload"
# Counted by the staff commands when the message or the hidden sessions changed.
CONTROLS = "controls"
# A banner line a screen across the hall can still show in one go.
MAX_MESSAGE_CHARS = 200
# A screen asked for a fair the store does not hold; the close reason names it.
CLOSE_UNKNOWN_FAIR = 4404
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


@dataclass(slots=True, eq=False)
class Channel:
    """One stream of boards: the screens of one fair (key None: of the default fair,
    whichever it is now), the board they were sent, its sequence and its ring."""

    key: str | None
    ring: ChangeRing
    # Sequence numbers restart with the process and differ per channel; the epoch tells
    # a screen whether the seq it remembers belongs to this stream at all.
    epoch: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    board: Json | None = None
    built_at: float | None = None
    seq: int = 0
    clients: set[ServerConnection] = field(default_factory=set)
    last_sent: float = 0.0


@dataclass(slots=True)
class Screen:
    """What the hub knows of one connected screen: its channel, its last report and its
    configured name (None: unnamed)."""

    channel: Channel
    acked_seq: int
    acked_at: float
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Built:
    """One read's boards (by channel key), fairs list and campaign figures."""

    boards: dict[str | None, Json]
    fairs: list[Json]
    campaign: Json


class BoardHub:
    """Keeps the current boards and pushes changes to every connected screen.

    Offsets that moved in Redis (the worker records them with the counters, in one
    script) mark the boards dirty; the hub reads the store once at most every
    ``push_interval_s``, builds the board of the default fair and of every fair that
    has screens (``/board?fair=ID``), and sends each channel's screens only the keys
    that changed, or a heartbeat. The same read gives the fairs list and the campaign.

    Usage::

        hub = BoardHub(reader=reader, redis=redis, keys=keys, settings=settings)
        await hub.load()
        tasks = [asyncio.create_task(hub.watch()), asyncio.create_task(hub.run())]
        await hub.serve(connection, resume=Resume(), address="10.0.0.7", fair_id=None)
        board = await hub.current("cg-2023-11-25")   # GET /api/board?fair=cg-2023-11-25
    """

    def __init__(self, *, reader: StoreReader, redis: RedisClient, keys: Keys, settings: Settings,
                 fanout: Fanout | None = None, ring_size: int = DEFAULT_RING_SIZE,
                 stale_after_s: float = DEFAULT_STALE_AFTER_S,
                 replays: ReplayBudget | None = None, clock: Clock = wall_ms,
                 monotonic: Monotonic = time.monotonic) -> None:
        self.reader = reader
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.fanout = fanout or Fanout(page="board")
        self.ring_size = ring_size
        self.replays = ReplayBudget() if replays is None else replays
        self.stale_after_s = stale_after_s
        self.clock = clock
        # Stable across restarts on one host and port, so the presence hash stays small.
        self.name = f"{socket.gethostname()}:{settings.web_port}"
        self.monotonic = monotonic
        self.channels: dict[str | None, Channel] = {None: self._channel(None)}
        self.clients: dict[ServerConnection, Screen] = {}
        self.built: Built | None = None
        self.built_at: float | None = None
        self.changed = asyncio.Event()
        self._dirty = asyncio.Event()
        self._running = True
        self._reads: dict[str | None, asyncio.Task[Built]] = {}
        # Boards of fairs without screens read for GET /api/board, reused for a push
        # interval; keyed by fair ids the store knows, so bounded by the number of fairs.
        self._asked: dict[str, tuple[Json, float]] = {}
        self._joining = asyncio.Lock()
        self._live_fairs: set[str] = set()
        self._closing: set[asyncio.Task[None]] = set()
        # Named screens' contacts (wall ms) not yet written to Redis.
        self._contacts: dict[str, int] = {}

    def _channel(self, key: str | None) -> Channel:
        return Channel(key=key, ring=ChangeRing(size=self.ring_size), last_sent=self.monotonic())

    @property
    def board(self) -> Json | None:
        """The default fair's board the screens were last sent."""
        return self.channels[None].board

    @property
    def seq(self) -> int:
        """The default fair channel's sequence number."""
        return self.channels[None].seq

    async def _read(self, keys: Iterable[str | None]) -> Built:
        """Read the store once and build the boards of ``keys`` (fairs the store does not
        hold are left out), the fairs list and the campaign."""
        started = time.perf_counter()
        wanted = list(dict.fromkeys(keys))
        rows = await self.reader.board(now_ms=self.clock(), fairs=wanted)
        async with asyncio.timeout(READ_TIMEOUT_S):
            controls = await read_controls(self.redis, self.keys)
        s = self.settings
        boards = {key: self._with_controls(
                      build_board(rows, fair_id=key, top_n=s.top_n, title=s.fair_title,
                                  place=s.fair_place, live_grace_s=s.live_grace_s,
                                  hidden=controls.hidden),
                      message=controls.message, hidden=controls.hidden, now_ms=rows.now_ms)
                  for key in wanted if (rows.default_fair if key is None else key) in rows.sums}
        built = Built(boards=boards,
                      fairs=build_fairs(rows, title=s.fair_title, place=s.fair_place),
                      campaign=build_campaign(rows))
        metrics.SNAPSHOT_SECONDS.observe(time.perf_counter() - started)
        return built

    def _with_controls(self, board: Json, *, message: Json | None, hidden: frozenset[str],
                       now_ms: int) -> Json:
        """``board`` with what staff set (``web/controls.py``): message, hidden sessions,
        and the fair's progress towards OCOP_FAIR_GOAL_VND."""
        board["message"] = message
        board["hidden_sessions"] = sorted(hidden)
        board["goal"] = goal_progress(self.settings.fair_goal_vnd,
                                      gmv_vnd=int(board["totals"]["gmv_vnd"]),
                                      start_ms=parse_time_ms(board["fair"]["start"]),
                                      now_ms=now_ms)
        return board

    async def build(self) -> Json:
        """Read the store and build the default fair's board now."""
        return (await self._read([None])).boards[None]

    def _keep(self, built: Built) -> None:
        self.built, self.built_at = built, self.monotonic()
        self._record_live_fairs(built.fairs)

    def _record_live_fairs(self, fairs: list[Json]) -> None:
        # Only the fairs live now carry a label, and a fair's series go once it is no
        # longer live: the label set stays as small as the fairs of one day.
        live = {fair["fair_id"]: fair["totals"] for fair in fairs if fair["status"] == "live"}
        for fair_id in self._live_fairs - set(live):
            for gauge in metrics.FAIR_GAUGES:
                gauge.remove(fair_id)
        for fair_id, totals in live.items():
            metrics.FAIR_GMV.labels(fair_id).set(totals["gmv_vnd"])
            metrics.FAIR_VIEWS.labels(fair_id).set(totals["views"])
            metrics.FAIR_ORDERS.labels(fair_id).set(totals["orders"])
            metrics.FAIR_VIEWERS_NOW.labels(fair_id).set(totals["viewers_now"])
        self._live_fairs = set(live)

    async def load(self) -> None:
        """Build the first board, before any screen joins."""
        built = await self._read([None])
        self._keep(built)
        self._publish(self.channels[None], built.boards[None])

    def _fresh(self) -> bool:
        limit = STALE_HEARTBEATS * self.settings.heartbeat_s
        return self.built_at is not None and self.monotonic() - self.built_at <= limit

    async def _shared(self, key: str | None) -> Built:
        """One read of the default board (key None) or of fair ``key`` shared by every
        caller asking meanwhile."""
        task = self._reads.get(key)
        if task is None:
            task = self._reads[key] = asyncio.create_task(self._read([key]))
            task.add_done_callback(lambda done: self._read_done(key, done))
        # Shielded: a caller that gives up must not cancel the others' read.
        return await asyncio.shield(task)

    def _read_done(self, key: str | None, task: asyncio.Task[Built]) -> None:
        if self._reads.get(key) is task:
            del self._reads[key]
        if not task.cancelled():
            # Retrieved here, so a failure every caller abandoned is not logged as lost.
            task.exception()

    async def _built(self) -> Built:
        if self._fresh() and self.built is not None:
            return self.built
        return await self._shared(None)

    async def fairs(self) -> list[Json]:
        """Every fair with status and totals, from the last tick (``GET /api/fairs``)."""
        return (await self._built()).fairs

    async def campaign(self) -> Json:
        """The campaign's figures, from the last tick (``GET /api/campaign``)."""
        return (await self._built()).campaign

    async def knows(self, fair_id: str) -> bool:
        """Whether the store holds fair ``fair_id`` (the last tick's fairs, else Redis)."""
        if self.built is not None and any(f["fair_id"] == fair_id for f in self.built.fairs):
            return True
        return bool(await self.redis.hexists(self.keys.fairs(), fair_id))

    async def current(self, fair_id: str | None = None) -> Json:
        """The board of fair ``fair_id`` (None: the default fair) for ``GET /api/board``.

        Anonymous requests read this: a board the last tick built (the default fair's,
        and those of fairs with screens) is returned as it is; another fair's is read
        once per push interval however many ask; while the hub has no fresh board (Redis
        was down), concurrent callers share one read. Such reads never become the board
        screens are diffed against. Raises ``UnknownFair`` for a fair the store lacks.
        """
        channel = self.channels.get(fair_id)
        if (channel is not None and channel.board is not None and channel.built_at is not None
                and (fair_id is None or channel.clients)
                and self.monotonic() - channel.built_at
                <= STALE_HEARTBEATS * self.settings.heartbeat_s):
            return channel.board
        if fair_id is not None:
            asked = self._asked.get(fair_id)
            if asked is not None and self.monotonic() - asked[1] <= self.settings.push_interval_s:
                return asked[0]
            if not await self.knows(fair_id):
                raise UnknownFair(fair_id)
        built = await self._shared(fair_id)
        board = built.boards.get(fair_id)
        if board is None:
            raise UnknownFair(str(fair_id))
        if fair_id is not None:
            self._asked[fair_id] = (board, self.monotonic())
        return board

    def _text(self, channel: Channel, kind: str, server_time: int | None = None,
              **fields: Any) -> str:
        now = self.clock() if server_time is None else server_time
        return encode({"type": kind, "seq": channel.seq, "server_time": now, **fields})

    def _publish(self, channel: Channel, board: Json) -> bool:
        """Make ``board`` the channel's current board; send the change (with banners) to
        its screens. False when nothing but the time changed."""
        old = channel.board
        channel.board, channel.built_at = board, self.monotonic()
        changes = board_changes(old, board)
        if not changes or old is None:
            return old is None
        channel.seq += 1
        now = self.clock()
        banners = detect_banners(old, board)
        extra = {"banners": banners} if banners else {}
        text = self._text(channel, "change", server_time=now, changes=changes, **extra)
        channel.ring.append(channel.seq, text, at=self.monotonic())
        self.fanout.send(list(channel.clients), text, kind="change")
        newest = board.get("newest_event_ms")
        if newest is not None:
            metrics.FRESHNESS_SCREEN.observe(max(0, now - newest) / 1000)
        channel.last_sent = self.monotonic()
        self.changed.set()
        return True

    async def _subscribe(self, fair_id: str | None) -> Channel:
        """The channel of ``fair_id``, with a board no older than the last tick's.

        A fair's channel without screens is not rebuilt at each tick, so the first
        screen to join it reads its board first; a change since its last board goes
        into its ring, and a screen resuming from that board gets it.
        """
        channel = self.channels.get(fair_id)
        if channel is not None and channel.board is not None and (fair_id is None
                                                                   or channel.clients):
            return channel
        async with self._joining:
            channel = self.channels.get(fair_id)
            if channel is not None and channel.board is not None and (fair_id is None
                                                                       or channel.clients):
                return channel
            if fair_id is not None and not await self.knows(fair_id):
                raise UnknownFair(fair_id)
            built = await self._read([fair_id])
            board = built.boards.get(fair_id)
            if board is None:
                raise UnknownFair(str(fair_id))
            channel = self.channels.get(fair_id)
            if channel is None:
                channel = self.channels[fair_id] = self._channel(fair_id)
            self._publish(channel, board)
            return channel

    def join(self, connection: ServerConnection, *, resume: Resume, address: str,
             channel: Channel | None = None, screen: str | None = None) -> None:
        """Catch ``connection`` up (resume or snapshot) on ``channel`` (the default
        fair's when None) and subscribe it as screen ``screen``, with no await."""
        channel = self.channels[None] if channel is None else channel
        if channel.board is None:
            raise RuntimeError("board not built yet")
        missed = None
        if resume.epoch == channel.epoch and resume.seq is not None:
            missed = channel.ring.since(resume.seq, current=channel.seq)
        # A replay costs up to a ring of frames, a snapshot one: only replays are
        # rationed, and only when they send something; a screen already current pays
        # nothing, and one past its budget is as well served by a snapshot.
        if missed and not self.replays.take(address, now=self.monotonic()):
            missed = None
        if missed is None:
            snapshot = self._text(channel, "snapshot", board=channel.board, epoch=channel.epoch,
                                  heartbeat_ms=int(self.settings.heartbeat_s * 1000))
            self.fanout.send([connection], snapshot, kind="snapshot")
        else:
            for text in missed:
                self.fanout.send([connection], text, kind="change")
            self.fanout.send([connection], self._text(channel, "heartbeat"), kind="heartbeat")
        channel.clients.add(connection)
        self.clients[connection] = Screen(channel=channel, acked_seq=channel.seq,
                                          acked_at=self.monotonic(), name=screen)
        self._contact(screen)
        metrics.WS_CLIENTS.labels("board").set(len(self.clients))

    def _contact(self, screen: str | None) -> None:
        if screen is not None:
            self._contacts[screen] = self.clock()

    def leave(self, connection: ServerConnection) -> None:
        """Forget a closed connection."""
        screen = self.clients.pop(connection, None)
        if screen is not None:
            screen.channel.clients.discard(connection)
            self._contact(screen.name)
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
            self._contact(screen.name)

    def count_stale(self) -> int:
        """Screens silent for too long or still showing a seq superseded too long ago."""
        now = self.monotonic()
        stale = 0
        for screen in self.clients.values():
            channel = screen.channel
            since = channel.ring.superseded_at(screen.acked_seq, current=channel.seq)
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
                    address: str, fair_id: str | None = None,
                    screen: str | None = None) -> None:
        """The ``/ws/board`` handler: catch up, then read reports until the screen leaves.

        ``resume``, ``fair_id`` and ``screen`` come from the request's query
        (``web.validation.parse_resume``, ``parse_fair``, ``parse_screen``) and
        ``address`` is the client's, which the replay budget is kept by. A fair the
        store does not hold closes the socket with 4404 and the reason
        ``unknown_fair <id>``.
        """
        if self.board is None:
            await self.load()
        try:
            channel = await self._subscribe(fair_id)
        except UnknownFair as exc:
            metrics.WS_DISCONNECTS.labels("board", "unknown_fair").inc()
            await connection.close(CLOSE_UNKNOWN_FAIR, f"unknown_fair {exc.fair_id}")
            return
        self.join(connection, resume=resume, address=address, channel=channel, screen=screen)
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
        """Make the loops end, and cancel the shared reads still in flight.

        On Python 3.11 a cancellation that lands as a timeout fires can be lost, so the
        loops also check this flag rather than rely on being cancelled.
        """
        self._running = False
        self._dirty.set()
        for task in list(self._reads.values()):
            task.cancel()

    async def watch(self) -> None:
        """Poll, every ``change_poll_s``, the shards' recorded offsets and the staff
        commands; mark the boards dirty when offsets moved, act on a command whose
        count moved.

        Polled rather than subscribed: every applied batch moves its shard's offsets
        (in the same script as the counters), so nothing more needs writing, and plain
        reads work alike on one server and on a Redis Cluster, where pub/sub would tie
        each process to the one node that carries its channel. A process cut off from
        Redis for a while misses nothing either: it finds the moved counts when back.
        """
        shards = self.reader.shards
        offsets: list[dict[str, str]] | None = None
        commands: dict[str, str] | None = None
        while self._running:
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for shard in shards:
                        pipe.hgetall(self.keys.offsets(shard))
                    pipe.hgetall(self.keys.screens_commands())
                    *polled, given = await pipe.execute()
            except (RedisError, OSError) as exc:
                metrics.REDIS_ERRORS.labels("web").inc()
                log.warning("cannot poll Redis for changes (%s); trying again in 1 s", exc)
                await asyncio.sleep(1)
                continue
            if polled != offsets:
                offsets = polled
                self._dirty.set()
            if commands is not None:
                if given.get(RELOAD) != commands.get(RELOAD):
                    self.reload()
                if given.get(CONTROLS) != commands.get(CONTROLS):
                    self._dirty.set()
            commands = given
            await asyncio.sleep(self.settings.change_poll_s)

    async def record_screens(self) -> None:
        """Every heartbeat, say in Redis that this process is there (for the staff
        commands' count), write the named screens' new contacts and report every
        configured screen's last contact there, whichever process it reached."""
        while self._running:
            try:
                await self.redis.hset(self.keys.web_processes(), self.name, str(wall_ms()))
                await self.flush_screens()
            except (RedisError, OSError) as exc:
                metrics.REDIS_ERRORS.labels("web").inc()
                log.warning("cannot record the screens' last contact in Redis (%s)", exc)
            await asyncio.sleep(self.settings.heartbeat_s)

    async def flush_screens(self) -> dict[str, int]:
        """Write the pending contacts, then set ``ocop_screen_last_seen_seconds`` from
        Redis; returns each configured screen's last contact (epoch ms) that Redis holds."""
        pending, self._contacts = self._contacts, {}
        key, names = self.keys.screens_seen(), list(self.settings.screen_names)
        try:
            # A plain write, not newest-wins: a screen that moves to another process
            # may have its older leaving written last, and its next ack, seconds later,
            # corrects that, far inside the minute the alert waits.
            if pending:
                await self.redis.hset(key, mapping={name: str(at_ms)
                                                    for name, at_ms in pending.items()})
            seen = await self.redis.hmget(key, names) if names else []
        except BaseException:
            # Kept for the next try, unless a newer contact came meanwhile.
            self._contacts = {**pending, **self._contacts}
            raise
        found = {name: int(value) for name, value in zip(names, seen, strict=True)
                 if value is not None}
        for name, at_ms in found.items():
            metrics.SCREEN_LAST_SEEN.labels(name).set(at_ms / 1000)
        return found

    async def run(self) -> None:
        """Rebuild on change (or at every heartbeat, since windows roll with the clock)."""
        await tick_paced(running=lambda: self._running, changed=self._dirty, tick=self.tick,
                         heartbeat_s=self.settings.heartbeat_s,
                         interval_s=self.settings.push_interval_s, monotonic=self.monotonic)

    async def tick(self) -> None:
        """Read once; per channel, broadcast the change (with banners) or a due heartbeat.

        Built: the default fair's board and the board of every fair that has screens,
        so the work is bounded by the number of fairs, whatever the number of screens.
        A fair that left the catalog closes its screens with 4404.
        """
        keys = [key for key, channel in self.channels.items()
                if key is None or channel.clients]
        try:
            built = await self._read(keys)
        except (RedisError, OSError) as exc:
            metrics.REDIS_ERRORS.labels("web").inc()
            log.warning("cannot read the board from Redis (%s); screens keep the last "
                        "frame and will show stale", exc)
            self.count_stale()
            return
        self._keep(built)
        metrics.BOARD_VIEWERS_NOW.set(built.boards[None]["totals"]["viewers_now"])
        for key in keys:
            channel = self.channels[key]
            board = built.boards.get(key)
            if board is None:
                self._close_channel(channel)
                continue
            if not self._publish(channel, board) and (
                    self.monotonic() - channel.last_sent >= self.settings.heartbeat_s):
                self.fanout.send(list(channel.clients), self._text(channel, "heartbeat"),
                                 kind="heartbeat")
                channel.last_sent = self.monotonic()
        self.count_stale()

    def _close_channel(self, channel: Channel) -> None:
        del self.channels[channel.key]
        self._asked.pop(str(channel.key), None)
        reason = f"unknown_fair {channel.key}"
        for connection in list(channel.clients):
            metrics.WS_DISCONNECTS.labels("board", "unknown_fair").inc()
            task = asyncio.create_task(connection.close(CLOSE_UNKNOWN_FAIR, reason))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
