"""The rotating big screen (``/board?rotate=…``, web/static/rotate.js) in real Chromium:
board, fair summary and campaign in turn, with a countdown; nothing of the two extra views
cut off at 1920x1080 and 1080x1920 with the worst-case board of tests/web/test_layout.py;
a bad duration refused with a page that names it.

The page's clock is Playwright's: the test moves it on by a whole period, so the views
change without the test waiting for them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route

from common.catalog import SAMPLE_CATALOG, load_catalog
from tests.conftest import seconds
from tests.web.test_layout import _CUT, LANGS, Feed, _worst_board

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SIZES = [{"width": 1920, "height": 1080}, {"width": 1080, "height": 1920}]
PERIOD_MS = 10_000
NEXT = {"vi": ("Tiếp theo: Tổng kết hội chợ", "Tiếp theo: Chiến dịch", "Tiếp theo: Bảng trực tiếp"),
        "en": ("Next: Fair summary", "Next: Campaign", "Next: Live board")}


def _cut_in(root: str) -> str:
    """test_layout's check of everything clipped or ellipsized, over element ``root``."""
    return _CUT.replace("#stage", f"#{root}").replace('"stage"', f'"{root}"')


def _worst_fairs() -> list[dict[str, Any]]:
    """Every fair of the catalog with the largest totals, under the longest place."""
    catalog = load_catalog(SAMPLE_CATALOG)
    place = max((f.place for f in catalog.fairs), key=len)
    return [{"fair_id": f.fair_id, "title": f.title, "place": place, "status": "ended",
             "totals": {"gmv_vnd": 987_654_321_987 - i, "views": 987_654_321 - i,
                        "orders": 98_765_432}}
            for i, f in enumerate(sorted(catalog.fairs, key=lambda f: -len(f.title)))]


async def _rotating(browser: Browser, url: str, viewport: dict[str, int], feed: Feed,
                    fairs: list[dict[str, Any]]) -> Page:
    page = await browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    page.set_default_timeout(seconds(15) * 1000)
    await page.clock.install()
    await page.route_web_socket("**/ws/board*", feed.connect)

    async def answer_fairs(route: Route) -> None:
        await route.fulfill(status=200, content_type="application/json", body=json.dumps(fairs))
    await page.route("**/api/fairs", answer_fairs)
    await page.goto(url)
    await page.wait_for_selector("#conn[data-state='live']")
    await page.evaluate("document.fonts.ready")
    await page.wait_for_function("tweens.size === 0")
    return page


async def _timer(page: Page, root: str) -> tuple[str, str]:
    """The countdown's next view and time left, which must be shown inside ``root``."""
    assert await page.is_visible(f"#{root} #rotate-timer")
    return (await page.text_content("#rotate-next") or "",
            await page.text_content("#rotate-count") or "")


@pytest.mark.parametrize("lang", LANGS)
async def test_the_screen_cycles_board_fair_campaign_with_a_countdown(
    browser: Browser, server: str, lang: str,
) -> None:
    board = _worst_board()
    fairs = _worst_fairs()
    problems: dict[str, Any] = {}
    for viewport in SIZES:
        size = f"{viewport['width']}x{viewport['height']}"
        page = await _rotating(browser, f"{server}/board?rotate=10s&lang={lang}", viewport,
                               Feed(board), fairs)
        assert await page.get_attribute("body", "data-view") == "board"
        assert await page.is_hidden("#rotate-fair") and await page.is_hidden("#rotate-campaign")
        next_view, left = await _timer(page, "stage")
        assert next_view == NEXT[lang][0]
        # Counting down from the period; a loaded machine reads it a few seconds in.
        assert left in ("0:10", "0:09", "0:08", "0:07")
        if cut := await page.evaluate(_cut_in("stage")):
            problems[f"{size} board"] = cut

        await page.clock.fast_forward(PERIOD_MS)
        await page.wait_for_selector("body[data-view='fair'] #rotate-fair:not([hidden])")
        assert await page.is_hidden("#rotate-campaign")
        assert await page.evaluate(
            "getComputedStyle(document.getElementById('stage')).visibility") == "hidden"
        assert (await _timer(page, "rotate-fair"))[0] == NEXT[lang][1]
        shown = await page.text_content("#rotate-fair") or ""
        assert board["fair"]["title"] in shown and board["fair"]["place"] in shown
        assert await page.evaluate("v => formatVnd(v, document.documentElement.lang)",
                                   board["totals"]["gmv_vnd"]) in shown
        for session in board["top_sessions_gmv"][:5]:
            assert session["shop"] in shown and session["host"] in shown
        if cut := await page.evaluate(_cut_in("rotate-fair")):
            problems[f"{size} fair"] = cut

        await page.clock.fast_forward(PERIOD_MS)
        await page.wait_for_selector("body[data-view='campaign'] #rotate-campaign:not([hidden])")
        assert await page.is_hidden("#rotate-fair")
        assert (await _timer(page, "rotate-campaign"))[0] == NEXT[lang][2]
        await page.wait_for_function(
            "t => document.getElementById('rotate-campaign').textContent.includes(t)",
            arg=fairs[0]["title"])
        shown = await page.text_content("#rotate-campaign") or ""
        assert await page.evaluate("v => formatCount(v, document.documentElement.lang)",
                                   board["campaign"]["sessions"]) in shown
        if cut := await page.evaluate(_cut_in("rotate-campaign")):
            problems[f"{size} campaign"] = cut

        await page.clock.fast_forward(PERIOD_MS)
        await page.wait_for_selector("body[data-view='board']")
        assert await page.is_hidden("#rotate-campaign")
        assert await page.evaluate(
            "getComputedStyle(document.getElementById('stage')).visibility") == "visible"
        assert (await _timer(page, "stage"))[0] == NEXT[lang][0]
        await page.close()
    assert problems == {}, json.dumps(problems, ensure_ascii=False, indent=1)


async def test_a_board_without_rotate_has_no_timer(browser: Browser, server: str) -> None:
    page = await _rotating(browser, f"{server}/board", SIZES[0], Feed(_worst_board()),
                           _worst_fairs())
    assert await page.query_selector("#rotate-timer") is None
    assert await page.get_attribute("body", "data-view") is None
    await page.close()


@pytest.mark.parametrize("value", ["5s", "11m", "30", "abc", "1h", ""])
async def test_a_bad_rotate_value_is_refused_with_a_page_naming_it(
    browser: Browser, server: str, value: str,
) -> None:
    page = await browser.new_page()
    response = await page.goto(f"{server}/board?rotate={value}")
    assert response is not None and response.status == 400
    refusal = await page.text_content("#refusal") or ""
    assert f"rotate={value!r}" in refusal and "10s to 10m" in refusal
    await page.close()


async def test_rotate_given_twice_is_refused(browser: Browser, server: str) -> None:
    page = await browser.new_page()
    response = await page.goto(f"{server}/board?rotate=30s&rotate=1m")
    assert response is not None and response.status == 400
    assert "rotate given 2 times" in (await page.text_content("#refusal") or "")
    await page.close()
