"""Issue 12, points 1–4 in the browser at 360×740: the plate keypad (a check-in in at most 8 taps with the
class and lot remembered), the vehicle card (check-out is a second tap; correct and cancel within the window;
an admin voids with a reason), typo help with ranked candidates, the last-action line after the exit screen,
the cash reason above the fixed bar, the plate scanner's readings, and every error a catalogue sentence."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, expect

from core.appkeys import CLOCK
from core.auth import create_staff_user
from core.db import connect
from parking.console_messages import CORRECTION_WINDOW
from tests.catalogue import not_in_catalogue
from tests.e2e.conftest import PHONE, screenshot
from tests.e2e.test_attendant_console import LOT, _attendant_of, _open_console, _settle, _watch_failures

pytestmark = pytest.mark.browser

ERROR_BOXES = ("#message.msg-error", "#card-message", "#exit-message")


async def _errors(page: Page) -> list[str]:
    """The visible error texts of the console right now, a line each (a title and a hint under it are two
    sentences; tests.catalogue joins a text's lines with spaces before matching)."""
    texts = []
    for selector in ERROR_BOXES:
        for box in await page.locator(selector).all():
            if await box.is_visible():
                texts += (await box.inner_text()).splitlines()
    return [t.strip() for t in texts if t.strip()]


async def _check_in(page: Page, plate: str, cls: str) -> None:
    await page.click(f"#class-{cls}")
    await page.fill("#plate", plate)
    await page.click("#check-in")
    await expect(page.locator("#message")).to_contain_text(f"Đã nhận xe {plate}")


async def _bar_top(page: Page) -> float:
    box = await page.locator("#entry .actions").bounding_box()
    assert box is not None
    return box["y"]


async def test_keypad_check_in_in_eight_taps_with_class_and_lot_remembered(
    server, browser: Browser, db_url, settings, keys
):
    username, password = await _attendant_of(db_url, settings, keys, LOT)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN")
    try:
        page = await _open_console(context, server.base_url, username, password)
        failures = _watch_failures(page)
        # The keypad shows, and the phone's keyboard does not (inputmode none); ⌨ switches to typing.
        await expect(page.locator("#keypad")).to_be_visible()
        await expect(page.locator("#plate")).to_have_attribute("inputmode", "none")
        await page.click("#keypad-toggle")
        await expect(page.locator("#keypad")).to_be_hidden()
        await expect(page.locator("#plate")).to_have_attribute("inputmode", "text")
        await page.click("#keypad-toggle")
        await expect(page.locator("#keypad")).to_be_visible()
        letters = await page.locator("#keypad .kp-letters button").all_inner_texts()
        assert "O" not in letters and "I" not in letters and "A" in letters and "Đ" in letters

        # Xe vào / Xe ra stay on screen, in a bar fixed at the bottom, below the whole keypad.
        await expect(page.locator("#check-in")).to_be_in_viewport()
        await expect(page.locator("#check-out")).to_be_in_viewport()
        bar_top = await _bar_top(page)
        assert bar_top + 60 <= PHONE["height"]
        keypad = await page.locator("#keypad").bounding_box()
        assert keypad is not None and keypad["y"] + keypad["height"] <= bar_top, (keypad, bar_top)
        await page.mouse.wheel(0, 600)
        await expect(page.locator("#check-in")).to_be_in_viewport()
        await page.mouse.wheel(0, -600)

        # The class is remembered for the lot, across a reload; the lot too (the list goes straight to it).
        await page.click("#class-car")
        await page.reload()
        await expect(page.locator("#class-car")).to_have_attribute("aria-pressed", "true")
        await page.goto(f"{server.base_url}/parking/console")
        await expect(page).to_have_url(f"{server.base_url}/parking/console/{LOT}")
        await page.click("#other-lot")
        await expect(page.locator("h1")).to_have_text("Chọn bãi xe")
        await page.click(f"#lots a[data-lot='{LOT}']")
        await expect(page.locator("#class-car")).to_have_attribute("aria-pressed", "true")

        # A car: the quick key "30", the series A, five digits, Xe vào — 8 taps, no phone keyboard.
        taps = ["#kp-quick button[data-key='30']"]
        taps += [f"#keypad .kp[data-key='{c}']" for c in "A12345"]
        for selector in taps:
            await page.click(selector)
        await expect(page.locator("#plate")).to_have_value("30A12345")
        await screenshot(page, "console-checkin-typed")
        await page.click("#check-in")
        taps.append("#check-in")
        assert len(taps) == 8
        await expect(page.locator("#message")).to_have_text("Đã nhận xe 30A-123.45 (Ô tô).")

        # A motorbike: once the lot has seen "29-B1", it is one quick key: 29B1 + 5 digits + Xe vào = 7 taps.
        await _check_in(page, "29-B1 123.45", "motorbike")
        await page.reload()
        await expect(page.locator("#class-motorbike")).to_have_attribute("aria-pressed", "true")
        taps = ["#kp-quick button[data-key='29B1']"] + [f"#keypad .kp[data-key='{c}']" for c in "67890"]
        for selector in taps:
            await page.click(selector)
        await page.click("#check-in")
        assert len(taps) + 1 == 7
        await expect(page.locator("#message")).to_have_text("Đã nhận xe 29-B1 678.90 (Xe máy).")
        # ⌫ and "Xoá hết" edit what the keypad typed.
        await page.click("#keypad .kp[data-key='5']")
        await page.click("#keypad .kp[data-key='1']")
        await page.click("#kp-back")
        await expect(page.locator("#plate")).to_have_value("5")
        await page.click("#kp-clear")
        await expect(page.locator("#plate")).to_have_value("")
        assert failures == []
    finally:
        await context.close()


async def test_vehicle_card_correct_cancel_window_and_admin_void(
    server, browser: Browser, db_url, settings, keys
):
    username, password = await _attendant_of(db_url, settings, keys, LOT)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN")
    errors: list[str] = []
    try:
        page = await _open_console(context, server.base_url, username, password)
        failures = _watch_failures(page, {(409, "/correct"), (422, "/correct")})
        await _check_in(page, "30A-111.11", "car")
        await _check_in(page, "30A-222.22", "car")

        # One tap opens the vehicle's card; nothing is checked out.
        await page.locator("#inside-list button", has_text="30A-111.11").click()
        card = page.locator("#card")
        await expect(card).to_be_visible()
        await expect(page.locator("#card-plate")).to_have_text("30A-111.11")
        await expect(page.locator("#card-class")).to_have_text("Ô tô")
        await expect(page.locator("#card-entered")).to_contain_text("Vào lúc")
        await expect(page.locator("#card-window")).to_contain_text("trong 10 phút sau khi nhận xe")
        await expect(page.locator("#card-checkout")).to_have_text("Cho xe ra")
        await expect(page.locator("#card-correct")).to_be_visible()
        await expect(page.locator("#card-void")).to_be_hidden()  # an attendant does not void
        await screenshot(page, "console-vehicle-card")
        conn = await connect(db_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM parking_sessions WHERE status = 'inside'") == 2
        finally:
            await conn.close()

        # Correct the plate to one already inside: refused in words; then to the right plate.
        await page.click("#card-correct")
        await page.fill("#card-plate-input", "30A-222.22")
        await page.click("#card-save")
        await expect(page.locator("#card-message")).to_have_text("Xe này đang ở trong bãi")
        errors += await _errors(page)
        # A plate that fits no car rule: said in words, and a reason is asked for.
        await page.fill("#card-plate-input", "30A-12")
        await page.click("#card-save")
        await expect(page.locator("#card-message")).to_have_text(
            "Biển số không đúng quy định: cần xác nhận kèm lý do"
        )
        await expect(page.locator("#card-override-reason")).to_be_visible()
        errors += await _errors(page)
        await page.fill("#card-plate-input", "30A-111.12")
        await page.click("#card-save")
        await expect(card).to_be_hidden()
        await expect(page.locator("#message")).to_have_text("Đã sửa: 30A-111.11 (Ô tô) → 30A-111.12 (Ô tô).")
        await expect(page.locator("#inside-list li", has_text="30A-111.12")).to_have_count(1)
        conn = await connect(db_url)
        try:
            audit = await conn.fetchrow(
                "SELECT before, after FROM audit_log WHERE action = 'parking.correct'"
            )
        finally:
            await conn.close()
        assert (
            audit is not None and "30A-111.11" in str(audit["before"]) and "30A-111.12" in str(audit["after"])
        )

        # Cancel a wrongly opened entry: a second, deliberate tap confirms.
        await page.locator("#inside-list button", has_text="30A-222.22").click()
        await page.click("#card-cancel")
        await expect(page.locator("#card-cancel-confirm")).to_be_visible()
        await page.click("#card-cancel-confirm")
        await expect(page.locator("#message")).to_have_text("Đã huỷ lượt vào của xe 30A-222.22.")
        await expect(page.locator("#inside-count")).to_have_text("(1)")

        # The card was opened inside the window; the correction is sent after it: refused, said in words.
        await page.locator("#inside-list button", has_text="30A-111.12").click()
        await page.click("#card-correct")
        server.app[CLOCK].advance(CORRECTION_WINDOW + timedelta(minutes=1))
        await page.fill("#card-plate-input", "30A-111.13")
        await page.click("#card-save")
        await expect(page.locator("#card-message")).to_have_text(
            "Đã quá 10 phút sau khi nhận xe: không sửa hay huỷ được nữa. "
            "Quản trị viên có thể huỷ lượt kèm lý do."
        )
        errors += await _errors(page)
        await page.click("#card-close")
        await page.click("#refresh")
        await page.locator("#inside-list button", has_text="30A-111.12").click()
        await expect(page.locator("#card-correct")).to_be_hidden()
        await expect(page.locator("#card-cancel")).to_be_hidden()
        await expect(page.locator("#card-window")).to_contain_text("Đã quá 10 phút")
        await page.click("#card-close")
        assert failures == []
    finally:
        await context.close()

    # An admin voids it later, with a reason, from the same card.
    admin, admin_password = f"admin-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    conn = await connect(db_url)
    try:
        await create_staff_user(
            conn,
            username=admin,
            display_name="Lê Thị Hoa",
            role="admin",
            password=admin_password,
            actor="test",
        )
    finally:
        await conn.close()
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    try:
        page = await context.new_page()
        await page.goto(f"{server.base_url}/login?next=/parking/console/{LOT}")
        await page.fill("#username", admin)
        await page.fill("#password", admin_password)
        await page.click("#login-submit")
        await expect(page).to_have_url(f"{server.base_url}/parking/console/{LOT}")
        failures = _watch_failures(page)
        await page.locator("#inside-list button", has_text="30A-111.12").click()
        await page.click("#card-void")
        await page.fill("#card-void-reason", "xe")
        await page.click("#card-void-confirm")
        await expect(page.locator("#card-message")).to_have_text("Lý do cần ít nhất 5 ký tự.")
        errors += await _errors(page)
        await page.fill("#card-void-reason", "xe không vào bãi, nhập nhầm")
        await page.click("#card-void-confirm")
        await expect(page.locator("#message")).to_have_text("Đã huỷ lượt của xe 30A-111.12.")
        await expect(page.locator("#inside-list")).to_have_text("Chưa có xe nào trong bãi.")
        assert failures == []
    finally:
        await context.close()
    assert len(errors) == 4 and not_in_catalogue(errors) == [], errors


async def test_typo_candidates_exit_last_action_cash_sheet_and_errors(
    server, browser: Browser, db_url, settings, keys
):
    username, password = await _attendant_of(db_url, settings, keys, LOT)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN")
    errors: list[str] = []
    try:
        page = await _open_console(context, server.base_url, username, password)
        failures = _watch_failures(page, {(422, "/check-ins"), (404, "/check-outs")})
        await _check_in(page, "30A-888.80", "car")
        server.app[CLOCK].advance(timedelta(minutes=1))
        await _check_in(page, "30A-888.81", "car")
        server.app[CLOCK].advance(timedelta(hours=1))

        # Errors in words: a character no plate has, a plate not inside.
        await page.fill("#plate", "30A@12")
        await page.click("#check-in")
        await expect(page.locator("#message")).to_have_text("Biển số chỉ gồm chữ số, chữ cái A–Z và Đ.")
        errors += await _errors(page)
        await page.fill("#plate", "51G-000.00")
        await page.click("#check-out")
        await expect(page.locator("#message")).to_contain_text("Không có xe mang biển này trong bãi")
        errors += await _errors(page)

        # One wrong digit: both cars are offered, the latest entry first, each one tap from checking out.
        await page.fill("#plate", "30A88883")
        await page.click("#check-out")
        offered = page.locator("#suggestions button")
        await expect(offered).to_have_count(2)
        await expect(offered.nth(0)).to_contain_text("30A-888.81")
        await expect(offered.nth(1)).to_contain_text("30A-888.80")
        await expect(offered.nth(0)).to_contain_text("sai 1 ký tự")
        errors += await _errors(page)
        # A look-alike (B for 8) ranks before a wrong digit.
        await page.fill("#plate", "30A-B88.80")
        await page.click("#check-out")
        await expect(offered.nth(0)).to_contain_text("30A-888.80")
        await expect(offered.nth(0)).to_have_attribute("data-kind", "confusion")
        await expect(offered.nth(1)).to_have_attribute("data-kind", "typo")
        await screenshot(page, "console-typo-candidates")

        await offered.nth(0).click()
        await expect(page.locator("#exit-plate")).to_have_text("30A-888.80")
        amount = await page.locator("#exit-amount").inner_text()
        await page.wait_for_function(
            "() => { const q = document.getElementById('exit-qr'); return q.complete && q.naturalWidth > 0; }"
        )
        await screenshot(page, "console-exit-qr")
        reference = await page.locator("#exit-reference").text_content()
        await _settle(db_url, server, reference, int(amount.replace(".", "").replace(" ₫", "")))
        await expect(page.locator("#exit-status")).to_have_attribute("data-status", "paid", timeout=8000)
        await page.click("#exit-close")
        # What just happened stays on screen until the next action.
        await expect(page.locator("#message")).to_have_text(f"30A-888.80 đã thanh toán {amount}.")
        await page.click("#keypad .kp[data-key='3']")
        await expect(page.locator("#message")).to_be_hidden()
        await page.click("#kp-clear")

        # Cash: the reason box opens above the fixed bar, in view without scrolling.
        await page.locator("#inside-list button", has_text="30A-888.81").click()
        await page.click("#card-checkout")
        await expect(page.locator("#exit")).to_be_visible()
        await page.click("#cash")
        box = await page.locator("#cash-box").bounding_box()
        bar = await page.locator(".exit-actions").bounding_box()
        assert box is not None and bar is not None
        assert box["y"] >= 0 and box["y"] + box["height"] <= bar["y"] <= PHONE["height"], (box, bar)
        await expect(page.locator("#cash-reason")).to_be_in_viewport()
        await expect(page.locator("#cash-confirm")).to_be_in_viewport()
        await screenshot(page, "console-cash-reason")
        await page.fill("#cash-reason", "abc")
        await page.click("#cash-confirm")
        await expect(page.locator("#exit-message")).to_have_text("Lý do cần ít nhất 5 ký tự.")
        await expect(page.locator("#exit-message")).to_be_in_viewport()
        message = await page.locator("#exit-message").bounding_box()
        assert message is not None and message["y"] + message["height"] <= bar["y"]
        errors += await _errors(page)
        await page.fill("#cash-reason", "khách không có điện thoại")
        await page.click("#cash-confirm")
        await expect(page.locator("#exit-status")).to_have_attribute("data-status", "cash")
        await page.click("#exit-close")
        await expect(page.locator("#message")).to_have_text(
            f"30A-888.81 thu tiền mặt {amount}: lý do khách không có điện thoại."
        )
        assert failures == []
    finally:
        await context.close()
    assert len(errors) == 5 and not_in_catalogue(errors) == [], errors


async def test_scanned_readings_fill_the_plate_or_offer_the_vehicles_inside(
    server, browser: Browser, db_url, settings, keys
):
    username, password = await _attendant_of(db_url, settings, keys, LOT)
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    try:
        page = await _open_console(context, server.base_url, username, password)
        failures = _watch_failures(page)
        await _check_in(page, "30A-567.89", "car")
        readings = "[{plate: '3OA-567.B9', score: 0.8}, {plate: '30A-567.89', score: 0.5}]"
        event = (
            "(r) => document.dispatchEvent("
            "new CustomEvent('citypay:plate-readings', {detail: {readings: r}}))"
        )
        await page.evaluate(f"({event})({readings})")
        offered = page.locator("#suggestions button")
        await expect(offered).to_have_count(1)
        await expect(offered.nth(0)).to_contain_text("30A-567.89")
        await expect(offered.nth(0)).to_have_attribute("data-kind", "exact")
        await expect(page.locator("#plate")).to_have_value("3OA-567.B9")  # the best reading, to check
        # A vehicle arriving: nothing inside looks like it; the best reading waits in the field.
        await page.evaluate(f"({event})([{{plate: '29-B1 246.80', score: 0.9}}])")
        await expect(page.locator("#plate")).to_have_value("29-B1 246.80")
        await expect(page.locator("#message")).to_be_hidden()
        await expect(page.locator("#suggestions")).to_be_hidden()
        await page.click("#class-motorbike")
        await page.click("#check-in")
        await expect(page.locator("#message")).to_have_text("Đã nhận xe 29-B1 246.80 (Xe máy).")
        assert failures == []
    finally:
        await context.close()
