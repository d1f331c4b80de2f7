"""Read the bench Redis from outside the worker: applied offsets, lag, command counters.

The probe counts its own commands so they can be taken out of the server's totals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from store.keys import Keys
from store.windows import MINUTE_MS, minute_of


@dataclass(frozen=True, slots=True)
class HeldState:
    """What Redis holds of the state that has a horizon, summed over shards."""

    order_states: int
    dedup_bytes: int
    minute_buckets: int


@dataclass(frozen=True, slots=True)
class CommandCounters:
    """Redis' command counters at one moment (scripts' inner commands included)."""

    total: int
    evalsha: int
    by_command: dict[str, int]

    def minus(self, earlier: CommandCounters) -> CommandCounters:
        """What was executed between ``earlier`` and this reading."""
        return CommandCounters(
            total=self.total - earlier.total,
            evalsha=self.evalsha - earlier.evalsha,
            by_command={
                name: n - earlier.by_command.get(name, 0)
                for name, n in self.by_command.items()
                if n != earlier.by_command.get(name, 0)
            },
        )


class RedisProbe:
    """A Redis client for the harness.

    Usage::

        probe = RedisProbe(redis_url)
        applied = await probe.applied(keys, [("b1.views", 6), ("b1.orders", 6)])
        await probe.close()
    """

    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(url, decode_responses=True)
        self.own_commands = 0

    async def close(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()

    async def applied(self, keys: Keys, topics: Iterable[tuple[str, int]]) -> int:
        """Messages Redis records as applied: the sum of (offset + 1) over partitions."""
        pairs = [(topic, p) for topic, partitions in topics for p in range(partitions)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic, partition in pairs:
                pipe.hget(keys.offsets(partition), topic)
            values = await pipe.execute()
        self.own_commands += len(pairs)
        return sum(int(v) + 1 for v in values if v is not None)

    async def watermarks(self, keys: Keys, topic: str, partitions: int) -> dict[int, int]:
        """Newest applied event time (epoch ms) per partition of ``topic`` that has one."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition in range(partitions):
                pipe.hget(keys.watermarks(partition), topic)
            values = await pipe.execute()
        self.own_commands += partitions
        return {p: int(v) for p, v in enumerate(values) if v is not None}

    async def counters(self) -> CommandCounters:
        """``INFO stats`` and ``INFO commandstats`` now."""
        stats = await self.redis.info("stats")
        commands = await self.redis.info("commandstats")
        self.own_commands += 2
        by_command = {
            name.removeprefix("cmdstat_"): int(entry["calls"])
            for name, entry in commands.items()
            if isinstance(entry, dict)
        }
        return CommandCounters(
            total=int(stats["total_commands_processed"]),
            evalsha=by_command.get("evalsha", 0) + by_command.get("eval", 0),
            by_command=by_command,
        )

    async def used_memory(self) -> int:
        """Bytes Redis holds for data."""
        info = await self.redis.info("memory")
        self.own_commands += 1
        return int(info["used_memory"])

    async def held_state(self, keys: Keys, partitions: int, since_ms: int,
                         until_ms: int) -> HeldState:
        """Order states (``HLEN`` of each shard's orders hash), dedup fingerprint bytes
        (``STRLEN`` of each minute in its ``seen-minutes`` set) and minute buckets alive
        among the minutes from ``since_ms`` to ``until_ms``."""
        shards = range(partitions)
        minutes = range(minute_of(since_ms), until_ms + 1, MINUTE_MS)
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in shards:
                pipe.hlen(keys.orders(shard))
                pipe.smembers(keys.seen_minutes(shard))
            for shard in shards:
                for minute in minutes:
                    pipe.exists(keys.minute(shard, minute))
            first = await pipe.execute()
        orders = first[0:2 * partitions:2]
        seen = [(shard, sorted(first[2 * shard + 1])) for shard in shards]
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard, members in seen:
                for minute_text in members:
                    pipe.strlen(keys.seen(shard, int(minute_text)))
            lengths = await pipe.execute()
        self.own_commands += len(first) + len(lengths)
        return HeldState(order_states=sum(int(n) for n in orders),
                         dedup_bytes=sum(int(n) for n in lengths),
                         minute_buckets=sum(int(n) for n in first[2 * partitions:]))

    async def version(self) -> str:
        """redis-server's version."""
        info = await self.redis.info("server")
        self.own_commands += 1
        return str(info["redis_version"])

    async def flush(self) -> None:
        """Empty the bench's own Redis so each scenario starts from the same size."""
        await self.redis.flushall()
        self.own_commands += 1
