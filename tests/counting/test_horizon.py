"""The order horizon and forgetting order states, against a plain reference model.

The reference keeps every order forever and applies the rule as the product states
it: a status change later than its order's placement plus the horizon is dead-lettered
``order_horizon``. The core forgets order states to stay bounded; these tests prove
forgetting never changes a decision or a count for a feed that keeps to the lateness
horizon, however the feed is cut into batches.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from counting.aggregate import Aggregator, Record, Rules
from counting.contract import Reason
from counting.state import ShardState

MINUTE = 60_000
START = 1_795_740_000_000
HORIZON = 10 * MINUTE
LATENESS = 2 * MINUTE
RULES = Rules(max_lateness_ms=LATENESS, order_horizon_ms=HORIZON, max_age_ms=HORIZON)
AGG = Aggregator(topics={"orders": "orders"}, rules=RULES)
_RANK = {"placed": 0, "paid": 1, "cancelled": 2, "refunded": 2}


def _event(eid: str, sid: str, oid: str, status: str, ts: int, amount: int = 10_000
           ) -> dict[str, Any]:
    return {"event_id": eid, "order_id": oid, "session_id": sid, "product_id": "p",
            "quantity": 1, "amount_vnd": amount, "status": status, "ts": ts}


@st.composite
def feeds(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Order events of a few sessions in delivery order, each within the lateness horizon
    of the newest one before it; some changes come long after their placement."""
    events: list[dict[str, Any]] = []
    for o in range(draw(st.integers(1, 14))):
        sid = draw(st.sampled_from(["s0", "s1", "s2"]))
        placed, amount = START + draw(st.integers(0, 60)) * MINUTE, 10_000 * (o + 1)
        events.append(_event(f"e{o}-0", sid, f"o{o}", "placed", placed, amount))
        # Feeds do not place an order twice: a "placed" of an order the core no longer
        # knows is a new order (see test_a_new_order_of_a_quiet_session_counts).
        for j, status in enumerate(draw(st.lists(
                st.sampled_from(["paid", "cancelled", "refunded"]), max_size=3))):
            later = placed + draw(st.integers(0, 3 * HORIZON // MINUTE)) * MINUTE
            events.append(_event(f"e{o}-{j + 1}", sid, f"o{o}", status, later, amount))
    events.sort(key=lambda e: (e["ts"], e["event_id"]))
    # Swap neighbours less than the lateness horizon apart: delivery is not time order.
    # An order's placement still comes first (test_a_change_before_its_placement_...).
    for i in range(len(events) - 1):
        a, b = events[i], events[i + 1]
        if (b["ts"] - a["ts"] < LATENESS and a["order_id"] != b["order_id"]
                and draw(st.booleans())):
            events[i], events[i + 1] = b, a
    return events


def _reference(events: list[dict[str, Any]]) -> tuple[set[str], Counter[str]]:
    """Refused event ids and each session's counted GMV, by the plain rule."""
    orders: dict[tuple[str, str], list[int]] = {}  # -> [anchor ts, rank, amount]
    refused: set[str] = set()
    for e in events:
        key = (e["session_id"], e["order_id"])
        known = orders.get(key)
        if known is not None and e["ts"] > known[0] + HORIZON:
            refused.add(e["event_id"])
            continue
        if known is None:
            orders[key] = [e["ts"], _RANK[e["status"]], e["amount_vnd"]]
        else:
            known[0] = min(known[0], e["ts"])
            known[1] = max(known[1], _RANK[e["status"]])
    gmv: Counter[str] = Counter()
    for (sid, _), (_, rank, amount) in orders.items():
        if rank <= 1:
            gmv[sid] += amount
    return refused, gmv


def _records(events: list[dict[str, Any]]) -> list[Record]:
    # A recorded feed: each record is written when its event happened.
    return [Record("orders", 0, i, e["session_id"].encode(), json.dumps(e).encode(), e["ts"])
            for i, e in enumerate(events)]


@settings(max_examples=300, deadline=None)
@given(feeds(), st.lists(st.integers(1, 6), min_size=1, max_size=5))
def test_horizon_equals_the_plain_rule_whatever_is_forgotten(
    events: list[dict[str, Any]], cuts: list[int]
) -> None:
    records = _records(events)
    state = ShardState(shard=0)
    refused: set[str] = set()
    gmv: Counter[str] = Counter()
    i = k = 0
    while i < len(records):
        batch = records[i:i + cuts[k % len(cuts)]]
        i, k = i + len(batch), k + 1
        delta = AGG.batch(state, batch, now_ms=0)
        for letter in delta.dead_letters:
            assert letter.rejected.reason is Reason.ORDER_HORIZON, letter.rejected.detail
            refused.add(json.loads(letter.rejected.raw)["event_id"])
        for sid, counter in delta.sessions.items():
            gmv[sid] += counter["gmv_vnd"]
    want_refused, want_gmv = _reference(events)
    assert refused == want_refused
    assert +gmv == +want_gmv
    # Forgotten: no session keeps order states once the stream is past its activity.
    line = state.watermarks["orders"] - LATENESS - HORIZON
    assert all(state.order_activity[sid] >= line for sid, _ in state.orders)


def test_a_forgotten_orders_late_change_is_still_refused() -> None:
    placed = _event("e0", "s0", "o0", "placed", START)
    # Another session moves the stream on past the horizon: s0's orders are forgotten.
    other = _event("e1", "s1", "o1", "placed", START + HORIZON + LATENESS + MINUTE)
    refund = _event("e2", "s0", "o0", "refunded", START + HORIZON + LATENESS + MINUTE)
    state = ShardState(shard=0)
    first = AGG.batch(state, _records([placed, other]), now_ms=0)
    assert first.forgotten_orders == [("s0", "o0")]
    assert ("s0", "o0") not in state.orders
    late = AGG.batch(state, _records([placed, other, refund])[2:], now_ms=0)
    (letter,) = late.dead_letters
    assert letter.rejected.reason is Reason.ORDER_HORIZON
    assert "'o0'" in letter.rejected.detail and "'s0'" in letter.rejected.detail
    assert not late.sessions  # the placed order still counts: nothing was taken back


def test_a_new_order_of_a_quiet_session_counts() -> None:
    first = _event("e0", "s0", "o0", "placed", START)
    later = _event("e1", "s0", "o1", "placed", START + 3 * HORIZON)
    state = ShardState(shard=0)
    AGG.batch(state, _records([first]), now_ms=0)
    delta = AGG.batch(state, _records([first, later])[1:], now_ms=0)
    assert not delta.dead_letters
    assert delta.sessions["s0"]["orders"] == 1


def test_a_refused_change_is_refused_again_when_resent() -> None:
    placed = _event("e0", "s0", "o0", "placed", START)
    refund = _event("e1", "s0", "o0", "refunded", START + HORIZON + 1)
    state = ShardState(shard=0)
    delta = AGG.batch(state, _records([placed, refund, refund]), now_ms=0)
    assert [d.rejected.reason for d in delta.dead_letters] == [Reason.ORDER_HORIZON] * 2
    assert delta.duplicates == 0


@given(st.integers(0, 40 * 86_400_000))
def test_time_rules_do_not_depend_on_when_the_feed_is_read(read_later_ms: int) -> None:
    """The same records decide the same whenever they are read: live or rebuilt."""
    def feed() -> list[Record]:
        ok = _event("e0", "s0", "o0", "placed", START)
        old = _event("e1", "s0", "o1", "placed", START - HORIZON - 1)
        ahead = _event("e2", "s0", "o2", "placed", START + 3 * MINUTE)
        return [Record("orders", 0, i, b"s0", json.dumps(e).encode(), START)
                for i, e in enumerate([ok, old, ahead])]

    def decisions(now_ms: int) -> list[tuple[int, str]]:
        delta = AGG.batch(ShardState(shard=0), feed(), now_ms=now_ms)
        return [(d.offset, d.rejected.reason.value) for d in delta.dead_letters]

    assert decisions(START) == decisions(START + read_later_ms) == [
        (1, "too_late"), (2, "future_event")]


def test_a_change_before_its_placement_after_the_session_was_forgotten_is_refused() -> None:
    """The one case the core decides more strictly than the plain rule: it cannot tell a
    forgotten order from a new one whose placement has not arrived, and refuses rather
    than risk counting a forgotten order twice."""
    old = _event("e0", "s0", "o0", "placed", START)
    mover = _event("e1", "s1", "o1", "placed", START + HORIZON + LATENESS + MINUTE)
    paid_first = _event("e2", "s0", "o2", "paid", START + HORIZON + LATENESS + 2 * MINUTE)
    state = ShardState(shard=0)
    AGG.batch(state, _records([old, mover]), now_ms=0)
    delta = AGG.batch(state, _records([old, mover, paid_first])[2:], now_ms=0)
    assert [d.rejected.reason for d in delta.dead_letters] == [Reason.ORDER_HORIZON]
