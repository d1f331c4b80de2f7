"""The venue board's layout in real Chromium at the venues' screen sizes, in both languages:
nothing cut off or ellipsized with the catalog's longest names and the largest figures, no
two chart labels touching, no two rows' text overlapping while a row changes rank; and the
numbers each language's own way.

The page comes from the real web server (its static files and fonts); its socket is
answered by the test with one worst-case board, so every size sees the same frame.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute

from common.catalog import SAMPLE_CATALOG, SessionInfo, load_catalog
from tests.conftest import seconds
from tests.web.writes import now_ms

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SIZES = [
    {"width": 1366, "height": 768},
    {"width": 1920, "height": 1080},
    {"width": 3840, "height": 2160},
    {"width": 1080, "height": 1920},  # a vertical LED panel
]
LANGS = ["vi", "en"]
MOVE_MS = 900  # board.js: a row changing rank
HEARTBEAT_MS = 600_000  # the frame stays live for the whole test without a heartbeat


def _longest(sessions: list[SessionInfo], n: int) -> list[SessionInfo]:
    return sorted(sessions, key=lambda s: len(s.shop or "") + len(s.host or ""),
                  reverse=True)[:n]


def _worst_board() -> dict[str, Any]:
    """A board of the catalog's longest names and the largest figures a fair could show."""
    catalog = load_catalog(SAMPLE_CATALOG)
    fair = max(catalog.fairs, key=lambda f: len(f.title) + len(f.place))
    place = max((f.place for f in catalog.fairs), key=len)
    top = _longest(catalog.sessions, 10)
    provinces = sorted({s.province for s in catalog.sessions if s.province}, key=len)[-5:]
    products = sorted({p.name: p for s in catalog.sessions for p in s.products}.values(),
                      key=lambda p: len(p.name))[-5:]
    end_minute = now_ms() // 60_000 * 60_000
    schedule = [{"session_id": s.session_id, "shop": s.shop, "host": s.host, "title": s.title,
                 "scheduled_start": "2023-11-25T08:00:00+07:00",
                 "scheduled_end": "2023-11-25T21:30:00+07:00", "status": status}
                for status in ("live", "next", "ended")
                for s in _longest(catalog.sessions, 6)]
    return {
        "fair": {"fair_id": fair.fair_id, "title": fair.title, "place": place,
                 "start": "2023-11-25T08:00:00+07:00", "end": "2023-11-25T21:00:00+07:00",
                 "status": "live"},
        "campaign": {"sessions": 9_876, "provinces": 63, "views": 987_654_321_987,
                     "gmv_vnd": 9_876_543_210_987},
        "totals": {"gmv_vnd": 987_654_321_987, "orders": 98_765_432, "views": 987_654_321,
                   "viewers_now": 9_876_543, "unique_viewers": 98_765_432},
        "windows": {"5m": {"gmv_vnd": 987_654_321_987, "views": 98_765_432}},
        "top_sessions_gmv": [
            {"session_id": s.session_id, "shop": s.shop, "host": s.host, "title": s.title,
             "province": max(provinces, key=len), "gmv_vnd": 987_654_321_987 - i,
             "viewers_now": 9_876_543 - i} for i, s in enumerate(top)],
        "top_sessions_viewers": [
            {"session_id": s.session_id, "shop": s.shop, "host": s.host, "title": s.title,
             "viewers_now": 9_876_543 - i} for i, s in enumerate(top[:5])],
        "top_products": [{"product_id": p.product_id, "name": p.name, "stars": 5,
                          "units": 9_876_543 - i} for i, p in enumerate(reversed(products))],
        "top_provinces": [{"province": p, "gmv_vnd": 987_654_321_987 - i}
                          for i, p in enumerate(reversed(provinces))],
        "schedule": schedule,
        "series": [{"minute": end_minute - (59 - m) * 60_000, "gmv_vnd": 987_654_321 * (m % 7),
                    "views": 98_765 * (m % 5 + 1)} for m in range(60)],
        "newest_event_ms": now_ms(),
    }


class Feed:
    """Answers the board's socket: one snapshot, then whatever changes the test sends::

        feed = Feed(board)
        await page.route_web_socket("**/ws/board*", feed.connect)
        feed.change({"top_sessions_gmv": [...]})
    """

    def __init__(self, board: dict[str, Any]) -> None:
        self.board = board
        self.sockets: list[WebSocketRoute] = []
        self.seq = 1

    def connect(self, ws: WebSocketRoute) -> None:
        """Take a page's socket and send it the snapshot."""
        self.sockets.append(ws)
        ws.send(json.dumps({"type": "snapshot", "board": self.board, "epoch": "layout",
                            "seq": self.seq, "server_time": now_ms(),
                            "heartbeat_ms": HEARTBEAT_MS}))

    def change(self, changes: dict[str, Any]) -> None:
        """Send every page the next change, in sequence."""
        self.seq += 1
        for ws in self.sockets:
            ws.send(json.dumps({"type": "change", "seq": self.seq, "changes": changes,
                                "server_time": now_ms()}))


