"""The venue board and the host page in real Chromium, against the real server and Redis."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest
from playwright.async_api import Browser, Page
from redis.asyncio import Redis

from common.catalog import SAMPLE_CATALOG, Catalog, load_catalog
from common.settings import Settings
from common.tokens import HostTokens
from devtools.screenshots import (
    BOARD_VIEWPORT,
    PHONE_VIEWPORT,
    SHOWN_FAIR,
    live_fair,
)
from tests.conftest import seconds
from tests.web.writes import ORDERS, VIEWS, count, join, now_ms, order, store_catalog
from web.scopes import parse_time_ms
from web.server import WebApp

pytestmark = [pytest.mark.integration, pytest.mark.browser]

LEADER = "cp-2023-hcm-01"  # HTX Nông nghiệp Thủy sản Cần Giờ
CHASER = "cp-2023-hcm-03"  # Cơ sở Yến sào Cần Thạnh
CHASER_SHOP = "Cơ sở Yến sào Cần Thạnh"
LEADER_SHOP = "HTX Nông nghiệp Thủy sản Cần Giờ"
FAIR_TITLE = "Chợ phiên OCOP \N{EN DASH} Cần Giờ"
SMALL_VIEWPORT = {"width": 1280, "height": 720}
# Now is late morning at the fair: LEADER's and CHASER's slots are (about) over, but
# they count now, so they are live; others are over, others still to come.
INTO_FAIR_MS = 220 * 60_000


@pytest.fixture
def shown() -> Catalog:
    """The sample's Cần Giờ fair, moved so that it is on now."""
    return live_fair(load_catalog(SAMPLE_CATALOG), SHOWN_FAIR, now_ms=now_ms(),
                     into_ms=INTO_FAIR_MS)


@pytest.fixture
async def fair(make_settings: Callable[..., Settings], shown: Catalog) -> AsyncIterator[Settings]:
    """Two sessions of the live fair with sales: LEADER ahead of CHASER."""
    settings = make_settings(heartbeat_s=0.5, push_interval_s=0.05, partitions=2)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    await store_catalog(settings, redis, shown)
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
        assert await page.text_content("#fair-title") == FAIR_TITLE
        assert (await page.text_content("#fair-place") or "").startswith("Cần Giờ, TP.HCM · ")
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


# Elements that must hold their content at any screen size: nothing spills out of them.
_SPILLS = """() => {
  const spilled = [];
  for (const el of document.querySelectorAll(
      '.masthead, .totals, .strip, .panel, .rows, .schedule__list')) {
    if (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1) {
      spilled.push(el.className);
    }
  }
  const doc = document.documentElement;
  if (doc.scrollHeight > innerHeight || doc.scrollWidth > innerWidth) spilled.push("page");
  return spilled;
}"""


def _clock(text: str) -> str:
    """HH:MM in Asia/Ho_Chi_Minh of an RFC 3339 time."""
    ms = parse_time_ms(text)
    assert ms is not None
    return time.strftime("%H:%M", time.gmtime(ms // 1000 + 7 * 3600))


async def test_board_shows_the_fairs_schedule_and_the_campaign_strip(
    browser: Browser, fair: Settings, shown: Catalog,
) -> None:
    sessions = {s.session_id: s for s in shown.sessions}
    async with WebApp(settings=fair).serving():
        base = f"http://127.0.0.1:{fair.web_port}"
        for viewport in (BOARD_VIEWPORT, SMALL_VIEWPORT):
            page = await _page(browser, f"{base}/board?fair={SHOWN_FAIR}", viewport)
            await page.wait_for_selector("#campaign.is-set")
            # Two catalogued sessions counted, both in TP.HCM.
            assert await page.text_content("#campaign-figures") == \
                "2 phiên · 1 tỉnh · 2 lượt xem · 400.000 ₫"
            counts = [int(await page.text_content(f"#count-{status}") or "0")
                      for status in ("live", "next", "ended")]
            assert sum(counts) == len(sessions)
            # LEADER's slot opened first; it counts now, so it is live however late.
            first = await page.query_selector("#schedule-live .slot[data-key]")
            assert first is not None and await first.get_attribute("data-key") == LEADER
            leader = sessions[LEADER]
            assert await first.text_content() == (
                f"{_clock(leader.scheduled_start)}\N{EN DASH}{_clock(leader.scheduled_end)}"
                f"{LEADER_SHOP}")
            now = now_ms()
            for item in await page.query_selector_all("#schedule-next .slot[data-key]"):
                start = parse_time_ms(sessions[await item.get_attribute("data-key") or ""]
                                      .scheduled_start)
                assert start is not None and start > now - 60_000
            assert await page.evaluate(_SPILLS) == [], viewport
            await page.close()
        headline = await _page(browser, f"{base}/board", BOARD_VIEWPORT)
        figures = {"sessions": 812, "provinces": 14, "views": 301_000_000,
                   "gmv_vnd": 100_400_000_000}
        assert await headline.evaluate("c => formatCampaign(c, 'vi')", figures) == \
            "812 phiên · 14 tỉnh · 301 triệu lượt xem · 100,4 tỷ ₫"
        assert await headline.evaluate("c => formatCampaign(c, 'en')", figures) == \
            "812 sessions · 14 provinces · 301M views · ₫100.4B"
        assert await headline.evaluate(
            "[formatHeadline(999_960_000, 'vi'), formatHeadline(12_345, 'vi'),"
            " formatHeadline(1_250_000, 'vi')]") == ["1 tỷ", "12.345", "1,3 triệu"]
        await headline.close()


async def test_a_screen_asking_for_a_fair_that_is_not_there_says_so(
    browser: Browser, fair: Settings,
) -> None:
    async with WebApp(settings=fair).serving():
        base = f"http://127.0.0.1:{fair.web_port}"
        for fair_id, shown_id in (("nope", "nope"), ("no%20such", "no such")):
            page = await _page(browser, f"{base}/board?fair={fair_id}", BOARD_VIEWPORT)
            await page.wait_for_selector("#notice:not([hidden])")
            assert f"“{shown_id}”" in (await page.text_content("#notice") or "")
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
        assert await page.text_content("#rank-of") == " / 40"
        assert await page.text_content("#rank-fair") == f"trong {FAIR_TITLE} · 40 phiên"
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
