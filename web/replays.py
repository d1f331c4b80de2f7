"""How many resume replays each client address may have: a token bucket per address.

A resume replays up to a ring's worth of change frames (256), each the size of a change;
a client that reconnects in a loop with an old ``seq`` would make the server send them
over and over. Past its budget an address gets a fresh snapshot instead: one frame, and
a screen that gets one is as current as one that was replayed, so a venue screen keeps
working whatever its network does. Pure: the caller gives the time.
"""

from __future__ import annotations

DEFAULT_REPLAYS = 5
DEFAULT_REPLAY_WINDOW_S = 10.0
# Enough for every address of a large fair; beyond it the least recently seen address
# forgets its bucket (and so gets a full one back), which bounds memory against a
# client that cycles through addresses.
DEFAULT_MAX_ADDRESSES = 10_000


class ReplayBudget:
    """``replays`` per ``window_s`` for each address, refilled smoothly, bursts allowed.

    Usage::

        budget = ReplayBudget(replays=5, window_s=10.0)
        if budget.take("10.0.0.7", now=monotonic()):
            ...  # replay from the ring
        else:
            ...  # send a snapshot
    """

    def __init__(self, *, replays: int = DEFAULT_REPLAYS,
                 window_s: float = DEFAULT_REPLAY_WINDOW_S,
                 max_addresses: int = DEFAULT_MAX_ADDRESSES) -> None:
        if replays < 1:
            raise ValueError(f"replays must be at least 1, got {replays}")
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        if max_addresses < 1:
            raise ValueError(f"max_addresses must be at least 1, got {max_addresses}")
        self.capacity = float(replays)
        self.rate = replays / window_s
        self.max_addresses = max_addresses
        # address -> (tokens, when counted); insertion order is least recently seen first.
        self._buckets: dict[str, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, address: str, *, now: float) -> bool:
        """Spend one replay of ``address``; False when it has none left right now."""
        tokens, at = self._buckets.pop(address, (self.capacity, now))
        tokens = min(self.capacity, tokens + max(0.0, now - at) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[address] = (tokens, now)
        while len(self._buckets) > self.max_addresses:
            del self._buckets[next(iter(self._buckets))]
        return allowed