async def _board(browser: Browser, url: str, viewport: dict[str, int], feed: Feed) -> Page:
    page = await browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    page.set_default_timeout(seconds(15) * 1000)
    await page.route_web_socket("**/ws/board*", feed.connect)
    await page.goto(url)
    await page.wait_for_selector("#conn[data-state='live']")
    await page.evaluate("document.fonts.ready")
    # Settled: count-ups done (they start at the frame), nothing fitted mid-roll.
    await page.wait_for_function("tweens.size === 0")
    return page


# Nothing moving but the endless pulse of the live dot: the banner has slid in.
_SETTLED = ("document.getAnimations().every(a => a.playState !== 'running'"
            " || a.effect.getTiming().iterations === Infinity)")

# Every rendered element that clips or ellipsizes its content, by a readable name.
_CUT = """() => {
  const cut = [];
  const name = (el) => `${el.tagName.toLowerCase()}#${el.id}.${[...el.classList].join(".")}`
    + ` "${(el.textContent || "").trim().slice(0, 40)}"`;
  for (const el of document.querySelectorAll("#stage, #stage *")) {
    if (el.tagName === "CANVAS" || !el.getClientRects().length) continue;
    const css = getComputedStyle(el);
    if (css.display === "inline" || css.visibility === "hidden") continue;
    if (css.textOverflow === "ellipsis") cut.push(`ellipsis: ${name(el)}`);
    if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1) {
      cut.push(`${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight}: `
        + name(el));
    }
  }
  // Text outside a box that clips it, which the scroll sizes miss when it spills upwards
  // or leftwards (centred content).
  const walker = document.createTreeWalker(document.getElementById("stage"), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const owner = node.parentElement;
    if (!node.textContent.trim() || owner.closest("#banner:not(.is-shown), [hidden]")) continue;
    if (getComputedStyle(owner).visibility === "hidden") continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()];
    for (let box = owner; box && box.id !== "stage"; box = box.parentElement) {
      if (getComputedStyle(box).overflow === "visible") continue;
      const edge = box.getBoundingClientRect();
      const out = rects.some((r) => r.top < edge.top - 1 || r.bottom > edge.bottom + 1
        || r.left < edge.left - 1 || r.right > edge.right + 1);
      if (out) {
        cut.push(`clipped by ${name(box)}: "${node.textContent.trim().slice(0, 40)}"`);
        break;
      }
    }
  }
  const doc = document.documentElement;
  if (doc.scrollHeight > innerHeight || doc.scrollWidth > innerWidth) cut.push("page");
  return cut;
}"""

# The chart's labels that touch each other or leave the canvas, and how many time labels.
_LABELS = """() => {
  const canvas = document.getElementById("chart");
  const boxes = canvas.labelBoxes || [];
  const bad = [];
  boxes.forEach((a, i) => {
    if (a.left < 0 || a.top < 0 || a.right > canvas.clientWidth || a.bottom > canvas.clientHeight) {
      bad.push(`outside: ${a.text}`);
    }
    for (const b of boxes.slice(i + 1)) {
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
        bad.push(`${a.text} / ${b.text}`);
      }
    }
  });
  return { bad, times: boxes.filter((b) => /^\\d\\d:\\d\\d$/.test(b.text)).length };
}"""


@pytest.mark.parametrize("lang", LANGS)
async def test_nothing_is_cut_off_at_any_venue_size(
    browser: Browser, server: str, lang: str,
) -> None:
    board = _worst_board()
    problems: dict[str, Any] = {}
    for viewport in SIZES:
        size = f"{viewport['width']}x{viewport['height']}"
        page = await _board(browser, f"{server}/board?lang={lang}", viewport, Feed(board))
        shown = await page.text_content("#list-sessions-gmv") or ""
        for session in board["top_sessions_gmv"]:
            assert session["shop"] in shown and session["host"] in shown
        if cut := await page.evaluate(_CUT):
            problems[size] = cut
        labels = await page.evaluate(_LABELS)
        if labels["bad"] or labels["times"] < 3:
            problems[f"{size} chart"] = labels
        # The longest banner the board says, over the title.
        await page.evaluate("""() => queueBanners([{kind: "lead",
            session: {shop: "Cơ sở Thịt trâu gác bếp Thuận Châu"}}])""")
        await page.wait_for_selector("#banner.is-shown")
        await page.wait_for_function(_SETTLED)
        if cut := await page.evaluate(_CUT):
            problems[f"{size} banner"] = cut
        if lang == "en":
            text = await page.evaluate("document.body.innerText")
            assert "tỷ" not in text and "triệu" not in text, viewport
            assert "₫988B" in text
        await page.close()
    assert problems == {}, json.dumps(problems, ensure_ascii=False, indent=1)


