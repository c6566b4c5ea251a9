"""Issue 12, point 11, in a real browser at 360×740: a citizen looking for parking on a phone.

The first screen shows lots (not only the form), each with its price for the chosen vehicle class, open or
closed now with its hours, and free spaces; "Bãi gần tôi" says in words what it is doing, then lists the lots
nearest first with their distance; a refused or failed position is a catalogue sentence and the list stays;
the class is remembered; the Leaflet map follows the list, and when its tiles (or Leaflet itself) cannot load
the list works alone with no script error. There is no internet here: tile requests are answered by the test
(failed, or a plain PNG standing in for OpenStreetMap), which also proves the page's CSP lets the tiles in.
"""

from __future__ import annotations

import asyncio
import re
from io import BytesIO

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.catalogue import not_in_catalogue
from tests.e2e.conftest import PHONE, screenshot
from tests.parking.conftest import lots  # noqa: F401 (the demo lots, tariffs and zones)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("lots")]

HOAN_KIEM_LAKE = {"latitude": 21.0287, "longitude": 105.8524}
TILES = "https://tile.openstreetmap.org/**"
ERROR_TEXTS = ".error, .field-error, [role=alert], #map-note:not([hidden])"


def _tile_png() -> bytes:
    out = BytesIO()
    Image.new("RGB", (256, 256), (170, 211, 223)).save(out, format="PNG")
    return out.getvalue()


