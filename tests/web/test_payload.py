"""Store rows → board, fairs, campaign and session payloads (pure)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from common.catalog import IMPLICIT_FAIR_ID
from web.payload import (
    board_changes,
    build_board,
    build_campaign,
    build_fairs,
    build_session,
    unique_viewers,
)
from web.reader import BoardRows, FairSums, SessionRows
from web.scopes import Directory, Fair

NOW = 1_795_748_430_000
MINUTE = 1_795_748_400_000
HOUR = 3_600_000


VN = timezone(timedelta(hours=7))


def _iso(ms: int) -> str:
    """RFC 3339 in Asia/Ho_Chi_Minh, as catalogs write it."""
    return datetime.fromtimestamp(ms / 1000, tz=VN).isoformat()


def _session(title: str, province: str, *, start: int, end: int, fair: str | None = None,
             products: list[dict[str, Any]] | None = None) -> str:
    info: dict[str, Any] = {"title": title, "host": f"host of {title}", "shop": f"shop {title}",
                            "province": province, "scheduled_start": _iso(start),
                            "scheduled_end": _iso(end), "products": products or []}
    if fair is not None:
        info["fair_id"] = fair
    return json.dumps(info)


CATALOG = {
    "a": _session("Chè Shan tuyết", "Bắc Kạn", start=NOW - HOUR, end=NOW + HOUR,
                  products=[{"product_id": "p1", "name": "Chè 500g", "stars": 4}]),
    "b": _session("Cà phê", "Sơn La", start=NOW - 3 * HOUR, end=NOW - 2 * HOUR),
}


def _rows(catalog: dict[str, str] | None = None, fairs: dict[str, str] | None = None,
          **overrides: Any) -> BoardRows:
    directory = Directory.parse(CATALOG if catalog is None else catalog, fairs or {})
    values: dict[str, Any] = {
        "now_ms": NOW,
        "directory": directory,
        "totals": [{"views": "10", "orders": "2", "units": "3", "gmv_vnd": "300",
                    "viewers_now": "4"},
                   {"views": "5", "orders": "1", "units": "1", "gmv_vnd": "700",
                    "viewers_now": "1"}],
        "unique_viewers": 9,
        "counted": {"a": 0, "b": 1},
        "sessions": {
            "a": {"views": "10", "orders": "2", "units": "3", "gmv_vnd": "300",
                  "viewers_now": "4", "p|p1|units": "3", "p|p1|gmv_vnd": "300"},
            "b": {"views": "5", "orders": "1", "units": "1", "gmv_vnd": "700",
                  "viewers_now": "1", "last_at": str(NOW - 60_000), "p|p1|units": "1",
                  "p|p1|gmv_vnd": "700"},
        },
        "fair_unique": {IMPLICIT_FAIR_ID: 9},
        "sums": {IMPLICIT_FAIR_ID: FairSums(
            minutes={MINUTE - 60_000: {"views": 2, "orders": 0, "units": 0, "gmv_vnd": 0},
                     MINUTE: {"views": 4, "orders": 0, "units": 0, "gmv_vnd": 0}},
            today={"views": 15, "orders": 3, "units": 4, "gmv_vnd": 1000})},
        "default_fair": directory.default_fair(NOW),
    }
    values.update(overrides)
    return BoardRows(**values)


def _board(rows: BoardRows | None = None, **options: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"top_n": 10, "title": "Chợ phiên OCOP", "place": "Cần Giờ"}
    kwargs.update(options)
    return build_board(_rows() if rows is None else rows, **kwargs)


def test_board_of_the_implicit_fair_sums_its_sessions_and_ranks_with_names() -> None:
    board = _board()
    assert board["fair"] == {"fair_id": IMPLICIT_FAIR_ID, "title": "Chợ phiên OCOP",
                             "place": "Cần Giờ", "province": None,
                             "start": _iso(NOW - 3 * HOUR), "end": _iso(NOW + HOUR),
                             "status": "live"}
    assert board["totals"] == {"views": 15, "orders": 3, "units": 4, "gmv_vnd": 1000,
                               "viewers_now": 5, "unique_viewers": 9}
    assert [s["session_id"] for s in board["top_sessions_gmv"]] == ["b", "a"]
    assert board["top_sessions_gmv"][1]["province"] == "Bắc Kạn"
    assert board["top_products"] == [{"product_id": "p1", "name": "Chè 500g", "stars": 4,
                                      "session_id": "a", "units": 4, "gmv_vnd": 1000}]
    # Today's provinces: Bắc Kạn is part of Thái Nguyên since 1 July 2025.
    assert board["top_provinces"] == [{"province": "Sơn La", "gmv_vnd": 700, "orders": 1},
                                      {"province": "Thái Nguyên", "gmv_vnd": 300, "orders": 2}]
    assert board["windows"]["1m"]["views"] == 4
    assert board["windows"]["5m"]["views"] == 6
    assert board["windows"]["today"]["views"] == 15
    assert board["windows"]["fair"]["gmv_vnd"] == 1000
    assert [row["minute"] for row in board["series"]] == [MINUTE - 60_000, MINUTE]


def test_most_watched_now_ranks_only_sessions_live_now() -> None:
    # "b" ended two hours ago but counted a minute ago: live within the grace.
    assert [s["session_id"] for s in _board()["top_sessions_viewers"]] == ["a", "b"]
    assert [s["session_id"] for s in _board(live_grace_s=30)["top_sessions_viewers"]] == ["a"]


def test_the_schedule_says_live_next_and_ended_in_start_order() -> None:
    catalog = {**CATALOG,
               "c": _session("Mật ong", "Hà Giang", start=NOW + HOUR, end=NOW + 2 * HOUR),
               "d": _session("Gạo", "Điện Biên", start=NOW - 5 * HOUR, end=NOW - 4 * HOUR)}
    schedule = _board(_rows(catalog), live_grace_s=30)["schedule"]
    assert [(s["session_id"], s["status"]) for s in schedule] == [
        ("d", "ended"), ("b", "ended"), ("a", "live"), ("c", "next")]
    assert schedule[2] == {"session_id": "a", "title": "Chè Shan tuyết",
                           "host": "host of Chè Shan tuyết", "shop": "shop Chè Shan tuyết",
                           "scheduled_start": _iso(NOW - HOUR), "scheduled_end": _iso(NOW + HOUR),
                           "status": "live"}
    assert [s["status"] for s in _board(_rows(catalog), live_grace_s=300)["schedule"]] == [
        "ended", "live", "live", "next"]


FAIRS = {
    "early": json.dumps({"fair_id": "early", "title": "Chợ phiên - Bắc Kạn",
                         "place": "Chợ Mới, Bắc Kạn", "province": "Bắc Kạn",
                         "start": _iso(NOW - 30 * HOUR), "end": _iso(NOW - 20 * HOUR)}),
    "today": json.dumps({"fair_id": "today", "title": "Chợ phiên - Cần Giờ",
                         "place": "Cần Giờ, TP.HCM", "province": "TP.HCM",
                         "start": _iso(NOW - 2 * HOUR), "end": _iso(NOW + 6 * HOUR)}),
}
TWO_FAIRS = {
    "a": _session("Chè", "Bắc Kạn", start=NOW - 25 * HOUR, end=NOW - 24 * HOUR, fair="early",
                  products=[{"product_id": "p1", "name": "Chè 500g", "stars": 4}]),
    "b": _session("Tôm khô", "TP.HCM", start=NOW - HOUR, end=NOW + HOUR, fair="today"),
    "c": _session("Hồng", "Thái Nguyên", start=NOW - HOUR, end=NOW + HOUR, fair="today",
                  products=[{"product_id": "p1", "name": "Chè 500g", "stars": 4}]),
}


def _two_fairs(**overrides: Any) -> BoardRows:
    values: dict[str, Any] = {
        "totals": [{"views": "12", "orders": "3", "units": "4", "gmv_vnd": "900"},
                   {"views": "7", "orders": "1", "units": "1", "gmv_vnd": "50"}],
        "unique_viewers": 25,
        "counted": {"a": 0, "b": 1, "c": 0, "lost": 1},
        "sessions": {
            "a": {"views": "10", "orders": "2", "units": "3", "gmv_vnd": "800",
                  "viewers_now": "2", "p|p1|units": "3", "p|p1|gmv_vnd": "800"},
            "b": {"views": "5", "orders": "1", "units": "1", "gmv_vnd": "50",
                  "viewers_now": "6"},
            "c": {"views": "2", "orders": "1", "units": "1", "gmv_vnd": "100",
                  "viewers_now": "1", "p|p1|units": "1", "p|p1|gmv_vnd": "100"},
            "lost": {"views": "2"},
        },
        "fair_unique": {"early": 11, "today": 6},
        "sums": {"today": FairSums(minutes={MINUTE: {"views": 1, "orders": 0, "units": 0,
                                                      "gmv_vnd": 0}})},
    }
    values.update(overrides)
    directory = Directory.parse(TWO_FAIRS, FAIRS)
    return _rows(TWO_FAIRS, FAIRS, default_fair=directory.default_fair(NOW), **values)


def test_a_fairs_board_counts_only_its_own_sessions() -> None:
    board = _board(_two_fairs())
    assert board["fair"]["fair_id"] == "today"
    assert board["fair"]["title"] == "Chợ phiên - Cần Giờ"
    assert board["totals"] == {"views": 7, "orders": 2, "units": 2, "gmv_vnd": 150,
                               "viewers_now": 7, "unique_viewers": 6}
    assert [s["session_id"] for s in board["top_sessions_gmv"]] == ["c", "b"]
    assert board["top_products"] == [{"product_id": "p1", "name": "Chè 500g", "stars": 4,
                                      "session_id": "c", "units": 1, "gmv_vnd": 100}]
    assert [s["session_id"] for s in board["schedule"]] == ["b", "c"]
    assert board["windows"]["fair"] == {"views": 7, "orders": 2, "units": 2, "gmv_vnd": 150}
    with pytest.raises(ValueError, match="fair 'early' was not read"):
        _board(_two_fairs(), fair_id="early")


def test_fairs_and_campaign_figures() -> None:
    rows = _two_fairs()
    fairs = build_fairs(rows, title="", place="")
    assert [(f["fair_id"], f["status"]) for f in fairs] == [("early", "ended"), ("today", "live")]
    assert fairs[0]["totals"] == {"views": 10, "orders": 2, "units": 3, "gmv_vnd": 800,
                                  "viewers_now": 2, "unique_viewers": 10}
    assert fairs[1]["place"] == "Cần Giờ, TP.HCM"
    # "lost" is counted but catalogued nowhere: it is in the shard totals only. Bắc Kạn
    # and Thái Nguyên are one province today.
    assert build_campaign(rows) == {"sessions": 3, "provinces": 2, "fairs": 2, "views": 19,
                                    "orders": 4, "gmv_vnd": 950, "unique_viewers": 19}
    assert _board(rows)["campaign"] == build_campaign(rows)


def test_one_province_under_two_names_is_one_row() -> None:
    catalog = {**TWO_FAIRS, "b": _session("Miến", "Bắc Kạn", start=NOW - HOUR, end=NOW + HOUR,
                                          fair="today")}
    rows = _two_fairs(directory=Directory.parse(catalog, FAIRS))
    assert _board(rows)["top_provinces"] == [
        {"province": "Thái Nguyên", "gmv_vnd": 150, "orders": 2}]


def test_top_n_cuts_and_ties_break_by_id() -> None:
    catalog = {sid: CATALOG["b"] for sid in ("x", "y", "z")}
    rows = _rows(catalog, counted={"x": 0, "y": 0, "z": 1},
                 sessions={"z": {"gmv_vnd": "5"}, "y": {"gmv_vnd": "5"}, "x": {"gmv_vnd": "9"}})
    board = _board(rows, top_n=2)
    assert [s["session_id"] for s in board["top_sessions_gmv"]] == ["x", "y"]


def test_uncatalogued_sessions_are_in_the_implicit_fair() -> None:
    rows = _rows({}, counted={"cp-1": 0}, sessions={"cp-1": {"views": "3", "gmv_vnd": "7"}})
    board = _board(rows)
    assert board["fair"]["status"] == "live" and board["fair"]["start"] is None
    assert board["totals"]["views"] == 3
    assert board["top_sessions_gmv"][0]["session_id"] == "cp-1"
    assert board["top_provinces"] == [{"province": "?", "gmv_vnd": 7, "orders": 0}]
    assert board["schedule"] == []
    assert build_campaign(rows)["sessions"] == 0


def test_changes_hold_only_changed_keys() -> None:
    old = _board()
    assert board_changes(old, {**old, "as_of": NOW + 1}) == {}
    new = {**old, "as_of": NOW + 1, "totals": {**old["totals"], "views": 16}}
    assert board_changes(old, new) == {"totals": new["totals"], "as_of": NOW + 1}


def test_board_carries_the_newest_event_time() -> None:
    assert _board()["newest_event_ms"] is None
    assert _board(_rows(newest_event_ms=NOW - 800))["newest_event_ms"] == NOW - 800


def test_board_keeps_host_private_detail_off() -> None:
    rows = _rows()
    rows.sessions["a"] = {**rows.sessions["a"], "peak": "9", "peak_at": str(MINUTE),
                          "net": "4"}
    board = _board(rows)
    public = {"session_id", "title", "host", "shop", "province", "gmv_vnd", "orders",
              "viewers_now"}
    for entry in board["top_sessions_gmv"] + board["top_sessions_viewers"]:
        assert set(entry) == public
    text = json.dumps(board)
    for private in ("peak", "p|", "\"net\"", "last_at"):
        assert private not in text


TODAY = Fair("today", "Chợ phiên - Cần Giờ", "Cần Giờ, TP.HCM", "TP.HCM",
             _iso(NOW - 2 * HOUR), _iso(NOW + 6 * HOUR), NOW - 2 * HOUR, NOW + 6 * HOUR)


def test_session_page() -> None:
    rows = SessionRows(
        session_id="a", now_ms=NOW, found=True,
        counters={"views": "10", "orders": "2", "units": "3", "gmv_vnd": "300",
                  "viewers_now": "4", "peak": "6", "peak_at": str(MINUTE),
                  "p|p1|units": "3", "p|p1|gmv_vnd": "300"},
        unique_viewers=7,
        minutes={MINUTE: ["3", None, None, None]},
        today=["10", "2", "3", "300"],
        rank_above=1, sessions_ranked=2, catalog=CATALOG["a"], fair=TODAY,
    )
    page = build_session(rows)
    assert (page["rank_gmv"], page["sessions_ranked"]) == (2, 2)
    assert page["fair"] == {"fair_id": "today", "title": "Chợ phiên - Cần Giờ",
                            "place": "Cần Giờ, TP.HCM", "province": "TP.HCM",
                            "start": TODAY.start, "end": TODAY.end, "status": "live"}
    assert (page["views"], page["peak_viewers"], page["peak_at"]) == (10, 6, MINUTE)
    assert page["products"] == [{"product_id": "p1", "name": "Chè 500g", "stars": 4,
                                 "units": 3, "gmv_vnd": 300}]
    assert page["series"] == [{"minute": MINUTE, "views": 3, "orders": 0, "units": 0,
                               "gmv_vnd": 0}]


def _session_rows(**overrides: object) -> SessionRows:
    values: dict[str, object] = {
        "session_id": "a", "now_ms": NOW, "found": True,
        "counters": {"views": "10", "orders": "2", "gmv_vnd": "300"},
        "unique_viewers": 8, "rank_above": 1, "sessions_ranked": 3, "next_gmv_above": 450,
        "catalog": CATALOG["a"], "fair": TODAY,
    }
    values.update(overrides)
    return SessionRows(**values)  # type: ignore[arg-type]


def test_session_conversion_and_gap_to_the_next_one_up() -> None:
    page = build_session(_session_rows())
    assert (page["conversion"], page["rank_gmv"], page["gap_to_next_vnd"]) == (0.25, 2, 150)
    leader = build_session(_session_rows(rank_above=0, next_gmv_above=None))
    assert (leader["rank_gmv"], leader["gap_to_next_vnd"]) == (1, None)
    unseen = build_session(_session_rows(unique_viewers=0))
    assert unseen["conversion"] is None
    # A session in no fair (its fair is not in the catalog yet) has no rank.
    orphan = build_session(_session_rows(fair=None, rank_above=0, sessions_ranked=0,
                                         next_gmv_above=None))
    assert (orphan["fair"], orphan["rank_gmv"]) == (None, None)


def test_the_implicit_fair_of_a_session_page_takes_the_settings_names() -> None:
    page = build_session(_session_rows(fair=Fair(IMPLICIT_FAIR_ID)), title="Chợ phiên OCOP",
                         place="Cần Giờ")
    assert (page["fair"]["title"], page["fair"]["place"]) == ("Chợ phiên OCOP", "Cần Giờ")


def test_unique_viewers_are_never_shown_above_views() -> None:
    # A HyperLogLog estimate of 140 against 139 views was seen on a host page.
    assert build_session(_session_rows(unique_viewers=14))["unique_viewers"] == 10
    assert build_session(_session_rows(unique_viewers=7))["unique_viewers"] == 7
    rows = _rows(fair_unique={IMPLICIT_FAIR_ID: 16}, unique_viewers=99)
    assert _board(rows)["totals"]["unique_viewers"] == 15
    assert build_campaign(rows)["unique_viewers"] == 15
    assert (unique_viewers(140, views=139), unique_viewers(12, views=139)) == (139, 12)
