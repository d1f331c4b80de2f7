"""A paced producer of live view and order events, run as its own process.

``python -m bench.paced --schedule '[[0, 3000], [20, 30000], [50, 3000]]' ...`` sends
events stamped with the wall clock at the rate of the schedule's current segment. It
never catches up on what it could not send in time (that would turn a spike it failed
to reach into a later one); the shortfall is reported instead.

By default every sample session receives events all the time. ``--rotation`` deals the
sessions into groups that go live one after the other, like the fair days of a
campaign: each group gets the whole load for ``live_s`` seconds, then stays quiet while
the others take their turn, so the worker's per-session state can pass its horizons.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import signal
import time
from bisect import bisect_right
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaProducer

from common.catalog import SAMPLE_CATALOG, load_catalog
from counting.partitioner import partition_for
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


@dataclass(frozen=True, slots=True)
class Rotation:
    """Sessions dealt into ``groups`` that are live in turn, ``live_s`` seconds each.

    Group ``g`` is live from ``epoch_s + (k * groups + g) * live_s`` for ``live_s``
    seconds (k = 0, 1, ...) and quiet for ``quiet_s`` in between. Every process that
    shares the epoch (producers, the harness drawing the plot) agrees on who is live.

    Usage::

        rotation = Rotation(groups=4, live_s=120.0, epoch_s=time.time())
        rotation.live_group(time.time())   # 0 for the first two minutes
    """

    groups: int
    live_s: float
    epoch_s: float = 0.0

    def __post_init__(self) -> None:
        if self.groups < 2:
            raise ValueError(f"a rotation needs at least 2 groups, got {self.groups}")
        if self.live_s <= 0:
            raise ValueError(f"a rotation's live_s must be above zero, got {self.live_s}")

    @property
    def quiet_s(self) -> float:
        """How long each group waits between two of its live turns."""
        return (self.groups - 1) * self.live_s

    @property
    def cycle_s(self) -> float:
        """One turn of every group."""
        return self.groups * self.live_s

    def live_group(self, at_s: float) -> int:
        """The group live at epoch second ``at_s`` (the first one before the epoch)."""
        return int(max(0.0, at_s - self.epoch_s) // self.live_s) % self.groups

    def turns_ended(self, start_s: float, end_s: float) -> list[float]:
        """Epoch seconds in ``(start_s, end_s]`` at which a group's live turn ended."""
        first = max(1, math.floor((start_s - self.epoch_s) / self.live_s) + 1)
        last = math.floor((end_s - self.epoch_s) / self.live_s)
        return [self.epoch_s + k * self.live_s for k in range(first, last + 1)]

    def to_json(self) -> str:
        """The ``--rotation`` argument."""
        return json.dumps({"groups": self.groups, "live_s": self.live_s,
                           "epoch_s": self.epoch_s})

    @classmethod
    def from_json(cls, text: str) -> Rotation:
        """Parse a ``--rotation`` argument; the error names the bad value."""
        try:
            raw = json.loads(text)
            return cls(int(raw["groups"]), float(raw["live_s"]), float(raw["epoch_s"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"--rotation {text!r}: {exc}") from exc


def deal_groups(partitions: Sequence[int], groups: int) -> list[int]:
    """The group of each session, given the partition each session's key lands on.

    Sessions are dealt round-robin, partition by partition, so groups differ in size by
    at most one and every partition with at least ``groups`` sessions has sessions in
    every group: whichever group is live, each shard's stream time keeps moving (a shard
    with no events would hold its state until its sessions came back).
    """
    if groups < 1:
        raise ValueError(f"groups must be at least 1, got {groups}")
    order = sorted(range(len(partitions)), key=lambda i: (partitions[i], i))
    dealt = [0] * len(partitions)
    for position, index in enumerate(order):
        dealt[index] = position % groups
    return dealt


class EventFactory:
    """Views (join/leave) and placed/paid orders for the sample sessions, stamped ``now``.

    With a ``rotation`` only the live group's sessions receive events, and orders left
    unpaid when a group's turn ends stay unpaid (its fair day is over).
    """

    def __init__(self, seed: int, rotation: Rotation | None = None, partitions: int = 1) -> None:
        # Seeded on purpose: reproducible load, never used for security.
        self.rng = random.Random(seed)  # noqa: S311
        self.sessions = load_catalog(SAMPLE_CATALOG).sessions
        weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(self.sessions))]
        self.cum = list(accumulate(weights))
        self.encode = msgspec.json.Encoder().encode
        self.prefix = f"{seed:x}-{time.time_ns():x}"
        self.n = 0
        self.placed: list[dict[str, object]] = []
        self.rotation = rotation
        self.live = -1
        # Per group: its sessions and their cumulative weights (each keeps its own).
        self.by_group: list[tuple[list[int], list[float]]] = []
        if rotation is not None:
            dealt = deal_groups([partition_for(s.session_id.encode(), partitions)
                                 for s in self.sessions], rotation.groups)
            for group in range(rotation.groups):
                members = [i for i, g in enumerate(dealt) if g == group]
                if not members:
                    raise ValueError(f"{len(self.sessions)} sessions cannot fill "
                                     f"{rotation.groups} rotation groups")
                self.by_group.append((members, list(accumulate(weights[i] for i in members))))

    def _session_index(self, now_ms: int) -> int:
        pick = self.rng.random()
        if self.rotation is None:
            return bisect_right(self.cum, pick * self.cum[-1])
        group = self.rotation.live_group(now_ms / 1000)
        if group != self.live:
            self.live = group
            self.placed.clear()
        members, cum = self.by_group[group]
        return members[bisect_right(cum, pick * cum[-1])]

    def make(self, now_ms: int) -> tuple[bool, bytes, bytes]:
        """One event: (is order, key, value)."""
        rng = self.rng
        self.n += 1
        session = self.sessions[self._session_index(now_ms)]
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
    rotation = Rotation.from_json(args.rotation) if args.rotation else None
    factory = EventFactory(args.seed, rotation, args.partitions)
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
    parser.add_argument("--rotation", default="",
                        help='JSON {"groups": 4, "live_s": 120, "epoch_s": <epoch s>}')
    parser.add_argument("--partitions", type=int, default=1,
                        help="partitions of the input topics (how --rotation deals sessions)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
