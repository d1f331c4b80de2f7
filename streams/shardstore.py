"""Redis side of the write path: load a shard's state, apply a batch atomically.

Each shard's batch is one Lua script call (``apply.lua``, numbered steps) that first
checks the offset fence and every key it will write, then writes the counters, then
records the offsets; a write that fails midway marks the shard stopped instead.
All shards of one faust batch go in one pipeline: one round trip per batch.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from importlib import resources
from typing import Any, TypeVar, cast

import msgspec
from redis.client import NEVER_DECODE
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MasterDownError,
    MovedError,
    NoScriptError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)

from counting.delta import ShardDelta
from counting.orders import OrderState
from counting.state import SessionLive, ShardState, pack_ids
from store.client import RedisClient
from store.fields import (
    GMV,
    LAST_AT,
    LIVE_FIELDS,
    NET,
    PEAK,
    PEAK_AT,
    STOPPED_ERROR,
    UNITS,
    VIEWERS_COUNT,
    VIEWERS_COUNT_AT,
    VIEWERS_NOW,
    product_field,
    session_field,
)
from store.keys import Keys
from store.windows import FAIR_TZ, minute_of

B = TypeVar("B", int, str)  # a time bucket: epoch-ms minute or YYYY-MM-DD day

_encode = msgspec.json.Encoder().encode
_SCRIPT = resources.files("streams").joinpath("apply.lua").read_text(encoding="utf-8")
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode(), usedforsecurity=False).hexdigest()
# A shard's state as load() needs it, read in one go. KEYS: the stop mark, offsets,
# watermarks, seen minutes, orders, order activity, forgotten orders, sessions.
_LOAD = """
return {redis.call('HGET', KEYS[1], ARGV[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('HGETALL', KEYS[3]), redis.call('SMEMBERS', KEYS[4]),
        redis.call('HGETALL', KEYS[5]), redis.call('HGETALL', KEYS[6]),
        redis.call('HGETALL', KEYS[7]), redis.call('SMEMBERS', KEYS[8])}
"""


# The rest of a load, read in further calls (the seen ids are too large for one reply,
# the session hashes are known only once the first call named them). Each call also
# reads the offsets hash, so a load can tell whether every part saw the same shard.
_SEEN = "return {redis.call('HGETALL', KEYS[1]), redis.call('MGET', unpack(KEYS, 2))}"
_LIVE = """
local out = {redis.call('HGETALL', KEYS[1])}
for i = 2, #KEYS do out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV)) end
return out
"""


def _pairs(flat: list[str]) -> dict[str, str]:
    """A hash from its flat ``HGETALL`` reply inside a script."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _text_pairs(flat: list[bytes | str]) -> dict[str, str]:
    """:func:`_pairs` of a reply read without the client's decoding."""
    return _pairs([v.decode() if isinstance(v, bytes) else v for v in flat])


@dataclass(frozen=True, slots=True)
class FenceRejected:
    """A shard batch the store refused: Redis does not hold the offset the batch follows.

    ``stored_offset`` above the batch's predecessor: already applied (redelivery, or
    another worker owns the shard now). Below it, or None: Redis lost writes (a restart
    that replayed an older AOF, a wipe) and the partition must be read again from there.
    """

    shard: int
    topic: str
    stored_offset: int | None


@dataclass(frozen=True, slots=True)
class ApplyFailed:
    """A shard batch Redis could not apply: a check failed (nothing written) or a write did.

    ``partial`` is True when Redis kept part of the batch: the script then marked the
    shard stopped in Redis, so no worker applies to it again until a rebuild.
    """

    shard: int
    detail: str
    partial: bool


@dataclass(slots=True)
class ApplyOutcome:
    """What the store did with a round of shard deltas."""

    rejected: list[FenceRejected] = field(default_factory=list)
    failed: list[ApplyFailed] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every delta was applied."""
        return not (self.rejected or self.failed)


class ShardChangedWhileRead(RedisError):
    """The parts of a shard's load saw different offsets: another node answered part of
    it (a failover moving the shard's slot, a restarted old master that still claimed
    it) or something else wrote to the shard meanwhile. A state mixed from two moments
    would take records Redis lacks for duplicates; the load is read again."""

    def __init__(self, shard: int, first: Mapping[str, str], then: Mapping[str, str]) -> None:
        super().__init__(f"shard {shard} changed while it was read: its offsets were "
                         f"{dict(first)} and then {dict(then)} (a failover moving its slot, or "
                         "another process writing to it); reading it again")


class ShardUnreadable(RuntimeError):
    """A shard's keys cannot be read back as the layout says (wrong types), or a failed
    apply marked the shard stopped; ``detail`` says which."""

    def __init__(self, shard: int, detail: str) -> None:
        self.shard = shard
        self.detail = detail
        super().__init__(f"shard {shard}: {detail}")


# Redis answered with an error, but nothing ran: safe to send again. The cluster ones
# come while a failover moves a shard's slot to its promoted replica.
_TRANSIENT = (NoScriptError, ReadOnlyError, ClusterDownError, TryAgainError, MasterDownError,
              MovedError, AskError)


def _unanswered(value: object) -> bool:
    """A pipeline reply that is no answer of the command: a transient error reply, or a
    failure to reach the server (a cluster pipeline returns those in place of replies)."""
    return isinstance(value, Exception) and (
        isinstance(value, _TRANSIENT) or not isinstance(value, ResponseError))


@dataclass(frozen=True, slots=True)
class Retention:
    """How long time buckets live, in seconds."""

    minute_s: int = 3 * 3600
    day_s: int = 8 * 86400
    # Quarter hours draw a past fair's timeline in reports: kept as long as the input
    # topics keep the campaign (OCOP_RETENTION_DAYS).
    quarter_s: int = 200 * 86400


@dataclass(slots=True)
class _Batch:
    keys: list[str] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)  # ARGV[2:], binary
    index: dict[str, int] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    hll: dict[str, bool] = field(default_factory=dict)
    ops: dict[str, list[Any]] = field(
        default_factory=lambda: {
            name: []
            for name in (
                "fence", "hincr", "hset", "hdel", "zincr", "zadd", "sadd", "pfadd", "append",
                "srem", "del", "expireat",
            )
        }
    )

    def key(self, name: str) -> str:
        if name not in self.index:
            self.keys.append(name)
            self.index[name] = len(self.keys)
        return str(self.index[name])

    def add(self, op: str, key: str, *args: Any) -> None:
        index = self.key(key)
        self.ops[op].append([index, *args])
        kind = _KIND.get(op)
        if kind is not None:
            self.types[index] = kind
            if op == "pfadd":
                self.hll[index] = True


# The Redis type each write expects its key to have (the script checks them first).
_KIND = {"hincr": "hash", "hset": "hash", "hdel": "hash", "zincr": "zset", "zadd": "zset",
         "sadd": "set", "srem": "set", "pfadd": "string", "append": "string"}


def encode_batch(
    delta: ShardDelta, keys: Keys, retention: Retention
) -> tuple[list[str], list[bytes]]:
    """The script's KEYS and ARGV for one shard delta (pure): the batch as JSON first."""
    shard = delta.shard
    b = _Batch()
    b.types[b.key(keys.offsets(shard))] = "hash"
    b.key(keys.stopped(shard))
    b.ops["fence"] = [
        [topic, _text(delta.prev_offsets.get(topic)), str(delta.last_offsets[topic]),
         str(first), "1" if topic in delta.explained_gaps else "0"]
        for topic, first in delta.first_offsets.items()
    ]
    totals = keys.totals(shard)
    for name, n in delta.totals.items():
        if n:
            b.add("hincr", totals, name, str(n))
    for sid, counter in delta.sessions.items():
        skey = keys.session(shard, sid)
        for name, n in counter.items():
            if n:
                b.add("hincr", skey, name, str(n))
        if counter.get(GMV):
            b.add("zincr", keys.top_gmv(shard), sid, str(counter[GMV]))
    for sid, units in delta.session_products.items():
        skey = keys.session(shard, sid)
        for pid, n in units.items():
            if n:
                b.add("hincr", skey, product_field(pid, UNITS), str(n))
        for pid, n in delta.session_product_gmv[sid].items():
            if n:
                b.add("hincr", skey, product_field(pid, GMV), str(n))
    for sid, last in delta.last_at.items():
        b.add("hset", keys.session(shard, sid), LAST_AT, str(last))
    for sid, live in delta.live.items():
        skey = keys.session(shard, sid)
        b.add("hset", skey, NET, str(live.net))
        b.add("hset", skey, PEAK, str(live.peak))
        b.add("hset", skey, PEAK_AT, "" if live.peak_at is None else str(live.peak_at))
        if live.count_at is not None:
            b.add("hset", skey, VIEWERS_COUNT, str(live.count))
            b.add("hset", skey, VIEWERS_COUNT_AT, str(live.count_at))
        b.add("hset", skey, VIEWERS_NOW, str(live.viewers_now))
        b.add("zadd", keys.top_viewers(shard), sid, str(live.viewers_now))
    touched = sorted(delta.touched_sessions)
    if touched:
        b.add("sadd", keys.sessions(shard), touched)
    minute_keys = _add_buckets(b, delta.minutes, lambda m: keys.minute(shard, m))
    for minute, key in minute_keys.items():
        b.add("expireat", key, str(minute // 1000 + retention.minute_s))
    quarter_keys = _add_buckets(b, delta.quarters, lambda q: keys.quarter(shard, q))
    for quarter, key in quarter_keys.items():
        b.add("expireat", key, str(quarter // 1000 + retention.quarter_s))
    day_keys = _add_buckets(b, delta.days, lambda d: keys.day(shard, d))
    for day, key in day_keys.items():
        b.add("expireat", key, str(_day_expiry(day, retention)))
    for pid, n in delta.product_units.items():
        if n:
            b.add("zincr", keys.product_units(shard), pid, str(n))
    for pid, n in delta.product_gmv.items():
        if n:
            b.add("zincr", keys.product_gmv(shard), pid, str(n))
    for sid, viewer_ids in delta.viewers.items():
        ids = sorted(viewer_ids)
        b.add("pfadd", keys.session_viewers(shard, sid), ids)
        b.add("pfadd", keys.viewers(shard), ids)
    for (sid, oid), state in delta.orders.items():
        b.add("hset", keys.orders(shard), json.dumps([sid, oid]), json.dumps(state.to_list()))
    if delta.forgotten_orders:
        b.add("hdel", keys.orders(shard), [json.dumps(list(key)) for key in delta.forgotten_orders])
    for sid, active in delta.order_activity.items():
        b.add("hset", keys.order_activity(shard), sid, str(active))
    for sid, forgotten in delta.orders_forgotten.items():
        b.add("hset", keys.orders_forgotten(shard), sid, str(forgotten))
    _add_seen(b, delta, keys)
    for topic, mark in delta.watermarks.items():
        b.add("hset", keys.watermarks(shard), topic, str(mark))
    payload: dict[str, Any] = {**b.ops, "types": b.types, "hll": b.hll}
    # msgspec encodes the batch several times faster than json.dumps, the hottest call
    # of the write path in the profiles (bench/results).
    return b.keys, [_encode(payload), *b.blobs]


def _add_seen(b: _Batch, delta: ShardDelta, keys: Keys) -> None:
    """Append accepted fingerprints to their minute's string; drop forgotten minutes.

    One APPEND of 8 bytes per id per minute and batch (a sorted set of id strings took
    one member and ~100 bytes per id). The bytes travel as extra script arguments, since
    the JSON batch cannot carry binary.
    """
    shard = delta.shard
    by_minute: dict[int, list[int]] = {}
    for fingerprint, ts in delta.seen:
        by_minute.setdefault(minute_of(ts), []).append(fingerprint)
    for minute, ids in by_minute.items():
        b.blobs.append(pack_ids(ids))
        b.add("append", keys.seen(shard, minute), len(b.blobs) + 1)
    if by_minute:
        b.add("sadd", keys.seen_minutes(shard), [str(m) for m in by_minute])
    for minute in delta.forgotten_minutes:
        b.add("del", keys.seen(shard, minute))
    if delta.forgotten_minutes:
        b.add("srem", keys.seen_minutes(shard), [str(m) for m in delta.forgotten_minutes])


def _text(offset: int | None) -> str:
    return "" if offset is None else str(offset)


def _add_buckets(
    b: _Batch, buckets: Mapping[tuple[B, str | None], Counter[str]], key_of: Callable[[B], str]
) -> dict[B, str]:
    """Increments of time-bucket hashes (fair fields and ``<session>|<field>`` fields)."""
    bucket_keys: dict[B, str] = {}
    for (bucket, owner), counter in buckets.items():
        key = bucket_keys.setdefault(bucket, key_of(bucket))
        for name, n in counter.items():
            if n:
                field = name if owner is None else session_field(owner, name)
                b.add("hincr", key, field, str(n))
    return bucket_keys


def _day_expiry(day: str, retention: Retention) -> int:
    start = datetime.combine(date.fromisoformat(day), time(), tzinfo=FAIR_TZ)
    return int(start.timestamp()) + 86400 + retention.day_s


class ShardStore:
    """Loads shard states from Redis and applies shard deltas to it.

    Usage::

        store = ShardStore(redis, keys=Keys("ocop"))
        state = await store.load(3)
        outcome = await store.apply([delta])   # outcome.ok when everything applied
    """

    def __init__(self, redis: RedisClient, *, keys: Keys,
                 retention: Retention | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.retention = retention or Retention()

    async def load(self, shard: int) -> ShardState:
        """Rebuild a shard's in-memory state from what Redis recorded.

        Raises :class:`ShardUnreadable` when a key has another type or content than the
        layout says, or when a failed apply marked the shard stopped.
        """
        try:
            return await self._load(shard)
        except ResponseError as exc:
            if isinstance(exc, _TRANSIENT):
                raise
            raise ShardUnreadable(shard, f"Redis refused to read the shard's keys: {exc}") \
                from exc
        except ValueError as exc:
            raise ShardUnreadable(shard, f"a shard key holds an unexpected value: {exc}") \
                from exc

    async def _load(self, shard: int) -> ShardState:
        k = self.keys
        # Scripts, so each part is read at one instant (an apply lands wholly before or
        # after it), and every part carries the offsets: the same offsets in every part
        # is the same shard (an apply moves them with everything else it writes).
        # Scripts rather than MULTI: redis-py's cluster transactions fail on HGETALL and
        # SMEMBERS replies (8.1: their reply callbacks are handed `keys`).
        read = cast(Callable[..., Awaitable[list[Any]]], self.redis.eval)
        (stopped, offsets, marks, seen_minutes, orders, activity, forgotten,
         sessions) = await read(
            _LOAD, 8, k.stopped(shard), k.offsets(shard), k.watermarks(shard),
            k.seen_minutes(shard), k.orders(shard), k.order_activity(shard),
            k.orders_forgotten(shard), k.sessions(shard), STOPPED_ERROR)
        offsets, marks, orders, activity, forgotten = (
            _pairs(flat) for flat in (offsets, marks, orders, activity, forgotten))

        def same_shard(seen: Mapping[str, str]) -> None:
            if seen != offsets:
                raise ShardChangedWhileRead(shard, offsets, seen)

        if stopped is not None:
            raise ShardUnreadable(shard, f"a failed apply marked it stopped ({stopped}); "
                                         "rebuild Redis (`ocop-live rebuild`) to clear it")
        state = ShardState(shard=shard)
        state.offsets = {topic: int(v) for topic, v in offsets.items()}
        state.watermarks = {topic: int(v) for topic, v in marks.items()}
        minutes = sorted(int(m) for m in seen_minutes)
        for minute, blob in zip(minutes, await self._seen_ids(shard, minutes, same_shard),
                                strict=True):
            if blob:
                state.seen.add_packed(minute, blob)
        for raw_key, raw_state in orders.items():
            sid, oid = json.loads(raw_key)
            state.orders[sid, oid] = OrderState.from_list(json.loads(raw_state))
            state.order_sessions.add(sid)
        state.order_activity = {sid: int(ms) for sid, ms in activity.items()}
        state.orders_forgotten = {sid: int(ms) for sid, ms in forgotten.items()}
        sids = sorted(sessions)
        if sids:
            first, *rows = await read(_LIVE, 1 + len(sids), k.offsets(shard),
                                      *[k.session(shard, sid) for sid in sids],
                                      *LIVE_FIELDS, LAST_AT)
            same_shard(_pairs(first))
            for sid, (net, peak, peak_at, count, count_at, last) in zip(sids, rows, strict=True):
                if net is not None or peak is not None:
                    state.sessions[sid] = SessionLive(
                        net=int(net or 0),
                        peak=int(peak or 0),
                        peak_at=int(peak_at) if peak_at else None,
                        count=int(count or 0),
                        count_at=int(count_at) if count_at else None,
                    )
                if last:
                    state.last_at[sid] = int(last)
        return state

    async def _seen_ids(self, shard: int, minutes: list[int],
                        same_shard: Callable[[Mapping[str, str]], None]) -> list[bytes | None]:
        # Binary, so read without the client's response decoding; in slices, since an
        # hour of a busy shard is tens of megabytes.
        run = cast(Callable[..., Awaitable[list[Any]]], self.redis.execute_command)
        found: list[bytes | None] = []
        for start in range(0, len(minutes), 10):
            keys = [self.keys.seen(shard, m) for m in minutes[start:start + 10]]
            offsets, blobs = await run("EVAL", _SEEN, 1 + len(keys), self.keys.offsets(shard),
                                       *keys, **{NEVER_DECODE: True})
            same_shard(_text_pairs(offsets))
            found += blobs
        return found

    async def recorded_offsets(
        self, partitions: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], int | ShardUnreadable | None]:
        """The last offset Redis records as applied for each (topic, partition), or why a
        shard's offsets cannot be read."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic, partition in partitions:
                pipe.hget(self.keys.offsets(partition), topic)
            values = await pipe.execute(raise_on_error=False)
        out: dict[tuple[str, int], int | ShardUnreadable | None] = {}
        for (topic, partition), value in zip(partitions, values, strict=True):
            if _unanswered(value):
                raise cast(Exception, value)
            if isinstance(value, ResponseError):
                out[topic, partition] = ShardUnreadable(partition, f"its offsets: {value}")
            elif value is None or str(value).isdecimal():
                out[topic, partition] = None if value is None else int(value)
            else:
                out[topic, partition] = ShardUnreadable(
                    partition, f"its offset of {topic} is {str(value)[:40]!r}, not a number")
        return out

    async def apply(self, deltas: Sequence[ShardDelta]) -> ApplyOutcome:
        """Apply every delta in one round trip; say which the fence refused or Redis failed.

        A reply that means nothing ran (the script cache was flushed, a replica answered)
        is raised for the caller to retry; any other error reply fails only its shard.
        """
        outcome = ApplyOutcome()
        todo = [d for d in deltas if d.first_offsets]
        if not todo:
            return outcome
        results = await self._run(todo)
        # A restarted or newly promoted Redis has an empty script cache, and a shard that
        # answered NOSCRIPT ran nothing: load the script (on every master of a cluster)
        # and run just those shards again.
        missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if missing:
            await self.redis.script_load(_SCRIPT)
            again = await self._run([todo[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        for result in results:
            if _unanswered(result):
                raise cast(Exception, result)
        rejected = outcome.rejected
        for delta, result in zip(todo, results, strict=True):
            if isinstance(result, ResponseError):
                text = str(result)
                outcome.failed.append(ApplyFailed(delta.shard, text,
                                                  partial=text.startswith("OCOP_PARTIAL")))
            elif int(result[0]) == 0:
                stored = str(result[2])
                rejected.append(
                    FenceRejected(delta.shard, str(result[1]), int(stored) if stored else None)
                )
        return outcome

    async def _run(self, deltas: Sequence[ShardDelta]) -> list[Any]:
        """Each delta's script reply (or error) in one pipeline. A pipeline rather than a
        transaction: each shard's batch is atomic in its script, and on a cluster the
        shards' slots sit on different masters."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for delta in deltas:
                script_keys, args = encode_batch(delta, self.keys, self.retention)
                # execute_command, not pipe.evalsha: redis-py's cluster pipeline refuses
                # the evalsha method outright, not knowing every key shares one slot.
                pipe.execute_command("EVALSHA", _SCRIPT_SHA, len(script_keys), *script_keys,
                                     *args)
            return list(await pipe.execute(raise_on_error=False))
