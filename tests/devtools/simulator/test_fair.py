"""The seeded fair generator: reproducible, realistic, and faithful to the data contract."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.catalog import SAMPLE_CATALOG, Catalog, load_catalog
from counting.aggregate import Aggregator, Record
from counting.state import ShardState
from devtools.simulator.fair import (
    INVALID_REASONS,
    Fair,
    FairConfig,
    Message,
    format_ts,
    generate,
    rfc3339_ms,
)
from devtools.simulator.truth import compute_truth, ts_to_ms

START = 1_700_895_600_000  # 2023-11-25 14:00 +07:00
HOUR = 3_600_000
MINUTE = 60_000
DAY = 24 * 60 * MINUTE


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SAMPLE_CATALOG)


@pytest.fixture(scope="module")
def fair(catalog: Catalog) -> Fair:
    return generate(catalog, FairConfig(start_ms=START, span_ms=HOUR, events=30_000, seed=7))


@pytest.fixture(scope="module")
def broken(catalog: Catalog) -> Fair:
    config = FairConfig(START, HOUR, events=20_000, seed=3, invalid_rate=0.05)
    return generate(catalog, config)


def valid(fair: Fair) -> list[Message]:
    return [m for m in fair.messages if m.invalid_reason is None]


def delivered(fair: Fair, kind: str) -> list[dict[str, Any]]:
    return [e for m in valid(fair) if m.topic_kind == kind for e in m.events]


def test_same_seed_same_fair_and_other_seed_differs(catalog: Catalog, fair: Fair) -> None:
    again = generate(catalog, FairConfig(start_ms=START, span_ms=HOUR, events=30_000, seed=7))
    assert again.messages == fair.messages
    other = generate(catalog, FairConfig(start_ms=START, span_ms=HOUR, events=30_000, seed=8))
    assert [m.value for m in other.messages] != [m.value for m in fair.messages]


def test_exactly_the_requested_number_of_events(fair: Fair) -> None:
    assert sum(len(m.events) or 1 for m in fair.messages) == 30_000
    assert all(m.events or m.invalid_reason for m in fair.messages)


def test_values_decode_to_their_events_of_one_session(fair: Fair) -> None:
    shapes: Counter[str] = Counter()
    for m in valid(fair):
        decoded = json.loads(m.value)
        shapes[type(decoded).__name__] += 1
        assert (decoded if isinstance(decoded, list) else [decoded]) == m.events
        assert 1 <= len(m.events) <= 20
        assert {e["session_id"] for e in m.events} == {m.key}
        wanted = "viewer_id" if m.topic_kind == "views" else "order_id"
        assert all(wanted in e for e in m.events)
    assert shapes["list"] > 0 and shapes["dict"] > 0


def test_busy_sessions_fill_envelopes_and_quiet_ones_send_small_ones(catalog: Catalog) -> None:
    dense = generate(catalog, FairConfig(START, 5 * MINUTE, events=20_000, seed=5))
    sizes = Counter(len(m.events) for m in valid(dense))
    assert max(sizes) == 20 and sizes[20] > 100
    assert sizes[1] > 0


def test_envelope_size_one_sends_single_objects(catalog: Catalog) -> None:
    one = generate(catalog, FairConfig(START, HOUR, events=3_000, seed=1, envelope_size=1))
    assert all(isinstance(json.loads(m.value), dict) for m in valid(one))
    assert len(one.messages) == 3_000


def test_messages_are_in_due_order(fair: Fair) -> None:
    dues = [m.due_ms for m in fair.messages]
    assert dues == sorted(dues)
    assert START <= dues[0] and dues[-1] <= START + HOUR


def test_timestamps_mix_formats_and_stay_within_the_late_window(fair: Fair) -> None:
    formats: Counter[str] = Counter()
    late = 0
    for m in valid(fair):
        for e in m.events:
            ts = e["ts"]
            formats["ms" if isinstance(ts, int) else "Z" if ts.endswith("Z") else ts[-6:]] += 1
            ms = ts_to_ms(ts)
            assert START - 20 * MINUTE <= ms <= m.due_ms
            late += m.due_ms - ms >= MINUTE
    assert set(formats) == {"ms", "Z", "+07:00"}
    assert min(formats.values()) > 0.2 * sum(formats.values())
    assert late > 100


@given(st.integers(0, 4_102_444_800_000), st.integers(0, 2))
def test_format_ts_round_trips_to_the_millisecond(ms: int, style: int) -> None:
    assert ts_to_ms(format_ts(ms, style)) == ms


def test_event_ids_are_unique_except_exact_resends(fair: Fair) -> None:
    for kind in ("views", "orders"):
        by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in delivered(fair, kind):
            by_id[e["event_id"]].append(e)
        resent = [copies for copies in by_id.values() if len(copies) > 1]
        assert resent
        assert all(all(c == copies[0] for c in copies) for copies in resent)


def test_viewers_leave_only_after_joining(fair: Fair) -> None:
    watching: Counter[tuple[str, str]] = Counter()
    seen: set[str] = set()
    for e in delivered(fair, "views"):
        if e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        key = (e["session_id"], e["viewer_id"])
        watching[key] += 1 if e["kind"] == "join" else -1
        assert watching[key] in (0, 1)
    sessions_per_viewer = Counter(v for (_, v), n in watching.items())
    assert max(sessions_per_viewer.values()) >= 3


def test_orders_keep_their_terms_and_catalog_prices(catalog: Catalog, fair: Fair) -> None:
    prices = {p.product_id: p.price_vnd for s in catalog.sessions for p in s.products}
    by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in delivered(fair, "orders"):
        by_order[e["order_id"]].append(e)
    discounted = 0
    for events in by_order.values():
        terms = {(e["session_id"], e["product_id"], e["quantity"], e["amount_vnd"]) for e in events}
        assert len(terms) == 1
        (_, product, quantity, amount), = terms
        assert 0 < amount <= quantity * prices[product]
        discounted += amount < quantity * prices[product]
    assert discounted > 0
    statuses = Counter(e["status"] for e in delivered(fair, "orders"))
    assert statuses["paid"] > 0.6 * statuses["placed"]
    assert statuses["placed"] > statuses["cancelled"] > statuses["refunded"] > 0


def test_status_changes_arrive_out_of_order_and_repeated(fair: Fair) -> None:
    by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in delivered(fair, "orders"):
        by_order[e["order_id"]].append(e)
    paid_first = [evs for evs in by_order.values() if evs[0]["status"] != "placed"]
    repeated = [
        evs for evs in by_order.values()
        if len({e["event_id"] for e in evs}) > len({e["status"] for e in evs})
    ]
    assert len(paid_first) > 20
    assert len(repeated) > 20


def test_popularity_is_skewed_and_flash_sales_spike(fair: Fair) -> None:
    per_session = Counter(m.key for m in valid(fair) for _ in m.events)
    assert len(per_session) == len(fair.catalog.sessions)
    ranked = per_session.most_common()
    assert ranked[0][1] > 10 * ranked[-1][1]
    joins: dict[str, Counter[int]] = defaultdict(Counter)
    for e in delivered(fair, "views"):
        if e["kind"] == "join":
            joins[e["session_id"]][ts_to_ms(e["ts"]) // MINUTE] += 1
    spikes = [
        max(c.values()) / statistics.median(c.values()) for c in joins.values() if len(c) > 30
    ]
    assert max(spikes) >= 4


def check_invalid(message: Message, end_ms: int) -> None:
    reason = message.invalid_reason
    if reason == "malformed_json":
        with pytest.raises(ValueError):
            json.loads(message.value)
        return
    event = json.loads(message.value)
    fields = {"event_id", "session_id", "ts"} | (
        {"order_id", "product_id", "quantity", "amount_vnd", "status"}
        if message.topic_kind == "orders" else {"viewer_id", "kind"}
    )
    statuses = ("placed", "paid", "cancelled", "refunded")
    checks: dict[str, Callable[[], bool]] = {
        "missing_field": lambda: len(fields - set(event)) == 1,
        "wrong_type": lambda: isinstance(event["quantity"], str)
        or isinstance(event["amount_vnd"], str),
        "negative_amount": lambda: event["amount_vnd"] < 0,
        "zero_quantity": lambda: event["quantity"] == 0,
        "unknown_status": lambda: event["status"] not in statuses,
        "unknown_kind": lambda: event["kind"] not in ("join", "leave"),
        "future_ts": lambda: ts_to_ms(event["ts"]) >= end_ms + 2 * DAY,
        "past_ts": lambda: ts_to_ms(event["ts"]) <= end_ms - 3 * DAY,
        "key_mismatch": lambda: event["session_id"] != message.key,
    }
    assert checks[str(reason)](), (reason, event)


def test_invalid_records_are_single_and_broken_as_labelled(broken: Fair) -> None:
    invalid = [m for m in broken.messages if m.invalid_reason]
    assert 800 < len(invalid) < 1_200
    assert Counter(m.invalid_reason for m in invalid).keys() == set(INVALID_REASONS)
    for message in invalid:
        assert message.events == []
        check_invalid(message, START + HOUR)


def test_truth_rejects_invalid_records_when_not_labelled(broken: Fair) -> None:
    structural = [
        m for m in broken.messages
        if m.invalid_reason and m.invalid_reason not in ("future_ts", "past_ts")
    ]
    for message in structural[:200]:
        unlabelled = Message(message.topic_kind, message.key, message.value, [])
        with pytest.raises(ValueError):
            compute_truth([unlabelled], broken.catalog, seed=0)


def test_only_the_simulated_sessions_appear(catalog: Catalog) -> None:
    few = Catalog(catalog.sessions[:3])
    small = generate(few, FairConfig(START, 10 * MINUTE, events=2_000, seed=2))
    assert {m.key for m in small.messages} == {s.session_id for s in few.sessions}
    assert small.catalog == few


@pytest.mark.parametrize(
    "kwargs",
    [{"events": 0}, {"span_ms": -1}, {"envelope_size": 0}, {"invalid_rate": 0.9},
     {"split_ms": START - 1}, {"split_ms": START, "events_before": 10**9},
     {"refund_delay_ms": (2, 1)}, {"flush_after_ms": -1}, {"count_share": 1.5}],
)
def test_config_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FairConfig(**{"start_ms": START, "span_ms": HOUR, **kwargs})


def test_empty_catalog_is_rejected() -> None:
    with pytest.raises(ValueError, match="no sessions"):
        generate(Catalog([]), FairConfig(START, HOUR, events=10))


@settings(max_examples=40, deadline=None)
@given(
    events=st.integers(1, 400),
    span_ms=st.integers(0, 2 * HOUR),
    envelope_size=st.integers(1, 6),
    invalid_rate=st.floats(0, 0.5),
    seed=st.integers(0, 2**32),
    n_sessions=st.integers(1, 5),
    count_share=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_any_config_yields_a_consistent_fair(
    catalog: Catalog,
    events: int,
    span_ms: int,
    envelope_size: int,
    invalid_rate: float,
    seed: int,
    n_sessions: int,
    count_share: float,
) -> None:
    config = FairConfig(START, span_ms, events, seed, envelope_size, invalid_rate,
                        count_share=count_share)
    small = generate(Catalog(catalog.sessions[:n_sessions]), config)
    assert all(len(m.events) <= envelope_size for m in small.messages)
    truth = compute_truth(small.messages, small.catalog, seed=seed)
    assert truth["events"] == events
    assert truth["accepted_events"] + truth["duplicates"] + truth["dead_letters"] == events


def test_two_hundred_thousand_events_are_all_generated(catalog: Catalog) -> None:
    big = generate(catalog, FairConfig(START, HOUR, events=200_000, seed=11))
    assert sum(len(m.events) or 1 for m in big.messages) == 200_000


def test_later_holds_what_falls_due_after_the_span(fair: Fair) -> None:
    assert fair.later
    dues = [m.due_ms for m in fair.later]
    assert dues == sorted(dues) and dues[-1] > START + HOUR
    assert all(len(m.events) == 1 and json.loads(m.value) == m.events[0] for m in fair.later)
    statuses = Counter(e["status"] for m in fair.later for e in m.events if "status" in e)
    assert statuses["refunded"] > 0


@pytest.fixture(scope="module")
def day(catalog: Catalog) -> Fair:
    """One fair day of the sample's last fair, every session on its own schedule."""
    last = catalog.fairs[-1]
    start = rfc3339_ms(last.start)
    span = rfc3339_ms(last.end) - start
    config = FairConfig(start, span, events=20_000, seed=4, follow_schedules=True,
                        refund_delay_ms=(DAY, 2 * DAY))
    return generate(catalog.for_fair(last.fair_id), config, viewers=[f"w{i}" for i in range(900)])


