"""Unique viewers over HyperLogLogs of many shards, on one server or on a Redis Cluster.

``PFCOUNT a b c`` counts the union of several HyperLogLogs, but a cluster refuses it when
they sit in different hash slots (CROSSSLOT), and every shard has a slot of its own. On
a cluster the reader therefore copies the HyperLogLogs' bytes under one scratch slot and
counts there: the same registers merged by the same server code, so the number is the
one a single server gives for the same keys. The copies exist only while one script runs.

Usage::

    counts = await union_counts(redis, keys, [[hll_a, hll_b], [hll_c]])
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from redis.client import NEVER_DECODE

from store.client import RedisClient, is_cluster
from store.keys import Keys

# Copies a failing count leaves behind (the script deletes them otherwise) expire this soon.
SCRATCH_TTL_MS = 10_000
# KEYS: the copies; ARGV: their bytes, the copies' expiry, the groups as lists of KEYS
# indexes (JSON). Returns each group's PFCOUNT.
_COUNT = """
local n = #KEYS
for i = 1, n do redis.call('SET', KEYS[i], ARGV[i], 'PX', ARGV[n + 1]) end
local counts = {}
for g, members in ipairs(cjson.decode(ARGV[n + 2])) do
  local group = {}
  for _, i in ipairs(members) do group[#group + 1] = KEYS[i] end
  if #group > 0 then counts[g] = redis.call('PFCOUNT', unpack(group)) else counts[g] = 0 end
end
redis.call('DEL', unpack(KEYS))
return counts
"""


async def union_counts(redis: RedisClient, keys: Keys, groups: Sequence[Sequence[str]], *,
                       copy: bool | None = None) -> list[int]:
    """The ``PFCOUNT`` of each group of HyperLogLog keys (0 for a group of none).

    ``copy`` counts through scratch copies; by default exactly when ``redis`` is a
    cluster client.
    """
    if not groups:
        return []
    if not (is_cluster(redis) if copy is None else copy):
        async with redis.pipeline(transaction=False) as pipe:
            for group in groups:
                if group:
                    pipe.pfcount(*group)
            counted = iter(await pipe.execute())
        return [int(next(counted)) if group else 0 for group in groups]
    distinct = list(dict.fromkeys(key for group in groups for key in group))
    async with redis.pipeline(transaction=False) as pipe:
        for key in distinct:
            pipe.execute_command("GET", key, **{NEVER_DECODE: True})
        raw: list[bytes | None] = await pipe.execute()
    values = {key: value for key, value in zip(distinct, raw, strict=True) if value is not None}
    if not values:
        return [0 for _ in groups]
    base = keys.scratch(uuid.uuid4().hex)
    index = {key: i for i, key in enumerate(values, start=1)}
    members = [[index[key] for key in group if key in index] for group in groups]
    # One script: the copies are made, counted and deleted at one instant, so running it
    # again is harmless. (In a pipeline, redis-py's retry after a broken connection sends
    # again only the commands without a reply yet: counts after the deletes had run.)
    run = cast(Callable[..., Awaitable[list[int]]], redis.execute_command)
    counts = await run("EVAL", _COUNT, len(values), *[f"{base}:{i}" for i in index.values()],
                       *values.values(), SCRATCH_TTL_MS, json.dumps(members))
    return [int(n) for n in counts]
