"""Numbers and times as the board writes them (the browser test compares with shared.js)."""

from __future__ import annotations

import pytest

from reports.formats import (
    DASH,
    EN_DASH,
    format_campaign,
    format_count,
    format_date,
    format_headline,
    format_hours,
    format_moment,
    format_slot,
    format_vnd,
)

# 2023-11-25 08:00 and 22:30 in Asia/Ho_Chi_Minh.
OPENS = 1_700_874_000_000
CLOSES = 1_700_926_200_000


def test_the_campaign_headline_reads_as_the_organisers_quote_it() -> None:
    assert format_campaign(sessions=812, provinces=14, views=301_000_000,
                           gmv_vnd=100_400_000_000) == \
        "812 phiên · 14 tỉnh · 301 triệu lượt xem · 100,4 tỷ ₫"


@pytest.mark.parametrize(("n", "text"), [
    (0, "0"), (812, "812"), (12_345, "12.345"), (999_949, "999.949"),
    (999_950, "1 triệu"), (1_250_000, "1,3 triệu"), (999_960_000, "1 tỷ"),
    (100_400_000_000, "100,4 tỷ"), (1_234_500_000_000, "1.234,5 tỷ"),
    # Intl rounds the shortest decimal (1.15, up), not the binary value (1.1499…).
    (1_150_000, "1,2 triệu"), (-2_500_000, "-2,5 triệu"),
])
def test_headline_figures(n: int, text: str) -> None:
    assert format_headline(n) == text


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 ₫"), (12_500, "12.500 ₫"), (999_999, "999.999 ₫"), (1_000_000, "1 triệu ₫"),
    (1_250_000, "1,25 triệu ₫"), (12_500_000, "12,5 triệu ₫"), (850_000_000, "850 triệu ₫"),
    (999_499_999, "999 triệu ₫"), (999_500_000, "1 tỷ ₫"), (1_250_000_000, "1,25 tỷ ₫"),
    # toFixed rounds the binary value: 9.995 is 9.99499…, so down.
    (9_995_000, "9,99 triệu ₫"), (-400_000, "-400.000 ₫"),
])
def test_amounts(n: int, text: str) -> None:
    assert format_vnd(n) == text


def test_counts_group_thousands_with_dots() -> None:
    assert [format_count(n) for n in (7, 1234, 1_234_567, -1000)] == [
        "7", "1.234", "1.234.567", "-1.000"]


def test_times_are_in_asia_ho_chi_minh() -> None:
    assert format_date(OPENS) == "25/11/2023"
    assert format_moment(CLOSES) == "25/11/2023 22:30"
    assert format_slot(OPENS, CLOSES) == f"08:00{EN_DASH}22:30"
    assert format_hours(OPENS, CLOSES) == f"25/11/2023 08:00{EN_DASH}22:30"
    assert format_hours(OPENS, CLOSES + 86_400_000) == (
        f"25/11/2023 08:00 {EN_DASH} 26/11/2023 22:30")
    assert [format_slot(None, CLOSES), format_hours(OPENS, None), format_date(None)] == [
        DASH] * 3
