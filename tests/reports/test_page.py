"""Figures → the report's HTML (pure): self-contained, escaped, every number recoverable."""

from __future__ import annotations

import re
from collections import Counter

from counting.contract import Reason
from reports.deadletters import REASON_TEXT, DeadLetterSummary
from reports.figures import (
    FairLine,
    Figures,
    Headline,
    ProductLine,
    ProvinceLine,
    SessionLine,
)
from reports.page import render
from tests.reports.cells import cells as _cells

NOW = 1_700_926_200_000
OPENS = 1_700_874_000_000
HEAD = Headline(sessions=812, provinces=14, views=301_000_000, orders=1_200_000,
                gmv_vnd=100_400_000_000, unique_viewers=41_000_000)
SESSION = SessionLine("s1", "HTX <b>Cần Giờ</b>", "Chị Lan", "TP.HCM", "Chợ phiên - Cần Giờ",
                      OPENS, OPENS + 7_200_000, 1234, 56, 78, 9_870_000)
FAIR = FairLine("cg", "Chợ phiên - Cần Giờ", "Cần Giờ, TP.HCM", OPENS, NOW, "ended", 40,
                9373, 3370, 2218, 1_040_000_000)
CAMPAIGN = Headline(sessions=900, provinces=20, views=320_000_000, orders=1_300_000,
                    gmv_vnd=110_000_000_000, unique_viewers=45_000_000, fairs=16)
PNG = {"revenue.png": b"\x89PNG-revenue", "views.png": b"\x89PNG-views"}


def _figures(scope: str = "fair", **changes: object) -> Figures:
    values: dict[str, object] = {
        "scope": scope, "fair_id": "cg" if scope == "fair" else None,
        "title": "Chợ phiên - Cần Giờ", "place": "Cần Giờ, TP.HCM", "start_ms": OPENS,
        "end_ms": NOW, "status": "ended", "as_of_ms": NOW, "newest_event_ms": NOW - 60_000,
        "headline": HEAD, "campaign": CAMPAIGN,
        "fairs": [FAIR], "sessions": [SESSION], "top_sessions": [SESSION],
        "top_products": [ProductLine("p1", "Mắm tôm chà", 5, "HTX Cần Giờ", 40, 4_000_000)],
        "provinces": [ProvinceLine("Hồ Chí Minh", 2, 100, 10, 5_000_000),
                      ProvinceLine("?", 1, 1, 0, 0)],
        "spans": [], "members": frozenset({"s1"}),
    }
    values.update(changes)
    return Figures(**values)  # type: ignore[arg-type]


def test_a_fair_page_holds_its_numbers_in_text_and_in_data_values() -> None:
    html = render(_figures(), PNG, DeadLetterSummary("ocop.dlq"))
    assert "812 phiên · 14 tỉnh · 301 triệu lượt xem · 100,4 tỷ ₫" in html
    cells = _cells(html)
    assert cells[None, "gmv_vnd"] == 100_400_000_000
    assert cells[None, "unique_viewers"] == 41_000_000
    assert cells["s1", "views"] == 1234 and cells["s1", "gmv_vnd"] == 9_870_000
    assert cells["p1", "units"] == 40
    assert cells["Hồ Chí Minh", "gmv_vnd"] == 5_000_000
    assert "9,87 triệu ₫" in html and "1.234" in html
    assert "Chưa có trong danh mục" in html
    assert 'data-scope="fair" data-fair="cg"' in html
    # Its campaign for context, and no per-fair table.
    assert "Toàn chiến dịch: 900 phiên · 20 tỉnh" in html
    assert 'data-fair="cg"><td>' not in html


def test_a_campaign_page_has_the_per_fair_table_and_a_campaign_total() -> None:
    html = render(_figures("campaign", headline=CAMPAIGN), PNG, DeadLetterSummary("ocop.dlq"))
    cells = _cells(html)
    assert cells["cg", "sessions"] == 40 and cells["cg", "gmv_vnd"] == 1_040_000_000
    assert cells[None, "fairs"] == 16
    assert cells["", "sessions"] == 900  # the total row: the campaign's own figures
    assert "Từng ngày hội chợ" in html and "Các phiên của hội chợ" not in html


def test_the_page_is_self_contained_and_escapes_catalog_text() -> None:
    html = render(_figures(), PNG, DeadLetterSummary("ocop.dlq"))
    assert "HTX &lt;b&gt;Cần Giờ&lt;/b&gt;" in html and "<b>Cần Giờ</b>" not in html
    assert not re.search(r'(?:src|href)=(?!"data:)', html)
    assert not re.search(r"https?://|@import|url\((?!data:)", html)
    assert html.count('src="data:image/png;base64,') == 2
    assert "<style>" in html and "@page" in html


def test_dead_letters_by_reason_with_the_fairs_own_share() -> None:
    summary = DeadLetterSummary("ocop.dlq", Counter({"bad_json": 3, "order_horizon": 5}),
                                Counter({"order_horizon": 2}), unreadable=1)
    cells = _cells(render(_figures(), PNG, summary))
    assert cells["order_horizon", "dead_letters"] == 5
    assert cells["order_horizon", "of_members"] == 2
    assert cells["bad_json", "of_members"] == 0
    campaign = render(_figures("campaign"), PNG,
                      DeadLetterSummary("ocop.dlq", Counter({"bad_json": 3})))
    assert ("bad_json", "of_members") not in _cells(campaign)


def test_a_kafka_that_could_not_be_read_is_said_on_the_page() -> None:
    summary = DeadLetterSummary("ocop.dlq", problem="Không đọc được Kafka tại k:9092")
    html = render(_figures(), PNG, summary)
    assert 'id="dlq-problem">Không đọc được Kafka tại k:9092' in html
    assert 'id="dlq-none"' in render(_figures(), PNG, DeadLetterSummary("ocop.dlq"))


def test_every_reason_code_is_explained() -> None:
    assert set(REASON_TEXT) == {reason.value for reason in Reason}
