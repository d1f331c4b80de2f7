"""Per-shard state the aggregation needs between batches, mirrored in Redis.

A shard is one partition number of the co-partitioned input topics: a session's views
and orders (key = session_id) land in the same partition number of each topic, so all of
a session's state lives in one shard and one worker owns it at a time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from streams.core.orders import OrderState
from streams.core.windows import minute_of

OrderKey = tuple[str, str]  # (session_id, order_id)


@dataclass(slots=True)
class SessionLive:
    """Viewer presence of one session: net joins, and the peak with when it was reached."""

    net: int = 0
    peak: int = 0
    peak_at: int | None = None

    @property
    def viewers_now(self) -> int:
        """Joins minus leaves, never below zero."""
        return max(0, self.net)


@dataclass(slots=True)
class SeenIds:
    """Accepted event ids, grouped by event minute so old ones can be forgotten cheaply.

    A duplicate carries the same ``ts`` as its original, so while every event younger
    than the lateness horizon is remembered, every duplicate that is not itself too late
    is caught.
    """

    by_minute: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))

    def __contains__(self, item: tuple[str, int]) -> bool:
        key, ts_ms = item
        bucket = self.by_minute.get(minute_of(ts_ms))
        return bucket is not None and key in bucket

    def add(self, key: str, ts_ms: int) -> None:
        """Remember an accepted event id."""
        self.by_minute[minute_of(ts_ms)].add(key)

    def forget_before(self, ts_ms: int) -> None:
        """Drop ids of minutes wholly older than ``ts_ms``."""
        for minute in [m for m in self.by_minute if m + 60_000 <= ts_ms]:
            del self.by_minute[minute]

    def __len__(self) -> int:
        return sum(len(ids) for ids in self.by_minute.values())


@dataclass(slots=True)
class ShardState:
    """Everything one shard carries from batch to batch.

    Usage::

        state = ShardState(shard=3)          # or loaded from the store
        delta = aggregate(state, items, now_ms=clock(), rules=rules)
    """

    shard: int
    offsets: dict[str, int] = field(default_factory=dict)
    watermarks: dict[str, int] = field(default_factory=dict)
    seen: SeenIds = field(default_factory=SeenIds)
    sessions: dict[str, SessionLive] = field(default_factory=dict)
    orders: dict[OrderKey, OrderState] = field(default_factory=dict)
