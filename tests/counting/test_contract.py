"""The data contract: what decodes, what is rejected and with which reason."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from counting.contract import (
    MessageDecoder,
    OrderEvent,
    Reason,
    Status,
    TimestampError,
    ViewerCount,
    ViewEvent,
    parse_ts,
)

VIEW: dict[str, Any] = {
    "event_id": "e1", "session_id": "s1", "viewer_id": "u1", "kind": "join",
    "ts": "2026-11-27T10:00:00+07:00",
}
COUNT: dict[str, Any] = {
    "event_id": "e5", "session_id": "s1", "kind": "viewers", "viewers": 1_234,
    "ts": "2026-11-27T10:00:05.500+07:00",
}
ORDER: dict[str, Any] = {
    "event_id": "e2", "order_id": "o1", "session_id": "s1", "product_id": "p1",
    "quantity": 2, "amount_vnd": 250_000, "status": "paid", "ts": 1_795_740_000_000,
}


def _decode(kind: str, value: Any, key: bytes | None = b"s1") -> Any:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return MessageDecoder(kind=kind, max_bytes=4096).decode(value=raw, key=key)  # type: ignore[arg-type]


def test_view_and_order_decode() -> None:
    view = _decode("views", VIEW).events[0]
    assert view == ViewEvent("e1", "s1", "u1", True, 1_795_748_400_000)
    order = _decode("orders", ORDER).events[0]
    assert isinstance(order, OrderEvent)
    assert (order.status, order.quantity, order.amount_vnd) == (Status.PAID, 2, 250_000)


def test_a_viewer_count_decodes_without_a_viewer_id() -> None:
    assert _decode("views", COUNT).events == [ViewerCount("e5", "s1", 1_234, 1_795_748_405_500)]
    # An envelope may mix counts, joins and leaves of its session.
    mixed = _decode("views", [VIEW, COUNT, {**VIEW, "event_id": "e6", "kind": "leave"}])
    assert mixed.rejected == []
    assert [type(e).__name__ for e in mixed.events] == ["ViewEvent", "ViewerCount", "ViewEvent"]
    assert not mixed.events[2].join  # type: ignore[union-attr]


def test_envelope_keeps_valid_events_and_rejects_bad_ones_alone() -> None:
    bad = {**ORDER, "event_id": "e3", "amount_vnd": -1}
    decoded = _decode("orders", [ORDER, bad, {**ORDER, "event_id": "e4"}])
    assert [e.event_id for e in decoded.events] == ["e2", "e4"]
    assert list(decoded.indexes) == [0, 2]
    assert json.loads(decoded.element(2))["event_id"] == "e4"
    assert [(r.reason, r.index) for r in decoded.rejected] == [(Reason.INVALID_FIELD, 1)]
    assert json.loads(decoded.rejected[0].raw) == bad


@pytest.mark.parametrize(
    ("kind", "value", "reason", "detail"),
    [
        ("views", b"{nope", Reason.BAD_JSON, "malformed"),
        ("views", b"", Reason.BAD_JSON, ""),
        ("views", b"[]", Reason.BAD_ENVELOPE, "empty"),
        ("views", b"42", Reason.BAD_JSON, ""),
        ("views", {**VIEW, "kind": "wave"}, Reason.INVALID_FIELD, "kind"),
        ("views", {k: v for k, v in VIEW.items() if k != "kind"}, Reason.INVALID_FIELD, "kind"),
        ("views", {**COUNT, "viewers": -1}, Reason.INVALID_FIELD, "viewers"),
        ("views", {**COUNT, "viewers": 10**10}, Reason.INVALID_FIELD, "viewers"),
        ("views", {**COUNT, "viewers": "12"}, Reason.INVALID_FIELD, "viewers"),
        ("views", {**COUNT, "viewers": True}, Reason.INVALID_FIELD, "viewers"),
        ("views", {k: v for k, v in COUNT.items() if k != "viewers"}, Reason.INVALID_FIELD,
         "viewers"),
        ("views", {**COUNT, "event_id": "c\u200b1"}, Reason.INVALID_FIELD, "event_id"),
        ("views", {**COUNT, "ts": "soon"}, Reason.BAD_TIMESTAMP, "soon"),
        ("views", {k: v for k, v in VIEW.items() if k != "viewer_id"}, Reason.INVALID_FIELD,
         "viewer_id"),
        ("views", {**VIEW, "viewer_id": ""}, Reason.INVALID_FIELD, "viewer_id"),
        ("views", {**VIEW, "viewer_id": "a\x00b"}, Reason.INVALID_FIELD, "viewer_id"),
        ("views", {**VIEW, "event_id": "x" * 129}, Reason.INVALID_FIELD, "event_id"),
        ("views", {**VIEW, "ts": "yesterday"}, Reason.BAD_TIMESTAMP, "yesterday"),
        ("views", {**VIEW, "ts": "2026-11-27T10:00:00"}, Reason.BAD_TIMESTAMP, "offset"),
        ("views", {**VIEW, "ts": 1_795_740_000}, Reason.INVALID_FIELD, "ts"),
        ("views", {**VIEW, "session_id": "s2"}, Reason.KEY_MISMATCH, "s2"),
        ("orders", {**ORDER, "quantity": "2"}, Reason.INVALID_FIELD, "quantity"),
        ("orders", {**ORDER, "quantity": True}, Reason.INVALID_FIELD, "quantity"),
        ("orders", {**ORDER, "quantity": 0}, Reason.INVALID_FIELD, "quantity"),
        ("orders", {**ORDER, "amount_vnd": -5}, Reason.INVALID_FIELD, "amount_vnd"),
        ("orders", {**ORDER, "amount_vnd": 10**15}, Reason.INVALID_FIELD, "amount_vnd"),
        ("orders", {**ORDER, "status": "shipped"}, Reason.INVALID_FIELD, "status"),
        ("orders", b"x" * 5000, Reason.TOO_LARGE, "5000"),
    ],
)
def test_rejections_name_the_problem(kind: str, value: Any, reason: Reason, detail: str) -> None:
    decoded = _decode(kind, value)
    assert decoded.events == []
    assert [r.reason for r in decoded.rejected] == [reason]
    assert detail in decoded.rejected[0].detail


def test_envelope_of_another_session_than_the_key_is_rejected_per_event() -> None:
    decoded = _decode("views", [VIEW, {**VIEW, "event_id": "e9", "session_id": "s9"}])
    assert len(decoded.events) == 1
    assert decoded.rejected[0].reason is Reason.KEY_MISMATCH


def test_without_a_key_the_first_event_names_the_session() -> None:
    decoded = _decode("views", [VIEW, {**VIEW, "session_id": "s9"}], key=None)
    assert len(decoded.events) == 1
    assert decoded.rejected[0].reason is Reason.KEY_MISMATCH


# One of each kind of character that hides or rearranges an id on a screen or in a log.
HIDDEN = [
    ("\u202e", "Cf"),  # RIGHT-TO-LEFT OVERRIDE
    ("\u2066", "Cf"),  # LEFT-TO-RIGHT ISOLATE
    ("\u200b", "Cf"),  # ZERO WIDTH SPACE
    ("\u200d", "Cf"),  # ZERO WIDTH JOINER
    ("\ufeff", "Cf"),  # BOM / ZERO WIDTH NO-BREAK SPACE
    ("\u00ad", "Cf"),  # SOFT HYPHEN
    ("\U000e0041", "Cf"),  # TAG LATIN CAPITAL LETTER A
    ("\u2028", "Zl"),  # LINE SEPARATOR
    ("\u2029", "Zp"),  # PARAGRAPH SEPARATOR
    ("\u0085", "Cc"),  # NEXT LINE (NEL), C1
    ("\u009b", "Cc"),  # CONTROL SEQUENCE INTRODUCER, C1
    ("\x00", "Cc"),
    ("\x1b", "Cc"),
    ("\n", "Cc"),
    ("\x7f", "Cc"),
]
VIEW_IDS = ("event_id", "session_id", "viewer_id")
ORDER_IDS = ("event_id", "order_id", "session_id", "product_id")


@pytest.mark.parametrize(("char", "category"), HIDDEN)
@pytest.mark.parametrize(
    ("kind", "name"),
    [("views", name) for name in VIEW_IDS] + [("orders", name) for name in ORDER_IDS],
)
def test_ids_with_hidden_characters_are_rejected_naming_field_and_code_point(
    char: str, category: str, kind: str, name: str
) -> None:
    base = VIEW if kind == "views" else ORDER
    value = f"cp-{char}01"
    key = value.encode() if name == "session_id" else b"s1"
    decoded = _decode(kind, {**base, name: value}, key=key)
    assert decoded.events == []
    [rejected] = decoded.rejected
    assert rejected.reason is Reason.INVALID_FIELD
    assert f"U+{ord(char):04X} ({category})" in rejected.detail
    assert f"`$.{name}`" in rejected.detail


@pytest.mark.parametrize(
    "value",
    ["phiên-chợ-Bắc-Kạn-01", "Trần Thị Mỹ Linh", "Đồng Tháp", "ắằẳẵặ-ỳỷỹỵ", "mã đơn #7",
     "tỉnh/thành", "emoji-🍵", "a\u0301-combining", "\uff46\uff55\uff4c\uff4c"],
)
def test_ids_with_diacritics_and_other_visible_text_are_accepted(value: str) -> None:
    decoded = _decode("views", {**VIEW, "session_id": value, "viewer_id": value},
                      key=value.encode())
    assert decoded.rejected == []
    assert (decoded.events[0].session_id, decoded.events[0].viewer_id) == (value, value)


# st.text() leaves out lone surrogates, which JSON text cannot carry to begin with.
@given(st.text(min_size=1, max_size=30))
def test_an_id_is_rejected_exactly_when_it_has_a_hidden_character(value: str) -> None:
    decoded = _decode("views", {**VIEW, "viewer_id": value})
    hidden = [c for c in value if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}]
    if hidden:
        assert [r.reason for r in decoded.rejected] == [Reason.INVALID_FIELD]
        assert f"U+{ord(hidden[0]):04X}" in decoded.rejected[0].detail
    else:
        assert [e.viewer_id for e in decoded.events] == [value]


@given(st.binary(max_size=300))
def test_no_bytes_crash_the_decoder(raw: bytes) -> None:
    decoded = MessageDecoder(kind="orders").decode(value=raw, key=b"s1")
    assert len(decoded.events) + len(decoded.rejected) >= 1


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-11-27T03:00:00Z", 1_795_748_400_000),
        ("2026-11-27T10:00:00+07:00", 1_795_748_400_000),
        ("2026-11-27T10:00:00.250+07:00", 1_795_748_400_250),
    ],
)
def test_rfc3339_timestamps(text: str, ms: int) -> None:
    assert parse_ts(text) == ms


def test_a_valid_envelope_keeps_each_element_s_bytes() -> None:
    views = [VIEW, {**VIEW, "event_id": "e2", "ts": "2026-11-27T03:00:00.125Z"}]
    decoded = _decode("views", views)
    assert decoded.rejected == []
    assert list(decoded.indexes) == [0, 1]
    assert [json.loads(decoded.element(i)) for i in decoded.indexes] == views
    assert decoded.events[1].ts_ms == 1_795_748_400_125


def _slow_parse(text: str) -> int | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None or ("T" not in text and " " not in text):
        return None
    ms = int(parsed.timestamp() * 1000)
    return ms if 946_684_800_000 <= ms < 4_102_444_800_000 else None


_digits = st.text("0123456789", min_size=2, max_size=2)


@given(
    st.datetimes(min_value=datetime(1999, 12, 31), max_value=datetime(2100, 1, 2)),
    st.sampled_from(["Z", "+07:00", "-03:30", "+00:00", "+14:00", "z", "+7:00", "+07:0x"]),
    _digits, _digits, st.sampled_from(["000", "999", "5a0", "12", "1234", "٣٣٣"]),
)
def test_the_common_timestamp_shape_parses_like_the_full_parser(
    moment: datetime, offset: str, minute: str, second: str, fraction: str
) -> None:
    text = f"{moment:%Y-%m-%dT%H}:{minute}:{second}.{fraction}{offset}"
    expected = _slow_parse(text)
    if expected is None:
        with pytest.raises(TimestampError):
            parse_ts(text)
    else:
        assert parse_ts(text) == expected


@pytest.mark.parametrize(
    "raw",
    [b'{"event_id": "\xff\xfe"}', b'[{"event_id": "\xff"}]', b"[" * 5000 + b"]" * 5000],
)
def test_invalid_utf8_and_deep_nesting_are_bad_json(raw: bytes) -> None:
    decoded = MessageDecoder(kind="views").decode(value=raw, key=b"s1")
    assert decoded.events == []
    assert [r.reason for r in decoded.rejected] == [Reason.BAD_JSON]
