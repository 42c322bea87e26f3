"""Datasources and bots managed through the console, and screens offered by the key's scope."""
from __future__ import annotations

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture skips (or, in CI, fails) naming what is missing
    expect = None

from tests.adapters.console.conftest import shot
from tests.conftest import ADMIN


async def _api(console, method: str, path: str, **kwargs):
    resp = await console.client.request(method, "/api/v1" + path, headers=ADMIN, **kwargs)
    assert resp.status < 300, await resp.text()
    return await resp.json()


async def test_datasource_connection_metadata_edits_index_and_training(browser, console):
    ds = await _api(console, "GET", f"/datasources/{console.datasource_id}")
    page, watch = await console.page(browser)
    await console.sign_in(page)
    await page.get_by_role("link", name="Datasources").click()

    await page.get_by_label("Engine").select_option("sqlite")
    await page.get_by_label("Database file path").fill(ds["access_config"]["database"])
    await page.get_by_role("button", name="Test connection").click()
    await expect(page.get_by_text("Connected:")).to_be_visible()
    await page.get_by_label("Database file path").fill("/nonexistent/nothing.db")
    await page.get_by_role("button", name="Test connection").click()
    await expect(page.get_by_text("Could not connect")).to_be_visible()

    await page.get_by_role("link", name="Demo shop").click()
    await expect(page.locator(".badge.success").first).to_be_visible()
    await page.locator("summary", has_text="orders").first.click()
    status = page.get_by_label("Description of orders.status")
    await status.fill("pending, paid, shipped or cancelled")
    await status.press("Tab")
    await expect(page.get_by_role("status").filter(has_text="Saved status description")).to_be_visible()
    await page.get_by_label("orders.customer_id visible").uncheck()
    await expect(page.get_by_role("status").filter(has_text="Saved customer_id visibility")).to_be_visible()
    fields = (await _api(console, "GET", f"/datasources/{console.datasource_id}/meta"))["schemas"]["main"]["tables"]["orders"]["fields"]
    assert fields["status"]["description"] == "pending, paid, shipped or cancelled"
    assert fields["customer_id"]["visibility"] is False

    await page.get_by_label("Table", exact=True).fill("orders")
    await page.get_by_label("Field", exact=True).fill("status")
    await page.get_by_role("button", name="Build index").click()
    await expect(page.locator(".list code", has_text="orders.status").first).to_be_visible()
    await page.get_by_label("Training question").fill("big orders")
    await page.get_by_label("Its SQL").fill("SELECT * FROM orders WHERE id > 390")
    await page.get_by_role("button", name="Add pair").click()
    await expect(page.get_by_text("big orders")).to_be_visible()
    pairs = await _api(console, "GET", f"/training?datasource_id={console.datasource_id}")
    assert [p["question"] for p in pairs["items"]] == ["big orders"]
    await shot(page, "datasource", both=True, full_page=True)
    watch.assert_clean()


async def test_bots_created_edited_with_webhooks_and_scopes_hide_screens(browser, console):
    await _api(console, "POST", "/bots", json={"id": "filed", "name": "Other bot", "datasource_ids": [console.datasource_id]})
    page, watch = await console.page(browser)
    await console.sign_in(page)
    await page.get_by_role("link", name="Bots").click()
    await page.get_by_role("button", name="New bot").click()
    await page.get_by_label("Bot id").fill("shop")
    await page.get_by_label("Name", exact=True).fill("Shop bot")
    await page.get_by_role("checkbox", name="Demo shop").check()
    await page.get_by_label("Channels (JSON)").fill('{"telegram": {"token": "123:abc", "secret_token": "s3cret"}}')
    await page.get_by_role("button", name="Create bot").click()
    card = page.get_by_role("article", name="Bot Shop bot")
    await expect(card).to_contain_text("/webhooks/telegram/shop")
    await expect(card).to_contain_text(console.base.rstrip("/"))
    await expect(card).to_contain_text("the REST API")
    await card.get_by_role("button", name="Edit bot Shop bot").click()
    await page.get_by_label("Name", exact=True).fill("Shop helper")
    await page.get_by_role("button", name="Save bot").click()
    await expect(page.get_by_role("article", name="Bot Shop helper")).to_be_visible()
    bot = await _api(console, "GET", "/bots/shop")
    assert bot["name"] == "Shop helper" and bot["channels"]["telegram"]["token"] == "***"
    await shot(page, "bots", both=True, full_page=True)
    watch.assert_clean()

    asker = (await _api(console, "POST", "/auth/keys", json={"scope": "priv_asker", "name": "analyst"}))["key"]
    visitor = (await _api(console, "POST", "/auth/keys", json={"scope": "priv_visitor", "bot_ids": ["shop"]}))["key"]
    for key, links in ((asker, ["Ask", "Canvas", "Tables", "Bots"]), (visitor, ["Ask", "Bots"])):
        page, watch = await console.page(browser)
        await console.sign_in(page, key)
        await expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(links)
        if key == visitor:  # only its bot to ask, no datasources
            await expect(page.get_by_label("Datasource or bot").locator("option")).to_have_text(["Shop helper"])
            await page.get_by_role("link", name="Bots").click()
            await expect(page.get_by_role("article")).to_have_count(1)
        watch.assert_clean()
