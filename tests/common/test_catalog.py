"""Catalog model, strict loader and sessions-topic codec, plus the packaged sample."""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from collections import Counter
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.catalog import (
    FAIR_KEY_PREFIX,
    IMPLICIT_FAIR_ID,
    SAMPLE_CATALOG,
    Catalog,
    CatalogError,
    Fair,
    Product,
    SessionInfo,
    decode_fair,
    decode_session,
    encode_fair,
    encode_session,
    fair_id_of_key,
    fair_key,
    hidden_character,
    load_catalog,
)
from common.provinces import province_now

NEWS_PROVINCES = {"Bắc Kạn", "Sơn La", "Bắc Giang", "Hà Tĩnh", "Lâm Đồng", "Đồng Tháp", "TP.HCM"}
CAN_GIO = "cg-2023-11-25"


@pytest.fixture(scope="module")
def sample() -> Catalog:
    return load_catalog(SAMPLE_CATALOG)


@pytest.fixture(scope="module")
def raw_sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE_CATALOG.read_text(encoding="utf-8"))
    return data


def write(tmp_path: Path, data: object, name: str = "catalog.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def spans(sessions: list[SessionInfo]) -> list[tuple[datetime, datetime]]:
    return [(datetime.fromisoformat(s.scheduled_start), datetime.fromisoformat(s.scheduled_end))
            for s in sessions]


def busiest(schedule: list[tuple[datetime, datetime]]) -> int:
    return max(sum(a <= t < b for a, b in schedule) for t, _ in schedule)


def test_sample_is_a_six_month_campaign(sample: Catalog) -> None:
    assert len(sample.fairs) >= 12 and len(sample.sessions) >= 200
    days = [datetime.fromisoformat(f.start) for f in sample.fairs]
    assert days == sorted(days)
    assert days[0].date() >= date(2023, 4, 1) and days[-2].date() <= date(2023, 10, 31)
    assert len({d.date() for d in days}) == len(days)
    assert len({f.province for f in sample.fairs}) >= 14
    assert NEWS_PROVINCES <= {s.province for s in sample.sessions}
    # The latest fair day is at Cần Giờ, TP.HCM.
    last = sample.fairs[-1]
    assert (last.fair_id, last.province, last.place) == (CAN_GIO, "TP.HCM", "Cần Giờ, TP.HCM")


def test_sample_fair_days_run_from_eight_to_nine_in_overlapping_slots(sample: Catalog) -> None:
    for fair in sample.fairs:
        if fair.fair_id == CAN_GIO:
            continue
        start, end = datetime.fromisoformat(fair.start), datetime.fromisoformat(fair.end)
        assert (start.time(), end.time(), start.utcoffset()) == (
            time(8), time(21), timedelta(hours=7))
        schedule = sorted(spans(sample.for_fair(fair.fair_id).sessions))
        assert len(schedule) >= 12
        assert schedule[0][0] == start and max(b for _, b in schedule) == end
        reach = start
        for a, b in schedule:
            assert start <= a and b <= end
            assert timedelta(hours=1) <= b - a <= timedelta(hours=3)
            assert a <= reach, f"{fair.fair_id}: nothing live from {reach} to {a}"
            reach = max(reach, b)
        assert busiest(schedule) >= 3


def test_sample_keeps_the_forty_can_gio_sessions(sample: Catalog) -> None:
    can_gio = sample.for_fair(CAN_GIO)
    assert [f.fair_id for f in can_gio.fairs] == [CAN_GIO]
    assert len(can_gio.sessions) == 40
    assert all(s.session_id.startswith("cp-2023-") for s in can_gio.sessions)
    per_province = Counter(s.province for s in can_gio.sessions)
    assert len(per_province) == 14
    assert NEWS_PROVINCES <= set(per_province)
    assert max(per_province.values()) >= 4 > min(per_province.values())
    schedule = spans(can_gio.sessions)
    assert {a.date() for a, _ in schedule} == {date(2023, 11, 25)}
    assert busiest(schedule) >= 8


def test_sample_sessions_are_realistic(sample: Catalog) -> None:
    prefix_of: dict[str, set[str]] = {}
    for s in sample.sessions:
        assert s.title.startswith("Chợ phiên OCOP")
        assert s.shop.split()[0] in {"HTX", "Cơ", "Công"}
        assert len(s.host.split()) >= 2
        assert 3 <= len(s.products) <= 6
        for p in s.products:
            assert 3 <= p.stars <= 5
            assert 45_000 <= p.price_vnd <= 1_200_000
            prefix_of.setdefault(p.product_id.split("-")[0], set()).add(s.province)
    # Product ids start with their province's code, one code per province.
    assert all(len(provinces) == 1 for provinces in prefix_of.values())
    stars = Counter(p.stars for s in sample.sessions for p in s.products)
    assert set(stars) == {3, 4, 5}


def test_sample_shops_with_several_sessions_share_product_ids(sample: Catalog) -> None:
    by_shop: dict[str, list[SessionInfo]] = {}
    for s in sample.sessions:
        by_shop.setdefault(s.shop, []).append(s)
    repeat = [group for group in by_shop.values() if len(group) >= 2]
    assert len(repeat) >= 10
    for group in repeat:
        ids = [{p.product_id for p in s.products} for s in group]
        assert set.union(*ids) & ids[0]
        # One shop's sessions at one fair follow each other.
        for fair_id in {s.fair_id for s in group}:
            mine = sorted(spans([s for s in group if s.fair_id == fair_id]))
            assert all(b <= c for (_, b), (c, _) in pairwise(mine))
    assert sample.by_id()["cp-2023-bk-01"].shop == "HTX Chè Shan Tuyết Bắc Kạn"


def test_sample_names_provinces_of_2023_that_merged_since(sample: Catalog) -> None:
    named = {s.province for s in sample.sessions}
    assert {"Bắc Kạn", "Thái Nguyên", "Bắc Giang", "Hà Giang", "Tuyên Quang"} <= named
    today = {province_now(name) for name in named}
    assert len(today) < len(named)
    assert province_now("Bắc Kạn") == province_now("Thái Nguyên")


@pytest.mark.parametrize(
    ("path", "value", "index", "field"),
    [
        (("products", 1, "stars"), 6, 3, "products[1].stars"),
        (("products", 1, "stars"), 2, 3, "products[1].stars"),
        (("products", 0, "stars"), "4", 3, "products[0].stars"),
        (("products", 0, "price_vnd"), 0, 3, "products[0].price_vnd"),
        (("products", 0, "product_id"), "bad id", 3, "products[0].product_id"),
        (("products",), [], 3, "products"),
        (("title",), "", 3, "title"),
        (("scheduled_start",), "2023-11-25 08:00", 3, "scheduled_start"),
        (("scheduled_start",), "2023-11-25T08:00:00", 3, "scheduled_start"),
        (("scheduled_end",), "2023-01-01T00:30:00Z", 3, "scheduled_end"),
        (("province",), "Atlantis", 3, "province"),
        (("fair_id",), "no fair", 3, "fair_id"),
        (("fair_id",), "cg-2023-11-26", 3, "fair_id"),
        (("fair_id",), CAN_GIO, 3, "fair_id"),
        (("fair_id",), None, 3, "fair_id"),
    ],
)
def test_bad_values_name_file_session_and_field(
    tmp_path: Path,
    raw_sample: dict[str, Any],
    path: tuple[str | int, ...],
    value: object,
    index: int,
    field: str,
) -> None:
    data = copy.deepcopy(raw_sample)
    target: Any = data["sessions"][index]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    file = write(tmp_path, data)
    with pytest.raises(CatalogError) as caught:
        load_catalog(file)
    assert (caught.value.index, caught.value.field) == (index, field)
    assert str(file) in str(caught.value)
    assert f"session #{index}" in str(caught.value)


def test_missing_and_unknown_fields_are_named(tmp_path: Path, raw_sample: dict[str, Any]) -> None:
    data = copy.deepcopy(raw_sample)
    del data["sessions"][2]["products"][1]["name"]
    with pytest.raises(CatalogError) as caught:
        load_catalog(write(tmp_path, data))
    assert (caught.value.index, caught.value.field) == (2, "products[1].name")

    data = copy.deepcopy(raw_sample)
    data["sessions"][5]["livestream_url"] = "https://example.invalid"
    with pytest.raises(CatalogError) as caught:
        load_catalog(write(tmp_path, data))
    assert (caught.value.index, caught.value.field) == (5, "livestream_url")


def test_duplicate_session_ids_are_an_error(tmp_path: Path, raw_sample: dict[str, Any]) -> None:
    data = copy.deepcopy(raw_sample)
    data["sessions"][7]["session_id"] = data["sessions"][1]["session_id"]
    with pytest.raises(CatalogError, match=r"session #7.*duplicate.*first at session #1"):
        load_catalog(write(tmp_path, data))


def test_products_must_be_unique_and_consistent(tmp_path: Path, raw_sample: dict[str, Any]) -> None:
    data = copy.deepcopy(raw_sample)
    products = data["sessions"][0]["products"]
    products.append(dict(products[0]))
    with pytest.raises(CatalogError, match="duplicate product_id") as caught:
        load_catalog(write(tmp_path, data))
    assert caught.value.field == f"products[{len(products) - 1}].product_id"

    data = copy.deepcopy(raw_sample)
    first_at: dict[str, int] = {}
    for index, session in enumerate(data["sessions"]):
        shared = [pos for pos, p in enumerate(session["products"]) if p["product_id"] in first_at]
        if shared:
            break
        for p in session["products"]:
            first_at[p["product_id"]] = index
    session["products"][shared[0]]["price_vnd"] += 1_000  # an earlier session sells it too
    with pytest.raises(CatalogError, match="differs") as caught:
        load_catalog(write(tmp_path, data))
    assert (caught.value.index, caught.value.field) == (index, f"products[{shared[0]}]")


@pytest.mark.parametrize(
    "content", [b"", b"{", b'{"sessions": {}}', b"[]", b'{"sessions": [], "x": 1}']
)
def test_malformed_files_are_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with pytest.raises(CatalogError, match=r"broken\.json"):
        load_catalog(path)


def test_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nope.json")


def test_catalog_error_is_a_value_error() -> None:
    assert issubclass(CatalogError, ValueError)


def test_models_are_frozen(sample: Catalog) -> None:
    with pytest.raises(AttributeError):
        sample.sessions[0].title = "khác"  # type: ignore[misc]


slugs = st.from_regex(r"[a-z0-9][a-z0-9-]{0,30}", fullmatch=True)
texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cf", "Zl", "Zp"]),
    min_size=1, max_size=40,
)
products = st.builds(
    Product,
    product_id=slugs,
    name=texts,
    stars=st.integers(3, 5),
    price_vnd=st.integers(1, 10**9),
)
# Provinces as catalogs write them: 2023 names, today's names, several spellings.
provinces = st.sampled_from(["Bắc Kạn", "Thái Nguyên", "TP.HCM", "TP. Hồ Chí Minh",
                             "Hồ Chí Minh", "Tỉnh Bắc Giang", "Hà Giang", "Đắk Lắk", "Cà Mau",
                             "Thừa Thiên Huế", "Bà Rịa - Vũng Tàu", "Hoà Bình"])
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


