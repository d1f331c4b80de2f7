"""The aggregation core against the plain reference model (devtools.simulator.truth).

Hypothesis builds small fairs with shuffled, repeated and late status changes, exact
duplicates and envelopes, splits the delivery into arbitrary batches, and checks that
the folded deltas equal what the reference model computes from the same messages.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter, defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from common.catalog import Catalog, Product, SessionInfo
from counting.aggregate import Aggregator, Record
from counting.delta import ShardDelta
from counting.state import ShardState
from devtools.simulator.fair import Message
from devtools.simulator.truth import compute_truth

START = 1_795_740_000_000
NOW = START + 50 * 60_000
SESSIONS = ("s0", "s1", "s2")
PRODUCTS = ("p0", "p1", "p2")
SHARDS = 2
CATALOG = Catalog([
    SessionInfo(sid, f"Phiên {sid}", "Chị Lan", "HTX", f"Tỉnh {i % 2}",
                "2026-11-27T08:00:00+07:00", "2026-11-27T12:00:00+07:00",
                [Product(pid, f"Sản phẩm {pid}", 4, 10_000) for pid in PRODUCTS])
    for i, sid in enumerate(SESSIONS)
])
AGG = Aggregator(topics={"views": "views", "orders": "orders"})


def _shard(sid: str) -> int:
    return zlib.crc32(sid.encode()) % SHARDS


@st.composite
def fairs(draw: st.DrawFn) -> list[Message]:
    """Messages in delivery order: views and orders, with repeats, shuffles and envelopes."""
    events: list[tuple[str, dict[str, Any]]] = []
    for i in range(draw(st.integers(0, 25))):
        events.append(("views", {
            "event_id": f"v{i}", "session_id": draw(st.sampled_from(SESSIONS)),
            "viewer_id": f"u{draw(st.integers(0, 6))}",
            "kind": draw(st.sampled_from(["join", "join", "leave"])),
            "ts": START + draw(st.integers(0, 45)) * 60_000 + draw(st.integers(0, 59_999)),
        }))
    for o in range(draw(st.integers(0, 10))):
        sid, pid = draw(st.sampled_from(SESSIONS)), draw(st.sampled_from(PRODUCTS))
        qty = draw(st.integers(1, 3))
        placed = START + draw(st.integers(0, 40)) * 60_000
        statuses = draw(st.lists(st.sampled_from(["placed", "paid", "cancelled", "refunded"]),
                                 min_size=1, max_size=4))
        for j, status in enumerate(statuses):
            events.append(("orders", {
                "event_id": f"o{o}-{j}", "order_id": f"order-{o}", "session_id": sid,
                "product_id": pid, "quantity": qty, "amount_vnd": qty * 10_000,
                "status": status, "ts": placed + j * draw(st.integers(0, 90_000)),
            }))
    # Exact duplicates (a producer retry), then any delivery order.
    events += draw(st.lists(st.sampled_from(events), max_size=6)) if events else []
    events = draw(st.permutations(events))
    messages: list[Message] = []
    i = 0
    while i < len(events):
        kind, first = events[i]
        size = draw(st.integers(1, 4))
        group = [e for k, e in events[i:i + size] if k == kind
                 and e["session_id"] == first["session_id"]]
        taken = 1 if len(group) < 2 else len(group)
        group = group if taken > 1 else [first]
        i += taken if taken > 1 else 1
        value = json.dumps(group if len(group) > 1 else group[0]).encode()
        messages.append(Message(kind, first["session_id"], value, group))  # type: ignore[arg-type]
    return messages


def _records(messages: list[Message]) -> list[Record]:
    offsets: Counter[tuple[str, int]] = Counter()
    records = []
    for m in messages:
        shard = _shard(m.key)
        records.append(Record(m.topic_kind, shard, offsets[m.topic_kind, shard], m.key.encode(),
                              m.value))
        offsets[m.topic_kind, shard] += 1
    return records


def _fold(deltas: list[ShardDelta]) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    sessions: defaultdict[str, Counter[str]] = defaultdict(Counter)
    live: dict[str, Any] = {}
    products: defaultdict[str, Counter[str]] = defaultdict(Counter)
    minutes: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for d in deltas:
        totals.update(d.totals)
        for sid, c in d.sessions.items():
            sessions[sid].update(c)
        for sid, s in d.live.items():
            live[sid] = (s.viewers_now, s.peak, s.peak_at)
        for pid, n in d.product_units.items():
            products[pid]["units"] += n
        for pid, n in d.product_gmv.items():
            products[pid]["gmv_vnd"] += n
        for (minute, sid), c in d.minutes.items():
            if sid is None:
                minutes[minute].update(c)
    return {"totals": totals, "sessions": sessions, "live": live, "products": products,
            "minutes": minutes}


@settings(max_examples=300, deadline=None)
@given(fairs(), st.lists(st.integers(1, 8), min_size=1, max_size=10))
def test_core_equals_reference_model(messages: list[Message], cuts: list[int]) -> None:
    truth = compute_truth(messages, CATALOG, seed=0)
    records = _records(messages)
    states = {s: ShardState(shard=s) for s in range(SHARDS)}
    deltas, i, k = [], 0, 0
    while i < len(records):
        batch = records[i:i + cuts[k % len(cuts)]]
        i, k = i + len(batch), k + 1
        for shard in range(SHARDS):
            mine = [r for r in batch if r.partition == shard]
            deltas.append(AGG.batch(states[shard], mine, now_ms=NOW))
    got = _fold(deltas)

    for name in ("views", "orders", "units", "gmv_vnd", "viewers_now"):
        assert got["totals"][name] == truth["totals"][name], name
    for sid, want in truth["sessions"].items():
        for name in ("views", "orders", "units", "gmv_vnd"):
            assert got["sessions"][sid][name] == want[name], (sid, name)
        now, peak, peak_at = got["live"].get(sid, (0, 0, None))
        assert (now, peak, peak_at) == (want["viewers_now"], want["peak_viewers"],
                                        want["peak_at"]), sid
    for pid, want in truth["products"].items():
        assert got["products"][pid]["units"] == want["units"], pid
        assert got["products"][pid]["gmv_vnd"] == want["gmv_vnd"], pid
    for minute, want in truth["minutes"].items():
        assert {n: got["minutes"][int(minute)][n] for n in want} == want, minute
    assert sum(d.duplicates for d in deltas) == truth["duplicates"]
    assert not any(d.dead_letters for d in deltas)


@given(fairs())
def test_redelivery_of_applied_records_changes_nothing(messages: list[Message]) -> None:
    records = _records(messages)
    states = {s: ShardState(shard=s) for s in range(SHARDS)}
    for shard in range(SHARDS):
        AGG.batch(states[shard], [r for r in records if r.partition == shard], now_ms=NOW)
    for shard in range(SHARDS):
        again = AGG.batch(states[shard], [r for r in records if r.partition == shard],
                          now_ms=NOW)
        assert again.is_empty()
        assert again.redelivered == sum(1 for r in records if r.partition == shard)
