"""Reads the store's rows for the board and for one session (thin I/O, no shaping)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from store.client import RedisClient, RedisPipeline, is_cluster
from store.fields import COUNT_FIELDS, GMV, LAST_AT, VIEWERS_NOW, VIEWS, session_field
from store.keys import Keys
from store.unions import union_counts
from store.windows import local_day, window_minutes
from web.scopes import Directory, Fair

Hash = dict[str, str]

SERIES_MINUTES = 60
# What the fairs list and the campaign need of a session outside the boards being built.
SCALAR_FIELDS = (*COUNT_FIELDS, VIEWERS_NOW, LAST_AT)
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
# HGETALL of each of KEYS, in one command (a shard's sessions share its hash tag).
_HASHES = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGETALL', key) end
return out
"""
# Per key, the sums of ARGV[2..] taken ARGV[1] fields at a time (one session's counters
# after another): a fair's series is 60 numbers per field and shard on the wire, however
# many sessions the fair has. Counters stay below 2^53 (the write path checks), so Lua's
# doubles add them exactly. HMGET is called in slices so unpack stays within Lua's stack.
_SUMS = """
local width = tonumber(ARGV[1])
local fields = {}
for i = 2, #ARGV do fields[i - 1] = ARGV[i] end
local out = {}
for k, key in ipairs(KEYS) do
  local sums = {}
  for j = 1, width do sums[j] = 0 end
  for first = 1, #fields, 4000 do
    local last = math.min(first + 3999, #fields)
    local values = redis.call('HMGET', key, unpack(fields, first, last))
    for i = 1, last - first + 1 do
      if values[i] then
        local slot = (first + i - 2) % width + 1
        sums[slot] = sums[slot] + tonumber(values[i])
      end
    end
  end
  out[k] = sums
end
return out
"""


@dataclass(slots=True)
class FairSums:
    """One fair's time buckets, summed over its sessions: the last 60 minutes and today."""

    minutes: dict[int, dict[str, int]] = field(default_factory=dict)
    today: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_FIELDS, 0))


@dataclass(slots=True)
class BoardRows:
    """Everything the boards, the fairs list and the campaign of one moment are built from.

    ``sessions`` holds every counted session's counters: the whole hash for the
    sessions of the fairs in ``sums`` (their products too), the scalar counters for the
    rest. ``counted`` maps each counted session to its shard.
    """

    now_ms: int
    directory: Directory
    totals: list[Hash] = field(default_factory=list)
    unique_viewers: int = 0
    counted: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, Hash] = field(default_factory=dict)
    fair_unique: dict[str, int] = field(default_factory=dict)
    sums: dict[str, FairSums] = field(default_factory=dict)
    default_fair: str = ""
    newest_event_ms: int | None = None


@dataclass(slots=True)
class SessionRows:
    """One session's rows; ``found`` is False when no shard has counted it.

    The ranking is within the session's fair: ``rank_above`` of its sessions earn
    strictly more, ``sessions_ranked`` is how many sessions the fair has.
    """

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
    fair: Fair | None = None


def _series(pipe: RedisPipeline, keys: list[str], fields: Sequence[str]) -> None:
    """Queue one call returning ``[HMGET key *fields for key in keys]``."""
    pipe.eval(_SERIES, len(keys), *keys, *fields)


def _sums(pipe: RedisPipeline, keys: list[str], fields: Sequence[str], width: int) -> None:
    """Queue one call returning, per key, the ``width`` sums of its ``fields``."""
    pipe.eval(_SUMS, len(keys), *keys, str(width), *fields)


