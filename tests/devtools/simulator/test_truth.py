"""The reference model: each counting rule on hand-made messages, then whole-fair checks."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from common.catalog import SAMPLE_CATALOG, Catalog, Product, SessionInfo, load_catalog
from devtools.simulator.cli import Timeline, plan_timeline, simulate
from devtools.simulator.fair import FairConfig, Message, format_ts, generate
from devtools.simulator.truth import compute_truth, local_day, truth_json, write_truth

T0 = 1_700_895_600_000  # 2023-11-25 14:00:00 +07:00, on a minute boundary
MIN = 60_000


def session(sid: str, province: str, *pids: str) -> SessionInfo:
    return SessionInfo(
        session_id=sid, title=f"Chợ phiên OCOP: {sid}", host="Lò Thị Hương", shop="HTX",
        province=province, scheduled_start="2023-11-25T08:00:00+07:00",
        scheduled_end="2023-11-25T11:00:00+07:00",
        products=[Product(pid, pid, 4, 100_000) for pid in pids],
    )


CATALOG = Catalog([
    session("sl-1", "Sơn La", "ca-phe", "man-hau"),
    session("sl-2", "Sơn La", "ca-phe"),
    session("bk-1", "Bắc Kạn", "che-shan"),
])


def join(eid: str, sid: str, viewer: str, ts: int | str, kind: str = "join") -> dict[str, Any]:
    return {"event_id": eid, "session_id": sid, "viewer_id": viewer, "kind": kind, "ts": ts}


def order(
    eid: str, oid: str, status: str, ts: int | str, sid: str = "sl-1", pid: str = "ca-phe",
    quantity: int = 2, amount: int = 180_000,
) -> dict[str, Any]:
    return {
        "event_id": eid, "order_id": oid, "session_id": sid, "product_id": pid,
        "quantity": quantity, "amount_vnd": amount, "status": status, "ts": ts,
    }


def msg(kind: str, *events: dict[str, Any]) -> Message:
    value = json.dumps(list(events) if len(events) > 1 else events[0]).encode()
    return Message("views" if kind == "views" else "orders", events[0]["session_id"], value,
                   list(events))


def truth(*messages: Message) -> dict[str, Any]:
    return compute_truth(list(messages), CATALOG, seed=0)


def test_views_dedup_unique_viewers_and_viewers_now() -> None:
    t = truth(
        msg("views", join("a", "sl-1", "v1", T0), join("b", "sl-1", "v2", T0 + 1)),
        msg("views", join("a", "sl-1", "v1", T0)),  # exact re-send
        msg("views", join("c", "sl-1", "v1", T0 + 2, "leave"), join("d", "sl-1", "v1", T0 + 3)),
        msg("views", join("e", "sl-2", "v1", T0 + 4)),
    )
    s1 = t["sessions"]["sl-1"]
    assert (s1["views"], s1["unique_viewers"], s1["viewers_now"]) == (3, 2, 2)
    assert t["totals"]["views"] == 4
    assert t["totals"]["unique_viewers"] == 2  # v1 watched two sessions
    assert t["totals"]["viewers_now"] == 3
    assert (t["accepted_events"], t["duplicates"], t["events"], t["messages"]) == (5, 1, 6, 4)


def test_peak_is_first_reached_and_viewers_now_never_negative() -> None:
    t = truth(msg(
        "views",
        join("l0", "sl-1", "v9", T0 - 5, "leave"),  # a leave before any join: net -1
        join("j1", "sl-1", "v1", T0 + 10),
        join("j2", "sl-1", "v2", T0 + 20),
        join("j3", "sl-1", "v3", T0 + 30),  # first time at 2
        join("l1", "sl-1", "v1", T0 + 40, "leave"),
        join("j4", "sl-1", "v4", T0 + 50),  # back at 2, not a new peak
    ))
    s1 = t["sessions"]["sl-1"]
    assert (s1["viewers_now"], s1["peak_viewers"], s1["peak_at"]) == (2, 2, T0 + 30)
    lone = truth(msg("views", join("l", "sl-1", "v", T0, "leave")))["sessions"]["sl-1"]
    assert (lone["views"], lone["viewers_now"], lone["peak_viewers"]) == (0, 0, 0)
    assert lone["peak_at"] is None and lone["minutes"] == {}


def test_orders_count_while_placed_or_paid_at_the_anchor_event() -> None:
    t = truth(
        msg("orders", order("p1", "o1", "paid", T0 + 61_000)),  # paid arrives first
        msg("orders", order("p0", "o1", "placed", T0 + 59_000)),  # anchor: earliest ts
        msg("orders", order("q0", "o2", "placed", T0)),
        msg("orders", order("q1", "o2", "cancelled", T0 + 5_000)),
        msg("orders", order("r0", "o3", "placed", T0, quantity=1, amount=50_000)),
        msg("orders", order("r1", "o3", "paid", T0 + 1, quantity=1, amount=50_000)),
        msg("orders", order("r2", "o3", "refunded", T0 + 2, quantity=1, amount=50_000)),
        msg("orders", order("s0", "o4", "placed", T0 + 3 * MIN, pid="man-hau", amount=90_000)),
        msg("orders", order("s9", "o4", "placed", T0 + 3 * MIN, pid="man-hau", amount=90_000)),
    )
    s1 = t["sessions"]["sl-1"]
    assert (s1["orders"], s1["units"], s1["gmv_vnd"]) == (2, 4, 270_000)
    assert s1["minutes"] == {
        str(T0): {"views": 0, "orders": 1, "units": 2, "gmv_vnd": 180_000},
        str(T0 + 3 * MIN): {"views": 0, "orders": 1, "units": 2, "gmv_vnd": 90_000},
    }
    assert s1["products"] == {
        "ca-phe": {"units": 2, "gmv_vnd": 180_000}, "man-hau": {"units": 2, "gmv_vnd": 90_000},
    }
    assert t["provinces"] == {
        "Sơn La": {"orders": 2, "gmv_vnd": 270_000}, "Bắc Kạn": {"orders": 0, "gmv_vnd": 0},
    }
    assert t["duplicates"] == 0  # a repeat with a new event id is accepted, counted once


def test_anchor_is_the_earliest_event_whatever_its_status_or_arrival() -> None:
    edge = T0 + MIN
    t = truth(
        msg("orders", order("z", "o1", "placed", edge)),
        msg("orders", order("y", "o1", "paid", edge - 1)),  # clock skew: paid stamped earlier
        msg("orders", order("b", "o2", "paid", edge)),
        msg("orders", order("a", "o2", "paid", edge - 1)),  # a repeat stamped earlier
    )
    assert t["minutes"] == {str(T0): {"views": 0, "orders": 2, "units": 4, "gmv_vnd": 360_000}}


def test_timestamp_formats_name_the_same_instant() -> None:
    formats = [format_ts(T0 + 1_234, style) for style in (0, 1, 2)]
    assert str(formats[0]).endswith("+07:00") and str(formats[1]).endswith("Z")
    events = [join(f"e{i}", "bk-1", f"v{i}", ts) for i, ts in enumerate(formats)]
    t = truth(msg("views", *events))
    assert t["minutes"] == {str(T0): {"views": 3, "orders": 0, "units": 0, "gmv_vnd": 0}}


def test_local_days_follow_ho_chi_minh_time() -> None:
    midnight = 1_700_931_600_000  # 2023-11-26T00:00:00+07:00 = 2023-11-25T17:00:00Z
    assert local_day(midnight - 1) == "2023-11-25"
    assert local_day(midnight) == "2023-11-26"
    t = truth(
        msg("views", join("a", "bk-1", "v", "2023-11-25T16:59:59.999Z")),
        msg("orders", order("b", "o", "placed", "2023-11-26T00:00:00+07:00", sid="bk-1",
                            pid="che-shan")),
    )
    assert t["days"] == {
        "2023-11-25": {"views": 1, "orders": 0, "units": 0, "gmv_vnd": 0},
        "2023-11-26": {"views": 0, "orders": 1, "units": 2, "gmv_vnd": 180_000},
    }


def test_dedup_spaces_are_per_topic_and_every_session_is_listed() -> None:
    t = truth(msg("views", join("x", "sl-1", "v", T0)), msg("orders", order("x", "o", "paid", T0)))
    assert t["duplicates"] == 0
    assert set(t["sessions"]) == {"sl-1", "sl-2", "bk-1"}
    assert t["sessions"]["bk-1"]["products"] == {"che-shan": {"units": 0, "gmv_vnd": 0}}
    assert t["products"]["che-shan"] == {"units": 0, "gmv_vnd": 0}


def test_labelled_invalid_records_are_dead_letters_without_parsing() -> None:
    broken = Message("orders", "sl-1", b'{"event_id": "x", "quant', [], "malformed_json")
    t = truth(broken, msg("views", join("a", "sl-1", "v", T0)))
    assert (t["dead_letters"], t["events"], t["accepted_events"]) == (1, 2, 1)


@pytest.mark.parametrize(
    "message",
    [
        msg("orders", order("a", "o", "paid", T0, quantity=0)),
        msg("orders", order("a", "o", "shipped", T0)),
        msg("orders", {**order("a", "o", "paid", T0), "quantity": "2"}),
        msg("orders", {**order("a", "o", "paid", T0), "amount_vnd": -1}),
        msg("views", join("a", "sl-1", "v", T0, "like")),
        msg("views", join("a", "sl-1", "v", True)),  # a bool is not an epoch-ms int
        msg("views", join("a", "sl-1", "v", "2023-11-25 14:00:00")),
        msg("views", join("a", "nowhere", "v", T0)),
        Message("views", "sl-2", json.dumps(join("a", "sl-1", "v", T0)).encode(), []),
        Message("views", "sl-1", b"[]", []),
    ],
)
def test_unlabelled_contract_violations_raise(message: Message) -> None:
    with pytest.raises(ValueError):
        truth(message)


def test_an_order_must_not_change_its_terms() -> None:
    with pytest.raises(ValueError, match="changes"):
        truth(msg("orders", order("a", "o", "placed", T0), order("b", "o", "paid", T0, amount=1)))


order_events = st.lists(
    st.tuples(
        st.sampled_from(["o1", "o2", "o3", "o4"]),
        st.sampled_from(["placed", "paid", "cancelled", "refunded"]),
        st.integers(T0 - 5 * MIN, T0 + 5 * MIN),
        st.integers(0, 2),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(order_events, st.randoms(use_true_random=False))
def test_order_numbers_do_not_depend_on_delivery_order_or_repeats(
    spec: list[tuple[str, str, int, int]], rnd: random.Random
) -> None:
    terms = {"o1": ("sl-1", "ca-phe"), "o2": ("sl-1", "man-hau"), "o3": ("sl-2", "ca-phe"),
             "o4": ("bk-1", "che-shan")}
    events = [
        order(f"e{i}", oid, status, format_ts(ts, style), *terms[oid])
        for i, (oid, status, ts, style) in enumerate(spec)
    ]
    shuffled = events + rnd.sample(events, k=len(events) // 2)
    rnd.shuffle(shuffled)
    first, second = (truth(*(msg("orders", e) for e in batch)) for batch in (events, shuffled))
    for key in ("totals", "minutes", "days", "products", "provinces"):
        assert first[key] == second[key]
    for sid, row in first["sessions"].items():
        assert {k: v for k, v in row.items() if k != "peak_at"} == {
            k: v for k, v in second["sessions"][sid].items() if k != "peak_at"
        }


@pytest.fixture(scope="module")
def fair_truth() -> tuple[Any, dict[str, Any]]:
    config = FairConfig(start_ms=T0, span_ms=3_600_000, events=40_000, seed=21)
    fair = generate(load_catalog(SAMPLE_CATALOG), config)
    return fair, compute_truth(fair.messages, fair.catalog, seed=21)


def test_fair_truth_is_internally_consistent(fair_truth: tuple[Any, dict[str, Any]]) -> None:
    fair, t = fair_truth
    assert t["events"] == 40_000 and t["messages"] == len(fair.messages)
    assert t["dead_letters"] == sum(1 for m in fair.messages if m.invalid_reason)
    assert t["accepted_events"] + t["duplicates"] + t["dead_letters"] == t["events"]
    rows = t["sessions"].values()
    for name in ("views", "viewers_now", "orders", "units", "gmv_vnd"):
        assert t["totals"][name] == sum(r[name] for r in rows)
    for name in ("views", "orders", "units", "gmv_vnd"):
        assert sum(b[name] for b in t["minutes"].values()) == t["totals"][name]
        assert sum(b[name] for b in t["days"].values()) == t["totals"][name]
        for r in rows:
            assert sum(b[name] for b in r["minutes"].values()) == r[name]
    for name in ("units", "gmv_vnd"):
        assert sum(p[name] for p in t["products"].values()) == t["totals"][name]
        for r in rows:
            assert sum(p[name] for p in r["products"].values()) == r[name]
    assert sum(p["orders"] for p in t["provinces"].values()) == t["totals"]["orders"]
    assert len(t["provinces"]) == len({s.province for s in fair.catalog.sessions})
    assert len(t["sessions"]) == len(fair.catalog.sessions)
    assert all(r["peak_viewers"] >= r["viewers_now"] for r in rows)
    assert t["totals"]["unique_viewers"] < sum(r["unique_viewers"] for r in rows)


def test_fair_truth_matches_simple_recounts(fair_truth: tuple[Any, dict[str, Any]]) -> None:
    fair, t = fair_truth
    valid = [m for m in fair.messages if not m.invalid_reason]
    joins = {e["event_id"] for m in valid for e in m.events if e.get("kind") == "join"}
    assert t["totals"]["views"] == len(joins)
    statuses: dict[str, set[str]] = defaultdict(set)
    for m in valid:
        for e in m.events:
            if m.topic_kind == "orders":
                statuses[str(e["order_id"])].add(str(e["status"]))
    live = [s for s in statuses.values() if s <= {"placed", "paid"}]
    assert t["totals"]["orders"] == len(live) > 1_000


def test_truth_json_is_sorted_and_stable(
    tmp_path: Path, fair_truth: tuple[Any, dict[str, Any]]
) -> None:
    _, t = fair_truth
    path = tmp_path / "truth.json"
    write_truth(t, path)
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(t))
    assert truth_json(t) == truth_json(json.loads(truth_json(t)))
    assert "Hà Tĩnh" in path.read_text(encoding="utf-8")


def test_timeline_modes() -> None:
    now = T0
    assert plan_timeline(now, None, None, None, None) == Timeline(now - 3_600_000, 3_600_000,
                                                                  200_000, paced=False)
    assert plan_timeline(now, 5_000, None, None, 2) == Timeline(now - 120_000, 120_000, 5_000,
                                                                paced=False)
    assert plan_timeline(now, None, 30, 100, None) == Timeline(now, 30_000, 3_000, paced=True)
    assert plan_timeline(now, 500, None, 50, None) == Timeline(now, 10_000, 500, paced=True)


@pytest.mark.parametrize(
    "args",
    [
        (None, 10.0, None, None), (100, 10.0, 5.0, None), (None, None, 5.0, 3.0),
    ],
)
def test_timeline_rejects_conflicting_options(args: tuple[Any, ...]) -> None:
    with pytest.raises(click.UsageError, match="--"):
        plan_timeline(T0, *args)


def test_simulate_mixes_counting_sessions_on_request(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    args = ["--events", "3000", "--sessions", "4", "--backfill-minutes", "10", "--seed", "4",
            "--truth", str(path), "--dry-run"]
    plain = CliRunner().invoke(simulate, args)
    assert plain.exit_code == 0, plain.output
    without = json.loads(path.read_text(encoding="utf-8"))
    mixed = CliRunner().invoke(simulate, [*args, "--count-share", "0.5"])
    assert mixed.exit_code == 0, mixed.output
    with_counts = json.loads(path.read_text(encoding="utf-8"))
    assert with_counts["totals"]["viewers_now"] != without["totals"]["viewers_now"]
    refused = CliRunner().invoke(simulate, ["--campaign", "--count-share", "0.5", "--dry-run"])
    assert refused.exit_code != 0 and "--count-share" in refused.output


def test_simulate_dry_run_writes_the_truth(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    result = CliRunner().invoke(simulate, [
        "--events", "3000", "--sessions", "5", "--backfill-minutes", "10", "--seed", "4",
        "--envelope-size", "1", "--truth", str(path), "--dry-run",
    ])
    assert result.exit_code == 0, result.output
    t = json.loads(path.read_text(encoding="utf-8"))
    assert (t["seed"], t["events"], len(t["sessions"])) == (4, 3000, 5)
    assert t["messages"] == 3000  # envelope size 1: one event per message
    assert 10 <= len(t["minutes"]) <= 32  # ten minutes, plus late events up to 20 earlier
