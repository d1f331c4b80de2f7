"""The host overlay (``/host/overlay``) in real Chromium against the real server and Redis:
transparent, the session's own numbers as the write path counts them, and the host page's
token rules (web/static/host.js, /ws/host)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from playwright.async_api import Browser, Page
from redis.asyncio import Redis

from common.settings import Settings
from common.tokens import HostTokens
from tests.conftest import seconds
from tests.web.writes import ORDERS, VIEWS, count, count_two_sessions, join, now_ms, order
from web.server import WebApp

pytestmark = [pytest.mark.integration, pytest.mark.browser]

OBS_CANVAS = {"width": 1920, "height": 1080}
TRANSPARENT = "rgba(0, 0, 0, 0)"


@pytest.fixture
async def served(make_settings: Callable[..., Settings]) -> AsyncIterator[Settings]:
    """A web process over two counted sessions: cp-2 ahead of cp-1 in revenue."""
    settings = make_settings(heartbeat_s=0.5, push_interval_s=0.05, partitions=2)
    await count_two_sessions(settings)
    async with WebApp(settings=settings).serving():
        yield settings


def _token(settings: Settings, session_id: str) -> str:
    tokens = HostTokens(secret=settings.token_secret.get_secret_value())
    return tokens.issue(session_id, expires_at_ms=now_ms() + 3_600_000)


async def _overlay(browser: Browser, url: str) -> Page:
    page = await browser.new_page(viewport=OBS_CANVAS)  # type: ignore[arg-type]
    page.set_default_timeout(seconds(15) * 1000)
    await page.goto(url)
    return page


async def test_the_overlay_is_transparent_and_shows_the_sessions_numbers(
    browser: Browser, served: Settings,
) -> None:
    base = f"http://127.0.0.1:{served.web_port}/host/overlay"
    page = await _overlay(browser, f"{base}#session=cp-1&token={_token(served, 'cp-1')}")
    await page.wait_for_selector("#dashboard:not([hidden])")
    assert await page.evaluate("location.hash") == ""
    assert await page.evaluate(
        "[document.documentElement, document.body].map(e => getComputedStyle(e).backgroundColor)"
    ) == [TRANSPARENT, TRANSPARENT]
    assert await page.text_content("#gmv") == "50.000 ₫"
    assert await page.text_content("#orders") == "1"
    assert await page.text_content("#viewers-now") == "2"
    assert await page.text_content("#rank") == "#2"
    assert await page.text_content("#rank-of") == " / 2"
    assert await page.evaluate(
        "parseFloat(getComputedStyle(document.getElementById('gmv')).fontSize)") >= 64

    redis = Redis.from_url(served.redis_url, decode_responses=True)
    await count(served, redis, ORDERS, [order("o3", "cp-1", 60_000)])
    await count(served, redis, VIEWS, [join("v4", "cp-1", "u4")])
    await redis.aclose()
    await page.wait_for_function(
        "document.getElementById('gmv').textContent === '110.000 ₫'"
        " && document.getElementById('rank').textContent === '#1'"
        " && document.getElementById('orders').textContent === '2'"
        " && document.getElementById('viewers-now').textContent === '3'")
    await page.close()


async def test_the_overlay_refuses_a_bad_or_missing_token_as_the_host_page_does(
    browser: Browser, served: Settings,
) -> None:
    base = f"http://127.0.0.1:{served.web_port}/host/overlay"
    for fragment, says in ((f"#session=cp-1&token={_token(served, 'cp-2')}", "không hợp lệ"),
                           ("#session=cp-1&token=forged", "không hợp lệ"),
                           ("#session=cp-1", "thiếu mã phiên")):
        page = await _overlay(browser, f"{base}{fragment}")
        await page.wait_for_selector("#notice:not([hidden])")
        await page.wait_for_function(
            "says => document.getElementById('notice').textContent.includes(says)", arg=says)
        assert await page.is_hidden("#dashboard")
        assert await page.text_content("#gmv") == ""
        await page.close()
    english = await _overlay(browser, f"{base}?lang=en#session=cp-1&token=forged")
    await english.wait_for_function(
        "document.getElementById('notice').textContent === 'Invalid or expired access code'")
    await english.close()
