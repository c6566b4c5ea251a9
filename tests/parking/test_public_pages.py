"""The public lot search page: no login, Vietnamese first, a plain form; "near me" reads the public API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from core.appkeys import POOL
from tests.live_server import server_fixture  # noqa: F401 (the `server` fixture)

pytestmark = pytest.mark.usefixtures("lots")


def lot_ids(html: str) -> list[str]:
    return re.findall(r'<li class="lot" data-lot="([^"]+)"', html)


async def test_search_by_ward_without_login(client):
    resp = await client.get("/parking")
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()
    assert 'lang="vi"' in html and "Tìm bãi gửi xe" in html
    assert len(lot_ids(html)) == 10  # every demo lot, before any filter
    assert '<option value="Phường Hoàn Kiếm">' in html and '<option value="Phường Từ Liêm">' in html

    html = await (
        await client.get(f"/parking?ward={quote('Phường Hoàn Kiếm')}&vehicle_class=&available=")
    ).text()
    assert sorted(lot_ids(html)) == ["hk-hang-dau", "hk-tran-nhat-duat"]
    assert '<option value="Phường Hoàn Kiếm" selected>' in html and "2 bãi xe" in html
    assert "Bãi xe Hàng Đầu" in html and "Phố Hàng Đầu" in html and "Cả ngày đêm" in html
    assert 'data-class="motorbike">Xe máy: 300/300 chỗ trống' in html

    html = await (await client.get(f"/parking?ward={quote('Phường Cửa Nam')}")).text()
    assert lot_ids(html) == ["hk-nha-hat-lon"] and "06:00–23:00" in html


async def test_class_and_free_space_filters(client, attendant):
    await client.app[POOL].execute(
        "UPDATE lot_capacities SET capacity = 1 WHERE lot_id = 'hk-hang-dau' AND vehicle_class = 'car'"
    )
    await client.post(
        "/api/v1/parking/lots/hk-hang-dau/check-ins",
        headers=attendant.headers(unsafe=True),
        json={"plate": "30A-123.45", "vehicle_class": "car"},
    )
    ward = quote("Phường Hoàn Kiếm")
    html = await (await client.get(f"/parking?ward={ward}&vehicle_class=car")).text()
    assert sorted(lot_ids(html)) == ["hk-hang-dau", "hk-tran-nhat-duat"]
    assert 'class="full" data-class="car">Ô tô đến 9 chỗ: 0/1 chỗ trống' in html
    html = await (await client.get(f"/parking?ward={ward}&vehicle_class=car&available=1")).text()
    assert (
        lot_ids(html) == ["hk-tran-nhat-duat"] and 'id="available" name="available" value="1" checked' in html
    )
    html = await (await client.get("/parking?vehicle_class=large_car")).text()
    assert sorted(lot_ids(html)) == ["bd-quang-truong", "bd-van-mieu", "tl-my-dinh", "tx-khuat-duy-tien"]


async def test_odd_queries_still_show_a_page(client):
    for query in ("ward=Nowhere", "vehicle_class=truck", "available=maybe", "ward=" + "x" * 5000, "ward=%00"):
        resp = await client.get(f"/parking?{query}")
        assert resp.status == 200, query
        assert len(lot_ids(await resp.text())) == 10, query


async def test_near_me_uses_the_public_api_and_no_outside_scripts(client):
    html = await (await client.get("/parking")).text()
    assert 'id="near-me"' in html and 'id="near-controls" hidden' in html  # shown by the script, if it can
    # The script is our own file under /static (the CSP allows no inline or outside script).
    sources = re.findall(r'<script src="([^"]+)"', html)
    assert sources and all(src.startswith("/static/") for src in sources)
    script = await client.get(sources[0])
    assert script.status == 200 and "navigator.geolocation" in await script.text()
    raw = re.search(r'id="psearch-config">(.*?)</script>', html, re.S).group(1)
    config = json.loads(raw)
    assert config["api"] == "/api/v1/parking/lots"
    assert config["classes"][0] == ["motorbike", "Xe máy"] and config["labels"]["results"] == "{n} bãi xe"
    api = await client.get("/api/v1/parking/lots?near=21.0287,105.8524&radius_m=1000&limit=50")
    assert api.status == 200 and all(i["distance_m"] <= 1000 for i in (await api.json())["items"])


async def test_english_and_the_public_home_link(client):
    home = await (await client.get("/")).text()
    assert 'href="/parking"' in home and "Tìm bãi gửi xe còn chỗ" in home
    client.session.cookie_jar.update_cookies({"lang": "en"})
    html = await (await client.get("/parking")).text()
    assert 'lang="en"' in html and "Find a parking lot" in html and "Day and night" in html


# In a real browser: "near me" with a granted (simulated) position, on a 360-px phone.

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()


@pytest.fixture
async def browser():
    if not HAVE_CHROMIUM:
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.mark.browser
async def test_near_me_on_a_360px_phone(server, browser):
    from playwright.async_api import expect

    context = await browser.new_context(
        viewport={"width": 360, "height": 740},
        geolocation={"latitude": 21.0287, "longitude": 105.8524},  # Hoàn Kiếm lake
        permissions=["geolocation"],
    )
    try:
        page = await context.new_page()
        await page.goto(f"{server.base_url}/parking")
        await expect(page.locator("li.lot")).to_have_count(10)
        await page.select_option("#radius_m", "1000")
        await page.click("#near-me")
        await expect(page.locator("li.lot").first).to_have_attribute("data-lot", "hk-nha-hat-lon")
        items = page.locator("li.lot")
        assert 2 <= await items.count() < 10
        await expect(items.first).to_contain_text("Cách 728 m")
        await expect(items.first.locator('li[data-class="motorbike"]')).to_have_text(
            "Xe máy: 150/150 chỗ trống"
        )
        await expect(page.locator("#result-count")).to_have_text(f"{await items.count()} bãi xe")
        await page.screenshot(path="/tmp/parking-search-360.png", full_page=True)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the search page is {width}px wide on a 360px screen"
    finally:
        await context.close()
