"""The wall clock every process reads, injected wherever a rule or a payload needs "now"."""

from __future__ import annotations

import time
from collections.abc import Callable

# Epoch milliseconds; tests inject their own.
Clock = Callable[[], int]
# Seconds from an arbitrary start, for intervals and deadlines.
Monotonic = Callable[[], float]


def wall_ms() -> int:
    """Wall-clock time in epoch milliseconds (the production clock)."""
    return time.time_ns() // 1_000_000
