"""The console's first screens in real headless Chromium: sign in, ask the demo, see SQL, chart and table, reload."""
from __future__ import annotations

import asyncio
from pathlib import Path

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture skips (or, in CI, fails) naming what is missing
    expect = None

from tests.adapters.console.conftest import shot
from tests.conftest import ADMIN, ADMIN_KEY

ANSWER = ".turn.assistant:not(.pending)"


async def test_sign_in_ask_chart_table_and_reload(browser, console):
    page, watch = await console.page(browser)
    await console.sign_in(page, "not-a-key")
    await expect(page.get_by_role("alert")).to_contain_text("not accepted")
    assert watch.allow(r"status of 401") == 1  # the wrong key's own answer, nothing else
    await shot(page, "signin")
    await page.get_by_label("API key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Sign in").click()

    # The demo is preselected; Enter asks.
    await expect(page.get_by_label("Datasource or bot")).to_have_value(f"ds:{console.datasource_id}")
    await page.get_by_label("Question").fill("How many orders are there?")
    await page.get_by_label("Question").press("Enter")
    first = page.locator(ANSWER).nth(0)
    await expect(first.locator(".answer-text")).to_contain_text("400")
    await expect(first.locator(".interpretation")).to_contain_text("number of orders")  # how the engine read it
    await expect(first.locator(".sql pre")).to_contain_text("COUNT(*)")
    await expect(first.locator("table.data td")).to_have_text("400")

    await page.get_by_label("Question").fill("orders per month")
    await page.get_by_role("button", name="Ask").click()
    second = page.locator(ANSWER).nth(1)
    chart = second.locator("svg.chart-svg")
    await expect(chart).to_be_visible()
    assert await chart.locator("path").count() >= 1 and await chart.locator("circle").count() >= 12
    await expect(second.locator("table.data tbody tr")).to_have_count(10)  # first page of the months
    await second.get_by_role("button", name="Next page").click()
    await expect(second.locator(".table-foot")).to_contain_text("Rows 11–")
    async with page.expect_download() as dl:
        await second.get_by_role("button", name="Download CSV").click()
    csv = (await dl.value).suggested_filename
    async with page.expect_download() as dl:
        await second.get_by_role("button", name="Download PNG").click()
    png_path = await (await dl.value).path()
    assert csv.endswith(".csv") and Path(png_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    await shot(page, "ask")

    # After a reload the conversation is listed, and opens with both turns.
    await page.reload()
    chat = page.locator(".chat-list a", has_text="How many orders are there?")
    await expect(chat).to_have_count(1)
    await chat.click()
    await expect(page.locator(".turn.human")).to_have_count(2)
    await expect(page.locator(ANSWER).nth(1).locator("svg.chart-svg")).to_be_visible()
    await shot(page, "reload")

    # A follow-up continues the same chat.
    await page.get_by_label("Question").fill("split that by status")
    await page.get_by_label("Question").press("Enter")
    await expect(page.locator(ANSWER).nth(2).locator(".sql pre")).to_contain_text("status")
    listing = await (await console.client.get("/api/v1/chats", headers=ADMIN)).json()
    assert listing["total"] == 1
    watch.assert_clean()


async def test_phone_width_asks_without_horizontal_scroll(browser, console):
    page, watch = await console.page(browser, "phone")
    await console.sign_in(page)
    await page.get_by_label("Question").fill("orders per month")
    await page.get_by_role("button", name="Ask").click()
    await expect(page.locator(f"{ANSWER} svg.chart-svg")).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await shot(page, "ask")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key")).to_be_visible()
    await page.reload()  # the key is gone from the session
    await expect(page.get_by_label("API key")).to_be_visible()
    await shot(page, "signin")
    watch.assert_clean()


async def test_typing_a_role_variable_while_the_chats_load_keeps_the_focus(browser, console):
    # The chat list is held back until the city is typed: when it arrives, the page must not move the
    # focus to the question box (keystrokes still coming would land there, and the chat be made
    # without its variables).
    await console.client.post("/api/v1/roles", headers=ADMIN, json={
        "name": "city manager", "variables": [{"name": "city", "type": "string", "required": True}]})
    page, watch = await console.page(browser)
    typed = asyncio.Event()

    async def hold(route):
        await typed.wait()
        await route.fallback()

    await page.route("**/api/v1/chats?size=50", hold)
    await console.sign_in(page)
    await page.get_by_text("Answer as a role").click()
    await page.get_by_label("Role").select_option(label="city manager")
    await page.get_by_label("city *").fill("Berl")
    typed.set()
    await expect(page.get_by_label("Question")).to_be_enabled()
    await expect(page.get_by_label("city *")).to_be_focused()
    await page.keyboard.type("in")
    await expect(page.get_by_label("city *")).to_have_value("Berlin")
    await expect(page.get_by_label("Question")).to_have_value("")
    watch.assert_clean()


async def test_a_key_revoked_while_signed_in_returns_to_sign_in(browser, console):
    made = await (await console.client.post("/api/v1/auth/keys", headers=ADMIN, json={"scope": "priv_asker"})).json()
    page, watch = await console.page(browser)
    await console.sign_in(page, made["key"])
    await expect(page.get_by_label("Question")).to_be_enabled()
    assert (await console.client.delete(f"/api/v1/auth/keys/{made['id']}", headers=ADMIN)).status == 204
    await page.get_by_role("link", name="Canvas").click()
    await expect(page.get_by_role("alert")).to_contain_text("no longer accepted")
    await expect(page.get_by_label("API key")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0
    assert watch.allow(r"status of 401") >= 1
    watch.assert_clean()


async def test_admin_asks_as_a_role_with_its_variables(browser, console):
    role = await (await console.client.post("/api/v1/roles", headers=ADMIN, json={
        "name": "city manager", "variables": [{"name": "city", "type": "string", "required": True}]})).json()
    await console.client.post("/api/v1/policies", headers=ADMIN, json={
        "name": "by city", "role_id": role["id"], "datasource_id": console.datasource_id,
        "rules": [{"table": "customers", "row_filter": "city = '{{city}}'"}]})
    page, watch = await console.page(browser)
    await console.sign_in(page)
    await page.get_by_text("Answer as a role").click()
    await page.get_by_label("Role").select_option(label="city manager")
    await page.get_by_label("city *").fill("Berlin")
    await page.get_by_label("Question").fill("How many customers are there?")
    await page.get_by_label("Question").press("Enter")
    await expect(page.locator(f"{ANSWER} .sql pre")).to_contain_text("Berlin")
    chats = (await (await console.client.get("/api/v1/chats", headers=ADMIN)).json())["items"]
    assert [(c["role_id"], c["role_variables"]) for c in chats] == [(role["id"], {"city": "Berlin"})]
    watch.assert_clean()
