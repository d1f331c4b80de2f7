"""Catalog records → changes (pure): sessions and fairs, tombstones, dead letters."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from common.catalog import SAMPLE_CATALOG, encode_fair, encode_session, fair_key, load_catalog
from counting.aggregate import Record
from counting.catalog import catalog_changes
from counting.contract import Reason

SAMPLE = load_catalog(SAMPLE_CATALOG)
CATALOG = SAMPLE.for_fair("cg-2023-11-25")
FAIR = CATALOG.fairs[0]
SESSION = CATALOG.sessions[0]


def rec(offset: int, key: str | None, value: bytes | None) -> Record:
    return Record("ocop.sessions", 0, offset, None if key is None else key.encode(), value)


def fair_record(offset: int, value: bytes | None, fair_id: str = FAIR.fair_id) -> Record:
    return rec(offset, fair_key(fair_id), value)


def test_sessions_and_fairs_land_in_their_own_changes() -> None:
    changes = catalog_changes([
        fair_record(0, encode_fair(FAIR)),
        rec(1, SESSION.session_id, encode_session(SESSION)),
    ])
    assert changes.fairs == {FAIR.fair_id: encode_fair(FAIR).decode()}
    assert changes.sessions == {SESSION.session_id: encode_session(SESSION).decode()}
    assert changes.dead_letters == []


def test_a_fair_tombstone_removes_the_fair_not_a_session() -> None:
    changes = catalog_changes([fair_record(0, encode_fair(FAIR)), fair_record(1, None)])
    assert changes.fairs == {FAIR.fair_id: None}
    assert changes.sessions == {}
    # A session whose id happens to equal the fair id is another key.
    changes = catalog_changes([rec(0, FAIR.fair_id, None)])
    assert (changes.sessions, changes.fairs) == ({FAIR.fair_id: None}, {})


def test_bad_fair_values_are_dead_lettered_with_their_bytes() -> None:
    bad = json.dumps(dict(json.loads(encode_fair(FAIR)), province="Atlantis")).encode()
    renamed = encode_fair(FAIR).replace(FAIR.fair_id.encode(), b"other-fair")
    changes = catalog_changes([
        fair_record(0, bad),
        fair_record(1, b"not json"),
        fair_record(2, encode_session(SESSION)),
        fair_record(3, renamed),
        fair_record(4, encode_fair(FAIR)),
    ])
    assert changes.fairs == {FAIR.fair_id: encode_fair(FAIR).decode()}
    letters = changes.dead_letters
    assert [(d.offset, d.rejected.reason) for d in letters] == [
        (0, Reason.INVALID_FIELD), (1, Reason.INVALID_FIELD), (2, Reason.INVALID_FIELD),
        (3, Reason.KEY_MISMATCH)]
    assert [d.rejected.raw for d in letters] == [bad, b"not json", encode_session(SESSION),
                                                 renamed]
    assert all(d.key == fair_key(FAIR.fair_id).encode() for d in letters)
    assert "province" in letters[0].rejected.detail and "Atlantis" in letters[0].rejected.detail
    assert "fair value" in letters[1].rejected.detail
    assert "'other-fair'" in letters[3].rejected.detail


def test_a_fair_value_under_a_session_key_is_a_bad_session() -> None:
    changes = catalog_changes([rec(0, FAIR.fair_id, encode_fair(FAIR))])
    assert (changes.sessions, changes.fairs) == ({}, {})
    assert [d.rejected.reason for d in changes.dead_letters] == [Reason.INVALID_FIELD]
    assert "session value" in changes.dead_letters[0].rejected.detail


def test_a_session_with_an_unknown_province_is_dead_lettered() -> None:
    bad = json.dumps(dict(json.loads(encode_session(SESSION)), province="Atlantis")).encode()
    changes = catalog_changes([rec(0, SESSION.session_id, bad)])
    assert changes.sessions == {}
    assert "province" in changes.dead_letters[0].rejected.detail


# A history of catalog records: each a fair or a session, a value or a tombstone.
steps = st.lists(st.tuples(st.booleans(), st.integers(0, 2), st.booleans()), max_size=30)


@given(steps)
def test_the_last_record_per_key_wins_in_the_order_of_last_records(
    history: list[tuple[bool, int, bool]],
) -> None:
    fairs = [FAIR, *SAMPLE.fairs[:2]]
    records: list[Record] = []
    want_fairs: dict[str, str | None] = {}
    want_sessions: dict[str, str | None] = {}
    for offset, (is_fair, which, tombstone) in enumerate(history):
        if is_fair:
            fair = fairs[which]
            value = None if tombstone else encode_fair(fair)
            records.append(fair_record(offset, value, fair.fair_id))
            want_fairs.pop(fair.fair_id, None)
            want_fairs[fair.fair_id] = None if value is None else value.decode()
        else:
            session = CATALOG.sessions[which]
            value = None if tombstone else encode_session(session)
            records.append(rec(offset, session.session_id, value))
            want_sessions.pop(session.session_id, None)
            want_sessions[session.session_id] = None if value is None else value.decode()
    changes = catalog_changes(records)
    assert list(changes.fairs.items()) == list(want_fairs.items())
    assert list(changes.sessions.items()) == list(want_sessions.items())
    assert changes.dead_letters == []
