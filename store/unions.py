"""Unique viewers over HyperLogLogs of many shards, on one server or on a Redis Cluster.

``PFCOUNT a b c`` counts the union of several HyperLogLogs, but a cluster refuses it when
they sit in different hash slots (CROSSSLOT), and every shard has a slot of its own. On
a cluster the reader therefore copies the HyperLogLogs' bytes under one scratch slot and
counts there: the same registers merged by the same server code, so the number is the
one a single server gives for the same keys. The copies live for seconds at most.

Usage::

    counts = await union_counts(redis, keys, [[hll_a, hll_b], [hll_c]])
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from redis.client import NEVER_DECODE

from store.client import RedisClient, is_cluster
from store.keys import Keys

# A reader that dies between copying and deleting leaves copies that expire this soon.
SCRATCH_TTL_MS = 10_000


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
    base = keys.scratch(uuid.uuid4().hex)
    copies = {key: f"{base}:{i}"
              for i, (key, value) in enumerate(zip(distinct, raw, strict=True))
              if value is not None}
    async with redis.pipeline(transaction=False) as pipe:
        for key, value in zip(distinct, raw, strict=True):
            if value is not None:
                pipe.set(copies[key], value, px=SCRATCH_TTL_MS)
        present = [[copies[key] for key in group if key in copies] for group in groups]
        for group in present:
            if group:
                # execute_command: redis-py's cluster pipeline refuses its pfcount method
                # whatever the keys, and these all share the scratch slot.
                pipe.execute_command("PFCOUNT", *group)
        if copies:
            pipe.delete(*copies.values())
        replies = await pipe.execute()
    counted = iter(replies[len(copies):])
    return [int(next(counted)) if group else 0 for group in present]
