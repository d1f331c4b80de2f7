"""The aggregation core against the plain reference model (devtools.simulator.truth).

Hypothesis builds small fairs with shuffled, repeated and late status changes, platform
viewer counts mixed with joins and leaves, exact duplicates and envelopes, splits the
delivery into arbitrary batches, and checks that the folded deltas equal what the
reference model computes from the same messages.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.catalog import Catalog, Product, SessionInfo
from counting.aggregate import Aggregator, Record
from counting.contract import Reason
from counting.delta import ShardDelta
from counting.partitioner import partition_for
from counting.state import ShardState
from devtools.simulator.fair import Message
from devtools.simulator.truth import compute_truth

START = 1_795_740_000_000
NOW = START + 50 * 60_000
SESSIONS = ("s0", "s1", "s2")
PRODUCTS = ("p0", "p1", "p2")
SHARDS = 2
CATALOG = Catalog([
    SessionInfo(sid, f"Phiên {sid}", "Chị Lan", "HTX", ("Bắc Kạn", "Sơn La")[i % 2],
                "2026-11-27T08:00:00+07:00", "2026-11-27T12:00:00+07:00",
                [Product(pid, f"Sản phẩm {pid}", 4, 10_000) for pid in PRODUCTS])
    for i, sid in enumerate(SESSIONS)
])
AGG = Aggregator(topics={"views": "views", "orders": "orders"}, partitions=SHARDS)


def _shard(sid: str) -> int:
    return partition_for(sid.encode(), SHARDS)


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
    # Platform counts, on few distinct times so that equal times with other counts occur.
    for c in range(draw(st.integers(0, 12))):
        events.append(("views", {
            "event_id": f"c{c}", "session_id": draw(st.sampled_from(SESSIONS[1:])),
            "kind": "viewers", "viewers": draw(st.integers(0, 9)),
            "ts": START + draw(st.integers(0, 5)) * 60_000,
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
        for (minute, scope), c in d.minutes.items():
            if scope is None:
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


def _counted(messages: list[Message]) -> dict[str, tuple[int, int, int | None]]:
    """Viewers now and the peak of each session that has platform counts."""
    state = ShardState(shard=0)
    agg = Aggregator(topics={"views": "views", "orders": "orders"})
    agg.batch(state, _records(messages), now_ms=NOW)
    return {sid: (live.viewers_now, live.peak, live.peak_at)
            for sid, live in state.sessions.items() if live.count_at is not None}


@given(fairs(), st.randoms(use_true_random=False))
def test_counted_sessions_do_not_depend_on_arrival_order_or_repeats(
    messages: list[Message], rng: Any
) -> None:
    again = [*messages, *rng.sample(messages, len(messages) // 2)]
    rng.shuffle(again)
    assert _counted(again) == _counted(messages)


def _count(event_id: str, viewers: int, ts: int) -> dict[str, Any]:
    return {"event_id": event_id, "session_id": "s1", "kind": "viewers", "viewers": viewers,
            "ts": ts}


def test_the_latest_count_by_event_time_is_viewers_now_and_the_highest_the_peak() -> None:
    join = {"event_id": "j", "session_id": "s1", "viewer_id": "u", "kind": "join", "ts": START}
    events = [join, join | {"event_id": "j2", "viewer_id": "u2"}, _count("a", 30, START + 5000),
              _count("b", 80, START + 3000), _count("c", 12, START + 1000),
              _count("d", 80, START + 4000), _count("e", 20, START + 5000)]
    messages = [Message("views", "s1", json.dumps(e).encode(), [e]) for e in events]
    state = ShardState(shard=0)
    delta = Aggregator(topics={"views": "views"}).batch(state, _records(messages), now_ms=NOW)
    # At START + 5000 two counts tie on time: the higher one wins, whatever came first.
    assert _counted(messages) == {"s1": (30, 80, START + 3000)}
    # Joins still count views; the session's count replaces joins - leaves in the totals.
    assert (delta.totals["views"], delta.totals["viewers_now"]) == (2, 30)
    assert delta.viewers["s1"] == {"u", "u2"}


def test_counts_follow_the_dedup_and_time_rules_of_other_view_events() -> None:
    agg = Aggregator(topics={"views": "views"})
    state = ShardState(shard=0)
    hour = 3_600_000
    values = [_count("a", 30, NOW), _count("a", 30, NOW), _count("late", 99, NOW - hour - 1),
              _count("future", 99, NOW + 10 * 60_000)]
    records = [Record("views", 0, i, b"s1", json.dumps(v).encode(), NOW)
               for i, v in enumerate(values)]
    delta = agg.batch(state, records, now_ms=NOW)
    assert delta.duplicates == 1
    assert [d.rejected.reason for d in delta.dead_letters] == [Reason.TOO_LATE,
                                                              Reason.FUTURE_EVENT]
    assert (state.sessions["s1"].viewers_now, state.sessions["s1"].peak) == (30, 30)
    assert state.last_at["s1"] == NOW


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


def _join(event_id: str, sid: str) -> bytes:
    return json.dumps({"event_id": event_id, "session_id": sid, "viewer_id": "u1",
                       "kind": "join", "ts": START}).encode()


def _elsewhere(shard: int) -> str:
    """A session id whose key hashes to another shard than ``shard``."""
    return next(f"x{i}" for i in range(100) if _shard(f"x{i}") != shard)


def test_misplaced_and_keyless_records_are_dead_lettered_and_the_rest_counts() -> None:
    home, stranger = _shard("s0"), _elsewhere(_shard("s0"))
    records = [
        Record("views", home, 0, b"s0", _join("v0", "s0")),
        Record("views", home, 1, stranger.encode(), _join("v1", stranger)),
        Record("views", home, 2, None, _join("v2", "s0")),
        Record("views", home, 3, b"s0", _join("v3", "s0")),
    ]
    delta = AGG.batch(ShardState(shard=home), records, now_ms=NOW)
    assert delta.totals["views"] == 2
    assert delta.last_offsets == {"views": 3}
    misplaced, keyless = delta.dead_letters
    assert (misplaced.offset, keyless.offset) == (1, 2)
    assert {misplaced.rejected.reason, keyless.rejected.reason} == {Reason.WRONG_PARTITION}
    assert misplaced.rejected.raw == records[1].value
    assert misplaced.rejected.detail == (
        f"key {stranger!r} came on partition {home} but hashes to partition "
        f"{_shard(stranger)} of 2")
    assert keyless.rejected.detail.startswith(f"no key, came on partition {home} of 2")


@given(st.text(min_size=1, max_size=40), st.integers(1, 12), st.data())
def test_a_record_counts_only_on_the_partition_its_key_hashes_to(
    sid: str, partitions: int, data: st.DataObject
) -> None:
    partition = data.draw(st.integers(0, partitions - 1))
    key = sid.encode("utf-8", "surrogatepass")
    home = partition_for(key, partitions)
    agg = Aggregator(topics={"views": "views"}, partitions=partitions)
    delta = agg.batch(ShardState(shard=partition), [Record("views", partition, 0, key, b"{}")],
                      now_ms=NOW)
    reasons = [letter.rejected.reason for letter in delta.dead_letters]
    if partition == home:
        assert Reason.WRONG_PARTITION not in reasons
    else:
        assert reasons == [Reason.WRONG_PARTITION]
        detail = delta.dead_letters[0].rejected.detail
        assert f"came on partition {partition} but hashes to partition {home}" in detail
    assert delta.last_offsets == {"views": 0}


def test_the_key_must_still_match_the_session_id_on_its_partition() -> None:
    home = _shard("s0")
    stranger = _elsewhere(home)
    delta = AGG.batch(ShardState(shard=home), [Record("views", home, 0, b"s0",
                                                      _join("v0", stranger))], now_ms=NOW)
    assert [letter.rejected.reason for letter in delta.dead_letters] == [Reason.KEY_MISMATCH]


def test_without_a_partition_count_any_partition_and_no_key_count() -> None:
    agg = Aggregator(topics={"views": "views"})
    records = [Record("views", 5, 0, None, _join("v0", "s0")),
               Record("views", 5, 1, b"s1", _join("v1", "s1"))]
    delta = agg.batch(ShardState(shard=5), records, now_ms=NOW)
    assert delta.totals["views"] == 2
    assert delta.dead_letters == []


def test_a_partition_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="partitions must be at least 1, got 0"):
        Aggregator(topics={"views": "views"}, partitions=0)


def test_a_huge_misplaced_key_is_shown_cut_short() -> None:
    key = b"k" * 100_000
    wrong = _other_shard(partition_for(key, SHARDS))
    delta = AGG.batch(ShardState(shard=wrong), [Record("views", wrong, 0, key, b"{}")],
                      now_ms=NOW)
    detail = delta.dead_letters[0].rejected.detail
    assert f"'{'k' * 128}…' came on partition {wrong}" in detail
    assert len(detail) < 250


def _other_shard(shard: int) -> int:
    return (shard + 1) % SHARDS