class StoreReader:
    """Reads rows from Redis for the read side.

    Usage::

        reader = StoreReader(redis, keys=Keys("ocop"), shards=6)
        rows = await reader.board(now_ms=..., fairs=[None, "cg-2023-11-25"])
    """

    def __init__(self, redis: RedisClient, *, keys: Keys, shards: int,
                 timeout_s: float = READ_TIMEOUT_S) -> None:
        self.redis = redis
        self.keys = keys
        self.shards = range(shards)
        self.timeout_s = timeout_s
        self._parsed: tuple[Hash, Hash, Directory] | None = None
        # A cluster cannot PFCOUNT across shards' slots (store/unions.py copies instead),
        # so there each union's count is kept with the views of what it covers: a
        # HyperLogLog only grows with a counted join, and a counted join adds a view.
        self.cluster = is_cluster(redis)
        self._unions: dict[str, tuple[tuple[Any, ...], int]] = {}

    async def _run(self, pipe: RedisPipeline) -> list[Any]:
        # One deadline per round trip. The web's client has no per-read socket timeout:
        # redis-py wraps every reply of a pipeline in its own asyncio timeout, which was
        # ~12 % of the web process' CPU with a thousand screens (400 replies a tick).
        # The deadline raises TimeoutError, an OSError, which callers already handle.
        async with asyncio.timeout(self.timeout_s):
            return await pipe.execute()

    def directory(self, catalog: Hash, fairs: Hash) -> Directory:
        """The directory of these hashes, parsed again only when they changed.

        Every tick reads the whole catalog; parsing hundreds of sessions' JSON each time
        would cost more than the read.
        """
        if self._parsed is not None and self._parsed[0] == catalog and self._parsed[1] == fairs:
            return self._parsed[2]
        directory = Directory.parse(catalog, fairs)
        self._parsed = (catalog, fairs, directory)
        return directory

    async def board(self, *, now_ms: int, fairs: Iterable[str | None] = (None,)) -> BoardRows:
        """Rows for the boards of ``fairs`` (None: the default fair), the fairs list and
        the campaign: two round trips whatever the number of sessions and fairs.

        A fair the store does not hold gets no board rows (``sums`` lacks it).
        """
        k = self.keys
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.catalog())
            pipe.hgetall(k.fairs())
            for s in self.shards:
                pipe.smembers(k.sessions(s))
                pipe.hgetall(k.totals(s))
                pipe.hgetall(k.watermarks(s))
            if not self.cluster:
                pipe.pfcount(*[k.viewers(s) for s in self.shards])
            first = await self._run(pipe)
        directory = self.directory(first[0], first[1])
        rows = BoardRows(now_ms=now_ms, directory=directory,
                         unique_viewers=0 if self.cluster else first[-1],
                         default_fair=directory.default_fair(now_ms))
        marks: list[int] = []
        for s in self.shards:
            members, totals, watermarks = first[2 + 3 * s:5 + 3 * s]
            for sid in sorted(members):
                rows.counted.setdefault(sid, s)
            rows.totals.append(totals)
            marks.extend(int(v) for v in watermarks.values())
        # The worker records each shard's newest applied event time (its watermarks),
        # so the screen can say how old the newest number it shows is.
        rows.newest_event_ms = max(marks, default=None)
        wanted: list[str] = []
        for fair_id in fairs:
            chosen = rows.default_fair if fair_id is None else fair_id
            if chosen in directory.fairs and chosen not in wanted:
                wanted.append(chosen)
        members_of = {fair_id: directory.members(fair_id, rows.counted)
                      for fair_id in directory.fairs}
        full = {sid for fair_id in wanted for sid in members_of[fair_id]}
        minutes = window_minutes(now_ms, SERIES_MINUTES)
        day = local_day(now_ms)
        # Second trip: every counted session's counters (one call per shard for the whole
        # hashes, one for the scalars: a command per session was most of a tick's cost at
        # a campaign's hundreds of sessions), each fair's unique viewers, and the time
        # buckets of the fairs asked for, summed in Redis per shard.
        plan: list[tuple[str, int]] = []
        whole = {s: [sid for sid, at in rows.counted.items() if at == s and sid in full]
                 for s in self.shards}
        scalar = {s: [sid for sid, at in rows.counted.items() if at == s and sid not in full]
                  for s in self.shards}
        async with self.redis.pipeline(transaction=False) as pipe:
            for s in self.shards:
                pipe.eval(_HASHES, len(whole[s]), *[k.session(s, sid) for sid in whole[s]])
                _series(pipe, [k.session(s, sid) for sid in scalar[s]], SCALAR_FIELDS)
            unions = {fair_id: [sid for sid in members if sid in rows.counted]
                      for fair_id, members in members_of.items()}
            unions = {fair_id: sids for fair_id, sids in unions.items() if sids}
            pfcounted = [] if self.cluster else list(unions)
            for fair_id in pfcounted:
                pipe.pfcount(*[k.session_viewers(rows.counted[sid], sid)
                               for sid in unions[fair_id]])
            for fair_id in wanted:
                for s in self.shards:
                    here = [sid for sid in members_of[fair_id] if rows.counted.get(sid) == s]
                    if here:
                        _sums(pipe, [k.minute(s, m) for m in minutes] + [k.day(s, day)],
                              [session_field(sid, f) for sid in here for f in COUNT_FIELDS],
                              len(COUNT_FIELDS))
                        plan.append((fair_id, s))
            second = await self._run(pipe)
        n = 2 * len(self.shards)
        for s in self.shards:
            hashes, scalars = second[2 * s:2 * s + 2]
            for sid, flat in zip(whole[s], hashes, strict=True):
                rows.sessions[sid] = dict(zip(flat[::2], flat[1::2], strict=True))
            for sid, values in zip(scalar[s], scalars, strict=True):
                rows.sessions[sid] = {f: v for f, v in zip(SCALAR_FIELDS, values, strict=True)
                                      if v is not None}
        rows.fair_unique = dict(zip(pfcounted, second[n:n + len(pfcounted)], strict=True))
        if self.cluster:
            await self._count_unions(rows, unions)
        rows.sums = {fair_id: FairSums(minutes={m: dict.fromkeys(COUNT_FIELDS, 0)
                                                for m in minutes})
                     for fair_id in wanted}
        for (fair_id, _), reply in zip(plan, second[n + len(pfcounted):], strict=True):
            sums = rows.sums[fair_id]
            for minute, values in zip(minutes, reply[:-1], strict=True):
                for name, value in zip(COUNT_FIELDS, values, strict=True):
                    sums.minutes[minute][name] += int(value)
            for name, value in zip(COUNT_FIELDS, reply[-1], strict=True):
                sums.today[name] += int(value)
        return rows

    async def _count_unions(self, rows: BoardRows, unions: dict[str, list[str]]) -> None:
        """Fill the campaign's and each fair's unique viewers on a cluster, counting
        again only the unions whose views moved since they were last counted."""
        k = self.keys
        wanted: dict[str, tuple[tuple[Any, ...], list[str]]] = {
            "": (tuple(t.get(VIEWS) for t in rows.totals), [k.viewers(s) for s in self.shards])}
        for fair_id, sids in unions.items():
            wanted[f"fair:{fair_id}"] = (
                tuple((sid, rows.sessions.get(sid, {}).get(VIEWS)) for sid in sids),
                [k.session_viewers(rows.counted[sid], sid) for sid in sids])
        stale = [name for name, (mark, _) in wanted.items()
                 if name not in self._unions or self._unions[name][0] != mark]
        async with asyncio.timeout(self.timeout_s):
            counts = await union_counts(self.redis, k, [wanted[name][1] for name in stale])
        self._unions = {name: self._unions[name] for name in wanted if name not in stale}
        self._unions.update({name: (wanted[name][0], count)
                             for name, count in zip(stale, counts, strict=True)})
        rows.unique_viewers = self._unions[""][1]
        rows.fair_unique = {fair_id: self._unions[f"fair:{fair_id}"][1] for fair_id in unions}

    async def session(self, session_id: str, *, now_ms: int) -> SessionRows:
        """Rows for one session's page."""
        return (await self.sessions([session_id], now_ms=now_ms))[session_id]

    async def sessions(self, session_ids: Iterable[str], *, now_ms: int) -> dict[str, SessionRows]:
        """Rows for several sessions' pages: two round trips however many there are.

        Host pages watch many sessions at once; read one by one, every session cost its
        own 60 minute reads and rank queries. Here each shard's 60-minute series is one
        call for the fields of all its watched sessions, and the ranking within each
        fair comes from one read of each shard's revenue ranking.
        """
        k = self.keys
        ids = list(dict.fromkeys(session_ids))
        out = {sid: SessionRows(session_id=sid, now_ms=now_ms) for sid in ids}
        if not ids:
            return out
        async with self.redis.pipeline(transaction=False) as pipe:
            for s in self.shards:
                pipe.smembers(k.sessions(s))
            pipe.hgetall(k.catalog())
            pipe.hgetall(k.fairs())
            first = await self._run(pipe)
        counted: dict[str, int] = {}
        for s in self.shards:
            for sid in sorted(first[s]):
                counted.setdefault(sid, s)
        catalog: Hash = first[-2]
        directory = self.directory(catalog, first[-1])
        for sid in ids:
            out[sid].catalog = catalog.get(sid)
            fair_id = directory.fair_of(sid)
            out[sid].fair = None if fair_id is None else directory.fairs[fair_id]
        shard_of = {sid: counted[sid] for sid in ids if sid in counted}
        if not shard_of:
            return out
        minutes = window_minutes(now_ms, SERIES_MINUTES)
        day = local_day(now_ms)
        shards = sorted(set(shard_of.values()))
        watched = {shard: [sid for sid, s in shard_of.items() if s == shard] for shard in shards}
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid, shard in shard_of.items():
                pipe.hgetall(k.session(shard, sid))
                # redis-py's cluster pipeline refuses its pfcount method, even on one key.
                pipe.execute_command("PFCOUNT", k.session_viewers(shard, sid))
                pipe.hmget(k.day(shard, day), [session_field(sid, f) for f in COUNT_FIELDS])
            for shard in shards:
                _series(pipe, [k.minute(shard, m) for m in minutes],
                        [session_field(sid, f) for sid in watched[shard] for f in COUNT_FIELDS])
            for s in self.shards:
                pipe.zrange(k.top_gmv(s), 0, -1, withscores=True)
            result = await self._run(pipe)
        per_session = 3 * len(shard_of)
        series = dict(zip(shards, result[per_session:per_session + len(shards)], strict=True))
        gmv_of = {sid: score for ranking in result[per_session + len(shards):]
                  for sid, score in ranking}
        for i, (sid, shard) in enumerate(shard_of.items()):
            rows = out[sid]
            rows.found = True
            rows.counters, rows.unique_viewers, rows.today = result[3 * i:3 * i + 3]
            # This session's four fields in each minute's reply of its shard.
            at = watched[shard].index(sid) * len(COUNT_FIELDS)
            rows.minutes = {minute: values[at:at + len(COUNT_FIELDS)]
                            for minute, values in zip(minutes, series[shard], strict=True)}
            if rows.fair is None:
                continue
            # The same comparisons ZCOUNT and ZRANGEBYSCORE make with an exclusive "(gmv"
            # bound, over the fair's sessions: those strictly ahead, and the lowest
            # revenue among them.
            members = directory.members(rows.fair.fair_id, counted)
            gmv = float(rows.counters.get(GMV, 0) or 0)
            above = [gmv_of[m] for m in members if gmv_of.get(m, 0.0) > gmv]
            rows.rank_above = len(above)
            rows.sessions_ranked = len(members)
            rows.next_gmv_above = int(min(above)) if above else None
        return out
