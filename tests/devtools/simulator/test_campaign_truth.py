"""The reference model's campaign parts on a tiny hand-made campaign, computed by hand:
fairs, days, leaderboards by today's province, the campaign figures and the order
horizon."""

from __future__ import annotations

import json
from typing import Any

from common.catalog import Catalog, Fair, Product, SessionInfo
from devtools.simulator.fair import Event, Message
from devtools.simulator.truth import compute_truth

T1 = 1_700_881_200_000  # 2023-11-25T10:00:00+07:00
T2 = T1 + 2 * 86_400_000  # 2023-11-27T10:00:00+07:00
MIN = 60_000
DAY = 86_400_000
WEEK = 7 * DAY


def session(sid: str, fair: str, province: str, day: str, *products: Product) -> SessionInfo:
    return SessionInfo(sid, f"Phiên {sid}", "Hà Thị Mai", "HTX", province,
                       f"{day}T08:00:00+07:00", f"{day}T12:00:00+07:00", list(products),
                       fair_id=fair)


CA_PHE = Product("ca-phe", "Cà phê Sơn La", 4, 90_000)
TRA = Product("tra", "Chè Shan tuyết", 5, 50_000)
MAT_ONG = Product("mat-ong", "Mật ong rừng", 4, 100_000)
CATALOG = Catalog(
    [
        # Bắc Kạn joined Thái Nguyên: one province on the board, under today's name.
        session("a1", "f1", "Bắc Kạn", "2023-11-25", CA_PHE),
        session("a2", "f1", "Thái Nguyên", "2023-11-25", TRA),
        session("b1", "f2", "TP.HCM", "2023-11-27", MAT_ONG),
        session("b2", "f2", "Bến Tre", "2023-11-27", MAT_ONG),  # never counts anything
    ],
    [
        Fair("f1", "Chợ phiên OCOP: Thái Nguyên", "Thái Nguyên", "Thái Nguyên",
             "2023-11-25T08:00:00+07:00", "2023-11-25T21:00:00+07:00"),
        Fair("f2", "Chợ phiên OCOP: Cần Giờ", "Cần Giờ, TP.HCM", "TP.HCM",
             "2023-11-27T08:00:00+07:00", "2023-11-27T21:00:00+07:00"),
        Fair("f3", "Chợ phiên OCOP: Đồng Tháp", "Sa Đéc", "Đồng Tháp",
             "2023-11-29T08:00:00+07:00", "2023-11-29T21:00:00+07:00"),
    ],
)


def view(eid: str, sid: str, viewer: str, ts: int, kind: str = "join") -> Message:
    event: Event = {"event_id": eid, "session_id": sid, "viewer_id": viewer, "kind": kind,
                     "ts": ts}
    return Message("views", sid, json.dumps(event).encode(), [event])


def order(eid: str, oid: str, status: str, ts: int, sid: str, product: Product,
          quantity: int = 1) -> Message:
    event: Event = {
        "event_id": eid, "order_id": oid, "session_id": sid, "product_id": product.product_id,
        "quantity": quantity, "amount_vnd": quantity * product.price_vnd, "status": status,
        "ts": ts,
    }
    return Message("orders", sid, json.dumps(event).encode(), [event])


def campaign_truth() -> dict[str, Any]:
    refund = order("o3-r", "o3", "refunded", T1 + WEEK + MIN, "a1", CA_PHE, 2)
    return compute_truth([
        view("e1", "a1", "v1", T1),
        view("e2", "a1", "v2", T1 + 1),
        view("e3", "a1", "v1", T1 + 2, "leave"),
        view("e1", "a1", "v1", T1),  # an exact re-send: a duplicate
        view("e4", "a2", "v1", T1 + 3),
        order("o1-p", "o1", "placed", T1, "a1", CA_PHE, 2),
        order("o1-q", "o1", "paid", T1 + MIN, "a1", CA_PHE, 2),
        order("o2-p", "o2", "placed", T1, "a1", CA_PHE, 2),
        order("o3-p", "o3", "placed", T1, "a1", CA_PHE, 2),
        order("o3-q", "o3", "paid", T1 + MIN, "a1", CA_PHE, 2),
        order("o4-p", "o4", "placed", T1 + 4, "a2", TRA),
        order("o7-p", "o7", "placed", T1, "a2", TRA),
        order("o2-r", "o2", "refunded", T1 + 2 * DAY, "a1", CA_PHE, 2),  # days later: counts
        order("o7-c", "o7", "cancelled", T1 + WEEK, "a2", TRA),  # right at the horizon
        view("e5", "b1", "v2", T2),
        Message("views", "b1", b'{"event_id": "x", "sess', [], "malformed_json"),
        order("o5-p", "o5", "placed", T2, "b1", MAT_ONG),
        order("o6-q", "o6", "paid", T2 + MIN, "b1", MAT_ONG),  # paid reported first...
        order("o6-p", "o6", "placed", T2, "b1", MAT_ONG),  # ...its placement moves the anchor
        refund,  # a week and a minute after placement: past the horizon
        refund,  # its verbatim re-send: past the horizon again, not a duplicate
        order("o6-c", "o6", "cancelled", T2 + WEEK + 30_000, "b1", MAT_ONG),  # past o6's
    ], CATALOG, seed=0, order_horizon_ms=WEEK)


