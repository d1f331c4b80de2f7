"""The gateway's pure parts: body splitting, per-event checks, envelopes, rate buckets."""

from __future__ import annotations

import json

import pytest

from counting.contract import MessageDecoder, Reason
from ingest.events import BadBody, check_events, decoders, envelopes, split_body
from ingest.limits import RateLimits

VIEW = {"event_id": "e1", "session_id": "cp-01", "viewer_id": "v1", "kind": "join",
        "ts": "2026-12-01T10:00:00.000Z"}
ORDER = {"event_id": "o1", "order_id": "A1", "session_id": "cp-02", "product_id": "p1",
         "quantity": 1, "amount_vnd": 150_000, "status": "placed", "ts": 1_764_583_200_000}


def _raw(event: object) -> bytes:
    return json.dumps(event).encode()


def test_a_json_array_and_ndjson_split_into_the_same_events() -> None:
    elements = [_raw(VIEW), _raw(ORDER)]
    assert split_body(b"[" + b",".join(elements) + b"]", ndjson=False) == elements
    assert split_body(b"\n".join(elements) + b"\r\n\n", ndjson=True) == elements


@pytest.mark.parametrize(("body", "ndjson"), [
    (b"hello", False), (b'{"event_id": "e1"}', False), (b"[]", False), (b"\n \n", True),
    (b"\xff\xfe", False),
])
def test_bodies_with_no_events_are_bad(body: bytes, ndjson: bool) -> None:
    with pytest.raises(BadBody):
        split_body(body, ndjson=ndjson)


def test_each_event_is_checked_by_the_worker_decoder_of_its_topic() -> None:
    bad_quantity = {**ORDER, "quantity": 0}
    bad_ts = {**VIEW, "event_id": "e2", "ts": "yesterday"}
    elements = [_raw(VIEW), _raw(bad_quantity), b"{nope", _raw(ORDER), _raw(bad_ts)]
    checked = check_events(elements, decoders(1_048_576))
    assert [(v.index, v.topic_kind, v.session_id) for v in checked.valid] == [
        (0, "views", "cp-01"), (3, "orders", "cp-02")]
    assert [(p.index, p.reason, p.field) for p in checked.problems] == [
        (1, Reason.INVALID_FIELD, "quantity"), (2, Reason.BAD_JSON, None),
        (4, Reason.BAD_TIMESTAMP, "ts")]


def test_a_body_of_only_junk_lines_is_bad() -> None:
    with pytest.raises(BadBody, match="no line"):
        check_events([b"hello", b"world"], decoders(1_048_576))


def test_envelopes_group_by_session_and_decode_as_the_worker_would() -> None:
    views = [{**VIEW, "event_id": f"e{i}", "session_id": f"cp-0{i % 2}"} for i in range(6)]
    checked = check_events([_raw(v) for v in [*views, ORDER]], decoders(1_048_576))
    records = envelopes(checked.valid, views_topic="v", orders_topic="o")
    assert [(r.topic, r.key) for r in records] == [("v", b"cp-00"), ("v", b"cp-01"),
                                                   ("o", b"cp-02")]
    decoder = MessageDecoder(kind="views")
    first = decoder.decode(value=records[0].value, key=records[0].key)
    assert [e.event_id for e in first.events] == ["e0", "e2", "e4"]
    assert not first.rejected


def test_a_bucket_refills_at_its_rate_and_holds_one_full_request() -> None:
    now = [0.0]
    limits = RateLimits(rate=100.0, floor=500, clock=lambda: now[0])
    assert limits.take("k", 500) == 0.0
    assert limits.take("k", 50) == pytest.approx(0.5)
    now[0] = 1.0
    assert limits.take("k", 100) == 0.0
    assert limits.take("other", 500) == 0.0


def test_a_session_with_large_events_is_split_into_envelopes_under_the_limit() -> None:
    views = [{**VIEW, "event_id": f"{i:04d}" + "e" * 124, "viewer_id": "v" * 128}
             for i in range(500)]
    # Whitespace the decoder skips makes each element about 700 bytes: 350 kB in all.
    checked = check_events([_raw(v) + b" " * 300 for v in views], decoders(1_048_576))
    records = envelopes(checked.valid, views_topic="v", orders_topic="o")
    assert len(records) == 2
    assert all(len(r.value) <= 256 * 1024 for r in records)
    decoder = MessageDecoder(kind="views")
    ids = [e.event_id for r in records for e in decoder.decode(value=r.value, key=r.key).events]
    assert ids == [v["event_id"] for v in views]
