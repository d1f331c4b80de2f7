"""What one batch changes: counter increments and new absolute values, nothing else.

Deltas are coalesced per batch (one increment per key and field, however many events
touched it), so the store writes them in one round trip.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from counting.contract import Rejected
from counting.orders import OrderState
from counting.state import OrderKey, SessionLive


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that will not count, with its source position."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    rejected: Rejected


@dataclass(slots=True)
class ShardDelta:
    """Changes one batch makes to one shard.

    ``minutes`` and ``days`` are keyed by (bucket, session_id or None for the whole fair).
    """

    shard: int
    first_offsets: dict[str, int] = field(default_factory=dict)
    last_offsets: dict[str, int] = field(default_factory=dict)
    # What the shard state said Redis held before this batch (None: nothing recorded).
    prev_offsets: dict[str, int | None] = field(default_factory=dict)
    # Topics whose records here follow an offset gap the worker confirmed by reading the
    # partition again (transaction markers, deleted records): the store lets them pass.
    explained_gaps: set[str] = field(default_factory=set)
    watermarks: dict[str, int] = field(default_factory=dict)
    totals: Counter[str] = field(default_factory=Counter)
    sessions: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    session_products: defaultdict[str, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    session_product_gmv: defaultdict[str, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    live: dict[str, SessionLive] = field(default_factory=dict)
    minutes: defaultdict[tuple[int, str | None], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    days: defaultdict[tuple[str, str | None], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    product_units: Counter[str] = field(default_factory=Counter)
    product_gmv: Counter[str] = field(default_factory=Counter)
    viewers: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    orders: dict[OrderKey, OrderState] = field(default_factory=dict)
    # Orders past the horizon whose states this batch forgets (written orders excluded).
    forgotten_orders: list[OrderKey] = field(default_factory=list)
    order_activity: dict[str, int] = field(default_factory=dict)
    orders_forgotten: dict[str, int] = field(default_factory=dict)
    last_at: dict[str, int] = field(default_factory=dict)
    quarters: defaultdict[tuple[int, str | None], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    seen: list[tuple[int, int]] = field(default_factory=list)  # (id_hash, event ms)
    # Minutes of ids older than the lateness horizon, forgotten by this batch.
    forgotten_minutes: list[int] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)  # per topic
    late: int = 0
    duplicates: int = 0
    redelivered: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def newest_ts_ms(self) -> int | None:
        """Event time of the newest event this batch accepted, if it moved a watermark."""
        return max(self.watermarks.values(), default=None)

    @property
    def touched_sessions(self) -> set[str]:
        """Sessions whose numbers this batch changes."""
        return set(self.sessions) | set(self.live) | set(self.last_at)

    def is_empty(self) -> bool:
        """True when applying would change no counter (offsets may still move)."""
        return not (self.totals or self.sessions or self.live or self.orders or self.seen)