def test_the_campaign_figures() -> None:
    t = campaign_truth()
    # a1, a2 and b1 counted something; Bắc Kạn and Thái Nguyên are one province today.
    assert t["campaign"] == {
        "sessions": 3, "provinces": 2, "fairs": 2, "views": 4, "orders": 5,
        "gmv_vnd": 180_000 + 180_000 + 50_000 + 100_000 + 100_000, "unique_viewers": 2,
    }


def test_the_order_horizon_dead_letters() -> None:
    t = campaign_truth()
    assert t["dead_letter_reasons"] == {"bad_json": 1, "order_horizon": 3}
    assert (t["dead_letters"], t["duplicates"], t["events"]) == (4, 1, 22)
    assert t["accepted_events"] == 22 - 4 - 1
    assert t["order_horizon_ms"] == WEEK


def test_each_fair_with_its_leaderboards() -> None:
    fairs = campaign_truth()["fairs"]
    assert list(fairs) == ["f1", "f2", "f3"]
    f1, f2, f3 = fairs["f1"], fairs["f2"], fairs["f3"]
    assert f1["sessions"] == ["a1", "a2"]
    assert f1["totals"] == {"views": 3, "viewers_now": 2, "orders": 3, "units": 5,
                            "gmv_vnd": 410_000, "unique_viewers": 2}
    assert [(r["session_id"], r["gmv_vnd"], r["orders"], r["viewers_now"])
            for r in f1["top_sessions_gmv"]] == [("a1", 360_000, 2, 1), ("a2", 50_000, 1, 1)]
    assert f1["top_sessions_gmv"][0]["province"] == "Bắc Kạn"  # as the catalog names it
    assert [r["session_id"] for r in f1["top_sessions_viewers"]] == ["a1", "a2"]
    assert f1["top_products"] == [
        {"product_id": "ca-phe", "name": "Cà phê Sơn La", "stars": 4, "units": 4,
         "gmv_vnd": 360_000},
        {"product_id": "tra", "name": "Chè Shan tuyết", "stars": 5, "units": 1,
         "gmv_vnd": 50_000},
    ]
    assert f1["top_products_gmv"] == f1["top_products"]
    assert f1["top_provinces"] == [{"province": "Thái Nguyên", "gmv_vnd": 410_000, "orders": 3}]
    assert f1["days"] == {"2023-11-25": {"views": 3, "orders": 3, "units": 5,
                                         "gmv_vnd": 410_000}}
    assert f2["totals"] == {"views": 1, "viewers_now": 1, "orders": 2, "units": 2,
                            "gmv_vnd": 200_000, "unique_viewers": 1}
    assert f2["top_provinces"] == [{"province": "Hồ Chí Minh", "gmv_vnd": 200_000, "orders": 2}]
    assert [r["session_id"] for r in f2["top_sessions_gmv"]] == ["b1"]
    assert f3 == {
        "sessions": [], "totals": {"views": 0, "viewers_now": 0, "orders": 0, "units": 0,
                                   "gmv_vnd": 0, "unique_viewers": 0},
        "days": {}, "top_sessions_gmv": [], "top_sessions_viewers": [], "top_products": [],
        "top_products_gmv": [], "top_provinces": [],
    }


def test_days_and_sessions_of_the_campaign() -> None:
    t = campaign_truth()
    assert t["days"] == {
        "2023-11-25": {"views": 3, "orders": 3, "units": 5, "gmv_vnd": 410_000},
        "2023-11-27": {"views": 1, "orders": 2, "units": 2, "gmv_vnd": 200_000},
    }
    a1 = t["sessions"]["a1"]
    # 3 views (the re-send is not counted) and 6 order events (the late refund is not).
    assert (a1["fair_id"], a1["counted_events"], a1["last_at"]) == ("f1", 9, T1 + 2 * DAY)
    assert t["sessions"]["b2"]["counted_events"] == 0 and t["sessions"]["b2"]["last_at"] is None
    assert t["sessions"]["a2"]["last_at"] == T1 + WEEK  # the cancel at the horizon counted


def test_a_shorter_horizon_refuses_the_refund_days_later() -> None:
    messages = [
        order("p", "o", "placed", T1, "a1", CA_PHE),
        order("r", "o", "refunded", T1 + 2 * DAY, "a1", CA_PHE),
    ]
    long = compute_truth(messages, CATALOG, seed=0, order_horizon_ms=WEEK)
    short = compute_truth(messages, CATALOG, seed=0, order_horizon_ms=DAY)
    assert long["totals"]["orders"] == 0 and "order_horizon" not in long["dead_letter_reasons"]
    assert short["totals"]["orders"] == 1 and short["dead_letter_reasons"] == {"order_horizon": 1}


def test_a_catalog_without_fairs_is_one_implicit_fair() -> None:
    plain = Catalog([SessionInfo("s", "Phiên s", "Chị Lan", "HTX", "Sơn La",
                                 "2023-11-25T08:00:00+07:00", "2023-11-25T12:00:00+07:00",
                                 [CA_PHE])])
    t = compute_truth([view("e", "s", "v", T1)], plain, seed=0)
    assert list(t["fairs"]) == ["fair"]
    assert t["fairs"]["fair"]["totals"]["views"] == 1
    assert t["campaign"]["fairs"] == 1 and t["campaign"]["provinces"] == 1
