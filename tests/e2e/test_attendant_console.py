"""An attendant works a lot from a 360-px phone: logs in, checks a car in, sees it inside, checks it out three
hours later, shows the exit QR full-screen (decoded back from the screen: a VietQR for the payment reference),
and the screen turns paid by itself when the bank's money is booked. Then the exceptions: an unrecognised
plate with a reason, a misread plate with suggestions, cash with a reason, a monthly pass, and the polling
fallback when the event stream is unavailable."""

from __future__ import annotations

import asyncio
import secrets
from datetime import date, timedelta
from io import BytesIO

import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, expect

from core.appkeys import CLOCK, KEYS
from core.auth import create_staff_user
from core.db import connect
from core.money import format_local_time
from parking.demo import load_parking_demo
from payments.demo import load_payments_demo
from payments.live_status import STATUS_HUB
from payments.settlement import settle_credit
from payments.vietqr import parse_payload
from tests.payments.conftest import credit

# Only QR codes are printed; another format "found" in a QR's modules is a false read.
QR_ONLY = zxingcpp.BarcodeFormat.QRCode

pytestmark = pytest.mark.browser

LOT = "hk-hang-dau"
PHONE = {"width": 360, "height": 740}
SCREENSHOT_LOT = "/tmp/console-lot-360.png"
SCREENSHOT_EXIT = "/tmp/console-exit-360.png"
SCREENSHOT_PAID = "/tmp/console-paid-360.png"


async def _attendant_of(db_url: str, settings, keys, lot_id: str) -> tuple[str, str]:
    """Demo lots and tariffs in the fresh database, and a new attendant bound to `lot_id` only."""
    username, password = f"attendant-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
        await load_parking_demo(conn, settings, keys)
        user_id = await create_staff_user(
            conn,
            username=username,
            display_name="Trần Văn Bảo",
            role="attendant",
            password=password,
            actor="test",
        )
        await conn.execute(
            "INSERT INTO lot_attendants (lot_id, staff_user_id) VALUES ($1, $2)", lot_id, user_id
        )
    finally:
        await conn.close()
    return username, password


