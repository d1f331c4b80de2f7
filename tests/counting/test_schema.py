"""The published JSON Schemas against the decoder they are generated from.

Hypothesis builds messages near the contract's edges (missing fields, wrong types, bounds,
ids at the length limit with characters outside the BMP, unknown kinds and statuses,
envelopes) and checks that the schema and the decoder accept exactly the same ones. What
a schema cannot express is left out of that equality and checked case by case below, one
test per exception listed in docs/contract/README.md.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from counting.contract import MAX_AMOUNT_VND, MAX_QUANTITY, MAX_VIEWERS, MessageDecoder, Reason
from counting.schema import DIALECT, schema_files, schemas

VALIDATORS = {topic: Draft202012Validator(schemas()[f"{topic}-message"])
              for topic in ("views", "orders")}
DECODERS = {topic: MessageDecoder(kind=topic) for topic in ("views", "orders")}  # type: ignore[arg-type]
MIN_MS, END_MS = 946_684_800_000, 4_102_444_800_000

# Exception 1 (hidden characters) and lone surrogates (exception 5) stay out of the ids.
_visible = st.characters(exclude_categories=("Cc", "Cf", "Zl", "Zp", "Cs"))
_not_text_or_int = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.booleans(), st.none(), st.lists(st.integers(0, 1), max_size=1),
)
_not_int = st.one_of(_not_text_or_int, st.text(max_size=3))
good_ids = st.one_of(st.text(_visible, min_size=1, max_size=12),
                    # At the 128 limit, counted in code points by both (astral ones too).
                    st.text(_visible, min_size=126, max_size=128))
ids = st.one_of(good_ids, st.text(_visible, min_size=129, max_size=130), st.just(""),
                st.integers(-1, 1), st.none(), st.booleans())


def bounded(low: int, high: int, others: st.SearchStrategy[Any] = _not_int
            ) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """A valid integer in [low, high], and values at and around the bounds or of other types."""
    edges = st.one_of(st.integers(low - 2, low + 2), st.integers(high - 2, high + 2),
                      st.integers(-(2**70), 2**70), others)
    return st.integers(low, high), edges


_zones = st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-3))])
_ts_ints = bounded(MIN_MS, END_MS - 1, _not_text_or_int)
# Exception 2: only timestamp text the decoder parses (RFC 3339, 2000..2100), or too long.
_ts_text = st.datetimes(datetime(2000, 1, 2), datetime(2099, 12, 30), timezones=_zones).map(
    lambda moment: moment.isoformat())
ts = (st.one_of(_ts_ints[0], _ts_text), st.one_of(_ts_ints[1], st.text(min_size=41, max_size=44)))
_ID = (good_ids, ids)
# Each field: (a valid value, a value near or past the edge of the contract).
_VIEW_FIELDS = {
    "event_id": _ID, "session_id": _ID, "viewer_id": _ID, "viewers": bounded(0, MAX_VIEWERS),
    "kind": (st.sampled_from(["join", "leave", "viewers"]),
             st.one_of(st.sampled_from(["JOIN", "like", "viewer"]), _not_int)),
    "ts": ts,
}
_ORDER_FIELDS = {
    "event_id": _ID, "order_id": _ID, "session_id": _ID, "product_id": _ID,
    "quantity": bounded(1, MAX_QUANTITY), "amount_vnd": bounded(0, MAX_AMOUNT_VND),
    "status": (st.sampled_from(["placed", "paid", "cancelled", "refunded"]),
               st.one_of(st.sampled_from(["PAID", "shipped"]), _not_int)),
    "ts": ts,
}


@st.composite
def event(draw: st.DrawFn, topic: str, session: Any) -> dict[str, Any]:
    """An event with mostly valid fields: a few are dropped or pushed to the edge."""
    fields = _VIEW_FIELDS if topic == "views" else _ORDER_FIELDS
    names = st.sampled_from(sorted(fields))
    dropped = draw(st.sets(names, max_size=1)) if draw(st.integers(0, 4)) == 0 else set()
    edged = draw(st.sets(names, max_size=2)) if draw(st.booleans()) else set()
    out = {name: draw(edge if name in edged else good)
           for name, (good, edge) in fields.items() if name not in dropped}
    if "session_id" in out:
        out["session_id"] = session
    if draw(st.booleans()):
        out["note"] = draw(_not_int)  # unknown fields are ignored by both
    return out


@st.composite
def message(draw: st.DrawFn, topic: str) -> tuple[Any, Any]:
    """A message value and its session (exception 3: an envelope holds one session)."""
    session = draw(st.one_of(good_ids, ids))
    shape = draw(st.integers(0, 5))
    if shape == 0:
        return draw(st.one_of(st.integers(), st.text(max_size=3), st.just([]))), session
    if shape == 1:
        return draw(st.lists(event(topic, session), min_size=1, max_size=3)), session
    return draw(event(topic, session)), session


def _decoder_accepts(topic: str, value: Any, session: Any) -> bool:
    key = session.encode() if isinstance(session, str) else None
    decoded = DECODERS[topic].decode(value=json.dumps(value).encode(), key=key)
    return not decoded.rejected


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(["views", "orders"]).flatmap(lambda t: st.tuples(st.just(t), message(t))))
def test_schema_and_decoder_accept_the_same_messages(case: tuple[str, tuple[Any, Any]]) -> None:
    topic, (value, session) = case
    assert VALIDATORS[topic].is_valid(value) == _decoder_accepts(topic, value, session), value


VIEW = {"event_id": "e1", "session_id": "s1", "viewer_id": "u1", "kind": "join",
        "ts": "2026-11-27T10:00:00+07:00"}
COUNT = {"event_id": "e2", "session_id": "s1", "kind": "viewers", "viewers": 40,
         "ts": 1_795_740_000_000}
ORDER = {"event_id": "e3", "order_id": "o1", "session_id": "s1", "product_id": "p1",
         "quantity": 2, "amount_vnd": 250_000, "status": "paid", "ts": 1_795_740_000_000}


# Each exception of docs/contract/README.md: the schema accepts, the decoder refuses.
@pytest.mark.parametrize(
    ("topic", "raw", "reason"),
    [
        # 1. Hidden characters in ids (Unicode categories a JSON Schema regex cannot name).
        ("views", json.dumps({**VIEW, "viewer_id": "u\u200b1"}), Reason.INVALID_FIELD),
        ("orders", json.dumps({**ORDER, "order_id": "o\u202e1"}), Reason.INVALID_FIELD),
        # 2. Timestamp text: RFC 3339 with an offset, 2000..2100, is beyond the schema.
        ("views", json.dumps({**VIEW, "ts": "yesterday"}), Reason.BAD_TIMESTAMP),
        ("views", json.dumps({**VIEW, "ts": "2026-11-27T10:00:00"}), Reason.BAD_TIMESTAMP),
        ("views", json.dumps({**COUNT, "ts": "1999-12-31T23:59:59Z"}), Reason.BAD_TIMESTAMP),
        # 3. One session per message: the key, and every element of an envelope.
        ("views", json.dumps({**VIEW, "session_id": "s2"}), Reason.KEY_MISMATCH),
        ("views", json.dumps([COUNT, {**COUNT, "event_id": "e9", "session_id": "s2"}]),
         Reason.KEY_MISMATCH),
        # 4. Integral floats: JSON Schema's integer takes 2.0, the decoder wants 2.
        ("orders", json.dumps({**ORDER, "quantity": 2.0}), Reason.INVALID_FIELD),
        ("views", json.dumps({**COUNT, "viewers": 40.0}), Reason.INVALID_FIELD),
        # 5. Lone surrogate escapes: valid JSON text, but no Unicode string.
        ("views", json.dumps(VIEW).replace('"u1"', '"u\\ud800"'), Reason.BAD_JSON),
        # 6. The size limit of a message (OCOP_MAX_MESSAGE_BYTES, here 1 MiB).
        ("views", json.dumps([{**COUNT, "event_id": f"e{i}"} for i in range(12_000)]),
         Reason.TOO_LARGE),
    ],
)
def test_what_the_schema_cannot_say_is_the_listed_exceptions(
    topic: str, raw: str, reason: Reason
) -> None:
    assert VALIDATORS[topic].is_valid(json.loads(raw))
    decoded = DECODERS[topic].decode(value=raw.encode(), key=b"s1")
    assert reason in {r.reason for r in decoded.rejected}


def test_every_event_kind_and_message_has_a_schema_file() -> None:
    files = schema_files()
    assert sorted(files) == [
        "order.schema.json", "orders-message.schema.json", "view-join.schema.json",
        "view-leave.schema.json", "view-viewers.schema.json", "views-message.schema.json",
    ]
    for text in files.values():
        schema = json.loads(text)
        assert schema["$schema"] == DIALECT
        Draft202012Validator.check_schema(schema)
        assert "_Wire" not in text  # the private struct names stay private


@pytest.mark.parametrize(("name", "value"), [("view-join", VIEW), ("view-viewers", COUNT),
                                             ("order", ORDER)])
def test_each_event_schema_takes_its_own_kind_only(name: str, value: dict[str, Any]) -> None:
    for other, schema in schemas().items():
        if other.endswith("-message"):
            continue
        assert Draft202012Validator(schema).is_valid(value) == (other == name), other
