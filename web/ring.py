"""The recent change messages of one web process, so a reconnecting screen can catch up."""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple


class _Sent(NamedTuple):
    seq: int
    text: str
    at: float


class ChangeRing:
    """The last ``size`` change messages, by sequence number (pure: the caller gives times).

    Usage::

        ring = ChangeRing(size=256)
        ring.append(7, text, at=monotonic())
        ring.since(5, current=7)   # [text of 6, text of 7], or None when 6 is gone
    """

    def __init__(self, *, size: int) -> None:
        if size < 1:
            raise ValueError(f"ring size must be at least 1, got {size}")
        self._sent: deque[_Sent] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._sent)

    def append(self, seq: int, text: str, *, at: float) -> None:
        """Remember change ``seq``; sequence numbers must follow each other."""
        if self._sent and seq != self._sent[-1].seq + 1:
            raise ValueError(f"change {seq} does not follow {self._sent[-1].seq}")
        self._sent.append(_Sent(seq, text, at))

    def since(self, seq: int, *, current: int) -> list[str] | None:
        """The messages after ``seq`` up to ``current``; None when the gap cannot be filled."""
        if seq == current:
            return []
        if seq > current or not self._sent or self._sent[0].seq > seq + 1:
            return None
        if self._sent[-1].seq != current:
            return None
        return [sent.text for sent in self._sent if sent.seq > seq]

    def superseded_at(self, seq: int, *, current: int) -> float | None:
        """When ``seq`` stopped being the newest (None while it is; -inf if long gone)."""
        if seq >= current:
            return None
        first = self._sent[0].seq if self._sent else current + 1
        if seq + 1 < first:
            return -math.inf
        return self._sent[seq + 1 - first].at
