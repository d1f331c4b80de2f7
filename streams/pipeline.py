"""One batch through the write path, in the order that makes it crash-safe."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

from redis.exceptions import RedisError

from common import metrics
from common.clock import Clock, wall_ms
from counting.aggregate import Aggregator, Record
from counting.delta import DeadLetter, ShardDelta
from counting.state import ShardState
from streams.deadletters import DeadLetterSendFailed
from streams.offsets import first_gap, merge
from streams.ranges import RangeReader
from streams.retry import until_answered
from streams.shardstore import ApplyOutcome, ShardStore, ShardUnreadable

log = logging.getLogger(__name__)
T = TypeVar("T")

class LetterSink(Protocol):
    """Where dead letters go (the dead-letter topic in production)."""

    async def send(self, letters: Sequence[DeadLetter]) -> None: ...


class BatchProcessor:
    """Applies batches of records to the store, exactly once per offset.

    A shard whose batch cannot be applied (Redis refuses its keys, or the dead-letter
    topic refuses its letters after every retry) stops: its records are set aside, the
    other shards go on, and ``stopped`` says why until the worker restarts or the shard
    is revoked. Its offsets stay where Redis has them, so nothing is lost or doubled.

    Usage::

        processor = BatchProcessor(aggregator=agg, store=store, sink=sink, ranges=reader)
        await processor.process(records)      # records of any partitions, in order
        processor.forget([3])                 # partition 3 was revoked
    """

    def __init__(
        self,
        *,
        aggregator: Aggregator,
        store: ShardStore,
        sink: LetterSink,
        ranges: RangeReader,
        clock: Clock = wall_ms,
        retry_max_s: float = 5.0,
    ) -> None:
        self.aggregator = aggregator
        self.store = store
        self.sink = sink
        self.ranges = ranges
        self.clock = clock
        self.retry_max_s = retry_max_s
        self._states: dict[int, ShardState] = {}
        self._stopped: dict[int, str] = {}
        # The counting agent and the stall sweep both process; one batch at a time.
        self._lock = asyncio.Lock()
        self._last_sweep: dict[tuple[str, int], tuple[int, int]] = {}

    @property
    def stopped(self) -> dict[int, str]:
        """Shards this worker stopped, and why."""
        return dict(self._stopped)

    def forget(self, shards: Iterable[int]) -> None:
        """Drop everything cached about shards this worker no longer owns."""
        gone = set(shards)
        for shard in gone:
            self._states.pop(shard, None)
            self._stopped.pop(shard, None)
        for key in [key for key in self._last_sweep if key[1] in gone]:
            del self._last_sweep[key]
        metrics.SHARDS_STOPPED.set(len(self._stopped))

    async def resume_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[
        tuple[str, int], int
    ]:
        """Where each (topic, partition) must be read from: just after what Redis holds."""
        parts = list(partitions)
        self.forget({partition for _, partition in parts})
        recorded = await self._retry(
            lambda: self.store.recorded_offsets(parts), "read recorded offsets"
        )
        resume: dict[tuple[str, int], int] = {}
        for tp in parts:
            last = recorded[tp]
            if isinstance(last, ShardUnreadable):
                self._stop(last.shard, "unreadable", last.detail)
            else:
                resume[tp] = 0 if last is None else last + 1
        return resume

    async def catch_up(self, positions: Mapping[tuple[str, int], int]) -> int:
        """Count what a stalled partition skipped; returns how many records were read.

        faust can move a partition's position to a committed offset ahead of what Redis
        holds (after a shard stopped and was repaired, or Redis lost writes). The next
        record of that partition reveals the gap and it is read again; a partition that
        receives nothing more would hold the gap forever. ``positions`` are the
        consumer's positions: a partition whose position and recorded offset are both
        unchanged since the last call, with offsets in between, is read up to its
        position here. A Redis that lost writes the worker had applied (a failover to a
        replica that lacked them) with no record coming after is caught the same way:
        the shard's state is read again first, when Redis holds less than it.
        """
        async with self._lock:
            await self._drop_states_redis_lost(positions)
        read = 0
        for (topic, shard), position in positions.items():
            if shard in self._stopped:
                continue
            state = await self._state(shard)
            if state is None:
                continue
            recorded = state.offsets.get(topic, -1)
            seen, self._last_sweep[topic, shard] = (
                self._last_sweep.get((topic, shard)), (recorded, position))
            if position <= recorded + 1 or seen != (recorded, position):
                continue
            found = await self.ranges.read(topic, shard, recorded + 1, position)
            if found:
                log.warning("shard %d: %s stalled at offset %d with the consumer at %d; read "
                            "%d skipped record(s) from Kafka", shard, topic, recorded, position,
                            len(found))
                read += len(found)
                await self.process(found)
        return read

    async def _drop_states_redis_lost(self, positions: Mapping[tuple[str, int], int]) -> None:
        """Forget the state of each shard whose Redis offsets fell behind what this
        worker applied. Called under the lock: with no batch between state and apply,
        Redis behind the state means it lost writes."""
        parts = [tp for tp in positions if tp[1] in self._states]
        if not parts:
            return
        recorded = await self._retry(lambda: self.store.recorded_offsets(parts),
                                     "read recorded offsets")
        for (topic, shard), stored in recorded.items():
            state = self._states.get(shard)
            applied = None if state is None else state.offsets.get(topic)
            if applied is None or isinstance(stored, ShardUnreadable):
                continue
            if (-1 if stored is None else stored) < applied:
                _log_lost_writes(shard, topic, stored, applied)
                self._states.pop(shard, None)

    async def process(self, records: Sequence[Record]) -> None:
        """Count ``records``; returns once Redis holds their effect and their offsets."""
        async with self._lock:
            await self._process(records)

    async def _process(self, records: Sequence[Record]) -> None:
        started = time.perf_counter()
        consumed = Counter(record.topic for record in records)
        by_shard: dict[int, list[Record]] = {}
        for record in records:
            if record.partition not in self._stopped:
                by_shard.setdefault(record.partition, []).append(record)
        while by_shard:
            now_ms = self.clock()
            deltas = []
            for shard, shard_records in by_shard.items():
                state = await self._state(shard)
                if state is None:
                    continue
                ready, explained = await self._without_gaps(shard, shard_records, state)
                if ready:
                    delta = self.aggregator.batch(state, ready, now_ms=now_ms)
                    delta.explained_gaps = explained
                    deltas.append(delta)
            # 1. Dead letters first, acknowledged by the broker: once the offsets below
            #    are recorded, these records are never looked at again.
            deltas = await self._send_letters(deltas)
            # 2. Counters and offsets, one transaction per shard, one round trip in all.
            outcome = await self._apply(deltas)
            for failure in outcome.failed:
                self._stop(failure.shard, "apply", failure.detail)
            refused = {r.shard for r in outcome.rejected}
            done = [d for d in deltas if d.shard not in refused and d.shard not in self._stopped]
            self._count(done, applied_at_ms=self.clock())
            metrics.FENCE_REJECTIONS.inc(len(outcome.rejected))
            # 3. A refused shard: reload what Redis holds, then redo what it lacks.
            computed_from = {d.shard: d.prev_offsets for d in deltas if d.shard in refused}
            by_shard = {
                shard: await self._after_refusal(shard, by_shard[shard], computed_from[shard])
                for shard in refused
            }
            by_shard = {shard: recs for shard, recs in by_shard.items() if recs}
        for topic, n in consumed.items():
            metrics.EVENTS_CONSUMED.labels(topic).inc(n)
        metrics.DEDUP_IDS.set(sum(len(state.seen) for state in self._states.values()))
        metrics.ORDER_STATES.set(sum(len(state.orders) for state in self._states.values()))
        metrics.BATCH_MESSAGES.observe(len(records))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    async def _send_letters(self, deltas: list[ShardDelta]) -> list[ShardDelta]:
        """Publish the deltas' dead letters; the deltas whose letters all landed."""
        letters = [letter for delta in deltas for letter in delta.dead_letters]
        if not letters:
            return deltas
        try:
            await self.sink.send(letters)
        except DeadLetterSendFailed as exc:
            for shard in sorted({letter.partition for letter in exc.letters}):
                first = next(letter for letter in exc.letters if letter.partition == shard)
                self._stop(shard, "dead_letter", (
                    f"the dead-letter topic refused the record {first.topic}[{first.partition}]"
                    f"@{first.offset} ({exc.cause}); check the broker and the dead-letter "
                    "topic's max.message.bytes"))
        return [d for d in deltas if d.shard not in self._stopped]

    def _stop(self, shard: int, cause: str, detail: str) -> None:
        # The state in memory may already include the batch that failed: drop it, so a
        # shard that comes back is read from Redis again.
        self._states.pop(shard, None)
        if shard not in self._stopped:
            metrics.APPLY_FAILURES.labels(cause).inc()
            log.error("shard %d stopped (%s): %s. Its partitions are not counted by this "
                      "worker until it restarts; nothing of it is lost (Redis keeps its "
                      "offsets). docs/runbook.md, OcopShardStopped, says what to do.",
                      shard, cause, detail)
        self._stopped[shard] = f"{cause}: {detail}"
        metrics.SHARDS_STOPPED.set(len(self._stopped))

    async def _after_refusal(self, shard: int, records: list[Record],
                             computed_from: Mapping[str, int | None]) -> list[Record]:
        """Reload a refused shard and say why Redis refused: ahead of the state the
        batch was computed from (already applied), or behind it (Redis lost writes)."""
        self._states.pop(shard, None)
        state = await self._state(shard)
        if state is None:
            return []
        for topic in dict.fromkeys(r.topic for r in records):
            first = next(r.offset for r in records if r.topic == topic)
            stored = state.offsets.get(topic)
            prior = computed_from.get(topic)
            applied = first - 1 if prior is None else prior
            if (-1 if stored is None else stored) >= applied:
                # Redis is ahead (a redelivery, or another worker applied it): the
                # aggregator skips what Redis covers and counts the rest.
                log.info("shard %d: Redis already holds %s up to offset %s; skipping that part",
                         shard, topic, stored)
            else:
                # Redis is behind what this worker applied: it lost writes (restarted
                # from an older AOF, or was wiped). The gap is read again next round.
                _log_lost_writes(shard, topic, stored, applied)
        return records

    async def _without_gaps(self, shard: int, records: list[Record],
                            state: ShardState) -> tuple[list[Record], set[str]]:
        """The shard's records with every offset Redis lacks read in, and the topics
        that have a real gap (offsets that hold no record)."""
        passed: set[tuple[str, int]] = set()
        while (gap := first_gap(records, state.offsets, passed)) is not None:
            found = await self.ranges.read(gap.topic, shard, gap.start, gap.end)
            metrics.OFFSET_REWINDS.inc()
            if found:
                log.warning("shard %d: %s jumped from offset %d to %d (e.g. faust moved it to a "
                            "committed offset ahead of Redis); read %d skipped record(s) "
                            "from Kafka", shard, gap.topic, gap.start - 1, gap.end, len(found))
                records = merge(records, found)
            else:
                metrics.OFFSET_GAPS.inc()
                log.warning("shard %d: %s has no records from offset %d to %d (transaction "
                            "markers or deleted records); counting on", shard, gap.topic,
                            gap.start, gap.end - 1)
                passed.add((gap.topic, gap.start))
        return records, {topic for topic, _ in passed}

    async def _state(self, shard: int) -> ShardState | None:
        """The shard's state (loaded from Redis once); None when the shard is stopped."""
        state = self._states.get(shard)
        if state is None:
            try:
                state = await self._retry(lambda: self.store.load(shard), f"load shard {shard}")
            except ShardUnreadable as exc:
                self._stop(shard, "unreadable", exc.detail)
                return None
            self._states[shard] = state
        return state

    async def _apply(self, deltas: Sequence[ShardDelta]) -> ApplyOutcome:
        async def timed() -> ApplyOutcome:
            started = time.perf_counter()
            outcome = await self.store.apply(deltas)
            metrics.REDIS_ROUNDTRIP.observe(time.perf_counter() - started)
            return outcome

        return await self._retry(timed, "apply batch")

    async def _retry(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        # The shard state already advanced for these deltas, so the only way forward is
        # to apply them: retry until Redis answers. The fence makes a retry of a batch
        # that did land (reply lost) harmless. Only errors that mean nothing ran reach
        # here (the store turns every other error reply into a stopped shard).
        return await until_answered(
            call, errors=(RedisError, OSError), what=what, service="Redis",
            setting="OCOP_REDIS_URL", max_delay_s=self.retry_max_s,
            on_error=metrics.REDIS_ERRORS.labels("worker").inc,
        )

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


def _log_lost_writes(shard: int, topic: str, stored: int | None, applied: int) -> None:
    log.warning("shard %d: Redis holds %s only up to offset %s but this worker applied up "
                "to %d: Redis lost writes; reading them again", shard, topic, stored, applied)
