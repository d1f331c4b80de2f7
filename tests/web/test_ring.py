"""The ring of recent change messages: what a reconnecting screen can get back (pure)."""

from __future__ import annotations

import math

import pytest

from web.ring import ChangeRing


def _ring(first: int, last: int, size: int = 4) -> ChangeRing:
    ring = ChangeRing(size=size)
    for seq in range(first, last + 1):
        ring.append(seq, f"m{seq}", at=float(seq * 10))
    return ring


@pytest.mark.parametrize(("first", "last", "seq", "expected"), [
    (1, 3, 3, []),  # up to date
    (1, 3, 2, ["m3"]),
    (1, 3, 0, ["m1", "m2", "m3"]),  # missed everything, all still kept
    (1, 6, 2, ["m3", "m4", "m5", "m6"]),  # the oldest kept is exactly the next one
    (1, 6, 1, None),  # m2 fell out of the ring
    (1, 3, 7, None),  # ahead of us: another process's numbers
])
def test_since(first: int, last: int, seq: int, expected: list[str] | None) -> None:
    assert _ring(first, last).since(seq, current=last) == expected


def test_since_on_an_empty_ring() -> None:
    ring = ChangeRing(size=4)
    assert ring.since(0, current=0) == []
    assert ring.since(0, current=2) is None


def test_superseded_at() -> None:
    ring = _ring(1, 6)  # keeps 3..6, appended at 30..60
    assert ring.superseded_at(6, current=6) is None
    assert ring.superseded_at(5, current=6) == 60.0
    assert ring.superseded_at(2, current=6) == 30.0
    assert ring.superseded_at(1, current=6) == -math.inf


def test_sequence_numbers_must_follow() -> None:
    ring = _ring(1, 2)
    with pytest.raises(ValueError, match="does not follow"):
        ring.append(4, "m4", at=40.0)
    with pytest.raises(ValueError, match="at least 1"):
        ChangeRing(size=0)
    assert len(ring) == 2