async def _open_console(context: BrowserContext, base: str, username: str, password: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{base}/login?next=/parking/console")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await expect(page).to_have_url(f"{base}/parking/console")
    await expect(page.locator("h1")).to_have_text("Chọn bãi xe")
    await expect(page.locator("#lots a")).to_have_count(1)  # bound to one lot: only that one is offered
    await page.click(f"#lots a[data-lot='{LOT}']")
    await expect(page).to_have_url(f"{base}/parking/console/{LOT}")
    await expect(page.locator("#lot-name")).to_have_text("Bãi xe Hàng Đầu")
    return page


def _watch_failures(page: Page, expected: set[tuple[int, str]] = frozenset()) -> list[str]:
    """Scripts that threw, and failed requests other than the expected (status, path suffix) pairs."""
    failures: list[str] = []
    page.on("pageerror", lambda exc: failures.append(str(exc)))
    page.on(
        "response",
        lambda r: (
            failures.append(f"{r.status} {r.url}")
            if r.status >= 400
            and not r.url.endswith("/favicon.ico")
            and not any(r.status == s and r.url.split("?")[0].endswith(p) for s, p in expected)
            else None
        ),
    )
    return failures


async def _settle(db_url: str, server, reference: str, amount: int) -> None:
    conn = await connect(db_url)
    try:
        async with conn.transaction():
            settlement = await settle_credit(
                conn,
                server.app[KEYS],
                credit(f"MBVCB.9911.{reference}.CHUYEN TIEN GUI XE", amount),
            )
    finally:
        await conn.close()
    assert settlement.outcome == "settled", settlement


async def _until(predicate, within_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _fits_the_phone(page: Page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_car_in_out_exit_qr_and_paid_without_reload(server, browser: Browser, db_url, settings, keys):
    username, password = await _attendant_of(db_url, settings, keys, LOT)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN")
    try:
        page = await _open_console(context, server.base_url, username, password)
        failures = _watch_failures(page)
        await expect(page.locator("#inside-list")).to_have_text("Chưa có xe nào trong bãi.")
        await expect(page.locator("#class-motorbike")).to_have_attribute("aria-pressed", "true")
        await expect(page.locator("#class-large_car")).to_be_disabled()  # Hàng Đầu takes no large cars

        await page.fill("#plate", "30a 123.45")
        await page.click("#class-car")
        await expect(page.locator("#class-car")).to_have_attribute("aria-pressed", "true")
        await page.click("#check-in")
        await expect(page.locator("#message")).to_have_text("Đã nhận xe 30A-123.45 (Ô tô).")
        await expect(page.locator("#plate")).to_have_value("")
        conn = await connect(db_url)
        try:
            entered = await conn.fetchval("SELECT entered_at FROM parking_sessions WHERE plate = '30A12345'")
        finally:
            await conn.close()
        car = page.locator("#inside-list li", has_text="30A-123.45")
        await expect(car).to_have_count(1)
        await expect(car).to_contain_text("Ô tô")
        await expect(car).to_contain_text(f"Vào lúc {format_local_time(entered)}")  # dd/mm/yyyy HH:MM Hà Nội
        await expect(page.locator("#inside-count")).to_have_text("(1)")
        assert await _fits_the_phone(page)
        await page.screenshot(path=SCREENSHOT_LOT, full_page=True)

        # Three hours later (a minute short: a started hour counts in full) the car leaves.
        server.app[CLOCK].advance(timedelta(hours=3, minutes=-1))
        await page.evaluate("window.__sameDocument = true")
        await page.fill("#plate", "30A12345")
        await page.click("#check-out")
        await expect(page.locator("#exit")).to_be_visible()
        await expect(page.locator("#exit-status")).to_have_text("CHỜ THANH TOÁN")
        await expect(page.locator("#exit-plate")).to_have_text("30A-123.45")
        await expect(page.locator("#exit-amount")).to_have_text("85.000 ₫")
        await expect(page.locator("#exit-lines tr")).to_have_count(2)
        await expect(page.locator("#exit-lines tr").nth(0)).to_contain_text("Giờ 1–2")
        await expect(page.locator("#exit-lines tr").nth(1)).to_contain_text("35.000 ₫")
        await expect(page.locator("#cash")).to_be_visible()
        reference = await page.locator("#exit-reference").text_content()

        # Full-screen: the QR fills the phone's width, and what is on screen decodes to the payment's VietQR.
        await page.wait_for_function(
            "() => { const q = document.getElementById('exit-qr'); return q.complete && q.naturalWidth > 0; }"
        )
        box = await page.locator("#exit-qr").bounding_box()
        assert box is not None and round(box["width"]) == round(min(0.9 * PHONE["width"], 420))
        assert box["x"] + box["width"] <= PHONE["width"] and box["y"] + box["height"] <= PHONE["height"]
        await expect(page.locator("#cash")).to_be_in_viewport()
        shot = await page.locator("#exit-qr").screenshot()
        [text] = [r.text for r in zxingcpp.read_barcodes(Image.open(BytesIO(shot)), formats=QR_ONLY)]
        qr = parse_payload(text)
        assert qr.purpose == reference and qr.amount == 85_000
        assert await _fits_the_phone(page)
        await page.screenshot(path=SCREENSHOT_EXIT)

        # The driver pays by transfer; the bank's credit is booked and the screen follows on its own.
        await _until(lambda: server.app[STATUS_HUB].watched >= 1)  # the screen's event stream is open
        await _settle(db_url, server, reference, 85_000)
        await expect(page.locator("#exit-status")).to_have_attribute("data-status", "paid", timeout=5000)
        await expect(page.locator("#exit-status")).to_have_text("ĐÃ THANH TOÁN")
        await expect(page.locator("#exit-qr")).to_be_hidden()
        await expect(page.locator("#cash")).to_be_hidden()
        background = await page.locator("#exit").evaluate("e => getComputedStyle(e).backgroundColor")
        assert background == "rgb(5, 99, 42)"  # the whole screen turns green
        assert await page.evaluate("window.__sameDocument === true"), "the page reloaded"
        assert await _fits_the_phone(page)
        await page.screenshot(path=SCREENSHOT_PAID)

        await page.click("#exit-close")
        await expect(page.locator("#exit")).to_be_hidden()
        await expect(page.locator("#inside-list")).to_have_text("Chưa có xe nào trong bãi.")
        assert failures == []
    finally:
        await context.close()


async def test_override_suggestions_cash_pass_and_polling_fallback(
    server, browser: Browser, db_url, settings, keys
):
    username, password = await _attendant_of(db_url, settings, keys, LOT)
    conn = await connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO monthly_passes (lot_id, plate, vehicle_class, valid_from, valid_until, price, "
            "created_by) VALUES ($1, '29B112345', 'motorbike', $2, $3, 150000, 'test')",
            LOT,
            date.today() - timedelta(days=1),
            date.today() + timedelta(days=30),
        )
    finally:
        await conn.close()
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    try:
        page = await _open_console(context, server.base_url, username, password)
        failures = _watch_failures(page, {(422, "/check-ins"), (404, "/check-outs")})

        # A plate that fits no rule: the console asks for a reason and resends with it.
        await page.click("#class-car")
        await page.fill("#plate", "abc")
        await page.click("#check-in")
        await expect(page.locator("#override-reason")).to_be_visible()
        await expect(page.locator("#message")).to_contain_text("Biển số không đúng quy định")
        await page.fill("#override-reason", "xe")
        await page.click("#check-in")
        await expect(page.locator("#message")).to_have_text("Lý do cần ít nhất 5 ký tự.")
        await page.fill("#override-reason", "biển tạm, giấy hẹn đăng ký")
        await page.click("#check-in")
        await expect(page.locator("#message")).to_have_text("Đã nhận xe ABC (Ô tô).")
        await expect(page.locator("#override-reason")).to_be_hidden()

        # A misread plate on the way out: the close readings are offered as big buttons.
        await page.fill("#plate", "30A-888.80")
        await page.click("#check-in")
        await expect(page.locator("#inside-list li")).to_have_count(2)
        await page.fill("#plate", "30A-BB8.80")
        await page.click("#check-out")
        await expect(page.locator("#suggestions")).to_be_visible()
        await expect(page.locator("#message")).to_contain_text("Không có xe mang biển này trong bãi")
        suggestion = page.locator("#suggestions button")
        await expect(suggestion).to_have_count(1)
        await expect(suggestion).to_contain_text("30A-888.80")
        assert (await suggestion.bounding_box())["height"] >= 48

        # With the event stream unavailable the screen falls back to asking the API every 3 s.
        await page.route("**/pay/*/events", lambda route: route.abort())
        await suggestion.click()
        await expect(page.locator("#exit-amount")).to_have_text("25.000 ₫")
        await expect(page.locator("#exit-plate")).to_have_text("30A-888.80")
        reference = await page.locator("#exit-reference").text_content()
        await _settle(db_url, server, reference, 25_000)
        await expect(page.locator("#exit-status")).to_have_attribute("data-status", "paid", timeout=8000)
        await page.click("#exit-close")
        await page.unroute("**/pay/*/events")

        # Cash is an exception and needs a reason. Tapping the vehicle opens its card; "Cho xe ra" checks out.
        await page.locator("#inside-list button", has_text="ABC").click()
        await expect(page.locator("#card")).to_be_visible()
        await page.click("#card-checkout")
        await expect(page.locator("#exit-amount")).to_have_text("25.000 ₫")
        await page.click("#cash")
        await page.fill("#cash-reason", "abc")
        await page.click("#cash-confirm")
        await expect(page.locator("#exit-message")).to_have_text("Lý do cần ít nhất 5 ký tự.")
        await page.fill("#cash-reason", "khách không có điện thoại")
        await page.click("#cash-confirm")
        await expect(page.locator("#exit-status")).to_have_attribute("data-status", "cash")
        await expect(page.locator("#exit-status")).to_have_text("ĐÃ THU TIỀN MẶT")
        await page.click("#exit-close")
        await expect(page.locator("#inside-list")).to_have_text("Chưa có xe nào trong bãi.")

        # A monthly pass closes at the gate with nothing to pay.
        await page.click("#class-motorbike")
        await page.fill("#plate", "29-B1 123.45")
        await page.click("#check-in")
        await expect(page.locator("#inside-count")).to_have_text("(1)")
        await page.fill("#plate", "29B112345")
        await page.click("#check-out")
        await expect(page.locator("#message")).to_have_text("Xe 29-B1 123.45 ra — vé tháng, không thu phí.")
        await expect(page.locator("#exit")).to_be_hidden()
        await expect(page.locator("#inside-count")).to_have_text("(0)")
        assert failures == []
    finally:
        await context.close()


async def test_a_car_plate_typed_as_a_motorbike_is_asked_once(
    server, browser: Browser, db_url, settings, keys
):
    """Issue 8, point 17: "30A-123.45" with the default class Xe máy is not stored as the motorbike
    "30-A1 2345"; the console asks one plain question, the reading as typed first and marked, the one that
    changes the plate saying what it becomes, and the tapped one is checked in. English when toggled."""
    username, password = await _attendant_of(db_url, settings, keys, LOT)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN")
    try:
        page = await _open_console(context, server.base_url, username, password)
        failures = _watch_failures(page, {(409, "/check-ins")})
        await expect(page.locator("#class-motorbike")).to_have_attribute("aria-pressed", "true")
        await page.fill("#plate", "30A-123.45")
        await page.click("#check-in")
        choice = page.locator("#class-choice-list button")
        await expect(page.locator("#class-choice")).to_be_visible()
        # One short question, nothing else: no problem title or second prompt above it.
        await expect(page.locator("#class-choice h2")).to_have_text(
            "Biển 30A-123.45 là biển ô tô. Xe này là ô tô hay xe máy?"
        )
        await expect(page.locator("#message")).to_be_hidden()
        await expect(choice).to_have_count(2)  # car and motorbike; Hàng Đầu takes no large cars
        await expect(choice.nth(0)).to_have_text("Ô tô — đúng như đã nhập")
        await expect(choice.nth(1)).to_have_text("Xe máy — đọc thành 30-A1 2345")
        await expect(choice.nth(0)).to_be_focused()
        await expect(choice.nth(1)).to_have_class("differs")  # drawn apart from the reading as typed
        page_text = await page.locator("body").inner_text()
        assert "cách đọc" not in page_text and "Biển số này là của" not in page_text
        await expect(page.locator("#inside-list")).to_have_text("Chưa có xe nào trong bãi.")
        assert await _fits_the_phone(page)

        # The same question in English once the attendant switches language.
        await context.add_cookies([{"name": "lang", "value": "en", "url": server.base_url}])
        await page.reload()
        await page.fill("#plate", "30A-123.45")
        await page.click("#check-in")
        await expect(page.locator("#class-choice h2")).to_have_text(
            "30A-123.45 is a car plate. Is this vehicle a car or a motorbike?"
        )
        await expect(choice.nth(0)).to_have_text("Car — as typed")
        await expect(choice.nth(1)).to_have_text("Motorbike — the plate becomes 30-A1 2345")
        await context.add_cookies([{"name": "lang", "value": "vi", "url": server.base_url}])
        await page.reload()
        await expect(page.locator("#class-motorbike")).to_have_attribute("aria-pressed", "true")
        await page.fill("#plate", "30A-123.45")
        await page.click("#check-in")
        await expect(choice).to_have_count(2)

        await choice.nth(0).click()
        await expect(page.locator("#message")).to_have_text("Đã nhận xe 30A-123.45 (Ô tô).")
        await expect(page.locator("#class-choice")).to_be_hidden()
        await expect(page.locator("#class-car")).to_have_attribute("aria-pressed", "true")
        await expect(page.locator("#inside-list li", has_text="30A-123.45")).to_have_count(1)
        conn = await connect(db_url)
        try:
            rows = await conn.fetch("SELECT plate, vehicle_class FROM parking_sessions")
        finally:
            await conn.close()
        assert [tuple(r) for r in rows] == [("30A12345", "car")]
        assert failures == []
    finally:
        await context.close()
