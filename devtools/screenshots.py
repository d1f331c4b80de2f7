"""Screenshots of the venue board and a host page, from the current code and real Redis.

The sample catalog's last fair is moved so that now is mid-day there (sessions ended,
live and next up), its sessions' day so far is counted through the sample feed
(``devtools.sample``) into a throwaway key prefix, a web process runs in this process,
and Debian's Chromium (driven by Playwright) takes the pictures. The last slice of the
fair is counted after the pages are open, so they show live changes (count-up, rank
arrows) rather than a cold start. The report's picture is the first page of a
campaign report (``ocop-live report --campaign``) over the whole sample campaign played
across six months, counted into another throwaway prefix. Needs only Redis::

    ocop-live stack up && eval "$(ocop-live stack env)"
    python -m devtools.screenshots   # docs/screenshots/board-vi-1920x1080.png (and at
                                     # each of BOARD_SIZES), board-en-1920x1080.png,
                                     # host-vi.png, report-vi.png
    python -m devtools.screenshots --out /tmp/shots
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from playwright.async_api import Browser, Page, async_playwright
from pydantic import SecretStr

from common.catalog import SAMPLE_CATALOG, Catalog, load_catalog
from common.clock import wall_ms
from common.settings import Settings, load_settings
from common.tokens import HostTokens
from devtools.sample import SAMPLE_SEED, SampleFeed
from devtools.simulator.campaign import CampaignConfig, generate_campaign
from devtools.simulator.fair import Fair, FairConfig, generate
from devtools.stack.ports import pick_free_ports
from reports.writer import gather, write_page
from store.client import RedisClient, redis_client
from store.keys import Keys
from web.server import WebApp

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync")
BOARD_VIEWPORT = {"width": 1920, "height": 1080}
# The venues' screens: a laptop, full HD, 4K and a vertical LED panel.
BOARD_SIZES = ({"width": 1366, "height": 768}, BOARD_VIEWPORT,
               {"width": 3840, "height": 2160}, {"width": 1080, "height": 1920})
PHONE_VIEWPORT = {"width": 390, "height": 844}
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
# Long enough for a count-up and a rank slide to finish, so the picture is settled.
SETTLE_MS = 2500
LIVE_SHARE = 0.12  # the slice of the fair counted while the pages are open
LIVE_STEPS = 6
SHOWN_FAIR = "cg-2023-11-25"  # Cần Giờ, the campaign's latest venue
# Now, in the pictures: 12:30 to 13:00 on the fair's day (it opens at 08:00).
SHOWN_INTO_MS = 270 * 60_000
SHOWN_EVENTS = 40_000
# Moved by whole half hours, so the schedule reads like one (09:30 to 12:30).
_HALF_HOUR_MS = 30 * 60_000
# The report's campaign: the news item's six months, and an A4 page at 96 px per inch.
REPORT_WEEKS = 26
REPORT_EVENTS = 150_000
A4_VIEWPORT = {"width": 794, "height": 1123}


def _moved(text: str, shift_ms: int) -> str:
    moment = datetime.fromisoformat(text) + timedelta(milliseconds=shift_ms)
    return moment.isoformat()


def live_fair(catalog: Catalog, fair_id: str, *, now_ms: int, into_ms: int) -> Catalog:
    """Fair ``fair_id`` and its sessions, moved by whole half hours so that ``now_ms``
    falls ``into_ms`` to ``into_ms`` + 30 minutes after the fair's start; the schedule
    keeps its shape."""
    shown = catalog.for_fair(fair_id)
    fair = shown.fairs[0]
    start_ms = int(datetime.fromisoformat(fair.start).timestamp() * 1000)
    shift = (now_ms - into_ms - start_ms) // _HALF_HOUR_MS * _HALF_HOUR_MS
    fairs = [msgspec.structs.replace(fair, start=_moved(fair.start, shift),
                                     end=_moved(fair.end, shift))]
    sessions = [msgspec.structs.replace(s, scheduled_start=_moved(s.scheduled_start, shift),
                                        scheduled_end=_moved(s.scheduled_end, shift))
                for s in shown.sessions]
    return Catalog(sessions=sessions, fairs=fairs)


def shown_fair(*, now_ms: int) -> Fair:
    """The fair of the pictures: its day so far, each session within its schedule."""
    catalog = live_fair(load_catalog(SAMPLE_CATALOG), SHOWN_FAIR, now_ms=now_ms,
                        into_ms=SHOWN_INTO_MS)
    start_ms = int(datetime.fromisoformat(catalog.fairs[0].start).timestamp() * 1000)
    return generate(catalog, FairConfig(start_ms=start_ms, span_ms=now_ms - start_ms,
                                        events=SHOWN_EVENTS, seed=SAMPLE_SEED,
                                        follow_schedules=True))


async def launch(playwright: Any) -> Browser:
    """Debian's Chromium, headless, with no background network of its own."""
    browser: Browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                        args=list(CHROMIUM_ARGS))
    return browser


def _size(viewport: dict[str, int]) -> str:
    return f"{viewport['width']}x{viewport['height']}"


