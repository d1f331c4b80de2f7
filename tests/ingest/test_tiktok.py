"""TikTokLive's own events into contract events, and through the worker's strict decoder.

The events are built as TikTokLive builds them from the room's feed: a protobuf payload
parsed by the event class its ``EVENT_MAPPINGS`` names for the webcast method. Nothing
here reaches TikTok.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from common.settings import Settings
from consumers.topics import ensure_topics
from counting.contract import ViewerCount, ViewEvent
from ingest import tiktok
from ingest.events import check_events, decoders
from ingest.producer import Delivery
from ingest.tiktok_room import Room
from tests.ingest.client import topic_events

pytest.importorskip(
    "TikTokLive",
    reason="TikTokLive (the tiktok extra) is not installed: pip install 'ocop-live[tiktok]'; "
           "make setup installs it",
)

from TikTokLive.events import JoinEvent, RoomUserSeqEvent
from TikTokLive.events.proto_events import EVENT_MAPPINGS
from TikTokLive.proto.custom_proto import ExtendedUser
from TikTokLiveProto.v3.webcast.im import MemberMessageAction
from TikTokLiveProto.v3.webcast.model.base.user import User
from TikTokLiveProto.v3.webcast.model.message import (
    WebcastMemberMessage,
    WebcastRoomUserSeqMessage,
)
from TikTokLiveProto.v3.webcast.shared.message import CommonMessageData

SESSION = "cp-01"
CREATED_MS = 1_764_583_200_000
RECEIVED_MS = 1_764_583_205_000


def _from_feed(method: str, message: Any) -> Any:
    # What TikTokLiveClient does with each webcast message: the class for its method
    # parses the payload bytes.
    return EVENT_MAPPINGS[method]().parse(bytes(message))


def _join(*, msg_id: int = 7_300_000_000_000_000_001, created: int = CREATED_MS,
          handle: str = "alice.vn", user_id: int = 6_800_000_000_000_000_042,
          action: MemberMessageAction = MemberMessageAction.JOINED) -> Any:
    return _from_feed("WebcastMemberMessage", WebcastMemberMessage(
        common=CommonMessageData(method="WebcastMemberMessage", msg_id=msg_id,
                                 create_time=created),
        user=User(id=user_id, display_id=handle), action=action))


def _count(*, total: int = 1_234, msg_id: int = 7_300_000_000_000_000_002,
           created: int = CREATED_MS) -> Any:
    return _from_feed("WebcastRoomUserSeqMessage", WebcastRoomUserSeqMessage(
        common=CommonMessageData(method="WebcastRoomUserSeqMessage", msg_id=msg_id,
                                 create_time=created),
        total=total, total_user=98_765))


def test_the_feed_parses_into_the_library_event_types() -> None:
    assert isinstance(_join(), JoinEvent)
    assert isinstance(_count(), RoomUserSeqEvent)


def test_a_join_becomes_a_join_of_the_users_unique_id_at_the_events_time() -> None:
    event = tiktok.join_event(_join(), session_id=SESSION, received_ms=RECEIVED_MS)
    assert event == {"event_id": f"tiktok:{SESSION}:join:7300000000000000001",
                     "session_id": SESSION, "kind": "join", "viewer_id": "alice.vn",
                     "ts": CREATED_MS}


def test_the_room_count_becomes_a_viewers_count_of_its_total() -> None:
    event = tiktok.viewers_event(_count(total=1_234), session_id=SESSION,
                                 received_ms=RECEIVED_MS)
    assert event == {"event_id": f"tiktok:{SESSION}:viewers:7300000000000000002",
                     "session_id": SESSION, "kind": "viewers", "viewers": 1_234,
                     "ts": CREATED_MS}


def test_a_redelivered_message_keeps_its_event_id_and_another_session_gets_its_own() -> None:
    first = tiktok.join_event(_join(), session_id=SESSION, received_ms=RECEIVED_MS)
    again = tiktok.join_event(_join(), session_id=SESSION, received_ms=RECEIVED_MS + 60_000)
    other = tiktok.join_event(_join(), session_id="cp-02", received_ms=RECEIVED_MS)
    assert first is not None and again is not None and other is not None
    assert first["event_id"] == again["event_id"]
    assert other["event_id"] != first["event_id"]


def test_without_a_message_id_the_id_comes_from_the_content() -> None:
    first = tiktok.join_event(_join(msg_id=0), session_id=SESSION, received_ms=RECEIVED_MS)
    again = tiktok.join_event(_join(msg_id=0), session_id=SESSION, received_ms=RECEIVED_MS)
    count = tiktok.viewers_event(_count(msg_id=0), session_id=SESSION, received_ms=RECEIVED_MS)
    assert first is not None and again is not None
    assert first["event_id"] == again["event_id"] == f"tiktok:{SESSION}:join:alice.vn@{CREATED_MS}"
    assert count["event_id"] == f"tiktok:{SESSION}:viewers:{CREATED_MS}"


@pytest.mark.parametrize(("created", "expected"), [
    (CREATED_MS, CREATED_MS),
    (CREATED_MS // 1000, CREATED_MS),  # seconds
    (0, RECEIVED_MS),  # no create time: the receive time
])
def test_the_timestamp_is_the_events_own_else_the_receive_time(created: int,
                                                              expected: int) -> None:
    join = tiktok.join_event(_join(created=created), session_id=SESSION,
                             received_ms=RECEIVED_MS)
    count = tiktok.viewers_event(_count(created=created), session_id=SESSION,
                                 received_ms=RECEIVED_MS)
    assert join is not None
    assert join["ts"] == count["ts"] == expected


def test_a_user_without_a_handle_is_told_apart_by_the_numeric_id() -> None:
    event = tiktok.join_event(_join(handle="", user_id=42), session_id=SESSION,
                              received_ms=RECEIVED_MS)
    assert event is not None and event["viewer_id"] == "42"


def test_a_subscription_notice_and_an_anonymous_member_are_no_joins() -> None:
    subscribed = _join(action=MemberMessageAction.SUBSCRIBED)
    anonymous = _join(handle="", user_id=0)
    assert tiktok.join_event(subscribed, session_id=SESSION, received_ms=RECEIVED_MS) is None
    assert tiktok.join_event(anonymous, session_id=SESSION, received_ms=RECEIVED_MS) is None


def test_the_mapped_events_pass_the_workers_strict_decoder() -> None:
    join = tiktok.join_event(_join(), session_id=SESSION, received_ms=RECEIVED_MS)
    assert join is not None
    raws = [tiktok.encode(join), tiktok.encode(tiktok.viewers_event(
        _count(), session_id=SESSION, received_ms=RECEIVED_MS))]
    checked = check_events(raws, decoders(1_048_576))
    assert checked.problems == []
    assert [(v.topic_kind, v.session_id) for v in checked.valid] == [("views", SESSION)] * 2
    decoded = decoders(1_048_576)["views"].decode(value=b"[" + b",".join(raws) + b"]",
                                                  key=SESSION.encode())
    assert decoded.rejected == []
    assert decoded.events == [
        ViewEvent(join["event_id"], SESSION, "alice.vn", True, CREATED_MS),  # type: ignore[arg-type]
        ViewerCount(f"tiktok:{SESSION}:viewers:7300000000000000002", SESSION, 1_234, CREATED_MS),
    ]


def test_the_room_queues_what_the_decoder_takes_and_drops_what_it_refuses() -> None:
    room = Room(Settings(), session_id=SESSION, clock=lambda: RECEIVED_MS)
    room.on_join(_join())
    room.on_viewers(_count(total=55))
    # A count no room can have: the contract refuses it, so it is logged and dropped.
    room.on_viewers(_count(total=2_000_000_000))
    room.on_join(_join(action=MemberMessageAction.SUBSCRIBED))
    assert room.refused == 1
    assert [json.loads(raw)["kind"] for raw in room.pending] == ["join", "viewers"]


def test_a_full_queue_drops_the_newest_events_and_says_how_many(
        caplog: pytest.LogCaptureFixture) -> None:
    room = Room(Settings(tiktok_max_pending=500), session_id=SESSION,
                clock=lambda: RECEIVED_MS)
    for i in range(503):
        room.on_join(_join(msg_id=i + 1))
    # The oldest stay: they may be in flight to Kafka while the feed goes on.
    assert [json.loads(raw)["event_id"] for raw in room.pending[:1]] == [
        f"tiktok:{SESSION}:join:1"]
    assert (len(room.pending), room.overflowed) == (500, 3)
    full = [r for r in caplog.records if "OCOP_TIKTOK_MAX_PENDING" in r.getMessage()]
    assert len(full) == 1 and full[0].levelname == "ERROR"
    del room.pending[:10]  # Kafka took a batch
    room.on_join(_join(msg_id=1_000))
    assert len(room.pending) == 491 and room.overflowed == 3
    assert any("3 events were dropped" in r.getMessage() for r in caplog.records)


def test_the_librarys_extended_user_maps_the_same() -> None:
    event = JoinEvent(common=CommonMessageData(msg_id=5, create_time=CREATED_MS),
                      user=ExtendedUser(id=1, display_id="bob"), action=MemberMessageAction.JOINED)
    assert event.user is not None and event.user.unique_id == "bob"
    mapped = tiktok.join_event(event, session_id=SESSION, received_ms=RECEIVED_MS)
    assert mapped is not None and mapped["viewer_id"] == "bob"


async def _views(settings: Settings) -> list[tuple[bytes, object]]:
    return await topic_events(settings, "views")


@pytest.mark.integration
async def test_the_room_publishes_through_the_gateways_producer_keyed_by_session(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    await ensure_topics(settings)
    room = Room(settings, session_id=SESSION, clock=lambda: RECEIVED_MS)
    room.on_join(_join())
    room.on_viewers(_count(total=321))
    delivery = Delivery(settings)
    await delivery.start()
    try:
        await room.flush(delivery)
    finally:
        await delivery.stop()
    assert room.pending == []
    found = await _views(settings)
    assert {key for key, _ in found} == {SESSION.encode()}
    assert [type(event) for _, event in found] == [ViewEvent, ViewerCount]
    assert isinstance(found[1][1], ViewerCount) and found[1][1].viewers == 321
