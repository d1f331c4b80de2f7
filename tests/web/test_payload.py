"""Store rows → board and session payloads (pure)."""

from __future__ import annotations

import json

from web.payload import board_changes, build_board, build_session, unique_viewers
from web.reader import BoardRows, SessionRows

NOW = 1_795_748_430_000
MINUTE = 1_795_748_400_000
CATALOG = {
    "a": json.dumps({"title": "Chè Shan tuyết", "host": "Chị Lan", "shop": "HTX Chè",
                     "province": "Bắc Kạn",
                     "products": [{"product_id": "p1", "name": "Chè 500g", "stars": 4}]}),
    "b": json.dumps({"title": "Cà phê", "host": "Anh Tú", "shop": "HTX Cà phê",
                     "province": "Sơn La", "products": []}),
}


def _rows() -> BoardRows:
    return BoardRows(
        now_ms=NOW,
        totals=[{"views": "10", "orders": "2", "units": "3", "gmv_vnd": "300", "viewers_now": "4"},
                {"views": "5", "orders": "1", "units": "1", "gmv_vnd": "700", "viewers_now": "1"}],
        unique_viewers=9,
        top_gmv=[[("a", 300.0)], [("b", 700.0)]],
        top_viewers=[[("a", 4.0)], [("b", 1.0)]],
        product_units=[[("p1", 3.0)], [("p1", 1.0)]],
        product_gmv=[[("p1", 300.0)], [("p1", 700.0)]],
        minutes={MINUTE - 60_000: [{"views": "2"}, {}], MINUTE: [{"views": "3"}, {"views": "1"}]},
        today=[{"views": "10"}, {"views": "5"}],
        catalog=CATALOG,
        sessions={"a": {"gmv_vnd": "300", "orders": "2", "viewers_now": "4"},
                  "b": {"gmv_vnd": "700", "orders": "1", "viewers_now": "1"}},
    )


def test_board_sums_shards_and_ranks_with_names() -> None:
    board = build_board(_rows(), top_n=10, title="Chợ phiên OCOP", place="Cần Giờ")
    assert board["totals"] == {"views": 15, "orders": 3, "units": 4, "gmv_vnd": 1000,
                               "viewers_now": 5, "unique_viewers": 9}
    assert [s["session_id"] for s in board["top_sessions_gmv"]] == ["b", "a"]
    assert [s["session_id"] for s in board["top_sessions_viewers"]] == ["a", "b"]
    assert board["top_sessions_gmv"][1]["province"] == "Bắc Kạn"
    assert board["top_products"] == [{"product_id": "p1", "name": "Chè 500g", "stars": 4,
                                      "session_id": "a", "units": 4, "gmv_vnd": 1000}]
    assert board["top_provinces"] == [{"province": "Sơn La", "gmv_vnd": 700, "orders": 1},
                                      {"province": "Bắc Kạn", "gmv_vnd": 300, "orders": 2}]
    assert board["windows"]["1m"]["views"] == 4
    assert board["windows"]["5m"]["views"] == 6
    assert board["windows"]["today"]["views"] == 15
    assert board["windows"]["fair"]["gmv_vnd"] == 1000


def test_top_n_cuts_and_ties_break_by_id() -> None:
    rows = _rows()
    rows.top_gmv = [[("z", 5.0), ("y", 5.0)], [("x", 9.0)]]
    board = build_board(rows, top_n=2, title="", place="")
    assert [s["session_id"] for s in board["top_sessions_gmv"]] == ["x", "y"]


def test_changes_hold_only_changed_keys() -> None:
    old = build_board(_rows(), top_n=10, title="t", place="p")
    assert board_changes(old, {**old, "as_of": NOW + 1}) == {}
    new = {**old, "as_of": NOW + 1, "totals": {**old["totals"], "views": 16}}
    assert board_changes(old, new) == {"totals": new["totals"], "as_of": NOW + 1}


def test_session_page() -> None:
    rows = SessionRows(
        session_id="a", now_ms=NOW, found=True,
        counters={"views": "10", "orders": "2", "units": "3", "gmv_vnd": "300",
                  "viewers_now": "4", "peak": "6", "peak_at": str(MINUTE),
                  "p|p1|units": "3", "p|p1|gmv_vnd": "300"},
        unique_viewers=7,
        minutes={MINUTE: ["3", None, None, None]},
        today=["10", "2", "3", "300"],
        rank_above=1, sessions_ranked=2, catalog=CATALOG["a"],
    )
    page = build_session(rows)
    assert page["rank_gmv"] == 2
    assert (page["views"], page["peak_viewers"], page["peak_at"]) == (10, 6, MINUTE)
    assert page["products"] == [{"product_id": "p1", "name": "Chè 500g", "stars": 4,
                                 "units": 3, "gmv_vnd": 300}]
    assert page["series"] == [{"minute": MINUTE, "views": 3, "orders": 0, "units": 0,
                               "gmv_vnd": 0}]


def test_board_carries_the_newest_event_time() -> None:
    rows = _rows()
    assert build_board(rows, top_n=10, title="", place="")["newest_event_ms"] is None
    rows.newest_event_ms = NOW - 800
    assert build_board(rows, top_n=10, title="", place="")["newest_event_ms"] == NOW - 800


def test_board_keeps_host_private_detail_off() -> None:
    rows = _rows()
    rows.sessions["a"] = {**rows.sessions["a"], "peak": "9", "peak_at": str(MINUTE),
                          "net": "4", "p|p1|units": "3", "p|p1|gmv_vnd": "300"}
    board = build_board(rows, top_n=10, title="", place="")
    public = {"session_id", "title", "host", "shop", "province", "gmv_vnd", "orders",
              "viewers_now"}
    for entry in board["top_sessions_gmv"] + board["top_sessions_viewers"]:
        assert set(entry) == public
    text = json.dumps(board)
    for private in ("peak", "p|", "\"net\""):
        assert private not in text


def _session_rows(**overrides: object) -> SessionRows:
    values: dict[str, object] = {
        "session_id": "a", "now_ms": NOW, "found": True,
        "counters": {"views": "10", "orders": "2", "gmv_vnd": "300"},
        "unique_viewers": 8, "rank_above": 1, "sessions_ranked": 3, "next_gmv_above": 450,
        "catalog": CATALOG["a"],
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


def test_unique_viewers_are_never_shown_above_views() -> None:
    # A HyperLogLog estimate of 140 against 139 views was seen on a host page.
    assert build_session(_session_rows(unique_viewers=14))["unique_viewers"] == 10
    assert build_session(_session_rows(unique_viewers=7))["unique_viewers"] == 7
    rows = _rows()
    rows.unique_viewers = 16
    assert build_board(rows, top_n=10, title="", place="")["totals"]["unique_viewers"] == 15
    assert (unique_viewers(140, views=139), unique_viewers(12, views=139)) == (139, 12)