def test_following_schedules_keeps_each_session_on_its_schedule(day: Fair) -> None:
    schedules = {s.session_id: (rfc3339_ms(s.scheduled_start), rfc3339_ms(s.scheduled_end))
                 for s in day.catalog.sessions}
    net: Counter[str] = Counter()
    seen: set[str] = set()
    for m in valid(day):
        for e in m.events:
            if m.topic_kind == "views" or e["status"] == "placed":
                start, end = schedules[m.key]
                assert start <= ts_to_ms(e["ts"]) <= end, (m.key, e)
            if m.topic_kind == "views" and e["event_id"] not in seen:
                seen.add(str(e["event_id"]))
                net[m.key] += 1 if e["kind"] == "join" else -1
    # Every stream ended within the day and its audience left with it.
    assert len(net) == len(schedules) and set(net.values()) == {0}
    assert {e["viewer_id"] for m in valid(day) if m.topic_kind == "views" for e in m.events} <= {
        f"w{i}" for i in range(900)}


def test_refunds_follow_the_configured_delay(day: Fair) -> None:
    placed: dict[str, int] = {}
    refunds = []
    for m in [*valid(day), *day.later]:
        for e in m.events:
            if m.topic_kind == "orders" and e["status"] == "placed":
                placed.setdefault(str(e["order_id"]), ts_to_ms(e["ts"]))
            elif m.topic_kind == "orders" and e["status"] == "refunded":
                refunds.append(ts_to_ms(e["ts"]) - placed[str(e["order_id"])])
    assert refunds and all(DAY <= d <= 2 * DAY + 2 * MINUTE for d in refunds)
    assert not any(e.get("status") == "refunded" for m in valid(day) for e in m.events)


