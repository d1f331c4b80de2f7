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

from redis.asyncio import Redis

from bench.context import Context
from bench.prefill import Prefilled
from bench.scenarios.reader import Meter, from_start
from bench.services import python_argv, run_json
from bench.throughput import Throughput
from common.eventloop import use_uvloop

_DEADLINE_S = 600.0


async def count(bootstrap: str, redis_url: str, topics: list[str], partitions: int,
                expected: int) -> Throughput:
    """Count ``expected`` messages from the start of ``topics``, one command per event."""
    redis = Redis.from_url(redis_url)
    consumer = await from_start(bootstrap, topics, partitions)
    loads = json.loads
    meter = Meter()
    done = events = 0
    try:
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
            meter.tick(done, events)
    finally:
        await consumer.stop()
        await redis.aclose()
    return meter.result(done, events)


def main() -> None:
    """Command-line entry."""
    use_uvloop()
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
