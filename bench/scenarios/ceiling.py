"""Ceiling: raw aiokafka ``getmany`` plus ``json.loads`` of a pre-filled topic pair.

``python -m bench.scenarios.ceiling --bootstrap B --topics a,b --partitions 6 --messages N``
prints one JSON line: the measured window (see bench/throughput.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from bench.context import Context
from bench.prefill import Prefilled
from bench.scenarios.reader import Meter, from_start
from bench.services import python_argv, run_json
from bench.throughput import Throughput
from common.eventloop import use_uvloop

_DEADLINE_S = 600.0


async def consume(bootstrap: str, topics: list[str], partitions: int,
                  expected: int) -> Throughput:
    """Read ``expected`` messages from the start of ``topics`` and decode every value."""
    consumer = await from_start(bootstrap, topics, partitions)
    loads = json.loads
    meter = Meter()
    done = events = 0
    try:
        deadline = time.monotonic() + _DEADLINE_S
        while done < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    value = loads(record.value)
                    events += len(value) if isinstance(value, list) else 1
                done += len(records)
            meter.tick(done, events)
    finally:
        await consumer.stop()
    return meter.result(done, events)


def main() -> None:
    """Command-line entry."""
    use_uvloop()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topics", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    args = parser.parse_args()
    result = asyncio.run(consume(args.bootstrap, args.topics.split(","), args.partitions,
                                 args.messages))
    print(json.dumps(result.to_json()))


if __name__ == "__main__":
    main()


def measure(ctx: Context, prefilled: Prefilled) -> Throughput:
    """Run the ceiling consumer in a process of its own on ``prefilled``'s topics."""
    argv = python_argv(
        "bench.scenarios.ceiling", "--bootstrap", ctx.addrs.kafka_bootstrap,
        "--topics", f"{prefilled.views_topic},{prefilled.orders_topic}",
        "--partitions", str(ctx.config.partitions), "--messages", str(prefilled.messages),
    )
    raw = run_json("ceiling", argv, env=dict(os.environ), log_dir=ctx.log_dir, timeout_s=900)
    return Throughput.from_json(raw)
