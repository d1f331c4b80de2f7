"""The venue board and the host page in real Chromium, against the real server and Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright
from redis.asyncio import Redis

from common.settings import Settings
from common.tokens import HostTokens
from devtools.screenshots import BOARD_VIEWPORT, CHROMIUM, PHONE_VIEWPORT, launch
from tests.conftest import seconds
from tests.web.writes import ORDERS, VIEWS, count, join, load_sample_catalog, now_ms, order
from web.server import WebApp

pytestmark = [pytest.mark.integration, pytest.mark.browser]

LEADER = "cp-2023-hcm-01"  # HTX Nông nghiệp Thủy sản Cần Giờ
CHASER = "cp-2023-hcm-03"  # Cơ sở Yến sào Cần Thạnh
CHASER_SHOP = "Cơ sở Yến sào Cần Thạnh"
LEADER_SHOP = "HTX Nông nghiệp Thủy sản Cần Giờ"


def _ensure_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    command = ["apt-get", "install", "-y", "chromium"]
    if os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} is missing; install it with: sudo {' '.join(command)}")
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.fail(f"{CHROMIUM} is missing and there is no apt-get to install it")
    subprocess.run([apt, "update"], check=True)
    subprocess.run([apt, *command[1:]], check=True, env={**os.environ,
                                                          "DEBIAN_FRONTEND": "noninteractive"})


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    _ensure_chromium()
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        yield chromium
        await chromium.close()


@pytest.fixture
async def fair(make_settings: Callable[..., Settings]) -> AsyncIterator[Settings]:
    """Two sessions of the sample catalog with sales: LEADER ahead of CHASER."""
    settings = make_settings(heartbeat_s=0.5, push_interval_s=0.05, partitions=2)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    await load_sample_catalog(settings, redis)
    await count(settings, redis, VIEWS, [join("v1", LEADER, "u1"), join("v2", CHASER, "u2")])
    await count(settings, redis, ORDERS, [order("o1", LEADER, 300_000),
                                          order("o2", CHASER, 100_000)])
    await redis.aclose()
    yield settings


async def _page(browser: Browser, url: str, viewport: dict[str, int]) -> Page:
    page = await browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    page.set_default_timeout(seconds(15) * 1000)
    await page.goto(url)
    return page


async def _first_row(page: Page) -> str:
    key = await page.eval_on_selector("#list-sessions-gmv .row[data-key]", "r => r.dataset.key")
    return str(key)


async def test_board_renders_changes_and_animates_an_overtake(
    browser: Browser, fair: Settings,
) -> None:
    async with WebApp(settings=fair).serving():
        base = f"http://127.0.0.1:{fair.web_port}"
        page = await _page(browser, f"{base}/board", BOARD_VIEWPORT)
        await page.wait_for_selector("#conn[data-state='live']")
        assert await page.text_content("#fair-title") == fair.fair_title
        assert await page.text_content("#fair-place") == fair.fair_place
        await page.wait_for_function(
            "document.getElementById('total-gmv_vnd').textContent === '400.000 ₫'")
        assert await _first_row(page) == LEADER
        assert "cập nhật" in (await page.text_content("#updated") or "")
        assert "trễ" in (await page.text_content("#delay") or "")
        fits = await page.evaluate(
            "document.documentElement.scrollHeight <= innerHeight"
            " && document.documentElement.scrollWidth <= innerWidth")
        assert fits, "the kiosk layout scrolls"

        redis = Redis.from_url(fair.redis_url, decode_responses=True)
        await count(fair, redis, ORDERS, [order("o3", CHASER, 350_000)])
        await count(fair, redis, VIEWS, [join("v3", CHASER, "u3")])
        await redis.aclose()

        chaser = f"#list-sessions-gmv .row[data-key='{CHASER}']"
        await page.wait_for_selector(f"{chaser}.rank-up[data-move='up']")
        await page.wait_for_selector(f"#list-sessions-gmv .row[data-key='{LEADER}'].rank-down")
        assert await _first_row(page) == CHASER
        await page.wait_for_function(
            "document.getElementById('total-gmv_vnd').textContent === '750.000 ₫'"
            " && document.getElementById('total-orders').textContent === '3'"
            " && document.getElementById('total-views').textContent === '3'")
        await page.wait_for_selector("#banner.is-shown[data-kind='lead']")
        banner = await page.text_content("#banner-text") or ""
        assert CHASER_SHOP in banner and "vượt lên dẫn đầu" in banner

        english = await _page(browser, f"{base}/board?lang=en", BOARD_VIEWPORT)
        await english.wait_for_selector("#conn[data-state='live']")
        assert await english.text_content(".stat--gmv .stat__label") == "Revenue"
        assert "updated" in (await english.text_content("#updated") or "")
        await english.close()
        await page.close()


async def test_stale_when_the_server_stops_and_live_again_on_restart(
    browser: Browser, fair: Settings,
) -> None:
    url = f"http://127.0.0.1:{fair.web_port}/board"
    async with WebApp(settings=fair).serving():
        page = await _page(browser, url, BOARD_VIEWPORT)
        await page.wait_for_selector("#conn[data-state='live']")
        await page.wait_for_selector("#stage:not(.is-stale)")
    await page.wait_for_selector("#stage.is-stale")
    assert "MẤT KẾT NỐI" in (await page.text_content("#updated") or "")
    # The last frame stays on screen, dimmed, while the server is away.
    assert await page.text_content("#total-gmv_vnd") == "400.000 ₫"
    async with WebApp(settings=fair).serving():
        await page.wait_for_selector("#stage:not(.is-stale)", timeout=seconds(30) * 1000)
        await page.wait_for_selector("#conn[data-state='live']")
    await page.close()


async def test_host_page_shows_its_own_session_and_refuses_a_wrong_token(
    browser: Browser, fair: Settings,
) -> None:
    tokens = HostTokens(secret=fair.token_secret.get_secret_value())
    expires = now_ms() + 3_600_000
    async with WebApp(settings=fair).serving():
        base = f"http://127.0.0.1:{fair.web_port}/host"
        page = await _page(browser, f"{base}#session={CHASER}&token="
                           f"{tokens.issue(CHASER, expires_at_ms=expires)}", PHONE_VIEWPORT)
        await page.wait_for_selector("#dashboard:not([hidden])")
        assert await page.evaluate("location.hash") == ""
        assert CHASER_SHOP in (await page.text_content("#subtitle") or "")
        assert await page.text_content("#gmv") == "100.000 ₫"
        assert await page.text_content("#rank") == "#2"
        assert "200.000 ₫" in (await page.text_content("#gap") or "")
        text = await page.text_content("body") or ""
        assert LEADER_SHOP not in text
        fits = await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        assert fits, "the host page is wider than a phone"

        redis = Redis.from_url(fair.redis_url, decode_responses=True)
        await count(fair, redis, ORDERS, [order("o3", CHASER, 50_000)])
        await redis.aclose()
        await page.wait_for_function("document.getElementById('gmv').textContent === '150.000 ₫'")
        await page.close()

        wrong = await _page(browser, f"{base}#session={CHASER}&token="
                            f"{tokens.issue(LEADER, expires_at_ms=expires)}", PHONE_VIEWPORT)
        await wrong.wait_for_selector("#notice:not([hidden])")
        await wrong.wait_for_function(
            "document.getElementById('notice').textContent.includes('không hợp lệ')")
        assert await wrong.is_hidden("#dashboard")
        assert LEADER_SHOP not in (await wrong.text_content("body") or "")
        await wrong.close()