@st.composite
def sessions(draw: st.DrawFn) -> SessionInfo:
    start = draw(instants)
    length = draw(st.integers(1, 12 * 3600))
    offset = draw(st.sampled_from(["+07:00", "Z", "-03:30"]))
    items = draw(st.lists(products, min_size=1, max_size=6, unique_by=lambda p: p.product_id))
    return SessionInfo(
        session_id=draw(slugs),
        title=draw(texts),
        host=draw(texts),
        shop=draw(texts),
        province=draw(provinces),
        scheduled_start=start.isoformat() + offset,
        scheduled_end=(start + timedelta(seconds=length)).isoformat() + offset,
        products=items,
        fair_id=draw(st.none() | slugs),
    )


@given(sessions())
def test_session_value_round_trips(session: SessionInfo) -> None:
    value = encode_session(session)
    assert json.loads(value)["session_id"] == session.session_id
    assert decode_session(value) == session


def test_session_value_decoding_is_strict(sample: Catalog) -> None:
    good = json.loads(encode_session(sample.sessions[0]))
    bad_stars = copy.deepcopy(good)
    bad_stars["products"][0]["stars"] = "4"
    with pytest.raises(CatalogError) as caught:
        decode_session(json.dumps(bad_stars).encode())
    assert caught.value.field == "products[0].stars"
    bad_end = dict(good, scheduled_end=good["scheduled_start"])
    with pytest.raises(CatalogError, match="scheduled_end"):
        decode_session(json.dumps(bad_end).encode())
    for junk in (b"not json", b"[]", json.dumps(dict(good, extra=1)).encode()):
        with pytest.raises(CatalogError, match="session value"):
            decode_session(junk)