# Visible rows (opacity above zero) whose text boxes overlap, at this instant.
_OVERLAPS = """(list) => {
  const rows = [...document.querySelectorAll(`#${list} .row[data-key]`)]
    .filter((r) => parseFloat(getComputedStyle(r).opacity) > 0.01);
  const boxes = rows.map((row) => [...row.querySelectorAll(".cell")].flatMap((cell) => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    return [...range.getClientRects()].filter((r) => r.width && r.height);
  }));
  const hits = [];
  for (let i = 0; i < rows.length; i += 1) {
    for (let j = i + 1; j < rows.length; j += 1) {
      const touch = boxes[i].some((a) => boxes[j].some((b) =>
        a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom));
      if (touch) hits.push(`${rows[i].dataset.key} / ${rows[j].dataset.key}`);
    }
  }
  return hits;
}"""

# Every animation the board starts from now on, held paused so the test can step it.
_HOLD_ANIMATIONS = """() => {
  window.heldAnimations = [];
  const animate = Element.prototype.animate;
  Element.prototype.animate = function (...args) {
    const animation = animate.apply(this, args);
    animation.pause();
    window.heldAnimations.push(animation);
    return animation;
  };
}"""


@pytest.mark.parametrize("lang", LANGS)
async def test_a_row_changing_rank_never_covers_another_rows_text(
    browser: Browser, server: str, lang: str,
) -> None:
    board = _worst_board()
    ranked = board["top_sessions_gmv"]
    # The last climbs to first, the first drops to third: rows cross on the way.
    reordered = [ranked[-1], ranked[1], ranked[0], *ranked[2:-1]]
    moved = [{**s, "gmv_vnd": 987_654_321_987 - i} for i, s in enumerate(reordered)]
    for viewport in SIZES:
        feed = Feed(board)
        page = await _board(browser, f"{server}/board?lang={lang}", viewport, feed)
        await page.evaluate(_HOLD_ANIMATIONS)
        feed.change({"top_sessions_gmv": moved})
        await page.wait_for_function(
            f"document.querySelector('#list-sessions-gmv .row[data-key]').dataset.key"
            f" === {json.dumps(reordered[0]['session_id'])}")
        assert await page.evaluate("window.heldAnimations.length") >= 3
        for at in range(0, MOVE_MS + 1, 25):
            await page.evaluate("at => window.heldAnimations.forEach(a => { a.currentTime = at; })",
                                at)
            assert await page.evaluate(_OVERLAPS, "list-sessions-gmv") == [], (viewport, at)
        await page.close()


async def test_numbers_are_written_each_languages_way(browser: Browser, server: str) -> None:
    page = await _board(browser, f"{server}/board", SIZES[1], Feed(_worst_board()))
    values = [1_750_000_000, 850_000_000, 12_500, 999_600_000, 100_400_000_000]
    assert await page.evaluate("vs => vs.map(v => formatVnd(v, 'en'))", values) == \
        ["₫1.75B", "₫850M", "₫12,500", "₫1B", "₫100B"]
    assert await page.evaluate("vs => vs.map(v => formatVnd(v, 'vi'))", values) == \
        ["1,75 tỷ ₫", "850 triệu ₫", "12.500 ₫", "1 tỷ ₫", "100 tỷ ₫"]
    assert await page.evaluate("[formatCount(12345, 'en'), formatCount(12345, 'vi')]") == \
        ["12,345", "12.345"]
    # Times are the fair's, Asia/Ho_Chi_Minh, whatever the screen's own zone.
    assert await page.evaluate("formatClock(Date.UTC(2023, 10, 25, 1, 2, 3))") == "08:02:03"
    await page.close()

    english = await _board(browser, f"{server}/board?lang=en", SIZES[1], Feed(_worst_board()))
    await english.evaluate("""() => queueBanners([
        {kind: "milestone", metric: "views", value: 12345},
        {kind: "milestone", metric: "gmv_vnd", value: 1750000000}])""")
    await english.wait_for_function(
        "document.getElementById('banner-text').textContent"
        " === 'The fair passes 12,345 views'")
    assert await english.text_content("#total-gmv_vnd") == "₫988B"
    assert await english.text_content("#total-views") == "987,654,321"
    await english.close()


async def test_the_typeface_is_served_with_the_page(browser: Browser, server: str) -> None:
    page = await _board(browser, f"{server}/board", SIZES[1], Feed(_worst_board()))
    loaded = await page.evaluate(
        "[...document.fonts].filter(f => f.family.includes('Be Vietnam Pro')"
        " && f.status === 'loaded').map(f => f.weight)")
    assert {"800", "900"} <= set(loaded)
    served = await page.evaluate("""async () => {
        const r = await fetch('/static/fonts/be-vietnam-pro-vietnamese-800-normal.woff2');
        return [r.status, r.headers.get('content-type')];
    }""")
    assert served == [200, "font/woff2"]
    assert await page.evaluate(
        "getComputedStyle(document.getElementById('total-orders')).fontVariantNumeric") == \
        "tabular-nums"
    await page.close()
