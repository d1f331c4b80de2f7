"""The report against the real Redis and Kafka: its numbers are the APIs' numbers.

A compressed campaign (four fair days over two weeks) is counted through the real write
path (``devtools.sample.SampleFeed``: the worker's Aggregator and ShardStore), dead
letters are put on the real dead-letter topic as the worker writes them, and the page's
figures are compared with ``/api/campaign``, ``/api/fairs`` and ``/api/board?fair=ID``
served by a web process over the same store.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from common.catalog import SAMPLE_CATALOG, load_catalog
from common.settings import Settings
from consumers.topics import ensure_topics
from counting.contract import Reason, Rejected
from counting.delta import DeadLetter
from devtools.sample import SampleFeed
from devtools.simulator.campaign import Campaign, CampaignConfig, generate_campaign
from reports.formats import format_campaign
from reports.writer import Gathered, gather, write_page
from store.keys import Keys
from streams.deadletters import DeadLetterLimits, encode_dead_letter
from tests.conftest import seconds
from tests.reports.cells import cells
from tests.web.writes import now_ms
from web.server import WebApp

pytestmark = pytest.mark.integration

NOW = now_ms()
# Fields a fair's line and its /api/fairs totals share.
TOTALS = ("views", "orders", "gmv_vnd", "unique_viewers")


@cache
def _campaign() -> Campaign:
    return generate_campaign(load_catalog(SAMPLE_CATALOG), CampaignConfig(
        now_ms=NOW, weeks=2, events=30_000, fairs=4, seed=12, horizon_violations=0))


async def _count(settings: Settings, campaign: Campaign) -> None:
    """The campaign through the worker's write path, each slice judged at its handover
    time (a worker judges a recorded feed by its records' Kafka timestamps)."""
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    feed = SampleFeed(redis, keys=Keys(settings.key_prefix), shards=settings.partitions)
    try:
        await feed.load_catalog(campaign.catalog)
        messages = campaign.messages
        for first in range(0, len(messages), 2000):
            chunk = messages[first:first + 2000]
            await feed.apply(chunk, now_ms=max(m.due_ms for m in chunk))
    finally:
        await redis.aclose()


async def _dead_letters(settings: Settings, letters: list[DeadLetter]) -> None:
    """Put ``letters`` on the dead-letter topic as the worker's sink writes them."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for letter in letters:
            key, value, headers = encode_dead_letter(letter, DeadLetterLimits(65_536))
            await producer.send_and_wait(settings.dlq_topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def _letter(reason: Reason, key: str, offset: int) -> DeadLetter:
    return DeadLetter("ocop.orders", 0, offset, key.encode(), Rejected(b"{}", reason, "", 0))


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=seconds(10)) as response:  # noqa: S310
        return json.loads(response.read())


@pytest.fixture
async def counted(make_settings: Callable[..., Settings]) -> AsyncIterator[Settings]:
    """The campaign counted, and three dead letters: two of the second fair's sessions."""
    settings = make_settings()
    campaign = _campaign()
    await _count(settings, campaign)
    second = campaign.catalog.fairs[1].fair_id
    mine = [s.session_id for s in campaign.catalog.sessions if s.fair_id == second]
    await _dead_letters(settings, [_letter(Reason.ORDER_HORIZON, mine[0], 1),
                                   _letter(Reason.ORDER_HORIZON, mine[1], 2),
                                   _letter(Reason.BAD_JSON, "not-a-session", 3)])
    yield settings


async def _apis(settings: Settings, *paths: str) -> list[Any]:
    async with WebApp(settings=settings).serving():
        base = f"http://127.0.0.1:{settings.web_port}"
        return [await asyncio.to_thread(_get, base + path) for path in paths]


async def _page(gathered: Gathered, out: Path) -> str:
    html, charts = write_page(gathered, out)
    assert [p.name for p in charts] == ["revenue.png", "views.png"]
    return html.read_text(encoding="utf-8")


async def test_the_campaign_report_shows_the_campaign_and_every_fair_as_the_apis_do(
    counted: Settings, tmp_path: Path,
) -> None:
    gathered = await gather(counted, now_ms=now_ms(), campaign=True)
    page = cells(await _page(gathered, tmp_path))
    campaign, fairs = await _apis(counted, "/api/campaign", "/api/fairs")
    assert campaign["sessions"] > 40 and campaign["gmv_vnd"] > 0
    for name in ("sessions", "provinces", "fairs", "views", "orders", "gmv_vnd",
                 "unique_viewers"):
        assert page[None, name] == campaign[name], name
    assert format_campaign(sessions=campaign["sessions"], provinces=campaign["provinces"],
                           views=campaign["views"], gmv_vnd=campaign["gmv_vnd"]) in (
        tmp_path / "report.html").read_text(encoding="utf-8")
    assert len(fairs) == 4
    for fair in fairs:
        assert {n: page[fair["fair_id"], n] for n in TOTALS} == {
            n: fair["totals"][n] for n in TOTALS}, fair["fair_id"]
    # Each fair's orders were placed and its views counted within its span, so its
    # timeline adds up to its totals.
    by_id = {fair["fair_id"]: fair["totals"] for fair in fairs}
    assert [s.fair_id for s in gathered.segments] == list(by_id)
    for segment in gathered.segments:
        assert (sum(segment.gmv_vnd), sum(segment.views)) == (
            by_id[segment.fair_id]["gmv_vnd"], by_id[segment.fair_id]["views"])
    # The campaign's dead letters are all of them.
    assert page["order_horizon", "dead_letters"] == 2
    assert page["bad_json", "dead_letters"] == 1


async def test_a_fair_report_shows_its_board(counted: Settings, tmp_path: Path) -> None:
    fair_id = _campaign().catalog.fairs[1].fair_id
    gathered = await gather(counted, now_ms=now_ms(), fair_id=fair_id)
    page = cells(await _page(gathered, tmp_path))
    fairs, board = await _apis(counted, "/api/fairs", f"/api/board?fair={fair_id}")
    totals = next(f["totals"] for f in fairs if f["fair_id"] == fair_id)
    assert {n: page[None, n] for n in TOTALS} == {n: totals[n] for n in TOTALS}
    assert totals == board["totals"]
    figures = gathered.figures
    top_n = counted.top_n
    assert [s.session_id for s in figures.top_sessions] == [
        s["session_id"] for s in board["top_sessions_gmv"]][:top_n]
    assert [(p.product_id, p.units, p.gmv_vnd) for p in figures.top_products] == [
        (p["product_id"], p["units"], p["gmv_vnd"]) for p in board["top_products"]][:top_n]
    assert [(p.province, p.gmv_vnd, p.orders) for p in figures.provinces][:top_n] == [
        (p["province"], p["gmv_vnd"], p["orders"]) for p in board["top_provinces"]]
    # Every session of its schedule is in the sessions table, its counters summing to
    # the fair's.
    assert {s.session_id for s in figures.sessions} == {
        s["session_id"] for s in board["schedule"]}
    assert sum(page[s.session_id, "gmv_vnd"] for s in figures.sessions) == totals["gmv_vnd"]
    assert sum(page[s.session_id, "views"] for s in figures.sessions) == totals["views"]
    # Two dead letters are keyed by this fair's sessions, the bad JSON by none.
    assert page["order_horizon", "of_members"] == 2
    assert page["bad_json", "of_members"] == 0
