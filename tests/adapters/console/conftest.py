"""Browser fixtures: Debian's headless Chromium driven by playwright, against a served TableTalk on 127.0.0.1.

Skips with a reason when Chromium or playwright is missing, except with TABLETALK_REQUIRE_SERVERS=1
(CI), where that fails. Every page is watched: a request to any host but 127.0.0.1 is refused and
recorded, and JavaScript errors (uncaught or logged) are collected for the test to assert on.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import ADMIN_KEY, _unavailable, running_app

CHROMIUM = os.environ.get("TABLETALK_TEST_CHROMIUM", "/usr/bin/chromium")
# Without these, Chromium calls outside hosts (updates, safe browsing, QUIC probes, sync).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("TABLETALK_CONSOLE_SHOTS", "/tmp/console-shots"))
WIDTHS = {"laptop": (1280, 860), "phone": (390, 844)}


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        _unavailable(f"Chromium not found at {CHROMIUM} (Debian package 'chromium')")
    try:
        from playwright.async_api import async_playwright, expect
    except ImportError:
        _unavailable("the python 'playwright' package is not installed (pip install -e '.[test]')")
    expect.set_options(timeout=30_000)  # a shared, slow CI machine: waiting is fine, flaking is not
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@dataclass
class Watch:
    """What a page did that it must not: requests off 127.0.0.1, JavaScript errors."""

    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def allow(self, pattern: str) -> int:
        """Forget expected console errors (e.g. the 401 of a wrong key); returns how many."""
        kept = [e for e in self.errors if not re.search(pattern, e)]
        dropped = len(self.errors) - len(kept)
        self.errors = kept
        return dropped

    def assert_clean(self) -> None:
        assert self.outside == [], f"requests left 127.0.0.1: {self.outside}"
        assert self.errors == [], f"JavaScript errors: {self.errors}"


@dataclass
class Console:
    base: str
    datasource_id: str
    client: object  # aiohttp TestClient of the same app
    app: object

    async def page(self, browser, width: str = "laptop"):
        w, h = WIDTHS[width]
        context = await browser.new_context(viewport={"width": w, "height": h}, accept_downloads=True)
        page = await context.new_page()
        watch = Watch()

        async def guard(route):
            host = urlsplit(route.request.url).hostname
            if host == "127.0.0.1":
                await route.continue_()
            else:
                watch.outside.append(route.request.url)
                await route.abort()

        await context.route("**/*", guard)
        page.on("request", lambda r: urlsplit(r.url).scheme in ("http", "https", "ws", "wss")
                and urlsplit(r.url).hostname != "127.0.0.1" and watch.outside.append(r.url))
        page.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and watch.errors.append(msg.text))
        page.set_default_timeout(60_000)  # a shared, slow CI machine
        return page, watch

    async def sign_in(self, page, key: str = ADMIN_KEY) -> None:
        await page.goto(self.base)
        await page.get_by_label("API key").fill(key)
        await page.get_by_role("button", name="Sign in").click()


@pytest.fixture
async def console(tmp_path):
    async with running_app(tmp_path / "home") as (app, client, ds):
        base = str(client.make_url("/"))
        assert urlsplit(base).hostname == "127.0.0.1", base
        yield Console(base=base, datasource_id=ds, client=client, app=app)


async def shot(page, name: str, *, both: bool = False, full_page: bool = False) -> None:
    """Screenshots for people to look at: /tmp/console-shots/<name>-<width>.png (both widths with `both`),
    asserting on the way that the page never scrolls sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for w, h in ([WIDTHS["laptop"], WIDTHS["phone"]] if both else [(original["width"], original["height"])]):
        await page.set_viewport_size({"width": w, "height": h})
        await page.wait_for_timeout(150)  # let the layout settle
        assert await page.evaluate("document.documentElement.scrollWidth") <= w, f"{name} scrolls sideways at {w}px"
        await page.screenshot(path=str(SHOTS / f"{name}-{w}.png"), full_page=full_page)
    await page.set_viewport_size(original)
