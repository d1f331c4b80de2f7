"""Named screens: the configured names, the refusal of others, and their last contact
recorded in Redis and reported as ``ocop_screen_last_seen_seconds``."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from common.settings import Settings
from store.keys import Keys
from tests.conftest import seconds
from tests.web.writes import now_ms
from web.server import WebApp
from web.validation import BadRequest, parse_screen

NAMES = ("stage-left", "stage-right", "entrance")


def test_screen_names_come_from_the_setting_in_order_once() -> None:
    settings = Settings(screens=" stage-left, stage-right ,entrance,stage-left")
    assert settings.screen_names == NAMES
    assert Settings().screen_names == ()


@pytest.mark.parametrize("value", ["Stage", "stage left", "a,,b", "-x", "x" * 41])
def test_a_screen_name_outside_the_pattern_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="screens"):
        Settings(screens=value)


def test_parse_screen_takes_a_configured_name() -> None:
    assert parse_screen("screen=entrance", NAMES) == "entrance"
    assert parse_screen("fair=x", NAMES) is None


def test_parse_screen_names_an_unknown_screen_and_the_configured_ones() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_screen("screen=backstage", NAMES)
    assert caught.value.body == {"error": "unknown_screen", "parameter": "screen",
                                 "screen": "backstage", "screens": list(NAMES)}
    assert "backstage" in str(caught.value) and "OCOP_SCREENS" in str(caught.value)
    with pytest.raises(BadRequest, match="none"):
        parse_screen("screen=x", ())


def test_parse_screen_refuses_a_repeated_parameter() -> None:
    with pytest.raises(BadRequest, match="screen given 2 times"):
        parse_screen("screen=entrance&screen=stage-left", NAMES)


@asynccontextmanager
async def _serving(make_settings: Callable[..., Settings]) -> AsyncIterator[WebApp]:
    settings = make_settings(heartbeat_s=0.2, push_interval_s=0.05, partitions=2,
                             screens=",".join(NAMES))
    app = WebApp(settings=settings)
    async with app.serving():
        yield app


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310  (loopback)
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def _last_seen(screen: str) -> float | None:
    return REGISTRY.get_sample_value("ocop_screen_last_seen_seconds", {"screen": screen})


async def _until_seen(redis: Redis, keys: Keys, screen: str, after_ms: int) -> int:
    for _ in range(int(seconds(200))):
        value = await redis.hget(keys.screens_seen(), screen)
        if value is not None and int(value) >= after_ms:
            return int(value)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no contact of {screen} recorded after {after_ms}")


@pytest.mark.integration
async def test_an_unknown_screen_is_refused_and_the_page_says_why(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings) as app:
        base = f"127.0.0.1:{app.settings.web_port}"
        status, kind, body = await asyncio.to_thread(_get, f"http://{base}/board?screen=backstage")
        assert status == 400 and kind.startswith("text/html")
        assert "backstage" in body and "stage-left, stage-right, entrance" in body
        status, _, body = await asyncio.to_thread(_get, f"http://{base}/board?screen=entrance")
        assert status == 200 and 'id="controls"' in body
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://{base}/ws/board?screen=backstage"):
                pass
        assert refused.value.response.status_code == 400
        assert json.loads(refused.value.response.body)["error"] == "unknown_screen"


@pytest.mark.integration
async def test_a_named_screen_records_its_contacts_until_it_leaves(
    make_settings: Callable[..., Settings],
) -> None:
    async with _serving(make_settings) as app:
        redis = Redis.from_url(app.settings.redis_url, decode_responses=True)
        keys = Keys(app.settings.key_prefix)
        try:
            before = now_ms()
            url = f"ws://127.0.0.1:{app.settings.web_port}/ws/board?screen=stage-left"
            async with connect(url) as ws:
                snapshot = json.loads(await ws.recv())
                joined = await _until_seen(redis, keys, "stage-left", before)
                await ws.send(json.dumps({"type": "ack", "seq": snapshot["seq"]}))
                acked = await _until_seen(redis, keys, "stage-left", joined + 1)
            left = await _until_seen(redis, keys, "stage-left", acked + 1)
            assert before <= joined < acked < left
            assert await redis.hget(keys.screens_seen(), "entrance") is None
            # The gauge follows Redis, and stops with the screen gone.
            await app.hub.flush_screens()
            assert _last_seen("stage-left") == left / 1000
            assert await app.hub.flush_screens() == {"stage-left": left}
            assert _last_seen("stage-left") == left / 1000
        finally:
            await redis.aclose()
