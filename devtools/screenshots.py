"""Screenshots of the venue board and a host page, from the current code and real Redis.

The sample fair (``devtools.sample``) is counted into a throwaway key prefix, a web process
runs in this process, and Debian's Chromium (driven by Playwright) takes the pictures.
The last slice of the fair is counted after the pages are open, so they show live
changes (count-up, rank arrows) rather than a cold start. Needs only Redis::

    ocop-live stack up && eval "$(ocop-live stack env)"
    python -m devtools.screenshots   # docs/screenshots/board-vi.png, board-en.png, host-vi.png
    python -m devtools.screenshots --out /tmp/shots
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright
from pydantic import SecretStr
from redis.asyncio import Redis

from common.clock import wall_ms
from common.settings import Settings, load_settings
from common.tokens import HostTokens
from devtools.sample import SampleFeed, sample_fair
from devtools.stack.ports import pick_free_ports
from store.keys import Keys
from web.server import WebApp

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync")
BOARD_VIEWPORT = {"width": 1920, "height": 1080}
PHONE_VIEWPORT = {"width": 390, "height": 844}
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
# Long enough for a count-up and a rank slide to finish, so the picture is settled.
SETTLE_MS = 2500
LIVE_SHARE = 0.12  # the slice of the fair counted while the pages are open
LIVE_STEPS = 6


async def launch(playwright: Any) -> Browser:
    """Debian's Chromium, headless, with no background network of its own."""
    browser: Browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                        args=list(CHROMIUM_ARGS))
    return browser


async def _open(browser: Browser, url: str, viewport: dict[str, int], ready: str) -> Page:
    page = await browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    await page.goto(url)
    await page.wait_for_selector(ready)
    return page


async def take(settings: Settings, out: Path) -> list[Path]:
    """Write ``board-vi.png``, ``board-en.png`` and ``host-vi.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (port,) = pick_free_ports(1)
    settings = settings.model_copy(update={
        "key_prefix": f"shots{secrets.token_hex(5)}", "web_host": "127.0.0.1", "web_port": port,
        "token_secret": SecretStr(secrets.token_urlsafe(24)),
    })
    keys = Keys(settings.key_prefix)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    now_ms = wall_ms()
    fair = sample_fair(now_ms=now_ms)
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
                "board-vi.png": await _open(browser, f"{base}/board", BOARD_VIEWPORT, live),
                "board-en.png": await _open(browser, f"{base}/board?lang=en", BOARD_VIEWPORT,
                                            live),
                "host-vi.png": await _open(browser, f"{base}/host#session={host_id}&token={token}",
                                           PHONE_VIEWPORT, "#dashboard:not([hidden])"),
            }
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
        async for key in redis.scan_iter(match=keys.everything(), count=1000):
            await redis.delete(key)
        await redis.aclose()
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m devtools.screenshots [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m devtools.screenshots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNGs")
    args = parser.parse_args(argv)
    for path in asyncio.run(take(load_settings(), args.out)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
