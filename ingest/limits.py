"""Per-key rate limits: a token bucket of events per second for each ingest key.

The bucket holds one second's worth of events, and never less than one full request,
so a key limited below 500 events/s can still post a full batch now and then.

Usage::

    limits = RateLimits(rate=5000.0, floor=500)
    wait_s = limits.take("back-office", 500)   # 0.0: go ahead; else retry after wait_s
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimits:
    """Token buckets by key name, in this process (each gateway replica limits alone)."""

    def __init__(self, *, rate: float, floor: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(rate, float(floor))
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, name: str, events: int) -> float:
        """Take ``events`` tokens for ``name``: 0.0 if granted, else seconds until they are."""
        now = self._clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= events:
            bucket.tokens -= events
            return 0.0
        return (events - bucket.tokens) / self.rate