async def _open(browser: Browser, url: str, viewport: dict[str, int], ready: str) -> Page:
    page = await browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    await page.goto(url)
    await page.wait_for_selector(ready)
    await page.evaluate("document.fonts.ready")
    return page


async def take(settings: Settings, out: Path) -> list[Path]:
    """Write ``board-vi-WxH.png`` at each of ``BOARD_SIZES``, ``board-en-1920x1080.png``
    and ``host-vi.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (port,) = pick_free_ports(1)
    settings = settings.model_copy(update={
        "key_prefix": f"shots{secrets.token_hex(5)}", "web_host": "127.0.0.1", "web_port": port,
        "token_secret": SecretStr(secrets.token_urlsafe(24)),
    })
    keys = Keys(settings.key_prefix)
    redis = redis_client(settings, decode_responses=True)
    now_ms = wall_ms()
    fair = shown_fair(now_ms=now_ms)
    split = int(len(fair.messages) * (1 - LIVE_SHARE))
    feed = SampleFeed(redis, keys=keys, shards=settings.partitions)
    written: list[Path] = []
    try:
        await feed.load_catalog(fair.catalog)
        await feed.apply(fair.messages[:split], now_ms=now_ms)
        app = WebApp(settings=settings)
        async with app.serving(), async_playwright() as playwright:
            base = f"http://127.0.0.1:{port}"
            board = await app.hub.build()
            ranked = board["top_sessions_gmv"]
            # A session a few places down, so the page shows its rank and the gap above.
            host_id = ranked[min(2, len(ranked) - 1)]["session_id"]
            token = HostTokens(secret=settings.token_secret.get_secret_value()).issue(
                host_id, expires_at_ms=now_ms + 3_600_000)
            browser = await launch(playwright)
            live = "#conn[data-state='live']"
            pages = {
                f"board-vi-{_size(size)}.png": await _open(browser, f"{base}/board", size, live)
                for size in BOARD_SIZES
            }
            pages[f"board-en-{_size(BOARD_VIEWPORT)}.png"] = await _open(
                browser, f"{base}/board?lang=en", BOARD_VIEWPORT, live)
            pages["host-vi.png"] = await _open(
                browser, f"{base}/host#session={host_id}&token={token}", PHONE_VIEWPORT,
                "#dashboard:not([hidden])")
            rest = fair.messages[split:]
            step = -(-len(rest) // LIVE_STEPS)
            for start in range(0, len(rest), step):
                await feed.apply(rest[start:start + step], now_ms=wall_ms())
                await asyncio.sleep(0.6)
            await asyncio.sleep(SETTLE_MS / 1000)
            for name, page in pages.items():
                path = out / name
                # No picture of a banner or a row caught halfway through its slide.
                await page.wait_for_function(
                    "document.getAnimations().every(a => a.playState !== 'running'"
                    " || a.effect.getTiming().iterations === Infinity)")
                await page.screenshot(path=str(path))
                written.append(path)
            await browser.close()
    finally:
        await _forget(redis, keys)
    return written


async def take_report(settings: Settings, out: Path) -> Path:
    """Write ``report-vi.png``: the first page of the campaign's report."""
    out.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"key_prefix": f"shots{secrets.token_hex(5)}"})
    keys = Keys(settings.key_prefix)
    redis = redis_client(settings, decode_responses=True)
    now_ms = wall_ms()
    played = generate_campaign(load_catalog(SAMPLE_CATALOG), CampaignConfig(
        now_ms=now_ms, weeks=REPORT_WEEKS, events=REPORT_EVENTS, seed=SAMPLE_SEED))
    feed = SampleFeed(redis, keys=keys, shards=settings.partitions)
    path = out / "report-vi.png"
    try:
        await feed.load_catalog(played.catalog)
        # A recorded feed: each slice is judged at its own handover time, as a worker
        # judges records by their Kafka timestamps.
        for first in range(0, len(played.messages), feed.batch):
            chunk = played.messages[first:first + feed.batch]
            await feed.apply(chunk, now_ms=max(m.due_ms for m in chunk))
        gathered = await gather(settings, now_ms=now_ms, campaign=True)
        with tempfile.TemporaryDirectory(prefix="ocop-report-") as folder:
            html, _ = write_page(gathered, Path(folder))
            async with async_playwright() as playwright:
                browser = await launch(playwright)
                page = await browser.new_page(viewport=A4_VIEWPORT)  # type: ignore[arg-type]
                await page.goto(html.as_uri())
                await page.screenshot(path=str(path))
                await browser.close()
    finally:
        await _forget(redis, keys)
    return path


async def _forget(redis: RedisClient, keys: Keys) -> None:
    """Delete the throwaway prefix and close the client."""
    async for key in redis.scan_iter(match=keys.everything(), count=1000):
        await redis.delete(key)
    await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m devtools.screenshots [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m devtools.screenshots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNGs")
    args = parser.parse_args(argv)
    settings = load_settings()
    for path in [*asyncio.run(take(settings, args.out)),
                 asyncio.run(take_report(settings, args.out))]:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