def test_encoded_session_is_plain_json(sample: Catalog) -> None:
    value = encode_session(sample.sessions[0])
    assert msgspec.json.decode(value)["products"][0]["price_vnd"] > 0
    assert "Chợ phiên".encode() in value


HIDDEN = ["\u202e", "\u200b", "\u200d", "\ufeff", "\u2028", "\u2029", "\u0085", "\x00",
          "\n", "\t", "\x7f"]
SHOWN_TEXT = [(("title",), "title"), (("host",), "host"), (("shop",), "shop"),
              (("province",), "province"), (("products", 2, "name"), "products[2].name")]


@pytest.mark.parametrize("char", HIDDEN)
@pytest.mark.parametrize(("path", "field"), SHOWN_TEXT)
def test_shown_text_with_hidden_characters_is_refused(
    tmp_path: Path, raw_sample: dict[str, Any], char: str, path: tuple[str | int, ...],
    field: str,
) -> None:
    data = copy.deepcopy(raw_sample)
    target: Any = data["sessions"][4]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = f"Chợ phiên{char} OCOP"
    code = f"U+{ord(char):04X} ({unicodedata.category(char)})"
    with pytest.raises(CatalogError, match=re.escape(code)) as caught:
        load_catalog(write(tmp_path, data))
    assert (caught.value.index, caught.value.field) == (4, field)
    with pytest.raises(CatalogError, match=re.escape(code)) as caught:
        decode_session(json.dumps(data["sessions"][4]).encode())
    assert caught.value.field == field