def test_a_split_puts_events_before_and_after_it(catalog: Catalog) -> None:
    split = START + HOUR
    config = FairConfig(START, 2 * HOUR, events=5_000, seed=3, split_ms=split,
                        events_before=1_000, invalid_rate=0)
    fair = generate(Catalog(catalog.sessions[:5]), config)
    before = sum(len(m.events) for m in fair.messages if m.due_ms < split)
    assert 950 <= before <= 1_050
    assert fair.messages[-1].due_ms == START + 2 * HOUR


@pytest.fixture(scope="module")
def mixed(catalog: Catalog) -> Fair:
    """A fair day on which a third of the sessions' platforms report counts, not leaves."""
    last = catalog.fairs[-1]
    start = rfc3339_ms(last.start)
    config = FairConfig(start, rfc3339_ms(last.end) - start, events=12_000, seed=4,
                        follow_schedules=True, count_share=1 / 3)
    return generate(catalog.for_fair(last.fair_id), config)


def test_a_share_of_sessions_reports_counts_instead_of_leaves(mixed: Fair) -> None:
    kinds: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for m in valid(mixed):
        if m.topic_kind == "views":
            for e in m.events:
                kinds[m.key][str(e["kind"])] += 1
    counting = {sid for sid, seen in kinds.items() if seen["viewers"]}
    assert len(counting) == round(len(mixed.catalog.sessions) / 3)
    # Joins still come (views, unique viewers), more often than counts.
    assert all(kinds[sid]["leave"] == 0 and kinds[sid]["join"] >= kinds[sid]["viewers"]
               for sid in counting), kinds
    assert all(seen["leave"] > 0 and seen["viewers"] == 0
               for sid, seen in kinds.items() if sid not in counting)
    truth = compute_truth(mixed.messages, mixed.catalog, seed=4)
    # Every stream ended on schedule: a counting platform's last word is an empty room.
    for sid in counting:
        row = truth["sessions"][sid]
        assert row["viewers_now"] == 0 and row["peak_viewers"] > 0, sid


def test_counts_leave_the_default_fair_alone(fair: Fair) -> None:
    assert all(e["kind"] != "viewers" for e in delivered(fair, "views"))


def test_a_mixed_fair_counts_as_its_truth_says(mixed: Fair) -> None:
    agg = Aggregator(topics={"views": "views", "orders": "orders"})
    state = ShardState(shard=0)
    offsets: Counter[str] = Counter()
    records = []
    for m in mixed.messages:
        records.append(Record(m.topic_kind, 0, offsets[m.topic_kind], m.key.encode(), m.value,
                              m.due_ms))
        offsets[m.topic_kind] += 1
    deltas = [agg.batch(state, records[i:i + 500], now_ms=0) for i in range(0, len(records), 500)]
    truth = compute_truth(mixed.messages, mixed.catalog, seed=4)
    assert sum(d.totals["viewers_now"] for d in deltas) == truth["totals"]["viewers_now"]
    for sid, row in truth["sessions"].items():
        live = state.sessions.get(sid)
        got = (0, 0, None) if live is None else (live.viewers_now, live.peak, live.peak_at)
        assert got == (row["viewers_now"], row["peak_viewers"], row["peak_at"]), sid
