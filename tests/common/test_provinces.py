"""Today's provincial unit for the province names a catalog writes, old or new."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vietnamadminunits.database import query

from common.catalog import SAMPLE_CATALOG, load_catalog
from common.provinces import ProvinceError, province_now

# The 34 units since 1 July 2025 and the 63 before, as the library's dataset lists them.
TODAY = {r["provinceShort"]: r["province"] for r in query(
    "SELECT DISTINCT province, provinceShort FROM admin_units")}
LEGACY = {r["provinceShort"]: r["province"] for r in query(
    "SELECT DISTINCT province, provinceShort FROM admin_units_legacy")}

# Every province the sample catalog names (2023 names), and the unit it is part of today
# (Resolution 202/2025/QH15).
SAMPLE_TODAY = {
    "An Giang": "An Giang", "Bắc Giang": "Bắc Ninh", "Bắc Kạn": "Thái Nguyên",
    "Bến Tre": "Vĩnh Long", "Cao Bằng": "Cao Bằng", "Cà Mau": "Cà Mau",
    "Gia Lai": "Gia Lai", "Hà Giang": "Tuyên Quang", "Hà Tĩnh": "Hà Tĩnh",
    "Hòa Bình": "Phú Thọ", "Hưng Yên": "Hưng Yên", "Kiên Giang": "An Giang",
    "Kon Tum": "Quảng Ngãi", "Lào Cai": "Lào Cai", "Lâm Đồng": "Lâm Đồng",
    "Nghệ An": "Nghệ An", "Phú Thọ": "Phú Thọ", "Quảng Nam": "Đà Nẵng",
    "Quảng Ngãi": "Quảng Ngãi", "Sóc Trăng": "Cần Thơ", "Sơn La": "Sơn La",
    "TP.HCM": "Hồ Chí Minh", "Thanh Hóa": "Thanh Hóa", "Thái Nguyên": "Thái Nguyên",
    "Tiền Giang": "Đồng Tháp", "Trà Vinh": "Vĩnh Long", "Tuyên Quang": "Tuyên Quang",
    "Vĩnh Long": "Vĩnh Long", "Yên Bái": "Lào Cai", "Đắk Lắk": "Đắk Lắk",
    "Đồng Tháp": "Đồng Tháp",
}


def test_every_province_of_the_sample_is_known_and_mapped() -> None:
    catalog = load_catalog(SAMPLE_CATALOG)
    named = {s.province for s in catalog.sessions} | {f.province for f in catalog.fairs}
    assert named == set(SAMPLE_TODAY)
    assert {name: province_now(name) for name in named} == SAMPLE_TODAY


@pytest.mark.parametrize(
    ("name", "today"),
    [
        # The three merges the news item's provinces went through.
        ("Bắc Kạn", "Thái Nguyên"), ("Bắc Giang", "Bắc Ninh"), ("Hà Giang", "Tuyên Quang"),
        # Ho Chi Minh City, as people write it.
        ("TP.HCM", "Hồ Chí Minh"), ("TP. Hồ Chí Minh", "Hồ Chí Minh"),
        ("Hồ Chí Minh", "Hồ Chí Minh"), ("Thành phố Hồ Chí Minh", "Hồ Chí Minh"),
        ("Tp HCM", "Hồ Chí Minh"), ("HCM", "Hồ Chí Minh"), ("Cần Giờ, TP.HCM", "Hồ Chí Minh"),
        # Prefixes, case, accents and their placement.
        ("Tỉnh Bắc Giang", "Bắc Ninh"), ("tỉnh Hà Giang", "Tuyên Quang"),
        ("bac kan", "Thái Nguyên"), ("BẮC KẠN", "Thái Nguyên"), ("Hoà Bình", "Phú Thọ"),
        ("Đăk Lăk", "Đắk Lắk"), ("Thừa Thiên Huế", "Huế"), ("Thành phố Huế", "Huế"),
        ("Bà Rịa - Vũng Tàu", "Hồ Chí Minh"), ("Hà Nội", "Hà Nội"),
    ],
)
def test_usual_spellings(name: str, today: str) -> None:
    assert province_now(name) == today


@pytest.mark.parametrize("short", sorted(LEGACY))
def test_each_of_the_63_units_becomes_one_of_the_34(short: str) -> None:
    assert province_now(short) in TODAY
    assert province_now(LEGACY[short]) == province_now(short)


@pytest.mark.parametrize("short", sorted(TODAY))
def test_each_of_the_34_units_is_itself(short: str) -> None:
    assert province_now(short) == short
    assert province_now(TODAY[short]) == short


def test_decomposed_unicode_reads_as_composed() -> None:
    assert province_now(unicodedata.normalize("NFD", "Bắc Kạn")) == "Thái Nguyên"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Atlantis", "not a province"),
        ("", "not a province"),
        ("Chợ phiên OCOP", "not a province"),
        # "hn" (Hà Nội) inside a word is no province.
        ("Phnom Penh", "not a province"),
        ("Hà Giang, Hà Nội", "names several provinces"),
    ],
)
def test_unknown_or_ambiguous_names_are_refused(name: str, problem: str) -> None:
    with pytest.raises(ProvinceError, match=problem) as caught:
        province_now(name)
    assert caught.value.name == name
    assert repr(name) in str(caught.value)
    assert isinstance(caught.value, ValueError)


@given(st.text(max_size=40))
def test_any_text_is_a_unit_of_today_or_a_province_error(text: str) -> None:
    try:
        assert province_now(text) in TODAY
    except ProvinceError as exc:
        assert exc.name == text


def test_lookups_are_cached() -> None:
    province_now("Bắc Giang")
    before = province_now.cache_info().hits
    assert province_now("Bắc Giang") == "Bắc Ninh"
    assert province_now.cache_info().hits == before + 1


def test_the_dataset_has_63_and_34_units() -> None:
    assert (len(LEGACY), len(TODAY)) == (63, 34)
    keywords = [k for r in query("SELECT DISTINCT provinceKeywords FROM admin_units_legacy")
                for k in json.loads(r["provinceKeywords"])]
    assert len(keywords) == len(set(keywords)), "a keyword names two provinces"
