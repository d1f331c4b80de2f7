"""Reads the store's rows for the board and for one session (thin I/O, no shaping)."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from ocop_live.keys import Keys, session_field
from streams.core.delta import COUNT_FIELDS
from streams.core.windows import local_day, window_minutes

Hash = dict[str, str]
Fields = dict[str, str | None]
Scores = list[tuple[str, float]]

SERIES_MINUTES = 60


@dataclass(slots=True)
class BoardRows:
    """Everything the board payload is built from, summed over shards where it can be."""

    now_ms: int
    totals: list[Hash] = field(default_factory=list)
    unique_viewers: int = 0
    top_gmv: list[Scores] = field(default_factory=list)
    top_viewers: list[Scores] = field(default_factory=list)
    product_units: list[Scores] = field(default_factory=list)
    product_gmv: list[Scores] = field(default_factory=list)
    minutes: dict[int, list[Fields]] = field(default_factory=dict)
    today: list[Fields] = field(default_factory=list)
    catalog: Hash = field(default_factory=dict)
    sessions: dict[str, Hash] = field(default_factory=dict)
    newest_event_ms: int | None = None


@dataclass(slots=True)
class SessionRows:
    """One session's rows; ``found`` is False when no shard has counted it."""

    session_id: str
    now_ms: int
    found: bool = False
    counters: Hash = field(default_factory=dict)
    unique_viewers: int = 0
    minutes: dict[int, list[str | None]] = field(default_factory=dict)
    today: list[str | None] = field(default_factory=list)
    rank_above: int = 0
    sessions_ranked: int = 0
    next_gmv_above: int | None = None
    catalog: str | None = None


class StoreReader:
    """Reads rows from Redis for the read side.

    Usage::

        reader = StoreReader(redis, keys=Keys("ocop"), shards=6)
        rows = await reader.board(now_ms=...)
    """

    def __init__(self, redis: Redis, *, keys: Keys, shards: int) -> None:
        self.redis = redis
        self.keys = keys
        self.shards = range(shards)

    async def board(self, *, now_ms: int) -> BoardRows:
        """Rows for the board: two round trips whatever the number of sessions."""
        k = self.keys
        minutes = window_minutes(now_ms, SERIES_MINUTES)
        day = local_day(now_ms)
        rows = BoardRows(now_ms=now_ms)
        async with self.redis.pipeline(transaction=False) as pipe:
            for s in self.shards:
                pipe.hgetall(k.totals(s))
                pipe.zrange(k.top_gmv(s), 0, -1, withscores=True)
                pipe.zrange(k.top_viewers(s), 0, -1, withscores=True)
                pipe.zrange(k.product_units(s), 0, -1, withscores=True)
                pipe.zrange(k.product_gmv(s), 0, -1, withscores=True)
                pipe.hmget(k.day(s, day), list(COUNT_FIELDS))
                pipe.hgetall(k.watermarks(s))
                for minute in minutes:
                    pipe.hmget(k.minute(s, minute), list(COUNT_FIELDS))
            pipe.pfcount(*[k.viewers(s) for s in self.shards])
            pipe.hgetall(k.catalog())
            results = await pipe.execute()
        width = 7 + len(minutes)
        rows.minutes = {minute: [] for minute in minutes}
        marks: list[int] = []
        for i, _ in enumerate(self.shards):
            chunk = results[i * width:(i + 1) * width]
            rows.totals.append(chunk[0])
            rows.top_gmv.append(chunk[1])
            rows.top_viewers.append(chunk[2])
            rows.product_units.append(chunk[3])
            rows.product_gmv.append(chunk[4])
            rows.today.append(dict(zip(COUNT_FIELDS, chunk[5], strict=True)))
            marks.extend(int(v) for v in chunk[6].values())
            for minute, values in zip(minutes, chunk[7:], strict=True):
                rows.minutes[minute].append(dict(zip(COUNT_FIELDS, values, strict=True)))
        rows.unique_viewers, rows.catalog = results[-2], results[-1]
        # The worker records each shard's newest applied event time (its watermarks),
        # so the screen can say how old the newest number it shows is.
        rows.newest_event_ms = max(marks, default=None)
        # Second trip: the counters of every session that has one (a few hundred at most).
        shard_of = {sid: s for s in self.shards for sid, _ in rows.top_gmv[s] + rows.top_viewers[s]}
        if shard_of:
            async with self.redis.pipeline(transaction=False) as pipe:
                for sid, s in shard_of.items():
                    pipe.hgetall(k.session(s, sid))
                hashes = await pipe.execute()
            rows.sessions = dict(zip(shard_of, hashes, strict=True))
        return rows

    async def session(self, session_id: str, *, now_ms: int) -> SessionRows:
        """Rows for one session's page."""
        k = self.keys
        rows = SessionRows(session_id=session_id, now_ms=now_ms)
        async with self.redis.pipeline(transaction=False) as pipe:
            for s in self.shards:
                pipe.sismember(k.sessions(s), session_id)
            pipe.hget(k.catalog(), session_id)
            found = await pipe.execute()
        rows.catalog = found[-1]
        shard = next((s for s in self.shards if found[s]), None)
        if shard is None:
            return rows
        rows.found = True
        minutes = window_minutes(now_ms, SERIES_MINUTES)
        fields = [session_field(session_id, name) for name in COUNT_FIELDS]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.session(shard, session_id))
            pipe.pfcount(k.session_viewers(shard, session_id))
            pipe.hmget(k.day(shard, local_day(now_ms)), fields)
            for minute in minutes:
                pipe.hmget(k.minute(shard, minute), fields)
            result = await pipe.execute()
        rows.counters, rows.unique_viewers, rows.today = result[0], result[1], result[2]
        rows.minutes = dict(zip(minutes, result[3:3 + len(minutes)], strict=True))
        gmv = float(rows.counters.get("gmv_vnd", 0) or 0)
        async with self.redis.pipeline(transaction=False) as pipe:
            for s in self.shards:
                pipe.zcount(k.top_gmv(s), f"({gmv}", "+inf")
            for s in self.shards:
                pipe.scard(k.sessions(s))
            for s in self.shards:
                pipe.zrangebyscore(k.top_gmv(s), f"({gmv}", "+inf", start=0, num=1,
                                   withscores=True)
            counts = await pipe.execute()
        n = len(self.shards)
        rows.rank_above = sum(counts[:n])
        rows.sessions_ranked = sum(counts[n:2 * n])
        above = [int(score) for lowest in counts[2 * n:] for _, score in lowest]
        rows.next_gmv_above = min(above, default=None)
        return rows
