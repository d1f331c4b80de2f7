"""Fixtures the web tests share: one Chromium per module, and a web process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from playwright.async_api import Browser, async_playwright

from common.settings import Settings
from devtools.screenshots import launch
from tests.web.chromium import ensure_chromium
from web.server import WebApp


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, for the module."""
    ensure_chromium()
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        yield chromium
        await chromium.close()


@pytest.fixture
async def server(make_settings: Callable[..., Settings]) -> AsyncIterator[str]:
    """A web process on its own key prefix; its base URL."""
    settings = make_settings()
    async with WebApp(settings=settings).serving():
        yield f"http://127.0.0.1:{settings.web_port}"
