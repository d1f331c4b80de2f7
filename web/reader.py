"""Reads the store's rows for the board and for one session (thin I/O, no shaping)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from store.fields import COUNT_FIELDS, GMV, session_field
from store.keys import Keys
from store.windows import local_day, window_minutes

Hash = dict[str, str]
Fields = dict[str, str | None]
Scores = list[tuple[str, float]]

SERIES_MINUTES = 60
# A Redis that answers nothing for this long is treated as down for that read.
READ_TIMEOUT_S = 5.0
# HMGET of the same fields in each of KEYS, in one command: a 60-minute series is one
# call per shard instead of 60 (packing and parsing 60 commands a tick per shard was
# most of the board's read cost). All KEYS share the shard's hash tag, so this also
# runs on Redis Cluster.
_SERIES = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HMGET', key, unpack(ARGV)) end
return out
"""


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


def _series(pipe: Pipeline, keys: list[str], fields: Sequence[str]) -> None:
    """Queue one call returning ``[HMGET key *fields for key in keys]``."""
    pipe.eval(_SERIES, len(keys), *keys, *fields)


class StoreReader:
    """Reads rows from Redis for the read side.

    Usage::

        reader = StoreReader(redis, keys=Keys("ocop"), shards=6)
        rows = await reader.board(now_ms=...)
    """

    def __init__(self, redis: Redis, *, keys: Keys, shards: int,
                 timeout_s: float = READ_TIMEOUT_S) -> None:
        self.redis = redis
        self.keys = keys
        self.shards = range(shards)
        self.timeout_s = timeout_s

    async def _run(self, pipe: Pipeline) -> list[Any]:
        # One deadline per round trip. The web's client has no per-read socket timeout:
        # redis-py wraps every reply of a pipeline in its own asyncio timeout, which was
        # ~12 % of the web process' CPU with a thousand screens (400 replies a tick).
        # The deadline raises TimeoutError, an OSError, which callers already handle.
        async with asyncio.timeout(self.timeout_s):
            return await pipe.execute()

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
                _series(pipe, [k.minute(s, m) for m in minutes], COUNT_FIELDS)
            pipe.pfcount(*[k.viewers(s) for s in self.shards])
            pipe.hgetall(k.catalog())
            results = await self._run(pipe)
        width = 8
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
            for minute, values in zip(minutes, chunk[7], strict=True):
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
                hashes = await self._run(pipe)
            rows.sessions = dict(zip(shard_of, hashes, strict=True))
        return rows

    async def session(self, session_id: str, *, now_ms: int) -> SessionRows:
        """Rows for one session's page."""
        return (await self.sessions([session_id], now_ms=now_ms))[session_id]

    async def sessions(self, session_ids: Iterable[str], *, now_ms: int) -> dict[str, SessionRows]:
        """Rows for several sessions' pages: two round trips however many there are.

        Host pages watch many sessions at once; read one by one, every session cost its
        own 60 minute reads and rank queries. Here each shard's 60-minute series is one
        call for the fields of all its watched sessions, and the ranking comes from one
        read of each shard's revenue ranking.
        """
        k = self.keys
        ids = list(dict.fromkeys(session_ids))
        out = {sid: SessionRows(session_id=sid, now_ms=now_ms) for sid in ids}
        if not ids:
            return out
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in ids:
                for s in self.shards:
                    pipe.sismember(k.sessions(s), sid)
            pipe.hmget(k.catalog(), ids)
            found = await self._run(pipe)
        n = len(self.shards)
        shard_of: dict[str, int] = {}
        for i, sid in enumerate(ids):
            out[sid].catalog = found[-1][i]
            shard = next((s for s in self.shards if found[i * n + s]), None)
            if shard is not None:
                shard_of[sid] = shard
        if not shard_of:
            return out
        minutes = window_minutes(now_ms, SERIES_MINUTES)
        day = local_day(now_ms)
        shards = sorted(set(shard_of.values()))
        watched = {shard: [sid for sid, s in shard_of.items() if s == shard] for shard in shards}
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid, shard in shard_of.items():
                pipe.hgetall(k.session(shard, sid))
                pipe.pfcount(k.session_viewers(shard, sid))
                pipe.hmget(k.day(shard, day), [session_field(sid, f) for f in COUNT_FIELDS])
            for shard in shards:
                _series(pipe, [k.minute(shard, m) for m in minutes],
                        [session_field(sid, f) for sid in watched[shard] for f in COUNT_FIELDS])
            for s in self.shards:
                pipe.zrange(k.top_gmv(s), 0, -1, withscores=True)
                pipe.scard(k.sessions(s))
            result = await self._run(pipe)
        per_session = 3 * len(shard_of)
        series = dict(zip(shards, result[per_session:per_session + len(shards)], strict=True))
        ranking = result[per_session + len(shards):]
        scores = [score for s in range(n) for _, score in ranking[2 * s]]
        ranked = sum(ranking[2 * s + 1] for s in range(n))
        for i, (sid, shard) in enumerate(shard_of.items()):
            rows = out[sid]
            rows.found = True
            rows.counters, rows.unique_viewers, rows.today = result[3 * i:3 * i + 3]
            # This session's four fields in each minute's reply of its shard.
            at = watched[shard].index(sid) * len(COUNT_FIELDS)
            rows.minutes = {minute: values[at:at + len(COUNT_FIELDS)]
                            for minute, values in zip(minutes, series[shard], strict=True)}
            # The same comparisons ZCOUNT and ZRANGEBYSCORE make with an exclusive "(gmv"
            # bound: sessions strictly ahead, and the lowest revenue among them.
            gmv = float(rows.counters.get(GMV, 0) or 0)
            above = [score for score in scores if score > gmv]
            rows.rank_above = len(above)
            rows.sessions_ranked = ranked
            rows.next_gmv_above = int(min(above)) if above else None
        return out
