"""Per-shard state the aggregation needs between batches, mirrored in Redis.

A shard is one partition number of the co-partitioned input topics: a session's views
and orders (key = session_id) land in the same partition number of each topic, so all of
a session's state lives in one shard and one worker owns it at a time.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass, field

from streams.core.orders import OrderState
from streams.core.windows import MINUTE_MS, minute_of

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


# Minutes behind the newest one whose ids stay in hash sets; older minutes only take
# late events, so they are packed into sorted arrays of 8 bytes per id.
HOT_MINUTES = 3


@dataclass(slots=True)
class _Packed:
    """A packed minute: sorted hashes, plus the few ids accepted after packing."""

    ids: array[int]
    late: set[int] = field(default_factory=set)

    def __contains__(self, h: int) -> bool:
        if h in self.late:
            return True
        i = bisect_left(self.ids, h)
        return i < len(self.ids) and self.ids[i] == h


@dataclass(slots=True)
class SeenIds:
    """Accepted event ids, grouped by event minute so old ones can be forgotten cheaply.

    A duplicate carries the same ``ts`` as its original, so while every event younger
    than the lateness horizon is remembered, every duplicate that is not itself too late
    is caught. Ids are kept as this process' 64-bit ``hash()`` of the key: an hour of a
    flash sale is millions of ids, and a string in a set costs ~110 bytes where a packed
    hash costs 8. Two distinct ids of one minute collide with probability ~n/2^64 (n ids
    in that minute): far below any other source of error. Redis keeps the ids themselves
    (``streams/store.py``), so another process rebuilds the hashes with its own seed.
    """

    hot: dict[int, set[int]] = field(default_factory=dict)
    packed: dict[int, _Packed] = field(default_factory=dict)

    def __contains__(self, item: tuple[str, int]) -> bool:
        key, ts_ms = item
        minute = minute_of(ts_ms)
        ids = self.hot.get(minute)
        if ids is not None:
            return hash(key) in ids
        packed = self.packed.get(minute)
        return packed is not None and hash(key) in packed

    def add(self, key: str, ts_ms: int) -> bool:
        """Remember an accepted event id; False if it was already remembered."""
        h = hash(key)
        minute = minute_of(ts_ms)
        ids = self.hot.get(minute)
        if ids is None:
            packed = self.packed.get(minute)
            if packed is not None:
                if h in packed:
                    return False
                packed.late.add(h)
                return True
            ids = self.hot[minute] = set()
        elif h in ids:
            return False
        ids.add(h)
        return True

    def forget_before(self, horizon_ms: int) -> list[int]:
        """Forget minutes wholly older than ``horizon_ms``; returns them (epoch ms)."""
        gone = sorted(m for m in (*self.hot, *self.packed) if m + MINUTE_MS <= horizon_ms)
        for minute in gone:
            self.hot.pop(minute, None)
            self.packed.pop(minute, None)
        return gone

    def pack(self) -> None:
        """Pack the minutes more than ``HOT_MINUTES`` behind the newest one."""
        if not self.hot:
            return
        newest = max(self.hot)
        for minute in [m for m in self.hot if m < newest - HOT_MINUTES * MINUTE_MS]:
            self.packed[minute] = _Packed(array("q", sorted(self.hot.pop(minute))))

    def __len__(self) -> int:
        return sum(len(ids) for ids in self.hot.values()) + sum(
            len(p.ids) + len(p.late) for p in self.packed.values()
        )


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
