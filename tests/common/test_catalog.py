"""Catalog model, strict loader and sessions-topic codec, plus the packaged sample."""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.catalog import (
    SAMPLE_CATALOG,
    Catalog,
    CatalogError,
    Product,
    SessionInfo,
    decode_session,
    encode_session,
    hidden_character,
    load_catalog,
)

NEWS_PROVINCES = {"Bắc Kạn", "Sơn La", "Bắc Giang", "Hà Tĩnh", "Lâm Đồng", "Đồng Tháp", "TP.HCM"}


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


def test_sample_has_forty_sessions_across_fourteen_provinces(sample: Catalog) -> None:
    assert len(sample.sessions) == 40
    per_province = Counter(s.province for s in sample.sessions)
    assert len(per_province) == 14
    assert NEWS_PROVINCES <= set(per_province)
    assert max(per_province.values()) >= 4 > min(per_province.values())


def test_sample_sessions_are_realistic(sample: Catalog) -> None:
    for s in sample.sessions:
        assert s.session_id.startswith("cp-2023-")
        assert s.title.startswith("Chợ phiên OCOP")
        assert 3 <= len(s.products) <= 6
        for p in s.products:
            assert 3 <= p.stars <= 5
            assert 45_000 <= p.price_vnd <= 1_200_000
            assert p.product_id.split("-")[0] == s.session_id.split("-")[2]
    stars = Counter(p.stars for s in sample.sessions for p in s.products)
    assert set(stars) == {3, 4, 5}


def test_sample_runs_on_one_fair_day_with_many_sessions_live_at_once(sample: Catalog) -> None:
    spans = [
        (datetime.fromisoformat(s.scheduled_start), datetime.fromisoformat(s.scheduled_end))
        for s in sample.sessions
    ]
    assert {a.utcoffset() for a, _ in spans} == {timedelta(hours=7)}
    assert {a.date() for a, _ in spans} == {spans[0][0].date()}
    assert all(a < b for a, b in spans)
    busiest = max(sum(a <= t < b for a, b in spans) for t, _ in spans)
    assert busiest >= 8


def test_sample_shops_with_two_sessions_share_product_ids(sample: Catalog) -> None:
    by_shop: dict[str, list[SessionInfo]] = {}
    for s in sample.sessions:
        by_shop.setdefault(s.shop, []).append(s)
    pairs = [group for group in by_shop.values() if len(group) == 2]
    assert len(pairs) >= 3
    for first, second in pairs:
        assert {p.product_id for p in first.products} & {p.product_id for p in second.products}
    assert sample.by_id()["cp-2023-bk-01"].shop == "HTX Chè Shan Tuyết Bắc Kạn"


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
        (("scheduled_end",), "2023-11-25T00:30:00Z", 3, "scheduled_end"),
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
    data["sessions"][1]["products"][0]["price_vnd"] += 1_000  # same id as session #0's
    with pytest.raises(CatalogError, match="differs") as caught:
        load_catalog(write(tmp_path, data))
    assert (caught.value.index, caught.value.field) == (1, "products[0]")


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
        province=draw(texts),
        scheduled_start=start.isoformat() + offset,
        scheduled_end=(start + timedelta(seconds=length)).isoformat() + offset,
        products=items,
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
