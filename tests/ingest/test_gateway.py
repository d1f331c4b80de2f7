"""Every bad request against the running gateway gets its answer, and loses nothing valid."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from common.catalog import SAMPLE_CATALOG, encode_session, load_catalog
from common.settings import Settings
from consumers.topics import ensure_topics
from store.keys import Keys
from tests.conftest import seconds
from tests.expectations import sample_fair_catalog
from tests.ingest.client import JSON, NDJSON, add_key, cli, events_body, post, publish_catalog
from tests.processes import running, wait_caught_up

pytestmark = pytest.mark.integration


def _join(i: int, session: str = "cp-a") -> dict[str, object]:
    return {"event_id": f"{session}-j{i}", "session_id": session, "viewer_id": f"v{i}",
            "kind": "join", "ts": time.time_ns() // 1_000_000 - 60_000}


@pytest.fixture
def gateway(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Settings]:
    settings = make_settings(ingest_key_rate=1_000_000.0)
    asyncio.run(ensure_topics(settings))
    with running(settings, "ingest", tmp_path):
        yield settings


@pytest.fixture
def cluster_gateway(make_cluster_settings: Callable[..., Settings],
                    tmp_path: Path) -> Iterator[Settings]:
    settings = make_cluster_settings(ingest_key_rate=1_000_000.0)
    asyncio.run(ensure_topics(settings))
    with running(settings, "ingest", tmp_path):
        yield settings


def test_keys_are_needed_and_known(gateway: Settings) -> None:
    _keys_are_needed_and_known(gateway)


@pytest.mark.cluster
def test_keys_work_alike_on_a_redis_cluster(cluster_gateway: Settings) -> None:
    _keys_are_needed_and_known(cluster_gateway)


def _keys_are_needed_and_known(gateway: Settings) -> None:
    body = events_body([_join(1)])
    missing = post(gateway, body, key=None)
    assert (missing.status, missing.body["error"]) == (401, "missing_key")
    unknown = post(gateway, body, key="not-a-key")
    assert (unknown.status, unknown.body["error"]) == (401, "unknown_key")
    key = add_key(gateway, "feed")
    assert post(gateway, body, key=key).status == 202
    listed = cli(gateway, "keys", "list")
    assert listed.stdout == "feed\tall sessions\n"
    assert key not in listed.stdout
    assert cli(gateway, "keys", "add", "feed").returncode != 0
    assert cli(gateway, "keys", "revoke", "feed").stdout == "revoked feed\n"
    assert post(gateway, body, key=key).status == 401
    assert cli(gateway, "keys", "revoke", "feed").returncode != 0


def test_wrong_content_types_junk_and_oversize_bodies(gateway: Settings) -> None:
    key = add_key(gateway, "feed")
    text = post(gateway, events_body([_join(1)]), key=key, content_type="text/plain")
    assert (text.status, text.body["error"]) == (415, "unsupported_content_type")
    for junk, kind in ((b"hello", JSON), (b'{"a": 1}', JSON), (b"[]", JSON),
                       (b"hello\nworld\n", NDJSON)):
        answer = post(gateway, junk, key=key, content_type=kind)
        assert (answer.status, answer.body["error"]) == (400, "bad_body"), junk
        assert answer.body["detail"]
    huge = post(gateway, b"[" + b" " * 1_048_576 + b"]", key=key)
    assert (huge.status, huge.body["error"]) == (413, "too_large")
    many = post(gateway, events_body([_join(i) for i in range(501)]), key=key)
    assert (many.status, many.body["error"]) == (413, "too_large")
    assert "501 events" in many.body["detail"]
    ndjson = b"\n".join(json.dumps(_join(i)).encode() for i in range(500))
    full = post(gateway, ndjson, key=key, content_type=NDJSON)
    assert (full.status, full.body["accepted"]) == (202, 500)


def test_a_bound_key_writes_only_its_sessions_and_shops(gateway: Settings) -> None:
    sessions = load_catalog(SAMPLE_CATALOG).sessions[:3]
    redis = Redis.from_url(gateway.redis_url)

    async def publish() -> None:
        # The worker's catalog agent keeps this hash; here it is written as it would be.
        await redis.hset(Keys(gateway.key_prefix).catalog(), mapping={
            s.session_id: encode_session(s) for s in sessions})
        await redis.aclose()

    asyncio.run(publish())
    mine = sessions[0]
    session_key = add_key(gateway, "one-session", "--session", mine.session_id)
    shop_key = add_key(gateway, "one-shop", "--shop", mine.shop)
    allowed = [s for s in sessions if s.shop == mine.shop]
    refused = next(s for s in load_catalog(SAMPLE_CATALOG).sessions if s.shop != mine.shop)
    body = events_body([_join(1, mine.session_id), _join(2, refused.session_id)])
    for key in (session_key, shop_key):
        answer = post(gateway, body, key=key)
        assert answer.status == 403
        assert (answer.body["session_id"], answer.body["index"]) == (refused.session_id, 1)
        assert refused.session_id in answer.body["detail"]
    ok = post(gateway, events_body([_join(i, s.session_id) for i, s in enumerate(allowed)]),
              key=shop_key)
    assert (ok.status, ok.body["accepted"]) == (202, len(allowed))
    assert post(gateway, events_body([_join(1, mine.session_id)]), key=session_key).status == 202


def test_past_the_rate_a_key_is_told_when_to_retry(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    # A bucket that refills one event in a thousand seconds: the second request cannot fit.
    settings = make_settings(ingest_key_rate=0.001)
    asyncio.run(ensure_topics(settings))
    with running(settings, "ingest", tmp_path):
        key = add_key(settings, "slow")
        assert post(settings, events_body([_join(i) for i in range(500)]), key=key).status == 202
        limited = post(settings, events_body([_join(501)]), key=key)
        assert (limited.status, limited.body["error"]) == (429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
        other = add_key(settings, "other")
        assert post(settings, events_body([_join(502)]), key=other).status == 202


def test_mixed_events_the_valid_ones_count(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings()
    asyncio.run(ensure_topics(settings))
    with running(settings, "worker", tmp_path), running(settings, "web", tmp_path), \
            running(settings, "ingest", tmp_path):
        catalog = sample_fair_catalog()
        asyncio.run(publish_catalog(settings, catalog))
        key = add_key(settings, "feed")
        ids = [s.session_id for s in catalog.sessions[:3]]
        good = [_join(i, ids[i % 3]) for i in range(6)]
        bad = [{**_join(90), "kind": "wave"}, {**_join(91), "ts": "yesterday"},
               {**_join(92), "viewer_id": ""}]
        answer = post(settings, events_body([good[0], bad[0], *good[1:4], bad[1], *good[4:],
                                             bad[2], good[0]]), key=key)
        assert answer.status == 202
        assert (answer.body["accepted"], answer.body["rejected"]) == (7, 3)
        assert [(e["index"], e["field"], e["reason"]) for e in answer.body["errors"]] == [
            (1, "kind", "invalid_field"), (5, "ts", "bad_timestamp"),
            (8, "viewer_id", "invalid_field")]
        asyncio.run(wait_caught_up(settings, timeout_s=60))
        url = f"http://127.0.0.1:{settings.web_port}/api/board"
        # The catalog rides its own topic, which wait_caught_up does not watch: until the
        # worker has stored it, the board's fair holds none of these sessions.
        deadline = time.monotonic() + seconds(30)
        while True:
            with urllib.request.urlopen(url, timeout=seconds(10)) as response:
                totals = json.loads(response.read())["totals"]
            if totals["views"] >= 6 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # Six distinct joins; the seventh is a retry of the first, counted once.
        assert (totals["views"], totals["viewers_now"]) == (6, 6)
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{settings.ingest_port}/metrics", timeout=seconds(10)).read()
        assert b'ocop_ingest_events_rejected_total{reason="invalid_field"} 2.0' in metrics
        assert b'ocop_ingest_requests_total{route="/v1/events",status="202"} 1.0' in metrics