def test_vietnamese_text_is_not_hidden(sample: Catalog) -> None:
    for s in sample.sessions:
        for text in (s.title, s.host, s.shop, s.province, *(p.name for p in s.products)):
            assert hidden_character(text) is None, text
    assert hidden_character("Chè Shan tuyết \u2013 Hà Giang, 500 g\u00a0🍵") is None


@given(st.text(min_size=1, max_size=30))
def test_hidden_character_names_the_first_control_format_or_separator(text: str) -> None:
    hidden = [c for c in text if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}]
    want = f"U+{ord(hidden[0]):04X} ({unicodedata.category(hidden[0])})" if hidden else None
    assert hidden_character(text) == want


FAIR_TEXT = ["title", "place", "province"]


@pytest.mark.parametrize(
    ("field", "value", "index"),
    [
        ("fair_id", "bad id", 2),
        ("fair_id", "fair:bk", 2),
        ("title", "", 2),
        ("place", 7, 2),
        ("province", "Atlantis", 2),
        ("province", "Hà Giang, Hà Nội", 2),
        ("start", "2023-05-13 08:00", 2),
        ("start", "2023-05-13T08:00:00", 2),
        ("end", "2023-05-13T08:00:00+07:00", 2),
        ("end", "2023-05-13T00:59:59Z", 2),
    ],
)
def test_bad_fairs_name_file_fair_and_field(
    tmp_path: Path, raw_sample: dict[str, Any], field: str, value: object, index: int
) -> None:
    data = copy.deepcopy(raw_sample)
    data["fairs"][index][field] = value
    file = write(tmp_path, data)
    with pytest.raises(CatalogError) as caught:
        load_catalog(file)
    assert (caught.value.item, caught.value.index, caught.value.field) == ("fair", index, field)
    assert str(caught.value).startswith(f"{file}: fair #{index}: field {field!r}: ")
    with pytest.raises(CatalogError) as caught:
        decode_fair(json.dumps(data["fairs"][index]).encode())
    assert (caught.value.source, caught.value.index, caught.value.field) == (
        "fair value", None, field)
    assert str(caught.value).startswith(f"fair value: field {field!r}: ")


