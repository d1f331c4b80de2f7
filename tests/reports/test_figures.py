"""Store rows → the report's figures (pure): the board's builders, arranged."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from reports.exceptions import UnknownFairError
from reports.figures import (
    Options,
    Span,
    campaign_figures,
    fair_figures,
    known_fairs,
    province_lines,
)
from web.payload import build_board, build_campaign, build_fairs
from web.reader import BoardRows, FairSums
from web.scopes import Directory

H = 3_600_000
NOW = 1_795_748_430_000
VN = timezone(timedelta(hours=7))
OPTIONS = Options(top_n=2, title="Chợ phiên OCOP", place="")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=VN).isoformat()


def _fair(title: str, start: int, end: int) -> str:
    return json.dumps({"title": title, "place": f"{title} place", "province": "TP.HCM",
                       "start": _iso(start), "end": _iso(end)})


def _session(fair: str, shop: str, province: str, start: int, end: int,
             products: list[str]) -> str:
    return json.dumps({"fair_id": fair, "title": f"Phiên {shop}", "host": f"Host {shop}",
                       "shop": shop, "province": province, "scheduled_start": _iso(start),
                       "scheduled_end": _iso(end),
                       "products": [{"product_id": p, "name": f"Sản phẩm {p}", "stars": 4}
                                    for p in products]})


FAIRS = {
    "old": _fair("Chợ phiên - Bắc Kạn", NOW - 30 * H, NOW - 20 * H),
    "now": _fair("Chợ phiên - Cần Giờ", NOW - 2 * H, NOW + 6 * H),
    "next": _fair("Chợ phiên - Đắk Lắk", NOW + 48 * H, NOW + 58 * H),
}
CATALOG = {
    "o1": _session("old", "HTX Chè Bắc Kạn", "Bắc Kạn", NOW - 29 * H, NOW - 27 * H, ["che"]),
    # Starts before its fair opens: the fair's timeline covers it all the same.
    "n1": _session("now", "HTX Thái Nguyên", "Thái Nguyên", NOW - 3 * H, NOW, ["che", "tra"]),
    "n2": _session("now", "HTX Cần Giờ", "TP.HCM", NOW - H, NOW + H, ["kho"]),
    "n3": _session("now", "Cơ sở chưa bán", "Hà Nội", NOW + 2 * H, NOW + 3 * H, ["com"]),
    "x1": _session("next", "HTX Cà phê", "Đắk Lắk", NOW + 49 * H, NOW + 50 * H, ["cafe"]),
}
SESSIONS = {
    "o1": {"views": "10", "orders": "3", "units": "5", "gmv_vnd": "900", "p|che|units": "5",
           "p|che|gmv_vnd": "900"},
    "n1": {"views": "7", "orders": "2", "units": "3", "gmv_vnd": "400", "p|che|units": "1",
           "p|che|gmv_vnd": "100", "p|tra|units": "2", "p|tra|gmv_vnd": "300"},
    "n2": {"views": "4", "orders": "1", "units": "1", "gmv_vnd": "500", "p|kho|units": "1",
           "p|kho|gmv_vnd": "500"},
}
SHARDS = {"o1": 0, "n1": 1, "n2": 0}


def _rows(fairs: list[str]) -> BoardRows:
    totals = [{f: str(sum(int(SESSIONS[s][f]) for s in SESSIONS if SHARDS[s] == shard))
               for f in ("views", "orders", "units", "gmv_vnd")} for shard in (0, 1)]
    return BoardRows(now_ms=NOW, directory=Directory.parse(CATALOG, FAIRS), totals=totals,
                     unique_viewers=19, counted=dict(SHARDS), sessions=dict(SESSIONS),
                     fair_unique={"old": 9, "now": 10}, sums={f: FairSums() for f in fairs},
                     default_fair="now")


def _values(line: Any, *names: str) -> tuple[Any, ...]:
    return tuple(getattr(line, name) for name in names)


def test_a_fair_report_has_its_boards_totals_and_every_scheduled_session() -> None:
    rows = _rows(["now"])
    figures = fair_figures(rows, "now", options=OPTIONS)
    entry = next(f for f in build_fairs(rows, title="", place="") if f["fair_id"] == "now")
    head = figures.headline
    assert (head.views, head.orders, head.gmv_vnd, head.unique_viewers) == (
        entry["totals"]["views"], entry["totals"]["orders"], entry["totals"]["gmv_vnd"],
        entry["totals"]["unique_viewers"])
    # Two sessions counted; Thái Nguyên and TP.HCM.
    assert (head.sessions, head.provinces, head.fairs) == (2, 2, None)
    assert [s.session_id for s in figures.sessions] == ["n1", "n2", "n3"]
    assert _values(figures.sessions[2], "views", "orders", "gmv_vnd") == (0, 0, 0)
    assert figures.campaign.sessions == build_campaign(rows)["sessions"] == 3
    assert figures.members == frozenset({"n1", "n2", "n3"})


def test_a_fair_reports_top_lists_are_the_boards() -> None:
    rows = _rows(["now"])
    board = build_board(rows, fair_id="now", top_n=OPTIONS.top_n, title="", place="")
    figures = fair_figures(rows, "now", options=OPTIONS)
    assert [s.session_id for s in figures.top_sessions] == [
        s["session_id"] for s in board["top_sessions_gmv"]] == ["n2", "n1"]
    assert [(p.product_id, p.units, p.gmv_vnd, p.shop) for p in figures.top_products] == [
        (p["product_id"], p["units"], p["gmv_vnd"], shop) for p, shop in
        zip(board["top_products"], ["HTX Thái Nguyên", "HTX Thái Nguyên"], strict=True)]
    assert [(p.province, p.gmv_vnd, p.orders) for p in figures.provinces] == [
        (p["province"], p["gmv_vnd"], p["orders"]) for p in board["top_provinces"]]


def test_a_fairs_span_covers_its_sessions_schedules() -> None:
    figures = fair_figures(_rows(["now"]), "now", options=OPTIONS)
    # n1 starts an hour before the fair; n3 counted nothing, so it is not summed.
    assert figures.spans == [Span("now", NOW - 3 * H, NOW + 6 * H, ((1, "n1"), (0, "n2")))]


def test_provinces_merge_old_and_new_names() -> None:
    rows = _rows(["old", "now", "next"])
    lines = province_lines(rows, ["o1", "n1", "n2"])
    # Bắc Kạn joined Thái Nguyên on 1 July 2025: one row, both sessions.
    assert [(p.province, p.sessions, p.views, p.gmv_vnd) for p in lines] == [
        ("Thái Nguyên", 2, 17, 1300), ("Hồ Chí Minh", 1, 4, 500)]


def test_the_campaign_report_sums_products_over_fairs_and_ranks_sessions_across_them() -> None:
    rows = _rows(["old", "now", "next"])
    figures = campaign_figures(rows, options=Options(top_n=10, title="Chợ phiên OCOP"))
    campaign = build_campaign(rows)
    head = figures.headline
    assert (head.sessions, head.provinces, head.fairs, head.views, head.orders, head.gmv_vnd,
            head.unique_viewers) == (
        campaign["sessions"], campaign["provinces"], campaign["fairs"], campaign["views"],
        campaign["orders"], campaign["gmv_vnd"], campaign["unique_viewers"])
    assert [(s.session_id, s.fair_title) for s in figures.top_sessions] == [
        ("o1", "Chợ phiên - Bắc Kạn"), ("n2", "Chợ phiên - Cần Giờ"),
        ("n1", "Chợ phiên - Cần Giờ")]
    # "che" sold at two fairs: 5 + 1 units.
    assert [(p.product_id, p.units, p.gmv_vnd) for p in figures.top_products] == [
        ("che", 6, 1000), ("tra", 2, 300), ("kho", 1, 500)]
    assert [(f.fair_id, f.sessions, f.gmv_vnd, f.status) for f in figures.fairs] == [
        ("old", 1, 900, "ended"), ("now", 2, 900, "live"), ("next", 0, 0, "upcoming")]
    # The next fair has counted nothing: no timeline, and the campaign's dates are those
    # of the fairs played.
    assert [s.fair_id for s in figures.spans] == ["old", "now"]
    assert (figures.start_ms, figures.end_ms) == (NOW - 30 * H, NOW + 6 * H)
    assert figures.members is None


def test_the_campaign_report_needs_every_fair_read() -> None:
    with pytest.raises(ValueError, match=r"not read: \['next', 'old'\]"):
        campaign_figures(_rows(["now"]), options=OPTIONS)


def test_known_fairs_come_latest_first_and_an_unknown_one_is_named() -> None:
    assert known_fairs(_rows(["now"])) == ["next", "now", "old"]
    error = UnknownFairError("nope", [f"f{i}" for i in range(8)])
    assert str(error) == "unknown fair 'nope'; the store holds: f0, f1, f2, f3, f4, … (8 in all)"
    assert str(UnknownFairError("nope", [])) == "unknown fair 'nope'; the store holds: none"
