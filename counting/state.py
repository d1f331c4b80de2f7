"""Per-shard state the aggregation needs between batches, mirrored in Redis.

A shard is one partition number of the co-partitioned input topics: a session's views
and orders (key = session_id) land in the same partition number of each topic, so all of
a session's state lives in one shard and one worker owns it at a time.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field

from xxhash import xxh3_64_intdigest

from counting.orders import OrderState
from store.windows import MINUTE_MS, minute_of

OrderKey = tuple[str, str]  # (session_id, order_id)


@dataclass(slots=True)
class SessionLive:
    """Viewer presence of one session, and its peak with when it was reached.

    Without platform counts: net joins, and the peak of joins - leaves in partition
    order. Once the session has a count (``count_at`` set), viewers now is its latest
    count by event time, ties going to the higher count (equal time and count are the
    same value whatever the event id), and the peak is its highest count, at the earliest
    time it was reported: both independent of arrival order and repeats.
    """

    net: int = 0
    peak: int = 0
    peak_at: int | None = None
    count: int = 0
    count_at: int | None = None

    @property
    def viewers_now(self) -> int:
        """The latest platform count, else joins minus leaves never below zero."""
        return self.count if self.count_at is not None else max(0, self.net)

    def join_or_leave(self, join: bool, ts_ms: int) -> None:
        """Fold in an accepted join or leave."""
        self.net += 1 if join else -1
        if self.count_at is None and self.net > self.peak:
            self.peak = self.net
            self.peak_at = ts_ms

    def report(self, viewers: int, ts_ms: int) -> None:
        """Fold in an accepted platform count."""
        # The first count replaces the peak of joins - leaves: counts alone decide it.
        if (self.count_at is None or viewers > self.peak
                or (viewers == self.peak and self.peak_at is not None and ts_ms < self.peak_at)):
            self.peak, self.peak_at = viewers, ts_ms
        if self.count_at is None or (ts_ms, viewers) > (self.count_at, self.count):
            self.count, self.count_at = viewers, ts_ms


# Minutes behind the newest one whose ids stay in hash sets (~70 bytes per id); older
# minutes only take late events, so they are packed into sorted arrays of 8 bytes per id.
HOT_MINUTES = 1
# A packed minute's late set is merged into its array once it is this large (absolute,
# or relative to the array): merging re-sorts the array, so not on every late event.
_MERGE_LATE = 1024
_MERGE_SHARE = 8
_SEEDS = {"views": 0, "orders": 1}  # separate id spaces for views and orders


def id_hash(kind: str, event_id: str) -> int:
    """The 64-bit fingerprint an accepted event id is remembered by (xxh3, stable).

    An hour of a flash sale is millions of ids: a string in a set costs ~110 bytes, a
    packed fingerprint 8, in the worker and in Redis alike. Two distinct ids of one
    minute collide with probability ~n/2^64 (n ids in that minute): far below any other
    source of error.
    """
    return xxh3_64_intdigest(event_id.encode(), _SEEDS[kind])


@dataclass(slots=True)
class _Packed:
    """A packed minute: sorted fingerprints, plus the few accepted after packing."""

    ids: array[int]
    late: set[int] = field(default_factory=set)

    def __contains__(self, h: int) -> bool:
        if h in self.late:
            return True
        i = bisect_left(self.ids, h)
        return i < len(self.ids) and self.ids[i] == h


@dataclass(slots=True)
class SeenIds:
    """Fingerprints of accepted event ids (``id_hash``), grouped by event minute.

    A duplicate carries the same ``ts`` as its original, so while every event younger
    than the lateness horizon is remembered, every duplicate that is not itself too late
    is caught. Grouping by minute makes forgetting old ones cheap.
    """

    hot: dict[int, set[int]] = field(default_factory=dict)
    packed: dict[int, _Packed] = field(default_factory=dict)

    def __contains__(self, item: tuple[int, int]) -> bool:
        h, ts_ms = item
        minute = minute_of(ts_ms)
        ids = self.hot.get(minute)
        if ids is not None:
            return h in ids
        packed = self.packed.get(minute)
        return packed is not None and h in packed

    def add(self, h: int, ts_ms: int) -> bool:
        """Remember a fingerprint; False if it was already remembered."""
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

    def add_packed(self, minute_ms: int, blob: bytes) -> None:
        """Remember a minute's fingerprints as Redis holds them (``pack_ids``).

        For loading a fresh state: ids later accepted for that minute join its late set
        until ``pack`` merges them.
        """
        self.packed[minute_ms] = _Packed(array("Q", sorted(unpack_ids(blob))))

    def forget_before(self, horizon_ms: int) -> list[int]:
        """Forget minutes wholly older than ``horizon_ms``; returns them (epoch ms)."""
        gone = sorted(m for m in (*self.hot, *self.packed) if m + MINUTE_MS <= horizon_ms)
        for minute in gone:
            self.hot.pop(minute, None)
            self.packed.pop(minute, None)
        return gone

    def pack(self) -> None:
        """Pack the minutes more than ``HOT_MINUTES`` behind the newest one."""
        minutes = [*self.hot, *self.packed]
        if not minutes:
            return
        cold = max(minutes) - HOT_MINUTES * MINUTE_MS
        for minute in [m for m in self.hot if m < cold]:
            self.packed[minute] = _Packed(array("Q", sorted(self.hot.pop(minute))))
        for minute, packed in list(self.packed.items()):
            if minute < cold and len(packed.late) > max(_MERGE_LATE,
                                                        len(packed.ids) // _MERGE_SHARE):
                self.packed[minute] = _Packed(array("Q", sorted({*packed.ids, *packed.late})))

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
    # Newest event time each session counted (any topic), for "live now".
    last_at: dict[str, int] = field(default_factory=dict)
    # Newest accepted order event of each session: its orders are forgotten once the
    # stream is past it by the order horizon (plus lateness).
    order_activity: dict[str, int] = field(default_factory=dict)
    # Each session's activity when its orders were last forgotten: a later change to an
    # order the session no longer knows is past the horizon (counting/aggregate.py).
    orders_forgotten: dict[str, int] = field(default_factory=dict)
    # Sessions that have order states in ``orders`` (those forgetting still looks at).
    order_sessions: set[str] = field(default_factory=set)


def pack_ids(ids: list[int]) -> bytes:
    """Fingerprints as 8 little-endian bytes each (how Redis keeps them)."""
    packed = array("Q", ids)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def unpack_ids(blob: bytes) -> array[int]:
    """The inverse of ``pack_ids``."""
    ids = array("Q")
    ids.frombytes(blob)
    if sys.byteorder != "little":
        ids.byteswap()
    return ids
