"""Canvas boards and generated tables driven through the console in headless Chromium."""
from __future__ import annotations

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture skips (or, in CI, fails) naming what is missing
    expect = None

from tests.adapters.console.conftest import shot
from tests.conftest import ADMIN


async def test_canvas_board_node_runs_with_live_events_refresh_and_export(browser, console):
    page, watch = await console.page(browser)
    await console.sign_in(page)
    await page.get_by_role("link", name="Canvas").click()
    await page.get_by_label("Board name").fill("Sales")
    await page.get_by_role("button", name="Create board").click()
    await expect(page.get_by_role("heading", name="Sales")).to_be_visible()

    await page.get_by_label("Question").fill("orders per month")
    await page.get_by_role("button", name="Add node").click()
    data = page.get_by_role("article", name="data node: orders per month")
    await data.get_by_role("button", name="Run").click()
    await expect(data.locator(".badge.completed")).to_be_visible()
    await expect(data.get_by_label("Run events")).to_contain_text("Found tables")
    await expect(data.get_by_label("Run events")).to_contain_text("rows")
    await expect(data.locator("table.data tbody tr")).to_have_count(5)

    await page.get_by_label("Node type").select_option("chart")
    await page.get_by_label("Title").fill("Monthly chart")
    await page.get_by_label("Question").fill("")
    await page.get_by_role("checkbox", name="orders per month").check()
    await page.get_by_role("button", name="Add node").click()
    chart = page.get_by_role("article", name="chart node: Monthly chart")
    await chart.get_by_role("button", name="Run").click()
    await expect(chart.locator("svg.chart-svg path").first).to_be_visible()

    await page.get_by_role("button", name="Refresh board").click()
    await expect(page.get_by_role("status").filter(has_text="Board refreshed")).to_be_visible()
    async with page.expect_download() as dl:
        await page.get_by_role("button", name="Export HTML").click()
    report = open(await (await dl.value).path(), encoding="utf-8").read()
    assert "<h1>Sales</h1>" in report and "Monthly chart" in report
    await shot(page, "canvas", both=True, full_page=True)
    watch.assert_clean()


async def test_table_created_generated_paged_regenerated_and_dataset_previewed(browser, console):
    page, watch = await console.page(browser)
    await console.sign_in(page)
    await page.get_by_role("link", name="Tables").click()
    await page.get_by_role("button", name="Create table").click()  # the example schema: people
    await expect(page.get_by_role("heading", name="people")).to_be_visible()

    await page.get_by_label("Rows to generate").fill("30")
    await page.get_by_label("Batch size").fill("10")
    await page.get_by_role("button", name="Generate rows").click()
    await expect(page.get_by_text("Generated 30 rows.")).to_be_visible()
    assert await page.get_by_label("Generation progress").evaluate("p => [p.value, p.max]") == [30, 30]
    await expect(page.get_by_role("region", name="Rows").locator("tbody tr")).to_have_count(20)
    await page.get_by_role("button", name="Next page").click()
    await expect(page.locator(".table-foot")).to_contain_text("Rows 21–30 of 30")
    await page.get_by_role("button", name="Previous page").click()

    rows = (await (await console.client.get("/api/v1/tables/people/rows?limit=2", headers=ADMIN)).json())["data"]
    await page.get_by_label("Select row 1", exact=True).check()
    await page.get_by_label("Select row 2", exact=True).check()
    await page.get_by_role("checkbox", name="city", exact=True).check()
    await page.get_by_role("button", name="Regenerate selected").click()
    await expect(page.get_by_role("status").filter(has_text="Regenerated 2 row(s)")).to_be_visible()
    after = (await (await console.client.get("/api/v1/tables/people/rows?limit=2", headers=ADMIN)).json())["data"]
    assert [r["_id"] for r in after] == [r["_id"] for r in rows] and [r["name"] for r in after] == [r["name"] for r in rows]
    await shot(page, "table", both=True, full_page=True)

    await page.get_by_role("link", name="All tables").click()
    await page.get_by_label("Dataset name").fill("cities")
    await page.get_by_label("CSV file").set_input_files(
        files=[{"name": "cities.csv", "mimeType": "text/csv", "buffer": b"city,country\nLyon,France\nOsaka,Japan\n"}])
    await page.get_by_role("button", name="Upload dataset").click()
    await expect(page.get_by_text("csv · 2 rows")).to_be_visible()
    await page.get_by_role("button", name="Preview").click()
    await expect(page.get_by_role("region", name="Rows").locator("tbody tr")).to_have_count(2)
    await shot(page, "tables", both=True, full_page=True)
    watch.assert_clean()
