"""A compressed three-week campaign through the real broker, worker, Redis and web process.

Eight fairs of the sample campaign are played as a recorded feed over the last three
weeks (Kafka timestamps = hand-over times), with refunds days after placement and status
changes past the order horizon. Every fair's board, ``/api/fairs`` and ``/api/campaign``
must equal the ground truth exactly (unique viewers within the HyperLogLog bound), every
late change must be an ``order_horizon`` dead letter, and a rebuild from the topics must
give the same figures, although it runs after the live run and against another clock.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.catalog import SAMPLE_CATALOG, load_catalog
from common.settings import Settings
from consumers.rebuild import rebuild
from consumers.topics import ensure_topics
from devtools.simulator.campaign import CampaignConfig, generate_campaign
from devtools.simulator.producer import KafkaTarget, send_fair
from devtools.simulator.truth import compute_truth, ts_to_ms
from tests.conftest import seconds
from tests.expectations import hll_close, read_dead_letters
from tests.processes import running, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SEED = 20230415
DAY_MS = 86_400_000
EXACT = ("views", "orders", "gmv_vnd", "viewers_now")


def _get(base: str, path: str) -> Any:
    request = urllib.request.Request(base + path)  # noqa: S310  (loopback test server)
    try:
        with urllib.request.urlopen(request, timeout=seconds(30)) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"GET {path}: {exc.code} {exc.read()!r}") from exc


def _figures(base: str, fair_ids: list[str]) -> dict[str, Any]:
    """Everything the test compares, as the web process serves it."""
    return {"campaign": _get(base, "/api/campaign"),
            "fairs": {f["fair_id"]: f for f in _get(base, "/api/fairs")},
            "boards": {fid: _get(base, f"/api/board?fair={fid}") for fid in fair_ids}}


# What a board holds that the wall clock does not move: "live now" (grace after the last
# event), the schedule's statuses and the last-60-minute windows change between two reads
# minutes apart, whatever the store holds.
_REPLAYABLE = ("fair", "totals", "top_sessions_gmv", "top_products", "top_provinces",
               "newest_event_ms", "campaign")


def _replayable(figures: dict[str, Any]) -> dict[str, Any]:
    return {"campaign": figures["campaign"], "fairs": figures["fairs"],
            "boards": {fid: {name: board[name] for name in _REPLAYABLE}
                       for fid, board in figures["boards"].items()}}


def _leaders(rows: list[dict[str, Any]], key: str, by: str, top_n: int) -> list[tuple[Any, Any]]:
    return [(row[key], row[by]) for row in rows[:top_n]]


def _check_against_truth(got: dict[str, Any], truth: dict[str, Any], top_n: int) -> None:
    campaign, want = got["campaign"], truth["campaign"]
    for name in ("sessions", "provinces", "fairs", "views", "orders", "gmv_vnd"):
        assert campaign[name] == want[name], f"campaign.{name}"
    assert hll_close(campaign["unique_viewers"], want["unique_viewers"])
    assert campaign["unique_viewers"] <= campaign["views"]
    for fid, fair in truth["fairs"].items():
        listed = got["fairs"][fid]["totals"]
        board = got["boards"][fid]
        for totals in (listed, board["totals"]):
            assert {n: totals[n] for n in EXACT} == {n: fair["totals"][n] for n in EXACT}, fid
            assert hll_close(totals["unique_viewers"], fair["totals"]["unique_viewers"]), fid
        assert got["fairs"][fid]["status"] == "ended"
        for name, key, by in (("top_sessions_gmv", "session_id", "gmv_vnd"),
                              ("top_products", "product_id", "units"),
                              ("top_provinces", "province", "gmv_vnd")):
            assert _leaders(board[name], key, by, top_n) == _leaders(fair[name], key, by,
                                                                     top_n), (fid, name)
        assert {s["session_id"] for s in board["schedule"]} == set(fair["sessions"]), fid


def _refund_delays_ms(messages: list[Any]) -> list[int]:
    """How long after its order's placement each refund was reported."""
    placed: dict[tuple[str, str], int] = {}
    delays = []
    for message in messages:
        for event in message.events:
            if "order_id" not in event:
                continue
            key = (str(event["session_id"]), str(event["order_id"]))
            ts = ts_to_ms(event["ts"])
            if event["status"] == "placed":
                placed.setdefault(key, ts)
            elif event["status"] == "refunded" and key in placed:
                delays.append(ts - placed[key])
    return delays


async def test_a_three_week_campaign_and_its_rebuild_equal_the_truth(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(partitions=4)
    await ensure_topics(settings)
    now_ms = time.time_ns() // 1_000_000
    horizon_ms = settings.order_horizon_s * 1000
    campaign = generate_campaign(load_catalog(SAMPLE_CATALOG), CampaignConfig(
        now_ms=now_ms, weeks=3, fairs=8, events=500_000, seed=SEED,
        order_horizon_ms=horizon_ms))
    truth = compute_truth(campaign.messages, campaign.catalog, seed=SEED,
                          order_horizon_ms=horizon_ms)
    fair_ids = sorted(truth["fairs"])
    assert len(fair_ids) >= 5 and truth["campaign"]["sessions"] >= 100
    assert truth["events"] >= 500_000
    first = min(m.due_ms for m in campaign.messages)
    assert now_ms - first > 14 * DAY_MS, "the feed must reach weeks back"
    delays = _refund_delays_ms(campaign.messages)
    assert sum(1 for d in delays if d > DAY_MS) >= 10, "refunds days after placement"
    late_changes = truth["dead_letter_reasons"].get("order_horizon", 0)
    assert late_changes >= len(campaign.horizon_violations) > 0

    base = f"http://127.0.0.1:{settings.web_port}"
    with running(settings, "worker", tmp_path), running(settings, "web", tmp_path):
        target = KafkaTarget(settings.kafka_bootstrap, settings.views_topic,
                             settings.orders_topic, settings.sessions_topic)
        await send_fair(campaign, target, paced=False, progress=False, record_times=True)
        await wait_caught_up(settings, timeout_s=600)
        time.sleep(seconds(2))  # the catalog agent runs beside the counting agent
        live = _figures(base, fair_ids)
    _check_against_truth(live, truth, settings.top_n)

    letters = await read_dead_letters(settings, truth["dead_letters"])
    reasons = Counter(dict(r.headers)["reason"].decode() for r in letters)
    assert dict(reasons) == truth["dead_letter_reasons"]
    horizon_letters = [r for r in letters if dict(r.headers)["reason"] == b"order_horizon"]
    assert all(b"placed at" in dict(r.headers)["detail"] or b"past the horizon"
               in dict(r.headers)["detail"] for r in horizon_letters)

    # The rebuild replays three weeks of topics later than the live run read them, with
    # no wall-clock rule left to decide differently.
    report = await rebuild(settings)
    assert report.fairs == len(campaign.catalog.fairs)
    with running(settings, "web", tmp_path):
        rebuilt = _figures(base, fair_ids)
    assert _replayable(rebuilt) == _replayable(live)
