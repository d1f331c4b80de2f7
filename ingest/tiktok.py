"""TikTok LIVE room events into contract events: joins and the room's viewer count.

TikTok LIVE has no official event API; the community ``TikTokLive`` library (the
``tiktok`` extra) reads a room's webcast feed. Two of its events matter here:

- ``JoinEvent`` (TikTok's ``WebcastMemberMessage``): a viewer entered. It becomes a
  ``join`` view event whose viewer is the user's unique id (the @-handle).
- ``RoomUserSeqEvent`` (``WebcastRoomUserSeqMessage``): TikTok's periodic count of the
  viewers in the room (its ``total``). It becomes a ``viewers`` count event.

TikTok sends no leaves, so a room's viewers now is its latest count (docs/design.md).

The functions are pure and read the events by attribute only, so this module does not
import the library: the core runs without the extra.

Usage::

    event = join_event(library_event, session_id="cp-01", received_ms=wall_ms())
    raw = encode(event)  # bytes for the strict decoder and the producer
"""

from __future__ import annotations

from typing import Protocol

import msgspec

# WebcastMemberMessage's action for a subscription notice, not a viewer entering.
_SUBSCRIBED = 3
# Below this a timestamp is in seconds, not milliseconds (1e11 ms is March 1973).
_SECONDS_BELOW = 100_000_000_000
_PREFIX = "tiktok"


class _Common(Protocol):
    msg_id: int
    create_time: int


class _User(Protocol):
    id: int
    # The @-handle: TikTokLive's ``unique_id`` is an alias of it on its ExtendedUser,
    # while a user parsed straight from the feed may be the plain proto User.
    display_id: str


class JoinLike(Protocol):
    """What the mapping reads of TikTokLive's ``JoinEvent``."""

    common: _Common | None
    user: _User | None
    user_id: int
    action: int


class RoomUserLike(Protocol):
    """What the mapping reads of TikTokLive's ``RoomUserSeqEvent``."""

    common: _Common | None
    total: int


def event_ms(common: _Common | None, received_ms: int) -> int:
    """The event's own time in epoch ms, or the receive time when it carries none."""
    created = common.create_time if common is not None else 0
    if created <= 0:
        # Some messages come without a create time: the moment it reached us is the
        # closest time there is (the feed is live, seconds behind at most).
        return received_ms
    return created * 1000 if created < _SECONDS_BELOW else created


def _event_id(session_id: str, kind: str, common: _Common | None, fallback: str) -> str:
    # TikTok's message id is the same on every re-delivery (a reconnect replays the
    # room's recent messages), so the worker's event-id dedup drops the repeats. The
    # session is part of the id: one room may feed two sessions, each counting it once.
    msg_id = common.msg_id if common is not None else 0
    return f"{_PREFIX}:{session_id}:{kind}:{msg_id or fallback}"


def viewer_id(event: JoinLike) -> str | None:
    """The joining user's unique id (@-handle), else TikTok's numeric user id."""
    user = event.user
    if user is not None and user.display_id:
        return user.display_id
    # Without a handle the numeric id still tells viewers apart; a user seen both ways
    # counts as two unique viewers, which TikTok's own feed makes rare.
    numeric = (user.id if user is not None else 0) or event.user_id
    return str(numeric) if numeric else None


def join_event(event: JoinLike, *, session_id: str, received_ms: int) -> dict[str, object] | None:
    """A ``join`` view event, or None for a member message that is no entry."""
    if int(event.action) == _SUBSCRIBED:
        return None
    viewer = viewer_id(event)
    if viewer is None:
        return None
    ts_ms = event_ms(event.common, received_ms)
    return {"event_id": _event_id(session_id, "join", event.common, f"{viewer}@{ts_ms}"),
            "session_id": session_id, "kind": "join", "viewer_id": viewer, "ts": ts_ms}


def viewers_event(event: RoomUserLike, *, session_id: str,
                  received_ms: int) -> dict[str, object]:
    """A ``viewers`` count event from the room's viewer count."""
    ts_ms = event_ms(event.common, received_ms)
    return {"event_id": _event_id(session_id, "viewers", event.common, str(ts_ms)),
            "session_id": session_id, "kind": "viewers", "viewers": event.total, "ts": ts_ms}


def encode(event: dict[str, object]) -> bytes:
    """The event's JSON bytes, as the gateway would receive them."""
    return msgspec.json.encode(event)
