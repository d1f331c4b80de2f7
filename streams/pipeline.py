"""One batch through the write path, in the order that makes it crash-safe."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from redis.exceptions import RedisError

from common import metrics
from common.clock import Clock, wall_ms
from counting.aggregate import Aggregator, Record
from counting.delta import DeadLetter, ShardDelta
from counting.state import ShardState
from streams.shardstore import FenceRejected, ShardStore

log = logging.getLogger(__name__)
T = TypeVar("T")

class LetterSink(Protocol):
    """Where dead letters go (the dead-letter topic in production)."""

    async def send(self, letters: Sequence[DeadLetter]) -> None: ...


class BatchProcessor:
    """Applies batches of records to the store, exactly once per offset.

    Usage::

        processor = BatchProcessor(aggregator=agg, store=store, sink=sink)
        await processor.process(records)      # records of any partitions, in order
        processor.forget([3])                 # partition 3 was revoked
    """

    def __init__(
        self,
        *,
        aggregator: Aggregator,
        store: ShardStore,
        sink: LetterSink,
        clock: Clock = wall_ms,
        retry_max_s: float = 5.0,
    ) -> None:
        self.aggregator = aggregator
        self.store = store
        self.sink = sink
        self.clock = clock
        self.retry_max_s = retry_max_s
        self._states: dict[int, ShardState] = {}
        self._seeks: dict[tuple[str, int], int] = {}
        self._rewinding: dict[tuple[str, int], int] = {}

    def forget(self, shards: Iterable[int]) -> None:
        """Drop cached state of shards this worker no longer owns."""
        for shard in shards:
            self._states.pop(shard, None)

    async def resume_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[
        tuple[str, int], int
    ]:
        """Where each (topic, partition) must be read from: just after what Redis holds."""
        parts = list(partitions)
        self.forget({partition for _, partition in parts})
        recorded = await self._retry(
            lambda: self.store.recorded_offsets(parts), "read recorded offsets"
        )
        return {tp: 0 if (last := recorded[tp]) is None else last + 1 for tp in parts}

    def take_seeks(self) -> dict[tuple[str, int], int]:
        """Partitions to read again from an offset (Redis lost writes); clears the list."""
        seeks, self._seeks = self._seeks, {}
        return seeks

    async def process(self, records: Sequence[Record]) -> None:
        """Count ``records``; returns once Redis holds their effect and their offsets."""
        started = time.perf_counter()
        consumed = Counter(record.topic for record in records)
        by_shard: dict[int, list[Record]] = {}
        for record in self._skip_until_rewound(records):
            by_shard.setdefault(record.partition, []).append(record)
        while by_shard:
            now_ms = self.clock()
            deltas = [
                self.aggregator.batch(await self._state(shard), shard_records, now_ms=now_ms)
                for shard, shard_records in by_shard.items()
            ]
            # 1. Dead letters first, acknowledged by the broker: once the offsets below
            #    are recorded, these records are never looked at again.
            letters = [letter for delta in deltas for letter in delta.dead_letters]
            if letters:
                await self.sink.send(letters)
            # 2. Counters and offsets, one transaction per shard, one round trip in all.
            rejected = await self._apply(deltas)
            refused = {r.shard for r in rejected}
            self._count([d for d in deltas if d.shard not in refused], applied_at_ms=self.clock())
            metrics.FENCE_REJECTIONS.inc(len(rejected))
            # 3. A refused shard: reload what Redis holds, then redo what it lacks.
            by_shard = {
                shard: await self._after_refusal(shard, by_shard[shard]) for shard in refused
            }
            by_shard = {shard: recs for shard, recs in by_shard.items() if recs}
        for topic, n in consumed.items():
            metrics.EVENTS_CONSUMED.labels(topic).inc(n)
        metrics.BATCH_MESSAGES.observe(len(records))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    async def _after_refusal(self, shard: int, records: list[Record]) -> list[Record]:
        self._states.pop(shard, None)
        state = await self._state(shard)
        keep: set[str] = set()
        for topic in dict.fromkeys(r.topic for r in records):
            mine = [r for r in records if r.topic == topic]
            stored = state.offsets.get(topic)
            covered = -1 if stored is None else stored
            if covered >= mine[0].offset - 1:
                # Redis is ahead (a redelivery, or another worker applied it): the
                # aggregator skips what Redis covers and counts the rest.
                log.info("shard %d: Redis already holds %s up to offset %s; skipping that part",
                         shard, topic, stored)
                keep.add(topic)
                continue
            # Redis is behind what this worker applied: it lost writes (restarted from
            # an older AOF, or was wiped). Read the partition again from where it is.
            log.warning(
                "shard %d: Redis holds %s only up to offset %s but this worker applied up "
                "to %d: Redis lost writes; reading partition %d again from offset %d",
                shard, topic, stored, mine[0].offset - 1, shard, covered + 1,
            )
            self._seeks[topic, shard] = covered + 1
            self._rewinding[topic, shard] = mine[-1].offset
        return [r for r in records if r.topic in keep]

    def _skip_until_rewound(self, records: Sequence[Record]) -> list[Record]:
        # After a seek back, records fetched before the seek still arrive (ascending,
        # beyond the gap). The first record at or below the highest one seen is the
        # re-read stream; until then, drop: they come again after the gap is filled.
        if not self._rewinding:
            return list(records)
        kept = []
        for record in records:
            tp = (record.topic, record.partition)
            highest = self._rewinding.get(tp)
            if highest is None:
                kept.append(record)
            elif record.offset <= highest:
                del self._rewinding[tp]
                kept.append(record)
            else:
                self._rewinding[tp] = record.offset
        return kept

    async def _state(self, shard: int) -> ShardState:
        state = self._states.get(shard)
        if state is None:
            state = await self._retry(lambda: self.store.load(shard), f"load shard {shard}")
            self._states[shard] = state
        return state

    async def _apply(self, deltas: Sequence[ShardDelta]) -> list[FenceRejected]:
        async def timed() -> list[FenceRejected]:
            started = time.perf_counter()
            rejected = await self.store.apply(deltas)
            metrics.REDIS_ROUNDTRIP.observe(time.perf_counter() - started)
            return rejected

        return await self._retry(timed, "apply batch")

    async def _retry(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        # The shard state already advanced for these deltas, so the only way forward is
        # to apply them: retry until Redis answers. The fence makes a retry of a batch
        # that did land (reply lost) harmless.
        delay = 0.05
        while True:
            try:
                return await call()
            except (RedisError, OSError) as exc:
                metrics.REDIS_ERRORS.labels("worker").inc()
                log.error(
                    "Redis call failed (%s: %s) while trying to %s; retrying in %.2f s. "
                    "Check that Redis at OCOP_REDIS_URL is up.",
                    type(exc).__name__, exc, what, delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)

    @staticmethod
    def _count(deltas: Sequence[ShardDelta], *, applied_at_ms: int) -> None:
        applied: Counter[str] = Counter()
        for d in deltas:
            applied.update(d.accepted)
        for topic, n in applied.items():
            metrics.EVENTS_APPLIED.labels(topic).inc(n)
        metrics.DUPLICATES.inc(sum(d.duplicates for d in deltas))
        metrics.LATE_EVENTS.inc(sum(d.late for d in deltas))
        metrics.REDELIVERED.inc(sum(d.redelivered for d in deltas))
        reasons = Counter(letter.rejected.reason.value for d in deltas for letter in d.dead_letters)
        for reason, n in reasons.items():
            metrics.DEAD_LETTERS.labels(reason).inc(n)
        newest = max((t for d in deltas if (t := d.newest_ts_ms) is not None), default=None)
        if newest is not None:
            metrics.FRESHNESS_APPLIED.observe(max(0.0, (applied_at_ms - newest) / 1000))
        metrics.LAST_APPLIED.set(applied_at_ms / 1000)
