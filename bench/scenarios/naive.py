"""Naive baseline: the same counting with one awaited Redis ``HINCRBY`` per event.

``python -m bench.scenarios.naive --bootstrap B --redis URL --topics a,b --partitions 6
--messages N`` prints one JSON line: the measured window. Views count per session under
``naive:<sid>``; orders likewise. No fence, no dedup: a lower bound on the work a real
per-event design would do, so the ratio against it is generous to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis

from bench.context import Context
from bench.prefill import Prefilled
from bench.scenarios.ceiling import cpu_now
from bench.services import python_argv, run_json
from bench.throughput import Throughput

_DEADLINE_S = 600.0


async def count(bootstrap: str, redis_url: str, topics: list[str], partitions: int,
                expected: int) -> Throughput:
    """Count ``expected`` messages from the start of ``topics``, one command per event."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    redis = Redis.from_url(redis_url)
    await consumer.start()
    loads = json.loads
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        done = events = 0
        first: tuple[float, float, int, int] | None = None
        deadline = time.monotonic() + _DEADLINE_S
        while done < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            for tp, records in batch.items():
                field = "orders" if tp.topic.endswith("orders") else "views"
                for record in records[: expected - done]:
                    value = loads(record.value)
                    for event in value if isinstance(value, list) else [value]:
                        await redis.hincrby(f"naive:{event['session_id']}", field, 1)
                        events += 1
                    done += 1
            if first is None and done:
                first = (time.perf_counter(), cpu_now(), done, events)
    finally:
        await consumer.stop()
        await redis.aclose()
    if first is None:
        return Throughput(0, 0.0, 0.0, 0.0)
    t0, c0, m0, e0 = first
    return Throughput(done - m0, float(events - e0), time.perf_counter() - t0, cpu_now() - c0)


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--topics", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    args = parser.parse_args()
    result = asyncio.run(count(args.bootstrap, args.redis, args.topics.split(","),
                               args.partitions, args.messages))
    print(json.dumps(result.to_json()))


if __name__ == "__main__":
    main()


def measure(ctx: Context, prefilled: Prefilled) -> Throughput:
    """Run the naive counter in a process of its own on the first messages of the topics."""
    argv = python_argv(
        "bench.scenarios.naive", "--bootstrap", ctx.addrs.kafka_bootstrap,
        "--redis", ctx.addrs.redis_url,
        "--topics", f"{prefilled.views_topic},{prefilled.orders_topic}",
        "--partitions", str(ctx.config.partitions),
        "--messages", str(min(ctx.config.naive_messages, prefilled.messages)),
    )
    raw = run_json("naive", argv, env=dict(os.environ), log_dir=ctx.log_dir, timeout_s=900)
    return Throughput.from_json(raw)
