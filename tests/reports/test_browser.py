"""`ocop-live report` end to end: the PDF Chromium prints, and the page in real Chromium.

The fair the board shows now (the sample's Cần Giờ fair, moved so that it is on now and
half over) is counted through the sample feed; the command runs with no fair named, so
it reports on that default fair.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from playwright.async_api import Browser, Page, async_playwright
from redis.asyncio import Redis

from cli.main import main
from common.settings import Settings
from devtools.sample import SampleFeed
from devtools.screenshots import SHOWN_FAIR, launch, shown_fair
from reports.formats import format_campaign, format_headline, format_vnd
from reports.pdf import page_count
from store.keys import Keys
from tests.conftest import seconds, settings_env
from tests.web.chromium import ensure_chromium
from tests.web.writes import now_ms

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SHARED_JS = Path(__file__).resolve().parents[2] / "web" / "static" / "shared.js"
# A4 at CSS's 96 px per inch: 210 mm wide; in print, less the page's 12 mm margins.
A4_WIDTH = round(210 / 25.4 * 96)
A4_PRINTED_WIDTH = round((210 - 24) / 25.4 * 96)
# PDF points: 595 x 842 is A4 (Chromium writes 594.96 x 841.92).
_MEDIA_BOX = re.compile(rb"/MediaBox \[0 0 ([0-9.]+) ([0-9.]+)\]")
# Anything wider than the space it was given (a table cell's text spilling over its
# neighbour, a box that scrolls), or sticking out of the sheet.
_OVERFLOW = """() => {
  const sheet = document.querySelector('.sheet').getBoundingClientRect();
  const out = [];
  for (const el of document.querySelectorAll('.sheet *')) {
    const box = el.getBoundingClientRect();
    const clips = getComputedStyle(el).overflowX !== 'visible' || /^T[DH]$/.test(el.tagName);
    if (clips && el.scrollWidth > el.clientWidth + 1) {
      out.push('spills: ' + el.tagName + '.' + el.className + ' ' + el.textContent.slice(0, 40));
    }
    if (box.width && (box.right > sheet.right + 0.5 || box.left < sheet.left - 0.5)) {
      out.push('outside: ' + el.tagName + '.' + el.className + ' ' + el.textContent.slice(0, 40));
    }
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > innerWidth) out.push('page ' + doc.scrollWidth + ' > ' + innerWidth);
  return out;
}"""


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    ensure_chromium()
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        yield chromium
        await chromium.close()


@pytest.fixture
async def counted(make_settings: Callable[..., Settings]) -> Settings:
    """The shown fair's day so far, counted as a worker would."""
    settings = make_settings()
    fair = shown_fair(now_ms=now_ms())
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        feed = SampleFeed(redis, keys=Keys(settings.key_prefix), shards=settings.partitions)
        await feed.load_catalog(fair.catalog)
        await feed.apply(fair.messages, now_ms=now_ms())
    finally:
        await redis.aclose()
    return settings


async def _report(settings: Settings, *args: str) -> Result:
    """``ocop-live report ARGS`` in-process (its own event loop, in a thread)."""
    env = {k: v for k, v in settings_env(settings).items() if k.startswith("OCOP_")}
    return await asyncio.to_thread(CliRunner().invoke, main, ["report", *args], env=env)


async def _open(browser: Browser, html: Path, width: int) -> tuple[Page, list[str]]:
    page = await browser.new_page(viewport={"width": width, "height": 1123})
    page.set_default_timeout(seconds(15) * 1000)
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    await page.goto(html.as_uri())
    await page.wait_for_load_state("load")
    return page, fetched


async def test_the_report_prints_to_a4_and_renders_whole_in_chromium(
    browser: Browser, counted: Settings, tmp_path: Path,
) -> None:
    out = tmp_path / "report"
    result = await _report(counted, "--out", str(out))
    assert result.exit_code == 0, result.output
    # No fair named: the one the board shows now.
    assert f"report of fair {SHOWN_FAIR}" in result.stdout

    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert page_count(pdf) >= 1
    boxes = {(round(float(w)), round(float(h))) for w, h in _MEDIA_BOX.findall(pdf)}
    assert boxes == {(595, 842)}
    assert {p.name for p in out.iterdir()} == {"report.html", "report.pdf", "revenue.png",
                                               "views.png"}

    html = out / "report.html"
    page, fetched = await _open(browser, html, A4_WIDTH)
    # Self-contained: nothing is fetched but the file itself and its data: URIs.
    assert [u for u in fetched if not u.startswith(("data:", html.as_uri()))] == []
    assert await page.evaluate(_OVERFLOW) == []
    charts = await page.eval_on_selector_all(
        "img.chart", "imgs => imgs.map(i => [i.dataset.chart, i.complete && i.naturalWidth])")
    assert sorted(name for name, _ in charts) == ["revenue.png", "views.png"]
    assert all(width and width > 500 for _, width in charts), charts
    assert await page.text_content("#title") == "Chợ phiên OCOP \N{EN DASH} Cần Giờ"
    sessions = await page.eval_on_selector_all("#sessions tbody tr", "rows => rows.length")
    assert sessions == 40

    # The headline is the board's own formatting of the same figures.
    await page.add_script_tag(path=str(SHARED_JS))
    figures = await page.eval_on_selector_all(
        "#stats .stat", "tiles => Object.fromEntries(tiles.map("
                        "t => [t.dataset.field, Number(t.dataset.value)]))")
    assert await page.text_content("#headline") == await page.evaluate(
        "c => formatCampaign(c, 'vi')", figures) == format_campaign(
        sessions=figures["sessions"], provinces=figures["provinces"], views=figures["views"],
        gmv_vnd=figures["gmv_vnd"])
    await page.close()

    # Printed: the sheet's width is the page's less its margins, and it still fits.
    printed, _ = await _open(browser, html, A4_PRINTED_WIDTH)
    await printed.emulate_media(media="print")
    assert await printed.evaluate(_OVERFLOW) == []
    await printed.close()


async def test_numbers_are_written_as_the_board_writes_them(browser: Browser) -> None:
    page = await browser.new_page()
    await page.set_content("<!doctype html><title>formats</title>")
    await page.add_script_tag(path=str(SHARED_JS))
    values = [0, 7, 999, 12_345, 999_499, 999_949, 999_950, 1_000_000, 1_049_999, 1_150_000,
              1_250_000, 9_995_000, 12_500_000, 99_950_000, 850_000_000, 999_499_999,
              999_500_000, 999_949_999, 999_960_000, 1_250_000_000, 100_400_000_000,
              1_234_567_890_123, -2_500_000]
    board = await page.evaluate(
        "vs => vs.map(v => [formatVnd(v), formatHeadline(v, 'vi')])", values)
    assert board == [[format_vnd(v), format_headline(v)] for v in values]
    await page.close()
