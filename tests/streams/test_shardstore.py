"""The store on the real Redis: atomic apply, the offset fence, state round trip."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from common.settings import Settings
from counting.aggregate import Aggregator, Record, Rules
from counting.state import ShardState
from store.keys import Keys
from store.windows import quarter_of
from streams.shardstore import (
    FenceRejected,
    Retention,
    ShardChangedWhileRead,
    ShardStore,
    ShardUnreadable,
)

pytestmark = pytest.mark.integration

NOW = 1_795_748_400_000


def _view(i: int, sid: str = "s1", kind: str = "join") -> bytes:
    return json.dumps({"event_id": f"v{i}", "session_id": sid, "viewer_id": f"u{i % 4}",
                       "kind": kind, "ts": NOW - 1000 * i}).encode()


def _order(eid: str, oid: str, status: str, amount: int = 100_000) -> dict[str, Any]:
    return {"event_id": eid, "order_id": oid, "session_id": "s1", "product_id": "p1",
            "quantity": 2, "amount_vnd": amount, "status": status, "ts": NOW - 5000}


@pytest.fixture
async def redis(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[Redis, Keys]]:
    settings = make_settings()
    client = Redis.from_url(settings.redis_url, decode_responses=True)
    yield client, Keys(settings.key_prefix)
    await client.aclose()


AGG = Aggregator(topics={"v": "views", "o": "orders"})


def _records() -> list[Record]:
    views = [Record("v", 0, i, b"s1", _view(i)) for i in range(6)]
    envelope = json.dumps([_order("o1", "A", "placed"), _order("o2", "A", "paid"),
                           _order("o3", "B", "placed", 40_000),
                           _order("o4", "B", "cancelled", 40_000)]).encode()
    return [*views, Record("v", 0, 6, b"s1", _view(0)), Record("o", 0, 0, b"s1", envelope)]


async def test_apply_writes_counters_and_offsets_once(redis: tuple[Redis, Keys]) -> None:
    client, keys = redis
    store = ShardStore(client, keys=keys)
    delta = AGG.batch(ShardState(shard=0), _records(), now_ms=NOW)
    assert (await store.apply([delta])).ok
    totals = await client.hgetall(keys.totals(0))
    assert totals == {"views": "6", "viewers_now": "6", "orders": "1", "units": "2",
                      "gmv_vnd": "100000"}
    assert await client.hgetall(keys.offsets(0)) == {"v": "6", "o": "0"}
    assert await client.pfcount(keys.session_viewers(0, "s1")) == 4
    # The same batch again (a redelivery, or a retry whose reply was lost) is refused
    # whole and changes nothing.
    assert (await store.apply([delta])).rejected == [FenceRejected(0, "v", 6)]
    assert await client.hgetall(keys.totals(0)) == totals


async def test_a_redis_that_lost_its_script_cache_is_given_the_script_again(
    redis: tuple[Redis, Keys],
) -> None:
    client, keys = redis
    store = ShardStore(client, keys=keys)
    # A restarted Redis, or a replica promoted after a failover, knows no scripts.
    await client.script_flush()
    delta = AGG.batch(ShardState(shard=0), _records(), now_ms=NOW)
    assert (await store.apply([delta])).ok
    assert (await client.hgetall(keys.totals(0)))["views"] == "6"


async def test_loaded_state_continues_exactly_where_it_stopped(redis: tuple[Redis, Keys]) -> None:
    client, keys = redis
    store = ShardStore(client, keys=keys)
    records = _records()
    live_state = ShardState(shard=0)
    await store.apply([AGG.batch(live_state, records[:4], now_ms=NOW)])
    loaded = await store.load(0)
    assert loaded.offsets == live_state.offsets
    assert loaded.sessions == live_state.sessions
    assert loaded.orders == live_state.orders
    assert len(loaded.seen) == len(live_state.seen)
    # Replaying everything from offset 0 onto the loaded state skips what Redis covers.
    delta = AGG.batch(loaded, records, now_ms=NOW)
    assert delta.redelivered == 4
    assert (await store.apply([delta])).ok
    assert (await client.hgetall(keys.totals(0)))["views"] == "6"


class _WriteAfterFirstScript:
    """A client on which ``write`` lands right after the first script call returns: a
    load whose later parts another node answers (a failover), or a stray writer."""

    def __init__(self, client: Redis, write: Callable[[], Awaitable[object]]) -> None:
        self.client = client
        self.write: Callable[[], Awaitable[object]] | None = write

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def eval(self, *args: Any) -> Any:
        result = await self.client.eval(*args)
        if self.write is not None:
            write, self.write = self.write, None
            await write()
        return result


async def test_a_load_whose_parts_saw_different_offsets_is_read_again(
    redis: tuple[Redis, Keys],
) -> None:
    client, keys = redis
    store = ShardStore(client, keys=keys)
    records = _records()
    live_state = ShardState(shard=0)
    await store.apply([AGG.batch(live_state, records[:4], now_ms=NOW)])
    later = AGG.batch(live_state, records[4:], now_ms=NOW)
    mixed = ShardStore(cast(Redis, _WriteAfterFirstScript(client, lambda: store.apply([later]))),
                       keys=keys)
    # Offsets from before the write and remembered ids from after it would take the
    # records in between for duplicates: refused, and the next load is whole.
    with pytest.raises(ShardChangedWhileRead, match="shard 0 changed while it was read"):
        await mixed.load(0)
    loaded = await mixed.load(0)
    assert loaded.offsets == live_state.offsets
    assert len(loaded.seen) == len(live_state.seen)
    assert (await client.hgetall(keys.totals(0)))["views"] == "6"


def _count(i: int, viewers: int, ts: int, sid: str = "s2") -> bytes:
    return json.dumps({"event_id": f"c{i}", "session_id": sid, "kind": "viewers",
                       "viewers": viewers, "ts": ts}).encode()


async def test_a_restarted_worker_continues_a_counted_session_exactly(
    redis: tuple[Redis, Keys],
) -> None:
    client, keys = redis
    store = ShardStore(client, keys=keys)
    join = json.dumps({"event_id": "j1", "session_id": "s2", "viewer_id": "u1",
                       "kind": "join", "ts": NOW - 9000}).encode()
    records = [Record("v", 0, 0, b"s2", join), Record("v", 0, 1, b"s2", _count(1, 40, NOW - 5000)),
               Record("v", 0, 2, b"s2", _count(2, 90, NOW - 4000)),
               # Later in the stream but earlier by event time: neither now nor the peak.
               Record("v", 0, 3, b"s2", _count(3, 10, NOW - 6000)),
               Record("v", 0, 4, b"s2", _count(4, 70, NOW - 1000)),
               Record("v", 0, 5, b"s2", _count(2, 90, NOW - 4000))]
    live_state = ShardState(shard=0)
    assert (await store.apply([AGG.batch(live_state, records[:3], now_ms=NOW)])).ok
    loaded = await store.load(0)
    assert loaded.sessions == live_state.sessions
    assert (await store.apply([AGG.batch(loaded, records, now_ms=NOW)])).ok
    session = await client.hgetall(keys.session(0, "s2"))
    assert (session["viewers_now"], session["peak"], session["peak_at"]) == (
        "70", "90", str(NOW - 4000))
    assert (session["viewers_count"], session["viewers_count_at"]) == ("70", str(NOW - 1000))
    assert session["views"] == "1"
    assert (await client.hgetall(keys.totals(0)))["viewers_now"] == "70"
    assert await client.zscore(keys.top_viewers(0), "s2") == 70


async def test_a_zombie_batch_is_fenced_off(redis: tuple[Redis, Keys]) -> None:
    client, keys = redis
    store = ShardStore(client, keys=keys)
    records = _records()
    zombie = ShardState(shard=0)
    await store.apply([AGG.batch(zombie, records[:3], now_ms=NOW)])
    # The partition moves: the new owner loads what Redis holds and applies 3..5.
    owner = await store.load(0)
    await store.apply([AGG.batch(owner, records[3:6], now_ms=NOW)])
    # The old owner wakes from a long pause and applies 3..5 too: refused whole.
    stale = AGG.batch(zombie, records[3:6], now_ms=NOW)
    assert (await store.apply([stale])).rejected == [FenceRejected(0, "v", 5)]
    assert (await client.hgetall(keys.totals(0)))["views"] == "6"


def _view_at(eid: str, ts: int) -> bytes:
    return json.dumps({"event_id": eid, "session_id": "s1", "viewer_id": "u1",
                       "kind": "join", "ts": ts}).encode()


async def test_remembered_ids_are_kept_per_minute_and_dropped_past_the_horizon(
    redis: tuple[Redis, Keys],
) -> None:
    client, keys = redis
    store = ShardStore(client, keys=keys)
    old, new = NOW - 3 * 3_600_000, NOW - 60_000
    old_minute, new_minute = old - old % 60_000, new - new % 60_000
    state = ShardState(shard=0)
    await store.apply([AGG.batch(state, [Record("v", 0, 0, b"s1", _view_at("a", old)),
                                         Record("v", 0, 1, b"s1", _view_at("b", old + 1))],
                                 now_ms=NOW)])
    assert await client.strlen(keys.seen(0, old_minute)) == 16  # two 8-byte fingerprints
    assert await client.smembers(keys.seen_minutes(0)) == {str(old_minute)}
    # Two hours later in stream time the old minute is past the lateness horizon (1 h).
    delta = AGG.batch(state, [Record("v", 0, 2, b"s1", _view_at("c", new))], now_ms=NOW)
    assert delta.forgotten_minutes == [old_minute]
    await store.apply([delta])
    assert await client.exists(keys.seen(0, old_minute)) == 0
    assert await client.smembers(keys.seen_minutes(0)) == {str(new_minute)}
    # Another process picks the shard up: it knows "c", so a re-sent "c" is a duplicate.
    loaded = await store.load(0)
    assert len(loaded.seen) == 1
    resent = AGG.batch(loaded, [Record("v", 0, 3, b"s1", _view_at("c", new))], now_ms=NOW)
    assert resent.duplicates == 1


async def test_a_batch_that_skips_offsets_is_refused_unless_the_gap_was_explained(
    redis: tuple[Redis, Keys],
) -> None:
    client, keys = redis
    store = ShardStore(client, keys=keys)
    views = [Record("v", 0, i, b"s1", _view(i)) for i in range(8)]
    state = ShardState(shard=0)
    assert (await store.apply([AGG.batch(state, views[:3], now_ms=NOW)])).ok
    gap = AGG.batch(state, views[5:], now_ms=NOW)   # 3 and 4 never seen
    assert (await store.apply([gap])).rejected == [FenceRejected(0, "v", 2)]
    assert (await client.hgetall(keys.totals(0)))["views"] == "3"
    gap.explained_gaps = {"v"}
    assert (await store.apply([gap])).ok
    assert await client.hget(keys.offsets(0), "v") == "7"


async def test_a_counter_that_would_leave_the_exact_range_fails_before_any_write(
    redis: tuple[Redis, Keys],
) -> None:
    client, keys = redis
    store = ShardStore(client, keys=keys)
    await client.hset(keys.session(0, "s1"), "views", str(2**53))
    outcome = await store.apply([AGG.batch(ShardState(shard=0), _records(), now_ms=NOW)])
    (failed,) = outcome.failed
    assert (failed.shard, failed.partial) == (0, False)
    assert "exact integer range" in failed.detail
    assert await client.exists(keys.totals(0), keys.offsets(0)) == 0


async def test_a_write_that_fails_midway_marks_the_shard_stopped_for_good(
    redis: tuple[Redis, Keys],
) -> None:
    client, keys = redis
    store = ShardStore(client, keys=keys)
    # Passes the type checks (a string that starts like a HyperLogLog) but PFADD fails
    # after the counters were written: Redis keeps those writes.
    await client.set(keys.session_viewers(0, "s1"), "HYLL-not-really")
    outcome = await store.apply([AGG.batch(ShardState(shard=0), _records(), now_ms=NOW)])
    (failed,) = outcome.failed
    assert failed.partial
    assert await client.exists(keys.stopped(0)) == 1
    assert await client.exists(keys.offsets(0)) == 0
    with pytest.raises(ShardUnreadable, match="marked it stopped"):
        await store.load(0)
    # Whatever tries next, nothing is applied twice.
    again = await store.apply([AGG.batch(ShardState(shard=0), _records(), now_ms=NOW)])
    assert "OCOP_STOPPED" in again.failed[0].detail


async def test_orders_past_the_horizon_leave_redis_and_stay_refused(
        redis: tuple[Redis, Keys]) -> None:
    client, keys = redis
    hour = 3_600_000
    agg = Aggregator(topics={"o": "orders"},
                     rules=Rules(max_lateness_ms=hour, order_horizon_ms=2 * hour))

    def order(eid: str, sid: str, oid: str, status: str, ts: int) -> Record:
        value = json.dumps({**_order(eid, oid, status), "session_id": sid, "ts": ts}).encode()
        return Record("o", 0, int(eid[1:]), sid.encode(), value, ts)

    store = ShardStore(client, keys=keys)
    placed = order("o0", "s1", "A", "placed", NOW)
    assert (await store.apply([agg.batch(ShardState(shard=0), [placed], now_ms=0)])).ok
    assert await client.hlen(keys.orders(0)) == 1
    # Another session moves the orders' stream time past s1's activity + horizon + lateness.
    later = NOW + 3 * hour + 1
    state = await store.load(0)
    assert state.last_at == {"s1": NOW} and state.order_activity == {"s1": NOW}
    mover = order("o1", "s2", "B", "placed", later)
    assert (await store.apply([agg.batch(state, [mover], now_ms=0)])).ok
    assert json.loads(next(iter(await client.hkeys(keys.orders(0))))) == ["s2", "B"]
    # A fresh worker knows s1's orders were forgotten, and still refuses a late refund.
    loaded = await store.load(0)
    assert loaded.orders_forgotten == {"s1": NOW}
    assert set(loaded.orders) == {("s2", "B")}
    refund = agg.batch(loaded, [order("o2", "s1", "A", "refunded", later)], now_ms=0)
    assert [d.rejected.reason.value for d in refund.dead_letters] == ["order_horizon"]
    assert (await store.apply([refund])).ok
    assert await client.hget(keys.session(0, "s1"), "gmv_vnd") == "100000"


async def test_quarter_hours_are_kept_for_the_campaign(redis: tuple[Redis, Keys]) -> None:
    client, keys = redis
    store = ShardStore(client, keys=keys, retention=Retention(quarter_s=200 * 86400))
    assert (await store.apply([AGG.batch(ShardState(shard=0), _records(), now_ms=NOW)])).ok
    quarter = quarter_of(NOW - 5000)
    assert await client.hgetall(keys.quarter(0, quarter)) == {
        "orders": "1", "units": "2", "gmv_vnd": "100000", "s1|orders": "1", "s1|units": "2",
        "s1|gmv_vnd": "100000", **await _views_by_quarter(client, keys, quarter)}
    expiry = await client.expiretime(keys.quarter(0, quarter))
    assert expiry == quarter // 1000 + 200 * 86400


async def _views_by_quarter(client: Redis, keys: Keys, quarter: int) -> dict[str, str]:
    # The six views of _records() fall in the quarter of their own ts (NOW - i seconds).
    n = sum(1 for i in range(6) if quarter_of(NOW - 1000 * i) == quarter)
    return {"views": str(n), "s1|views": str(n)} if n else {}