def test_missing_and_unknown_fair_fields_are_named(
    tmp_path: Path, raw_sample: dict[str, Any]
) -> None:
    data = copy.deepcopy(raw_sample)
    del data["fairs"][1]["place"]
    with pytest.raises(CatalogError) as caught:
        load_catalog(write(tmp_path, data))
    assert (caught.value.item, caught.value.index, caught.value.field) == ("fair", 1, "place")

    data = copy.deepcopy(raw_sample)
    data["fairs"][4]["venue_url"] = "https://example.invalid"
    with pytest.raises(CatalogError, match="fair #4") as caught:
        load_catalog(write(tmp_path, data))
    assert caught.value.field == "venue_url"


def test_duplicate_fair_ids_are_an_error(tmp_path: Path, raw_sample: dict[str, Any]) -> None:
    data = copy.deepcopy(raw_sample)
    data["fairs"][5]["fair_id"] = data["fairs"][2]["fair_id"]
    with pytest.raises(CatalogError, match=r"fair #5.*duplicate fair_id.*first at fair #2"):
        load_catalog(write(tmp_path, data))


def test_a_session_must_overlap_its_fair_day(tmp_path: Path, raw_sample: dict[str, Any]) -> None:
    data = copy.deepcopy(raw_sample)
    fair = data["fairs"][0]
    session = next(s for s in data["sessions"] if s["fair_id"] == fair["fair_id"])
    index = data["sessions"].index(session)
    # Ending as the fair opens is no overlap; a minute more is.
    session["scheduled_start"] = "2023-04-15T06:00:00+07:00"
    session["scheduled_end"] = fair["start"]
    with pytest.raises(CatalogError, match="does not overlap") as caught:
        load_catalog(write(tmp_path, data))
    assert (caught.value.item, caught.value.index, caught.value.field) == (
        "session", index, "fair_id")
    session["scheduled_end"] = "2023-04-15T01:01:00Z"
    assert load_catalog(write(tmp_path, data)).by_id()[session["session_id"]].fair_id == (
        fair["fair_id"])
    # Starting as it closes is none either.
    session["scheduled_start"], session["scheduled_end"] = fair["end"], "2023-04-15T22:00:00+07:00"
    with pytest.raises(CatalogError, match="does not overlap"):
        load_catalog(write(tmp_path, data))


def test_a_catalog_without_fairs_is_one_implicit_fair(
    tmp_path: Path, raw_sample: dict[str, Any]
) -> None:
    old = [{k: v for k, v in s.items() if k != "fair_id"}
           for s in raw_sample["sessions"] if s["fair_id"] == CAN_GIO]
    catalog = load_catalog(write(tmp_path, {"sessions": old}))
    assert catalog.fairs == [] and len(catalog.sessions) == 40
    assert all(s.fair_id is None for s in catalog.sessions)
    assert catalog.for_fair(IMPLICIT_FAIR_ID) is catalog
    with pytest.raises(KeyError, match=CAN_GIO):
        catalog.for_fair(CAN_GIO)
    # Naming a fair there is an error: there is none to name.
    old[6]["fair_id"] = CAN_GIO
    with pytest.raises(CatalogError, match="lists no fairs") as caught:
        load_catalog(write(tmp_path, {"sessions": old}))
    assert (caught.value.index, caught.value.field) == (6, "fair_id")


def test_for_fair_keeps_that_fair_and_its_sessions_in_file_order(sample: Catalog) -> None:
    for fair in sample.fairs:
        one = sample.for_fair(fair.fair_id)
        assert one.fairs == [fair]
        assert one.sessions == [s for s in sample.sessions if s.fair_id == fair.fair_id]
    assert sum(len(sample.for_fair(f.fair_id).sessions) for f in sample.fairs) == len(
        sample.sessions)
    with pytest.raises(KeyError, match="no fair 'nope'"):
        sample.for_fair("nope")
    assert sample.fairs_by_id()[CAN_GIO] == sample.fairs[-1]


