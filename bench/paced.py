"""A paced producer of live view and order events, run as its own process.

``python -m bench.paced --schedule '[[0, 3000], [20, 30000], [50, 3000]]' ...`` sends
events stamped with the wall clock at the rate of the schedule's current segment. It
never catches up on what it could not send in time (that would turn a spike it failed
to reach into a later one); the shortfall is reported instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import time
from bisect import bisect_right
from collections.abc import Awaitable, Sequence
from itertools import accumulate
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaProducer

from common.catalog import SAMPLE_CATALOG, load_catalog
from devtools.simulator.fair import format_ts

Schedule = Sequence[tuple[float, float]]

# One loop turn sends at most this many, so event times stay close to the send time.
_MAX_PER_TURN = 1_000
_TURN_S = 0.005
_VIEWERS = 50_000
_P_ORDER = 0.1


def events_due(schedule: Schedule, elapsed_s: float) -> float:
    """Events a schedule of (start second, events/s) segments owes after ``elapsed_s``."""
    if elapsed_s <= 0 or not schedule:
        return 0.0
    total = 0.0
    for i, (start, rate) in enumerate(schedule):
        if start >= elapsed_s:
            break
        end = schedule[i + 1][0] if i + 1 < len(schedule) else elapsed_s
        total += rate * (min(end, elapsed_s) - start)
    return total


def rate_at(schedule: Schedule, elapsed_s: float) -> float:
    """The schedule's rate at ``elapsed_s`` (0 before its first segment)."""
    i = bisect_right([start for start, _ in schedule], elapsed_s)
    return schedule[i - 1][1] if i else 0.0


class EventFactory:
    """Views (join/leave) and placed/paid orders for the sample sessions, stamped ``now``."""

    def __init__(self, seed: int) -> None:
        # Seeded on purpose: reproducible load, never used for security.
        self.rng = random.Random(seed)  # noqa: S311
        self.sessions = load_catalog(SAMPLE_CATALOG).sessions
        self.cum = list(accumulate(1.0 / (rank + 1) ** 1.1 for rank in range(len(self.sessions))))
        self.encode = msgspec.json.Encoder().encode
        self.prefix = f"{seed:x}-{time.time_ns():x}"
        self.n = 0
        self.placed: list[dict[str, object]] = []

    def make(self, now_ms: int) -> tuple[bool, bytes, bytes]:
        """One event: (is order, key, value)."""
        rng = self.rng
        self.n += 1
        session = self.sessions[bisect_right(self.cum, rng.random() * self.cum[-1])]
        sid = session.session_id
        ts = format_ts(now_ms, self.n % 3)
        if rng.random() >= _P_ORDER:
            event: dict[str, object] = {
                "event_id": f"{self.prefix}-{self.n}", "session_id": sid,
                "viewer_id": f"v{rng.randrange(_VIEWERS)}",
                "kind": "join" if rng.random() < 0.55 else "leave", "ts": ts,
            }
            return False, sid.encode(), self.encode(event)
        if self.placed and rng.random() < 0.45:
            order = self.placed.pop(rng.randrange(len(self.placed)))
            event = {**order, "event_id": f"{self.prefix}-{self.n}", "status": "paid", "ts": ts}
            return True, str(order["session_id"]).encode(), self.encode(event)
        product = session.products[rng.randrange(len(session.products))]
        quantity = 1 + rng.randrange(3)
        event = {
            "event_id": f"{self.prefix}-{self.n}", "order_id": f"o{self.prefix}-{self.n}",
            "session_id": sid, "product_id": product.product_id, "quantity": quantity,
            "amount_vnd": quantity * product.price_vnd, "status": "placed", "ts": ts,
        }
        if len(self.placed) < 10_000:
            self.placed.append(event)
        return True, sid.encode(), self.encode(event)


async def run(args: argparse.Namespace) -> dict[str, object]:
    """Send until SIGTERM; return what was sent, per second of the run."""
    schedule = [(float(s), float(r)) for s, r in json.loads(args.schedule)]
    factory = EventFactory(args.seed)
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=5,
                                max_batch_size=256 * 1024, acks=1)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    await producer.start()
    per_second: list[int] = []
    sent = owed_total = 0
    started = time.monotonic()
    wall_start = time.time()
    try:
        pending: list[Awaitable[object]] = []
        while not stopping.is_set():
            elapsed = time.monotonic() - started
            owed = int(events_due(schedule, elapsed)) - owed_total
            owed_total += owed
            now_ms = time.time_ns() // 1_000_000
            for _ in range(min(owed, _MAX_PER_TURN)):
                orders, key, value = factory.make(now_ms)
                topic = args.orders if orders else args.views
                pending.append(await producer.send(topic, value, key=key))
            sent_now = min(owed, _MAX_PER_TURN)
            sent += sent_now
            second = int(elapsed)
            per_second.extend([0] * (second + 1 - len(per_second)))
            per_second[second] += sent_now
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), _TURN_S)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return {"sent": sent, "due": owed_total, "wall_start": wall_start,
            "seconds": time.monotonic() - started, "per_second": per_second}


def main() -> None:
    """Command-line entry: write the report JSON to ``--out`` when stopped."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--views", required=True)
    parser.add_argument("--orders", required=True)
    parser.add_argument("--schedule", required=True, help="JSON [[start_s, events_per_s], ...]")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
