"""The four scopes (pure): statuses, the default fair and who belongs to which fair,
each against a plain reference."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from common.catalog import IMPLICIT_FAIR_ID
from web.scopes import (
    Directory,
    Fair,
    default_fair,
    fair_status,
    is_live,
    parse_time_ms,
    session_status,
)

T0 = 1_700_000_000_000
VN = timezone(timedelta(hours=7))

times = st.integers(min_value=T0, max_value=T0 + 40)
maybe_times = st.none() | times


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=VN).isoformat(timespec="milliseconds")


@st.composite
def fairs(draw: st.DrawFn) -> list[Fair]:
    ids = draw(st.lists(st.sampled_from("abcdef"), unique=True, max_size=6))
    found = []
    for fair_id in ids:
        start = draw(times)
        end = start + draw(st.integers(min_value=1, max_value=20))
        found.append(Fair(fair_id, start=_iso(start), end=_iso(end), start_ms=start,
                          end_ms=end))
    return found


def _reference_status(start: int, end: int, now: int) -> str:
    if now in range(start, end):
        return "live"
    return "upcoming" if now < start else "ended"


def _reference_default(found: list[Fair], now: int) -> str | None:
    """The rule as written: the live fair that started first; else the next to start;
    else the one that ended last; ties by id."""
    best: Fair | None = None
    for fair in found:
        assert fair.start_ms is not None and fair.end_ms is not None
        if _reference_status(fair.start_ms, fair.end_ms, now) != "live":
            continue
        if best is None or (fair.start_ms, fair.fair_id) < (best.start_ms or 0, best.fair_id):
            best = fair
    if best is not None:
        return best.fair_id
    for fair in found:
        assert fair.start_ms is not None
        if now < fair.start_ms and (best is None or (fair.start_ms, fair.fair_id)
                                    < (best.start_ms or 0, best.fair_id)):
            best = fair
    if best is not None:
        return best.fair_id
    for fair in found:
        assert fair.end_ms is not None
        if best is None or fair.end_ms > (best.end_ms or 0) or (
                fair.end_ms == best.end_ms and fair.fair_id < best.fair_id):
            best = fair
    return None if best is None else best.fair_id


@given(fairs(), times)
def test_default_fair_matches_the_rule_as_written(found: list[Fair], now: int) -> None:
    assert default_fair(found, now) == _reference_default(found, now)


@given(times, st.integers(min_value=1, max_value=20), times)
def test_fair_status(start: int, length: int, now: int) -> None:
    assert fair_status(start, start + length, now) == _reference_status(start, start + length,
                                                                        now)


def test_a_fair_without_a_schedule_is_live() -> None:
    assert fair_status(None, None, T0) == "live"


@given(maybe_times, st.integers(min_value=1, max_value=20), maybe_times, times,
       st.integers(min_value=0, max_value=10))
def test_live_now_and_session_status(start: int | None, length: int, last_at: int | None,
                                     now: int, grace: int) -> None:
    end = None if start is None else start + length
    scheduled = start is not None and end is not None and now in range(start, end)
    recent = last_at is not None and now - last_at <= grace
    live = is_live(start, end, last_at, now_ms=now, grace_ms=grace)
    assert live == (scheduled or recent)
    status = session_status(start, end, last_at, now_ms=now, grace_ms=grace)
    if live:
        assert status == "live"
    elif start is not None and now < start:
        assert status == "next"
    else:
        assert status == "ended"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.sampled_from([VN, UTC, timezone(timedelta(hours=-5))])))
def test_times_parse_to_epoch_ms(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert parse_time_ms(moment.isoformat()) == int(moment.timestamp() * 1000)


def test_times_without_an_offset_or_not_times_parse_to_none() -> None:
    for text in ("2023-11-25T08:00:00", "soon", "", 17, None):
        assert parse_time_ms(text) is None
    assert parse_time_ms("2023-11-25T08:00:00Z") == parse_time_ms("2023-11-25T15:00:00+07:00")


FAIR_IDS = ["a", "b", "c"]


@st.composite
def catalogs(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, str], set[str]]:
    known = draw(st.lists(st.sampled_from(FAIR_IDS), unique=True))
    fair_hash = {fair_id: json.dumps({"fair_id": fair_id, "title": fair_id.upper(),
                                      "start": _iso(T0), "end": _iso(T0 + 10)})
                 for fair_id in known}
    sessions = draw(st.lists(st.sampled_from([f"s{i}" for i in range(8)]), unique=True))
    catalog = {}
    for sid in sessions:
        info: dict[str, object] = {"title": sid}
        named = draw(st.none() | st.sampled_from([*FAIR_IDS, "unknown"]))
        if named is not None:
            info["fair_id"] = named
        start = draw(times)
        info["scheduled_start"] = _iso(start)
        info["scheduled_end"] = _iso(start + 5)
        catalog[sid] = json.dumps(info)
    if draw(st.booleans()):
        catalog["broken"] = "{not json"
    counted = set(draw(st.lists(st.sampled_from([*sessions, "x1", "x2"]), unique=True)))
    return catalog, fair_hash, counted


@given(catalogs())
def test_each_session_belongs_to_the_fair_it_names_or_to_the_implicit_one(
    case: tuple[dict[str, str], dict[str, str], set[str]],
) -> None:
    catalog, fair_hash, counted = case
    directory = Directory.parse(catalog, fair_hash)
    listed = {sid: json.loads(text) for sid, text in catalog.items() if sid != "broken"}
    if fair_hash:
        expected = {fair_id: sorted(sid for sid, info in listed.items()
                                    if info.get("fair_id") == fair_id)
                    for fair_id in fair_hash}
    else:
        expected = {IMPLICIT_FAIR_ID: sorted(set(listed) | counted)}
    assert set(directory.fairs) == set(expected)
    assert {fair_id: directory.members(fair_id, counted) for fair_id in directory.fairs} \
        == expected
    for fair_id, members in expected.items():
        for sid in members:
            assert directory.fair_of(sid) == fair_id
    # No session in two fairs: a fair's figures never count another fair's session.
    everyone = [sid for members in expected.values() for sid in members]
    assert len(everyone) == len(set(everyone))
    if not fair_hash:
        fair = directory.fairs[IMPLICIT_FAIR_ID]
        if listed:
            assert fair.start_ms == min(parse_time_ms(info["scheduled_start"]) or 0
                                        for info in listed.values())
            assert fair.end_ms == max(parse_time_ms(info["scheduled_end"]) or 0
                                      for info in listed.values())
        else:
            assert (fair.start, fair.end, fair.status(T0)) == (None, None, "live")
