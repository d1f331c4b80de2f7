"""The campaign generator: fairs placed in the last weeks, one recorded feed in delivery
order that the worker's time rules accept as the truth model says."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from common.catalog import SAMPLE_CATALOG, Catalog, Fair, Product, SessionInfo, load_catalog
from common.clock import wall_ms
from counting.aggregate import Aggregator, Record, Rules
from counting.partitioner import partition_for
from counting.state import ShardState
from devtools.simulator.campaign import Campaign, CampaignConfig, generate_campaign, place_fairs
from devtools.simulator.cli import CampaignOptions, plan_campaign, simulate
from devtools.simulator.fair import rfc3339_ms
from devtools.simulator.truth import compute_truth, ts_to_ms

NOW = 1_764_590_400_000  # 2025-12-01T19:00:00+07:00
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
LATENESS = HOUR  # OCOP_MAX_LATENESS_S's default
# A fresh event's time lags its delivery by at most 20 minutes (a slow upload), its
# re-send by 30 s more, a status change reported twice by a minute: the feed's lag.
FEED_LAG = 22 * MINUTE
PARTITIONS = 4
# Old and new province names, as a campaign catalog mixes them.
PROVINCES = ("Bắc Kạn", "Thái Nguyên", "Hà Giang", "TP.HCM", "Bến Tre", "Sơn La")
HOURS = ((8, 11), (9, 13), (12, 16), (15, 19), (18, 21))


def small_catalog(fairs: int = 4) -> Catalog:
    """Fairs two weeks apart in 2023, each with five sessions over the day."""
    fair_list, sessions = [], []
    for f in range(fairs):
        day = f"2023-{4 + f // 2:02d}-{1 + 14 * (f % 2):02d}"
        fid = f"fair-{f}"
        fair_list.append(Fair(fid, f"Chợ phiên OCOP {f}", f"Nơi {f}", PROVINCES[f % 6],
                              f"{day}T08:00:00+07:00", f"{day}T21:00:00+07:00"))
        for i, (start, end) in enumerate(HOURS):
            sid = f"{fid}-s{i}"
            sessions.append(SessionInfo(
                sid, f"Phiên {sid}", "Lò Thị Hương", "HTX", PROVINCES[(f + i) % 6],
                f"{day}T{start:02d}:00:00+07:00", f"{day}T{end:02d}:00:00+07:00",
                [Product(f"{sid}-p{j}", f"Sản phẩm {j}", 4, 50_000 * (j + 1)) for j in range(3)],
                fair_id=fid,
            ))
    return Catalog(sessions, fair_list)


def valid_events(campaign: Campaign) -> list[tuple[Any, dict[str, Any]]]:
    """(message, event) of every valid event, in delivery order."""
    return [(m, e) for m in campaign.messages if m.invalid_reason is None for e in m.events]


def check_feed(campaign: Campaign) -> None:
    """The properties every campaign feed has, live or recorded."""
    config = campaign.config
    dues = [m.due_ms for m in campaign.messages]
    assert dues == sorted(dues)
    assert dues[-1] <= config.end_ms
    schedules = {s.session_id: (rfc3339_ms(s.scheduled_start), rfc3339_ms(s.scheduled_end))
                 for s in campaign.catalog.sessions}
    newest: dict[tuple[str, int], int] = {}
    session_newest: dict[str, int] = {}
    for message, event in valid_events(campaign):
        ts = ts_to_ms(event["ts"])
        assert ts <= message.due_ms
        # Delivery order: nothing trails its partition's newest event past the lateness.
        where = (message.topic_kind, partition_for(message.key.encode(), PARTITIONS))
        assert ts >= newest.get(where, ts) - LATENESS
        newest[where] = max(newest.get(where, ts), ts)
        # Each session's events come in event-time order, up to the feed's lag.
        assert ts >= session_newest.get(message.key, ts) - FEED_LAG
        session_newest[message.key] = max(session_newest.get(message.key, ts), ts)
        # Views and placements within the session's schedule; changes follow the order.
        if message.topic_kind == "views" or event["status"] == "placed":
            start, end = schedules[message.key]
            assert start <= ts <= end, (message.key, event)


def check_placement(original: Catalog, campaign: Campaign) -> None:
    """Fairs moved by whole days (time of day kept), in order, within the weeks."""
    config = campaign.config
    before = {f.fair_id: f for f in original.fairs}
    starts = []
    for fair in campaign.catalog.fairs:
        shift = rfc3339_ms(fair.start) - rfc3339_ms(before[fair.fair_id].start)
        assert rfc3339_ms(fair.end) - rfc3339_ms(before[fair.fair_id].end) == shift
        starts.append(rfc3339_ms(fair.start))
        if not config.live:
            assert shift % DAY == 0
            assert config.now_ms - config.weeks * WEEK - DAY <= rfc3339_ms(fair.start)
            assert rfc3339_ms(fair.end) <= config.now_ms
    assert starts == sorted(starts)
    shifts = {f.fair_id: rfc3339_ms(f.start) - rfc3339_ms(before[f.fair_id].start)
              for f in campaign.catalog.fairs}
    for session in campaign.catalog.sessions:
        old = original.by_id()[session.session_id]
        assert session.fair_id == old.fair_id
        moved = rfc3339_ms(session.scheduled_start) - rfc3339_ms(old.scheduled_start)
        assert moved == shifts[str(session.fair_id)]


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    fairs=st.integers(1, 4),
    weeks=st.sampled_from([0.5, 1.0, 3.0]),
    events=st.integers(300, 4_000),
    live=st.booleans(),
)
def test_any_campaign_is_a_consistent_recorded_feed(
    seed: int, fairs: int, weeks: float, events: int, live: bool
) -> None:
    catalog = small_catalog()
    config = CampaignConfig(
        now_ms=NOW, weeks=weeks, events=events, fairs=fairs, seed=seed, invalid_rate=0.01,
        horizon_violations=3, live_events=500 if live else 0, live_span_ms=HOUR if live else 0,
    )
    campaign = generate_campaign(catalog, config)
    assert len(campaign.catalog.fairs) == fairs
    check_feed(campaign)
    check_placement(catalog, campaign)
    truth = compute_truth(campaign.messages, campaign.catalog, seed=seed)
    assert truth["accepted_events"] + truth["duplicates"] + truth["dead_letters"] == (
        truth["events"])
    assert truth["dead_letter_reasons"].get("order_horizon", 0) == len(
        campaign.horizon_violations)
    assert generate_campaign(catalog, config).messages == campaign.messages


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    config = CampaignConfig(now_ms=NOW, weeks=3, events=120_000, fairs=8, seed=5)
    return generate_campaign(load_catalog(SAMPLE_CATALOG), config)


def test_fairs_spread_evenly_over_the_weeks(campaign: Campaign) -> None:
    check_placement(load_catalog(SAMPLE_CATALOG), campaign)
    starts = [rfc3339_ms(f.start) for f in campaign.catalog.fairs]
    gaps = [b - a for a, b in pairwise(starts)]
    assert max(gaps) - min(gaps) <= DAY
    assert NOW - 3 * WEEK <= starts[0] and rfc3339_ms(campaign.catalog.fairs[-1].end) <= NOW
    assert campaign.catalog == place_fairs(load_catalog(SAMPLE_CATALOG), campaign.config)


def test_the_feed_follows_schedules_in_delivery_order(campaign: Campaign) -> None:
    check_feed(campaign)
    per_fair = Counter(s.fair_id for s in campaign.catalog.sessions
                       for m in campaign.messages if m.key == s.session_id)
    assert len(per_fair) == 8


def test_refunds_come_days_after_placement(campaign: Campaign) -> None:
    placed: dict[str, int] = {}
    delays = []
    late = {id(m) for m in campaign.horizon_violations}
    for message, event in valid_events(campaign):
        ts = ts_to_ms(event.get("ts", 0))
        if message.topic_kind == "orders" and event["status"] == "placed":
            placed.setdefault(str(event["order_id"]), ts)
        elif message.topic_kind == "orders" and event["status"] == "refunded" and (
            id(message) not in late
        ):
            delays.append(ts - placed[str(event["order_id"])])
            assert message.due_ms - ts <= FEED_LAG
    assert len(delays) > 100
    assert all(DAY <= d <= 5 * DAY for d in delays)
    assert max(delays) - min(delays) > 3 * DAY


def test_status_changes_past_the_horizon_are_expected_dead_letters(campaign: Campaign) -> None:
    violations = campaign.horizon_violations
    assert len(violations) == 11  # ten, and one of them re-sent verbatim
    assert len({m.value for m in violations}) == 10
    first_seen: dict[tuple[str, str], int] = {}
    for message, event in valid_events(campaign):
        if message.topic_kind == "orders":
            key = (message.key, str(event["order_id"]))
            first_seen.setdefault(key, ts_to_ms(event["ts"]))
    for message in violations:
        event = message.events[0]
        anchor = first_seen[(message.key, str(event["order_id"]))]
        assert ts_to_ms(event["ts"]) > anchor + WEEK
    truth = compute_truth(campaign.messages, campaign.catalog, seed=5)
    assert truth["dead_letter_reasons"]["order_horizon"] == 11


def test_the_workers_rules_judge_the_feed_as_the_truth_does() -> None:
    config = CampaignConfig(now_ms=NOW, weeks=3, events=40_000, fairs=6, seed=9,
                            invalid_rate=0.01, order_horizon_ms=2 * DAY)
    campaign = generate_campaign(load_catalog(SAMPLE_CATALOG), config)
    aggregator = Aggregator(topics={"views": "views", "orders": "orders"},
                            partitions=PARTITIONS, rules=Rules(order_horizon_ms=2 * DAY))
    shards: defaultdict[int, list[Record]] = defaultdict(list)
    offsets: Counter[tuple[str, int]] = Counter()
    for m in campaign.messages:
        shard = partition_for(m.key.encode(), PARTITIONS)
        shards[shard].append(Record(m.topic_kind, shard, offsets[m.topic_kind, shard],
                                    m.key.encode(), m.value, timestamp_ms=m.due_ms))
        offsets[m.topic_kind, shard] += 1
    reasons: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for shard, records in shards.items():
        state = ShardState(shard=shard)
        for i in range(0, len(records), 1_000):
            delta = aggregator.batch(state, records[i:i + 1_000], now_ms=NOW)
            reasons.update(str(letter.rejected.reason) for letter in delta.dead_letters)
            totals.update(delta.totals)
    truth = compute_truth(campaign.messages, campaign.catalog, seed=9,
                          order_horizon_ms=2 * DAY)
    assert dict(reasons) == truth["dead_letter_reasons"]
    assert truth["dead_letter_reasons"]["order_horizon"] > 11  # refunds past two days too
    assert {n: totals[n] for n in ("views", "orders", "units", "gmv_vnd")} == {
        n: truth["totals"][n] for n in ("views", "orders", "units", "gmv_vnd")}


def test_a_live_campaign_puts_now_inside_the_last_fair() -> None:
    catalog = load_catalog(SAMPLE_CATALOG)
    config = CampaignConfig(now_ms=NOW, weeks=3, events=30_000, seed=2,
                            live_events=20_000, live_span_ms=30 * MINUTE)
    campaign = generate_campaign(catalog, config)
    check_feed(campaign)
    check_placement(catalog, campaign)
    last = campaign.catalog.fairs[-1]
    mine = [s for s in campaign.catalog.sessions if s.fair_id == last.fair_id]
    spans = [(rfc3339_ms(s.scheduled_start), rfc3339_ms(s.scheduled_end)) for s in mine]
    assert any(end <= NOW for _, end in spans)  # ended
    assert any(start <= NOW < end for start, end in spans)  # live
    assert any(start > NOW for start, _ in spans)  # next up
    assert any(NOW < start < NOW + 30 * MINUTE for start, _ in spans)  # goes live in the demo
    for fair in campaign.catalog.fairs[:-1]:
        assert rfc3339_ms(fair.end) <= rfc3339_ms(last.start)
    after = sum(len(m.events) or 1 for m in campaign.messages if m.due_ms > NOW)
    assert 20_000 <= after <= 21_000  # the live part, and a few status changes it triggers
    assert {m.key for m in campaign.messages if m.due_ms > NOW} <= {s.session_id for s in mine}


def test_five_hundred_thousand_events_over_a_hundred_sessions() -> None:
    config = CampaignConfig(now_ms=NOW, weeks=3, events=500_000, fairs=8, seed=1)
    campaign = generate_campaign(load_catalog(SAMPLE_CATALOG), config)
    assert len(campaign.catalog.fairs) >= 5 and len(campaign.catalog.sessions) >= 100
    assert sum(len(m.events) or 1 for m in campaign.messages) >= 500_000


@pytest.mark.parametrize(
    "kwargs",
    [{"weeks": 0}, {"events": 0}, {"fairs": 0}, {"horizon_violations": -1},
     {"live_events": 10}, {"live_span_ms": 1_000}, {"order_horizon_ms": 0}],
)
def test_config_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CampaignConfig(**{"now_ms": NOW, **kwargs})


def test_a_catalog_without_fairs_is_one_campaign_day() -> None:
    sessions = [msgspec.structs.replace(s, fair_id=None) for s in small_catalog(1).sessions]
    campaign = generate_campaign(Catalog(sessions), CampaignConfig(now_ms=NOW, events=2_000))
    assert campaign.catalog.fairs == []
    check_feed(campaign)
    truth = compute_truth(campaign.messages, campaign.catalog, seed=0)
    assert list(truth["fairs"]) == ["fair"] and truth["campaign"]["fairs"] == 1


def test_simulate_campaign_dry_run_writes_the_truth_and_the_shifted_catalog(
    tmp_path: Path,
) -> None:
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_bytes(msgspec.json.encode(small_catalog()))
    truth_path = tmp_path / "truth.json"
    result = CliRunner().invoke(simulate, [
        "--campaign", "--catalog", str(catalog_path), "--fairs", "3", "--weeks", "1",
        "--events", "3000", "--seed", "4", "--order-horizon-s", "86400",
        "--horizon-violations", "2", "--truth", str(truth_path), "--dry-run", "--quiet",
    ])
    assert result.exit_code == 0, result.output
    assert "3 fairs and 15 sessions" in result.output
    t = json.loads(truth_path.read_text(encoding="utf-8"))
    shifted = msgspec.convert(t["catalog"], Catalog)
    assert [f.fair_id for f in shifted.fairs] == ["fair-0", "fair-1", "fair-2"]
    assert all(rfc3339_ms(f.end) <= wall_ms() for f in shifted.fairs)
    assert (t["seed"], t["order_horizon_ms"], t["campaign"]["fairs"]) == (4, DAY, 3)
    assert t["dead_letter_reasons"]["order_horizon"] >= 2
    assert set(t["fairs"]) == {"fair-0", "fair-1", "fair-2"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--campaign", "--rate", "10"], "--rate and --duration"),
        (["--campaign", "--duration", "10"], "--rate and --duration"),
        (["--campaign", "--backfill-minutes", "5"], "whole fairs"),
        (["--campaign", "--sessions", "5"], "whole fairs"),
        (["--weeks", "2"], "need --campaign"),
        (["--fairs", "2"], "need --campaign"),
    ],
)
def test_simulate_campaign_refuses_conflicting_options(args: list[str], message: str) -> None:
    result = CliRunner().invoke(simulate, [*args, "--dry-run"])
    assert result.exit_code == 2 and message in result.output


def test_plan_campaign_goes_live_with_rate_and_duration() -> None:
    options = CampaignOptions(weeks=None, fairs=None, horizon_violations=None,
                              order_horizon_s=3600)
    live = plan_campaign(NOW, None, 1800, 300, options)
    assert (live.live_events, live.live_span_ms, live.events) == (540_000, 1_800_000, 200_000)
    assert (live.weeks, live.horizon_violations, live.order_horizon_ms) == (3, 10, HOUR)
    recorded = plan_campaign(NOW, 500_000, None, None, options._replace(weeks=2, fairs=5))
    assert (recorded.live, recorded.events, recorded.weeks, recorded.fairs) == (
        False, 500_000, 2, 5)
