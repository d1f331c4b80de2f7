"""Staff controls of the venue screens, as Redis holds them and as a board carries them.

``ocop-live screens message`` and ``ocop-live board hide``/``unhide`` write Redis (keys
in ``store/keys.py``) and publish ``controls`` on the screens channel; each web process
then reads them into the next board, so every process and every screen agree, and a
restarted process finds them again. A board carries::

    "message": {"text": "Phiên đấu giá bắt đầu lúc 15:00", "until_ms": 1764580000000}
    "hidden_sessions": ["cp-test-1"]
    "goal": {"goal_vnd": 500000000, "gmv_vnd": 360000000, "ratio": 0.72,
             "projected_finish_ms": 1764582000000}

A hidden session leaves every leaderboard (sessions, products, provinces) but is still
counted: the fair's totals, windows, chart and campaign include it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from store.client import RedisClient
from store.keys import Keys

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Controls:
    """What staff set: the message (None: none) and the hidden session ids."""

    message: Json | None = None
    hidden: frozenset[str] = frozenset()


def decode_message(raw: str | None) -> Json | None:
    """The stored message as a board carries it; None for none or for a value that is not
    a message (written by hand, say), so a bad value blanks the banner, not the board."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        return None
    until = value.get("until_ms")
    return {"text": value["text"], "until_ms": until if isinstance(until, int) else None}


async def read_controls(redis: RedisClient, keys: Keys) -> Controls:
    """The message and the hidden sessions, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.screens_message())
        pipe.smembers(keys.hidden_sessions())
        raw, hidden = await pipe.execute()
    return Controls(message=decode_message(raw), hidden=frozenset(hidden))


def goal_progress(goal_vnd: int, *, gmv_vnd: int, start_ms: int | None,
                  now_ms: int) -> Json | None:
    """How far the fair is towards ``goal_vnd`` and, at its revenue rate since
    ``start_ms``, when it gets there (None when no goal is set).

    ``projected_finish_ms`` is None before any revenue (no rate yet), for a fair
    without a start time, and once the goal is reached.
    """
    if goal_vnd <= 0:
        return None
    finish = None
    if start_ms is not None and 0 < gmv_vnd < goal_vnd and now_ms > start_ms:
        elapsed = now_ms - start_ms
        finish = start_ms + (goal_vnd * elapsed + gmv_vnd - 1) // gmv_vnd
    return {"goal_vnd": goal_vnd, "gmv_vnd": gmv_vnd, "ratio": gmv_vnd / goal_vnd,
            "projected_finish_ms": finish}
