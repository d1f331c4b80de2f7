"""A realistic fair counted into Redis through the real write path, without Kafka.

The screenshots and the browser tests need believable numbers on the board: this feeds
simulated Kafka messages through the same ``Aggregator`` and ``ShardStore`` a worker
uses, shard by shard, so every counter, leaderboard, minute bucket and watermark is the
one a live fair would leave.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from common.catalog import SAMPLE_CATALOG, Catalog, encode_fair, encode_session, load_catalog
from counting.aggregate import Aggregator, Record
from counting.partitioner import partition_for
from counting.state import ShardState
from devtools.simulator.fair import Fair, FairConfig, Message, generate
from store.catalog import CatalogStore
from store.client import RedisClient
from store.keys import Keys
from streams.shardstore import ShardStore

SAMPLE_SEED = 20231125
_MINUTE_MS = 60_000


def sample_fair(*, now_ms: int, minutes: int = 55, events: int = 40_000,
                seed: int = SAMPLE_SEED) -> Fair:
    """The sample catalog's sessions live over the last ``minutes`` before ``now_ms``."""
    span = minutes * _MINUTE_MS
    return generate(load_catalog(SAMPLE_CATALOG),
                    FairConfig(start_ms=now_ms - span, span_ms=span, events=events, seed=seed))


class SampleFeed:
    """Counts messages into Redis as a worker would (one shard per session, in order).

    Usage::

        feed = SampleFeed(redis, keys=Keys("demo"), shards=6)
        await feed.load_catalog(fair.catalog)
        await feed.apply(fair.messages, now_ms=now_ms)
    """

    def __init__(self, redis: RedisClient, *, keys: Keys, shards: int, batch: int = 2000) -> None:
        self.redis = redis
        self.keys = keys
        self.shards = shards
        self.batch = batch
        self._store = ShardStore(redis, keys=keys)
        # With the partition count, the sample goes through the same placement check as a
        # worker's records.
        self._aggregator = Aggregator(topics={"views": "views", "orders": "orders"},
                                      partitions=shards)
        self._states: dict[int, ShardState] = {}
        self._offsets: Counter[tuple[str, int]] = Counter()

    def shard_of(self, session_id: str) -> int:
        """The shard a session's events are counted in: its partition under Kafka's default."""
        return partition_for(session_id.encode(), self.shards)

    async def load_catalog(self, catalog: Catalog) -> None:
        """Store every fair and session, as the worker's catalog agent does."""
        await CatalogStore(self.redis, keys=self.keys).apply(
            {s.session_id: encode_session(s).decode() for s in catalog.sessions},
            fairs={f.fair_id: encode_fair(f).decode() for f in catalog.fairs},
        )

    async def apply(self, messages: Sequence[Message], *, now_ms: int) -> None:
        """Count ``messages`` (in delivery order), one Redis transaction per shard batch."""
        per_shard: defaultdict[int, list[Record]] = defaultdict(list)
        for message in messages:
            shard = self.shard_of(message.key)
            place = (message.topic_kind, shard)
            per_shard[shard].append(Record(message.topic_kind, shard, self._offsets[place],
                                           message.key.encode(), message.value))
            self._offsets[place] += 1
        for shard, records in sorted(per_shard.items()):
            state = self._states.get(shard)
            if state is None:
                state = self._states[shard] = await self._store.load(shard)
            for start in range(0, len(records), self.batch):
                chunk = records[start:start + self.batch]
                delta = self._aggregator.batch(state, chunk, now_ms=now_ms)
                outcome = await self._store.apply([delta])
                if not outcome.ok:
                    raise RuntimeError(f"Redis refused a sample batch: {outcome}; use a fresh "
                                       "key prefix")
