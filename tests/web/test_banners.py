"""Banners from the step between two boards (pure tables)."""

from __future__ import annotations

from typing import Any

import pytest

from web.banners import MAX_BANNERS, SESSION_GMV_FLOOR, crossed, detect_banners, ladder

TRIEU = 1_000_000
TY = 1_000_000_000


def _session(sid: str, gmv: int) -> dict[str, Any]:
    return {"session_id": sid, "title": f"Phiên {sid}", "host": f"Chị {sid}",
            "shop": f"HTX {sid}", "province": "Bắc Kạn", "gmv_vnd": gmv, "orders": 1,
            "viewers_now": 3}


def _who(sid: str) -> dict[str, Any]:
    return {"session_id": sid, "title": f"Phiên {sid}", "host": f"Chị {sid}",
            "shop": f"HTX {sid}", "province": "Bắc Kạn"}


def _board(gmv: int = 0, orders: int = 0, views: int = 0,
           sessions: tuple[tuple[str, int], ...] = ()) -> dict[str, Any]:
    return {"totals": {"gmv_vnd": gmv, "orders": orders, "views": views},
            "top_sessions_gmv": [_session(sid, g) for sid, g in sessions]}


def test_ladder_is_one_two_five() -> None:
    steps = ladder(100 * TRIEU)
    assert [next(steps) for _ in range(7)] == [
        100 * TRIEU, 200 * TRIEU, 500 * TRIEU, TY, 2 * TY, 5 * TY, 10 * TY]
    steps = ladder(30 * TRIEU)  # a floor off the ladder starts at the next step
    assert [next(steps) for _ in range(3)] == [50 * TRIEU, 100 * TRIEU, 200 * TRIEU]


@pytest.mark.parametrize(("old", "new", "expected"), [
    (0, 99 * TRIEU, None),
    (99 * TRIEU, 100 * TRIEU, 100 * TRIEU),  # reaching the mark counts
    (100 * TRIEU, 150 * TRIEU, None),  # already past it
    (950 * TRIEU, 1_250 * TRIEU, TY),
    (150 * TRIEU, 3 * TY, 2 * TY),  # several at once: only the highest
    (2 * TY, TY, None),  # a refund going down is no milestone
    (5, 5, None),
])
def test_crossed(old: int, new: int, expected: int | None) -> None:
    assert crossed(old, new, 100 * TRIEU) == expected


def test_ladder_needs_a_positive_floor() -> None:
    with pytest.raises(ValueError, match="positive"):
        next(ladder(0))


@pytest.mark.parametrize(("old", "new", "expected"), [
    # A first board has nothing to compare with.
    (None, _board(gmv=5 * TY), []),
    # Nothing moved.
    (_board(gmv=TY), _board(gmv=TY), []),
    # Fair-wide milestones, one per total.
    (_board(gmv=990 * TRIEU), _board(gmv=1_010 * TRIEU),
     [{"kind": "milestone", "metric": "gmv_vnd", "value": TY}]),
    (_board(orders=999, views=9_999), _board(orders=1_000, views=10_001),
     [{"kind": "milestone", "metric": "orders", "value": 1_000},
      {"kind": "milestone", "metric": "views", "value": 10_000}]),
    # A new leader overtakes the old one.
    (_board(sessions=(("a", 50 * TRIEU), ("b", 40 * TRIEU))),
     _board(sessions=(("b", 60 * TRIEU), ("a", 50 * TRIEU))),
     [{"kind": "lead", "session": _who("b"), "passed": _who("a")},
      {"kind": "session_milestone", "metric": "gmv_vnd", "value": 50 * TRIEU,
       "session": _who("b")}]),
    # A newcomer straight to the top still takes the lead, but its own milestone is
    # unknown (it was not on the earlier board).
    (_board(sessions=(("a", 10 * TRIEU),)),
     _board(sessions=(("c", 70 * TRIEU), ("a", 10 * TRIEU))),
     [{"kind": "lead", "session": _who("c"), "passed": _who("a")}]),
    # The first sale of the fair: no one is passed.
    (_board(), _board(sessions=(("a", 1 * TRIEU),)), []),
    # Places below the lead change silently.
    (_board(sessions=(("a", 9 * TRIEU), ("b", 1 * TRIEU), ("c", 2 * TRIEU))),
     _board(sessions=(("a", 9 * TRIEU), ("c", 3 * TRIEU), ("b", 2 * TRIEU))), []),
    # A session below the floor passes no milestone.
    (_board(sessions=(("a", SESSION_GMV_FLOOR - 2),)),
     _board(sessions=(("a", SESSION_GMV_FLOOR - 1),)), []),
])
def test_detect_banners(old: dict[str, Any] | None, new: dict[str, Any],
                        expected: list[dict[str, Any]]) -> None:
    assert detect_banners(old, new) == expected


def test_a_burst_is_capped() -> None:
    old = _board(gmv=0, orders=0, views=0,
                 sessions=tuple((f"s{i}", SESSION_GMV_FLOOR - 1) for i in range(8)))
    new = _board(gmv=TY, orders=5_000, views=50_000,
                 sessions=tuple((f"s{i}", SESSION_GMV_FLOOR) for i in range(8)))
    banners = detect_banners(old, new)
    assert len(banners) == MAX_BANNERS
    assert [b["kind"] for b in banners[:3]] == ["milestone"] * 3
