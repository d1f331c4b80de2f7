"""Put numbers into Redis through the real write path (Aggregator + ShardStore, and the
catalog store), for web tests."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from common.catalog import SAMPLE_CATALOG, Catalog, encode_fair, encode_session, load_catalog
from common.settings import Settings
from counting.aggregate import Aggregator, Record, TopicKind
from store.catalog import CatalogStore
from store.keys import Keys
from streams.shardstore import ShardStore

VIEWS, ORDERS = "views", "orders"


def now_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return time.time_ns() // 1_000_000


def join(event_id: str, session: str, viewer: str, ts: int | None = None) -> dict[str, Any]:
    """A viewer joining a session."""
    return {"event_id": event_id, "session_id": session, "viewer_id": viewer, "kind": "join",
            "ts": now_ms() if ts is None else ts}


def order(event_id: str, session: str, amount: int, product: str = "p1",
          ts: int | None = None) -> dict[str, Any]:
    """A placed order of one unit."""
    return {"event_id": event_id, "order_id": event_id, "session_id": session,
            "product_id": product, "quantity": 1, "amount_vnd": amount, "status": "placed",
            "ts": now_ms() if ts is None else ts}


async def count(settings: Settings, redis: Redis, topic: str,
                events: Sequence[dict[str, Any]], *, shard: int = 0) -> None:
    """Count ``events`` (one message each) in ``shard`` as the worker would."""
    store = ShardStore(redis, keys=Keys(settings.key_prefix))
    state = await store.load(shard)
    first = state.offsets.get(topic, -1) + 1
    records = [Record(topic, shard, first + i, str(e["session_id"]).encode(),
                      json.dumps(e).encode()) for i, e in enumerate(events)]
    topics: dict[str, TopicKind] = {VIEWS: "views", ORDERS: "orders"}
    delta = Aggregator(topics=topics).batch(state, records, now_ms=now_ms())
    assert (await store.apply([delta])).ok


async def count_two_sessions(settings: Settings) -> None:
    """Two counted sessions, cp-2 ahead of cp-1 in revenue: two viewers and 50,000 ₫ in
    cp-1, one viewer and 90,000 ₫ in cp-2."""
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        await count(settings, redis, VIEWS, [join("v1", "cp-1", "u1"), join("v2", "cp-1", "u2"),
                                             join("v3", "cp-2", "u3")])
        await count(settings, redis, ORDERS, [order("o1", "cp-1", 50_000),
                                              order("o2", "cp-2", 90_000)])
    finally:
        await redis.aclose()


async def store_catalog(settings: Settings, redis: Redis, catalog: Catalog) -> list[str]:
    """Store ``catalog``'s fairs and sessions as the worker's catalog agent does; returns
    the session ids."""
    await CatalogStore(redis, keys=Keys(settings.key_prefix)).apply(
        {s.session_id: encode_session(s).decode() for s in catalog.sessions},
        fairs={f.fair_id: encode_fair(f).decode() for f in catalog.fairs})
    return [s.session_id for s in catalog.sessions]


async def load_sample_catalog(settings: Settings, redis: Redis) -> list[str]:
    """Store the sample catalog as the worker's catalog agent does; returns the ids."""
    return await store_catalog(settings, redis, load_catalog(SAMPLE_CATALOG))
