"""Milestones and overtakes worth a banner on the venue screen (pure).

The hub compares each new board with the previous one and puts the banners into that
change message, so every screen shows the same banner once, replays it on resume, and
nothing depends on a screen's own memory of earlier frames. Banners are data; the
screen words them in its language::

    {"kind": "milestone", "metric": "gmv_vnd", "value": 1_000_000_000}
    {"kind": "lead", "session": {...}, "passed": {...}}
    {"kind": "session_milestone", "metric": "gmv_vnd", "value": 100_000_000, "session": {...}}
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

Json = dict[str, Any]

# The first milestone of each fair-wide total; later ones follow the 1-2-5 ladder
# (100 triệu, 200 triệu, 500 triệu, 1 tỷ, 2 tỷ, ...), so a banner stays an event.
FAIR_FLOORS: Mapping[str, int] = {
    "gmv_vnd": 100_000_000,
    "orders": 1_000,
    "views": 10_000,
}
SESSION_GMV_FLOOR = 50_000_000
MAX_BANNERS = 4
_STEPS = (1, 2, 5)
_WHO = ("session_id", "title", "host", "shop", "province")


def ladder(floor: int) -> Iterator[int]:
    """The 1-2-5 milestones (1, 2, 5, 10, 20, 50, ...) from ``floor`` up."""
    if floor <= 0:
        raise ValueError(f"floor must be positive, got {floor}")
    scale = 1
    while True:
        for step in _STEPS:
            if step * scale >= floor:
                yield step * scale
        scale *= 10


def crossed(old: int, new: int, floor: int) -> int | None:
    """The highest milestone in ``(old, new]``, or None when none was passed."""
    best = None
    for mark in ladder(floor):
        if mark > new:
            return best
        if mark > old:
            best = mark
    raise AssertionError("unreachable: the ladder is infinite")


def _who(entry: Mapping[str, Any]) -> Json:
    return {name: entry.get(name) for name in _WHO}


def _lead(old: Json, new: Json) -> list[Json]:
    before = old.get("top_sessions_gmv") or []
    after = new.get("top_sessions_gmv") or []
    if not before or not after:
        return []
    if before[0]["session_id"] == after[0]["session_id"]:
        return []
    return [{"kind": "lead", "session": _who(after[0]), "passed": _who(before[0])}]


def _fair_milestones(old: Json, new: Json) -> list[Json]:
    was = old.get("totals") or {}
    now = new.get("totals") or {}
    found = []
    for metric, floor in FAIR_FLOORS.items():
        mark = crossed(int(was.get(metric, 0)), int(now.get(metric, 0)), floor)
        if mark is not None:
            found.append({"kind": "milestone", "metric": metric, "value": mark})
    return found


def _session_milestones(old: Json, new: Json) -> list[Json]:
    # Only sessions on both boards: one that just entered the top list has no known
    # previous value, and guessing one could announce a milestone passed long ago.
    was = {s["session_id"]: s for s in old.get("top_sessions_gmv") or []}
    found = []
    for entry in new.get("top_sessions_gmv") or []:
        before = was.get(entry["session_id"])
        if before is None:
            continue
        mark = crossed(int(before.get("gmv_vnd", 0)), int(entry.get("gmv_vnd", 0)),
                       SESSION_GMV_FLOOR)
        if mark is not None:
            found.append({"kind": "session_milestone", "metric": "gmv_vnd", "value": mark,
                          "session": _who(entry)})
    return found


def detect_banners(old: Json | None, new: Json) -> list[Json]:
    """Banners for the step from board ``old`` to board ``new`` (none for a first board)."""
    if old is None:
        return []
    found = _lead(old, new) + _fair_milestones(old, new) + _session_milestones(old, new)
    return found[:MAX_BANNERS]