class Watched:
    """A page with its uncaught script errors and the console's complaints (a CSP refusal is one)."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.context, self.page = context, page
        self.script_errors: list[str] = []
        self.console_errors: list[str] = []
        page.on("pageerror", lambda exc: self.script_errors.append(str(exc)))
        page.on("console", lambda msg: self._console(msg))

    def _console(self, msg) -> None:
        # A tile that cannot be fetched logs "Failed to load resource": the network's doing, not a script's.
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            self.console_errors.append(msg.text)

    def assert_clean(self) -> None:
        assert self.script_errors == [], self.script_errors
        assert self.console_errors == [], self.console_errors


async def _open(
    browser: Browser, server, *, tiles: str = "fail", path: str = "/parking", viewport=PHONE, **kw
) -> Watched:
    context = await browser.new_context(viewport=viewport, **kw)
    page = await context.new_page()
    watched = Watched(context, page)
    if tiles == "fail":
        await page.route(TILES, lambda route: route.abort("internetdisconnected"))
    else:
        png = _tile_png()
        await page.route(TILES, lambda route: route.fulfill(body=png, content_type="image/png"))
    await page.goto(f"{server.base_url}{path}")
    return watched


async def _error_texts(page: Page) -> list[str]:
    return [t.strip() for t in await page.locator(ERROR_TEXTS).all_inner_texts() if t.strip()]


def _metres(text: str) -> int:
    """ "Cách 728 m" → 728, "Cách 1,2 km" → 1200; anything else (1.2 km, 1200 m) fails."""
    if m := re.fullmatch(r"Cách ([1-9]\d{0,2}) m", text):
        return int(m.group(1))
    m = re.fullmatch(r"Cách (\d+),(\d) km", text)
    assert m, f"not a Vietnamese distance: {text!r}"
    return int(m.group(1)) * 1000 + int(m.group(2)) * 100


async def test_the_first_screen_of_a_phone_shows_lots_and_the_map_follows(browser, server):
    w = await _open(browser, server)
    page = w.page
    try:
        cards = page.locator("li.lot")
        await expect(cards).to_have_count(10)
        first = await cards.first.bounding_box()
        assert first and first["y"] + first["height"] <= PHONE["height"], f"first lot at {first}"
        await expect(page.locator("#result-count")).to_have_text("10 bãi xe")
        # With the script, the class list refreshes by itself: no "Tìm" beside it, and no "every lot" link.
        await expect(page.locator("#near-me")).to_be_visible()
        await expect(page.locator("#search-submit")).to_be_hidden()
        await expect(page.locator("#show-all")).to_be_hidden()
        for i in range(10):
            card = cards.nth(i)
            await expect(card.locator(".badge")).to_have_text(re.compile(r"^(Đang mở|Đã đóng)$"))
            await expect(card.locator(".hours")).to_have_text(
                re.compile(r"^(Cả ngày đêm|\d\d:\d\d–\d\d:\d\d)$")
            )
            await expect(card.locator(".price")).to_have_text(
                re.compile(r"^Xe máy: \d{1,3}\.000 ₫/lượt ban ngày, \d{1,3}\.000 ₫/lượt ban đêm$")
            )
            await expect(card.locator(".spaces")).to_have_text(re.compile(r"^Còn \d+/\d+ chỗ$"))
        await expect(page.locator('li[data-lot="hk-hang-dau"] .price')).to_have_text(
            "Xe máy: 5.000 ₫/lượt ban ngày, 8.000 ₫/lượt ban đêm"
        )
        await expect(page.locator('li[data-lot="hk-nha-hat-lon"] .hours')).to_have_text("06:00–23:00")
        # The map: after the list, one marker per lot; no tiles here, said in words, and the list unharmed.
        await expect(page.locator("#map-box")).to_be_visible()
        await expect(page.locator("#lot-map .leaflet-marker-icon")).to_have_count(10)
        await expect(page.locator("#map-note")).to_have_text(
            "Không tải được bản đồ (cần kết nối mạng). Danh sách bãi xe vẫn dùng được."
        )
        last = await cards.last.bounding_box()
        map_box = await page.locator("#map-box").bounding_box()
        assert last and map_box and map_box["y"] >= last["y"] + last["height"], "the map comes after the list"
        assert map_box["height"] <= 300, "the map stays small on a phone"
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px screen"
        assert not_in_catalogue(await _error_texts(page)) == []
        await page.evaluate("window.scrollTo(0, 0)")
        await screenshot(page, "lot-search")
        w.assert_clean()
    finally:
        await w.context.close()


async def test_near_me_says_what_it_does_then_lists_the_nearest_first(browser, server):
    w = await _open(browser, server, geolocation=HOAN_KIEM_LAKE, permissions=["geolocation"])
    page = w.page
    try:
        await expect(page.locator("li.lot")).to_have_count(10)
        # Every text the status line shows, in order (the position comes back at once in a test browser).
        await page.evaluate(
            """() => {
                 window.statusTexts = [];
                 const status = document.getElementById("geo-status");
                 new MutationObserver(() => window.statusTexts.push(status.textContent))
                   .observe(status, {childList: true, characterData: true, subtree: true});
               }"""
        )
        release = asyncio.Event()

        async def held(route):
            await release.wait()
            await route.continue_()

        await page.route("**/parking/results?*", held)
        await page.click("#near-me")
        status = page.locator("#geo-status")
        await expect(status).to_have_text("Đã có vị trí. Đang tìm bãi gần bạn…")
        assert await page.evaluate("window.statusTexts") == [
            "Đang xác định vị trí của bạn…",
            "Đã có vị trí. Đang tìm bãi gần bạn…",
        ]
        await expect(page.locator("li.lot")).to_have_count(10)  # the old list stays while loading
        release.set()
        cards = page.locator("li.lot")
        await expect(cards.first).to_have_attribute("data-lot", "hk-nha-hat-lon")
        await expect(page.locator("#result-count")).to_have_text("10 bãi gần bạn nhất")
        await expect(status).to_be_hidden()  # empty once the list is there
        distances = await page.locator("li.lot .distance").all_inner_texts()
        assert distances[0] == "Cách 728 m" and len(distances) == 10
        metres = [_metres(d) for d in distances]
        assert metres == sorted(metres) and any("km" in d for d in distances)
        await expect(cards.first.locator(".price")).to_have_text(
            "Xe máy: 5.000 ₫/lượt ban ngày, 8.000 ₫/lượt ban đêm"
        )
        await expect(cards.first.locator(".spaces")).to_have_text("Còn 150/150 chỗ")
        await expect(page.locator("#show-all")).to_be_visible()
        await expect(page.locator("#lot-map path.leaflet-interactive")).to_have_count(1)  # "you are here"
        assert not_in_catalogue(await _error_texts(page)) == []
        await screenshot(page, "lot-search-near-me")
        # Back to every lot.
        await page.click("#show-all")
        await expect(page.locator("#result-count")).to_have_text("10 bãi xe")
        await expect(page.locator("li.lot .distance")).to_have_count(0)
        w.assert_clean()
    finally:
        await w.context.close()


async def test_a_refused_position_is_a_sentence_and_the_list_stays(browser, server):
    w = await _open(browser, server)  # no geolocation permission: the browser refuses
    page = w.page
    try:
        await expect(page.locator("li.lot")).to_have_count(10)
        await page.click("#near-me")
        status = page.locator("#geo-status")
        await expect(status).to_have_text(
            "Bạn chưa cho phép trang này dùng vị trí. Danh sách bên dưới vẫn dùng được; "
            "hãy chọn phường để tìm."
        )
        await expect(status).to_have_class("error")
        await expect(page.locator("li.lot")).to_have_count(10)
        texts = await _error_texts(page)
        assert texts and not_in_catalogue(texts) == []
        w.assert_clean()
    finally:
        await w.context.close()


async def test_no_position_or_no_network_is_a_sentence_and_the_list_stays(browser, server):
    w = await _open(browser, server, permissions=["geolocation"])
    page = w.page
    try:
        await expect(page.locator("li.lot")).to_have_count(10)
        # Allowed, but the device has no position (Chromium: an override without coordinates).
        cdp = await w.context.new_cdp_session(page)
        await cdp.send("Emulation.setGeolocationOverride", {})
        await page.click("#near-me")
        status = page.locator("#geo-status")
        await expect(status).to_have_text(
            "Không xác định được vị trí của bạn lúc này. Danh sách bên dưới vẫn dùng được."
        )
        await expect(page.locator("li.lot")).to_have_count(10)
        texts = await _error_texts(page)
        # A position, but the network is gone when the lots are asked for.
        await w.context.set_geolocation(HOAN_KIEM_LAKE)
        await page.route("**/parking/results?*", lambda route: route.abort("internetdisconnected"))
        await page.click("#near-me")
        await expect(status).to_have_text(
            "Không tải được danh sách bãi xe. Kiểm tra kết nối mạng rồi thử lại."
        )
        await expect(page.locator("li.lot")).to_have_count(10)
        await expect(page.locator("li.lot .distance")).to_have_count(0)
        texts += await _error_texts(page)
        assert len(texts) >= 2 and not_in_catalogue(texts) == []  # with the map's note
        w.assert_clean()
    finally:
        await w.context.close()


async def test_the_vehicle_class_sets_prices_and_is_remembered(browser, server):
    w = await _open(browser, server)
    page = w.page
    try:
        await expect(page.locator("li.lot")).to_have_count(10)
        await page.evaluate("window.samePage = true")
        await page.select_option("#vehicle_class", "car")
        hang_dau = page.locator('li[data-lot="hk-hang-dau"]')
        await expect(hang_dau.locator(".price")).to_have_text(
            "Ô tô đến 9 chỗ: 25.000 ₫/giờ, từ giờ thứ 3: 35.000 ₫/giờ, từ giờ thứ 5: 45.000 ₫/giờ"
        )
        await expect(hang_dau.locator(".spaces")).to_have_text("Còn 40/40 chỗ")
        await page.select_option("#vehicle_class", "large_car")
        await expect(page.locator("li.lot")).to_have_count(4)
        await expect(page.locator("#result-count")).to_have_text("4 bãi xe")
        await expect(page.locator("#lot-map .leaflet-marker-icon")).to_have_count(4)
        assert await page.evaluate("window.samePage === true"), "the list changed without loading a page"
        await page.goto(f"{server.base_url}/parking")
        await expect(page.locator("#vehicle_class")).to_have_value("large_car")
        await expect(page.locator("li.lot")).to_have_count(4)
        await expect(page.locator("li.lot .price").first).to_contain_text("Ô tô trên 9 chỗ: ")
        w.assert_clean()
    finally:
        await w.context.close()


async def test_an_unknown_ward_is_a_sentence_and_every_lot_stays(browser, server):
    w = await _open(browser, server, path="/parking?ward=Ph%C6%B0%E1%BB%9Dng%20Kh%C3%B4ng%20C%C3%B3")
    page = w.page
    try:
        await expect(page.locator("#ward-error")).to_have_text(
            "Không có phường này trong danh sách bãi xe. Hãy chọn một phường trong danh sách."
        )
        await expect(page.locator("#ward")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("li.lot")).to_have_count(10)
        texts = await _error_texts(page)
        assert texts and not_in_catalogue(texts) == []
        # Choosing a ward from the list then searches it.
        await page.select_option("#ward", "Phường Hoàn Kiếm")
        await page.click("#filter-submit")
        await expect(page.locator("li.lot")).to_have_count(2)
        await expect(page.locator("#ward-error")).to_have_count(0)
        w.assert_clean()
    finally:
        await w.context.close()


async def test_tiles_load_when_online_and_the_map_sits_beside_the_list_on_a_desktop(browser, server):
    w = await _open(browser, server, tiles="png", viewport={"width": 1280, "height": 800})
    page = w.page
    try:
        await expect(page.locator("li.lot")).to_have_count(10)
        await expect(page.locator("#lot-map img.leaflet-tile-loaded").first).to_be_visible()
        await expect(page.locator("#map-note")).to_be_hidden()
        await expect(page.locator("#lot-map .leaflet-control-attribution")).to_contain_text("OpenStreetMap")
        first = await page.locator("li.lot").first.bounding_box()
        map_box = await page.locator("#map-box").bounding_box()
        assert first and map_box and map_box["x"] >= first["x"] + first["width"], "beside the list"
        assert map_box["y"] < 800, "the map is on the first screen of a desktop"
        await screenshot(page, "lot-search-desktop")
        w.assert_clean()  # no "Refused to load the image" from the CSP
    finally:
        await w.context.close()


async def test_without_leaflet_the_list_and_near_me_still_work(browser, server):
    context = await browser.new_context(
        viewport=PHONE, geolocation=HOAN_KIEM_LAKE, permissions=["geolocation"]
    )
    page = await context.new_page()
    w = Watched(context, page)
    try:
        await page.route("**/vendor/leaflet-1.9.4/**", lambda route: route.abort("failed"))
        await page.goto(f"{server.base_url}/parking")
        await expect(page.locator("li.lot")).to_have_count(10)
        await page.click("#near-me")
        await expect(page.locator("li.lot").first).to_have_attribute("data-lot", "hk-nha-hat-lon")
        await expect(page.locator("#map-box")).to_be_hidden()
        w.assert_clean()
    finally:
        await context.close()


async def test_without_javascript_the_list_is_there_and_the_form_searches(browser, server):
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = await context.new_page()
    try:
        await page.goto(f"{server.base_url}/parking")
        cards = page.locator("li.lot")
        await expect(cards).to_have_count(10)
        first = await cards.first.bounding_box()
        assert first and first["y"] + first["height"] <= PHONE["height"]
        await expect(page.locator("#near-me")).to_be_hidden()
        await expect(page.locator("#map-box")).to_be_hidden()
        await page.select_option("#vehicle_class", "large_car")
        await page.click("#search-submit")
        await expect(cards).to_have_count(4)
        await expect(cards.first.locator(".price")).to_contain_text("Ô tô trên 9 chỗ: ")
    finally:
        await context.close()
