"""What the raw-consumer scenarios share: a consumer from the start, and its timing."""

from __future__ import annotations

import resource
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.throughput import Throughput


def cpu_now() -> float:
    """This process' user + system CPU seconds (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def from_start(bootstrap: str, topics: list[str], partitions: int) -> AIOKafkaConsumer:
    """A started consumer assigned every partition of ``topics``, at the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return consumer


class Meter:
    """Times a consumer from the end of its first non-empty batch to its last message.

    Usage::

        meter = Meter()
        ...; meter.tick(done, events)   # after every batch
        result = meter.result(done, events)
    """

    def __init__(self) -> None:
        self._first: tuple[float, float, int, int] | None = None

    def tick(self, done: int, events: int) -> None:
        """Note progress; the first call with progress opens the window."""
        if self._first is None and done:
            self._first = (time.perf_counter(), cpu_now(), done, events)

    def result(self, done: int, events: int) -> Throughput:
        """The work inside the window (empty when nothing was read)."""
        if self._first is None:
            return Throughput(0, 0.0, 0.0, 0.0)
        t0, c0, m0, e0 = self._first
        return Throughput(done - m0, float(events - e0), time.perf_counter() - t0,
                          cpu_now() - c0)