def test_a_session_without_a_fair_encodes_as_before_fairs_existed(sample: Catalog) -> None:
    session = msgspec.structs.replace(sample.by_id()["cp-2023-hcm-01"], fair_id=None)
    before = {f: getattr(session, f) for f in ("session_id", "title", "host", "shop",
                                                "province", "scheduled_start", "scheduled_end")}
    before["products"] = [msgspec.structs.asdict(p) for p in session.products]
    assert encode_session(session) == json.dumps(
        before, ensure_ascii=False, separators=(",", ":")).encode()
    named = encode_session(sample.by_id()["cp-2023-hcm-01"])
    assert json.loads(named)["fair_id"] == CAN_GIO


@pytest.mark.parametrize("char", HIDDEN)
@pytest.mark.parametrize("field", FAIR_TEXT)
def test_fair_text_with_hidden_characters_is_refused(
    tmp_path: Path, raw_sample: dict[str, Any], char: str, field: str
) -> None:
    data = copy.deepcopy(raw_sample)
    data["fairs"][3][field] = f"Sơn{char} La"
    code = f"U+{ord(char):04X} ({unicodedata.category(char)})"
    with pytest.raises(CatalogError, match=re.escape(code)) as caught:
        load_catalog(write(tmp_path, data))
    assert (caught.value.item, caught.value.index, caught.value.field) == ("fair", 3, field)
    with pytest.raises(CatalogError, match=re.escape(code)) as caught:
        decode_fair(json.dumps(data["fairs"][3]).encode())
    assert caught.value.field == field


def test_unknown_provinces_are_refused_in_every_decoder(sample: Catalog) -> None:
    session = json.loads(encode_session(sample.sessions[0]))
    with pytest.raises(CatalogError, match="Atlantis") as caught:
        decode_session(json.dumps(dict(session, province="Atlantis")).encode())
    assert (caught.value.source, caught.value.field) == ("session value", "province")
    fair = json.loads(encode_fair(sample.fairs[0]))
    with pytest.raises(CatalogError, match="Atlantis") as caught:
        decode_fair(json.dumps(dict(fair, province="Atlantis")).encode())
    assert (caught.value.source, caught.value.field) == ("fair value", "province")


def test_fair_value_decoding_is_strict(sample: Catalog) -> None:
    good = json.loads(encode_fair(sample.fairs[0]))
    assert decode_fair(json.dumps(good).encode()) == sample.fairs[0]
    for junk in (b"not json", b"[]", json.dumps(dict(good, extra=1)).encode(),
                 encode_session(sample.sessions[0])):
        with pytest.raises(CatalogError, match="fair value"):
            decode_fair(junk)


@st.composite
def fairs(draw: st.DrawFn) -> Fair:
    start = draw(instants)
    length = draw(st.integers(1, 24 * 3600))
    offset = draw(st.sampled_from(["+07:00", "Z"]))
    return Fair(
        fair_id=draw(slugs),
        title=draw(texts),
        place=draw(texts),
        province=draw(provinces),
        start=start.isoformat() + offset,
        end=(start + timedelta(seconds=length)).isoformat() + offset,
    )


@given(fairs())
def test_fair_value_round_trips(fair: Fair) -> None:
    value = encode_fair(fair)
    assert json.loads(value)["fair_id"] == fair.fair_id
    assert decode_fair(value) == fair


ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True)


@given(ids)
def test_fair_keys_never_look_like_session_ids(fair_id: str) -> None:
    key = fair_key(fair_id)
    assert key == FAIR_KEY_PREFIX + fair_id == f"fair:{fair_id}"
    assert fair_id_of_key(key) == fair_id
    # A session id cannot hold ':', so no session key reads as a fair's.
    assert fair_id_of_key(fair_id) is None


def test_with_sessions_keeps_the_fairs_those_sessions_name(sample: Catalog) -> None:
    picked = [sample.by_id()["cp-2023-hcm-01"], sample.sessions[0], sample.sessions[1]]
    subset = sample.with_sessions(picked)
    assert subset.sessions == picked
    assert [f.fair_id for f in subset.fairs] == [sample.sessions[0].fair_id, CAN_GIO]
    assert sample.with_sessions([]) == Catalog([], [])
