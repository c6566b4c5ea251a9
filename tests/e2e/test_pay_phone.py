"""Issue 12, points 8-10, in Chromium at 360×740 with touch: paying from the phone that shows the QR (banking
apps through VietQR deeplinks, "Lưu ảnh QR" whose download decodes to the payload, copy buttons that fill the
clipboard and say "Đã chép"), the desktop keeping the QR as the main path, a partial payment through the
simulated bank followed live (received, remaining, a new QR for the rest and its download, links and copy
amount moved to the rest, the full amount nowhere), the slow-bank notice, and the page polling on while its
live connection is down. The admin page of the app list: disable, remove after a confirmation, refusals in
Vietnamese. Every sentence the pages show is checked against the message catalogue."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from io import BytesIO
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, expect

from core.db import connect
from core.money import LOCAL_TZ
from payments.demo import load_payments_demo
from payments.live_status import STATUS_HUB
from payments.requests import NewRequest, issue_payment_request
from payments.settlement import settle_credit
from payments.vietqr import parse_payload
from tests.catalogue import not_in_catalogue
from tests.e2e.conftest import PHONE, screenshot
from tests.payments.conftest import BANK_ACCOUNT, BANK_BIN, credit

pytestmark = pytest.mark.browser
QR_ONLY = zxingcpp.BarcodeFormat.QRCode
DESKTOP = {"width": 1280, "height": 800}
# The sentences a pay page can show about its state; each visible one must be a catalogue sentence.
STATUS_TEXTS = (
    "#status, #amount-label, #partial-headline, #partial-hint, #slow, #reconnecting, #copy-status, "
    "#bank-apps summary, #bank-apps .hint, #pay-now .hint, #done p:not(.tick), #closed p"
)


async def _issue(db_url, settings, keys, *, demo: bool = True):
    conn = await connect(db_url)
    try:
        if demo:
            await load_payments_demo(conn, settings, keys)
        return await issue_payment_request(
            conn,
            keys,
            NewRequest(kind="service_fee", fee_code="LLTP"),
            created_by="test",
            amount_cap=10**9,
            default_expiry=timedelta(days=1),
        )
    finally:
        await conn.close()


async def _settle(db_url, keys, reference: str, amount: int) -> None:
    conn = await connect(db_url)
    try:
        async with conn.transaction():
            await settle_credit(conn, keys, credit(f"MBVCB.8812.{reference}.NGUYEN VAN A", amount))
    finally:
        await conn.close()


async def _phone(browser: Browser, base_url: str) -> BrowserContext:
    context = await browser.new_context(
        viewport=PHONE, device_scale_factor=2, has_touch=True, is_mobile=True, locale="vi-VN"
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    return context


UNBOUNDED_WAIT_S = 30  # for the Playwright calls that have no timeout of their own


def _decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(BytesIO(png)), formats=QR_ONLY)]


async def _shown_qr(page: Page) -> str:
    await page.wait_for_function(
        "() => { const q = document.getElementById('qr'); return q.complete && q.naturalWidth > 0; }"
    )
    [payload] = _decode(await page.locator("#qr").screenshot())
    return payload


async def _downloaded_qr(page: Page) -> tuple[str, str]:
    async with page.expect_download() as info:
        await page.click("#save-qr")
    download = await info.value
    # Playwright waits for a download's file without a timeout of its own: bounded here, so a download that
    # never finishes fails this test with a reason instead of hanging until pytest-timeout.
    path = await asyncio.wait_for(download.path(), UNBOUNDED_WAIT_S)
    png = await asyncio.to_thread(path.read_bytes)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    [payload] = _decode(png)
    return download.suggested_filename, payload


async def _clipboard(page: Page) -> str:
    """The clipboard's text, as the page reads it (page.evaluate awaits the promise without a timeout)."""
    return await asyncio.wait_for(page.evaluate("navigator.clipboard.readText()"), UNBOUNDED_WAIT_S)


async def _amounts_in_links(page: Page) -> set[str]:
    hrefs = await page.eval_on_selector_all("a.bank-app", "els => els.map(e => e.href)")
    assert len(hrefs) >= 10
    return {parse_qs(urlsplit(h).query)["am"][0] for h in hrefs}


async def _visible_sentences(page: Page) -> list[str]:
    return await page.eval_on_selector_all(
        STATUS_TEXTS,
        "els => els.filter(e => e.getClientRects().length > 0 && !e.closest('[aria-hidden=true]'))"
        ".map(e => e.innerText.trim()).filter(Boolean)",
    )


async def _fits(page: Page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def _until(predicate, within_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_pay_from_the_same_phone(server, browser: Browser, db_url, settings, keys):
    pr = await _issue(db_url, settings, keys)
    context = await _phone(browser, server.base_url)
    try:
        page = await context.new_page()
        failures: list[str] = []
        page.on("pageerror", lambda exc: failures.append(str(exc)))
        await page.goto(f"{server.base_url}/pay/{pr['reference']}")
        await expect(page.locator("#status")).to_have_text("Đang chờ thanh toán")

        # The banking apps, open on a phone, each a VietQR deeplink with the transfer filled in.
        apps = page.locator("#bank-apps")
        await expect(apps).to_have_attribute("open", "")
        await expect(apps).to_have_attribute("data-layout", "phone")
        first = page.locator("a.bank-app").first
        await expect(first).to_be_visible()
        await expect(first).to_have_text("Vietcombank")
        q = parse_qs(urlsplit(await first.get_attribute("href")).query)
        assert q == {
            "app": ["vcb"],
            "ba": [f"{BANK_ACCOUNT}@{BANK_BIN}"],
            "am": ["200000"],
            "tn": [pr["reference"]],
            "bn": ["KHO BAC NHA NUOC HA NOI"],
            "url": [f"{settings.public_base_url}/pay/{pr['reference']}"],
        }
        assert await _amounts_in_links(page) == {"200000"}

        # "Lưu ảnh QR": one tap, a PNG that decodes to the request's payload.
        await expect(page.locator("#save-qr")).to_have_text("Lưu ảnh QR")
        name, payload = await _downloaded_qr(page)
        assert name == f"{pr['reference']}.png" and payload == pr["qr_payload"]
        assert await _shown_qr(page) == pr["qr_payload"]

        # Copy buttons: the clipboard holds the value and the page says "Đã chép".
        for button, expected in (
            ("#copy-account", BANK_ACCOUNT),
            ("#copy-amount", "200000"),
            ("#copy-note", pr["reference"]),
        ):
            await page.evaluate("navigator.clipboard.writeText('')")
            await page.click(button)
            await expect(page.locator("#copy-status")).to_have_text("Đã chép")
            await expect(page.locator(button)).to_have_text("Đã chép")
            assert await _clipboard(page) == expected
        texts = await _visible_sentences(page)
        assert "Đã chép" in texts and not_in_catalogue(texts) == [], texts
        assert await _fits(page)
        await page.evaluate("window.scrollTo(0, 0)")
        await screenshot(page, "pay-pending")
        assert failures == []
    finally:
        await context.close()

    # On a desktop the QR stays the main path: the list is there but folded.
    desktop = await browser.new_context(viewport=DESKTOP, locale="vi-VN")
    try:
        page = await desktop.new_page()
        await page.goto(f"{server.base_url}/pay/{pr['reference']}")
        await expect(page.locator("#bank-apps")).to_have_attribute("data-layout", "desktop")
        assert await page.locator("#bank-apps").get_attribute("open") is None
        await expect(page.locator("a.bank-app").first).to_be_hidden()
        await expect(page.locator("#qr")).to_be_visible()
        assert await _shown_qr(page) == pr["qr_payload"]
    finally:
        await desktop.close()


async def test_a_partial_payment_through_the_simulated_bank_shows_the_rest_live(
    browser: Browser, demo, db_url, settings, keys
):
    pr = await _issue(db_url, settings, keys, demo=False)  # the demo fixture loaded the demo data
    context = await _phone(browser, demo.city_url)
    try:
        page = await context.new_page()  # the pay page, left open
        await page.goto(f"{demo.city_url}/pay/{pr['reference']}")
        await expect(page.locator("#status")).to_have_text("Đang chờ thanh toán")
        await page.evaluate("window.__sameDocument = true")
        await _until(lambda: demo.app[STATUS_HUB].watched >= 1)

        # In another tab the person pays in the simulated bank, which sends 150.000 ₫ instead of 200.000 ₫.
        bank = await context.new_page()
        await bank.goto(f"{demo.city_url}/pay/{pr['reference']}")
        await bank.click("#pay-with-simulator")
        await expect(bank.locator("#purpose")).to_have_text(pr["reference"])
        await bank.click("details summary")
        await bank.select_option("#fault", "wrong_amount")
        await bank.click("#pay")
        await bank.close()

        # The open page follows on its own: what arrived, what is left, a new QR for the rest.
        await expect(page.locator("#status")).to_have_text("Đã nhận một phần", timeout=15_000)
        await expect(page.locator("#received")).to_have_text("150.000 ₫")
        await expect(page.locator("#remaining")).to_have_text("50.000 ₫")
        await expect(page.locator("#amount-label")).to_have_text("Số tiền còn phải trả")
        await expect(page.locator("#amount")).to_have_text("50.000 ₫")
        await expect(page.locator("#partial-headline")).to_have_text(
            "Đã nhận 150.000 ₫, còn phải trả 50.000 ₫."
        )
        rest_src = f"/api/v1/payment-requests/{pr['id']}/remaining-qr.png?amount=50000&size=288"
        await expect(page.locator("#qr")).to_have_attribute("src", rest_src)
        rest = parse_payload(await _shown_qr(page))
        full = parse_payload(pr["qr_payload"])
        assert rest.amount == 50_000 and (rest.bin, rest.account, rest.purpose) == (
            full.bin,
            full.account,
            full.purpose,
        )
        name, payload = await _downloaded_qr(page)
        assert name == f"{pr['reference']}-50000.png" and parse_payload(payload).amount == 50_000
        assert await _amounts_in_links(page) == {"50000"}
        await page.click("#copy-amount")
        await expect(page.locator("#copy-status")).to_have_text("Đã chép")
        assert await _clipboard(page) == "50000"
        # Nothing invites paying the full amount again: not in words, not in a link (the demo's simulated-bank
        # button carried the full QR), not in the QR.
        body = await page.inner_text("body")
        assert "200.000" not in body and "200000" not in body
        await expect(page.locator("#pay-with-simulator")).to_be_hidden()
        visible_links = await page.eval_on_selector_all(
            "a[href]", "els => els.filter(e => e.getClientRects().length > 0).map(e => e.href)"
        )
        assert not [h for h in visible_links if "200000" in h or "54062000005802" in h], visible_links
        assert await page.evaluate("window.__sameDocument === true"), "the page reloaded"
        texts = await _visible_sentences(page)
        assert not_in_catalogue(texts) == [], texts
        assert await _fits(page)
        await screenshot(page, "pay-partial")

        # The rest arrives: paid, the receipt offered, still without a reload.
        await _settle(db_url, keys, pr["reference"], 50_000)
        await expect(page.locator("#status")).to_have_text("Đã thanh toán", timeout=10_000)
        await expect(page.locator("#amount-label")).to_have_text("Số tiền đã thanh toán")
        await expect(page.locator("#amount")).to_have_text("200.000 ₫")
        await expect(page.locator("#receipt-link")).to_be_visible()
        await expect(page.locator("#qr")).to_be_hidden()
        await expect(page.locator("#partial-headline")).to_be_hidden()
        assert await page.evaluate("window.__sameDocument === true"), "the page reloaded"
        texts = await _visible_sentences(page)
        assert not_in_catalogue(texts) == [], texts
        await screenshot(page, "pay-paid")
    finally:
        await context.close()


async def test_a_slow_bank_and_a_lost_connection_are_said_in_words(
    server, browser: Browser, db_url, settings, keys
):
    pr = await _issue(db_url, settings, keys)
    until = pr["expires_at"].astimezone(LOCAL_TZ).strftime("%H:%M %d/%m/%Y")
    context = await _phone(browser, server.base_url)
    try:
        page = await context.new_page()
        await page.goto(f"{server.base_url}/pay/{pr['reference']}")
        await page.evaluate("window.__sameDocument = true")
        await expect(page.locator("#slow")).to_be_hidden()
        # Still nothing after 20 s: the page says the bank is processing and that the QR still works.
        slow = page.locator("#slow")
        await expect(slow).to_be_visible(timeout=30_000)
        await expect(slow).to_have_text(f"Ngân hàng đang xử lý…, mã QR vẫn dùng được đến {until}.")
        await expect(page.locator("#qr")).to_be_visible()
        assert await _shown_qr(page) == pr["qr_payload"]

        # The live connection drops (the server ends every stream and refuses new ones, as when restarting):
        # the page says it is reconnecting and keeps asking, so the payment still shows.
        await _until(lambda: server.app[STATUS_HUB].watched >= 1)

        async def end_streams() -> None:
            server.app[STATUS_HUB].end_streams()

        server.call(end_streams())
        await expect(page.locator("#reconnecting")).to_be_visible(timeout=10_000)
        await expect(page.locator("#reconnecting")).to_have_text(
            "Mất kết nối, đang kết nối lại… Trang vẫn tự kiểm tra trạng thái thanh toán."
        )
        texts = await _visible_sentences(page)
        assert not_in_catalogue(texts) == [], texts
        await _settle(db_url, keys, pr["reference"], 200_000)
        await expect(page.locator("#status")).to_have_text("Đã thanh toán", timeout=15_000)
        await expect(page.locator("#reconnecting")).to_be_hidden()
        await expect(page.locator("#slow")).to_be_hidden()
        await expect(page.locator("#receipt-link")).to_be_visible()
        assert await page.evaluate("window.__sameDocument === true"), "the page reloaded"
    finally:
        await context.close()


async def test_admin_keeps_the_app_list(server, browser: Browser, staff_login):
    admin = await staff_login("admin")
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN")
    try:
        await context.add_cookies(
            [{"name": "citypay_session", "value": admin.cookie, "url": server.base_url}]
        )
        page = await context.new_page()
        await page.goto(f"{server.base_url}/admin/bank-apps")
        await expect(page.locator("h1")).to_have_text("Ứng dụng ngân hàng trên trang thanh toán")
        await expect(page.locator("#app-vcb")).to_be_visible()
        assert await _fits(page)  # the table scrolls inside its card, the page does not
        await screenshot(page, "admin-bank-apps")

        await page.click("#app-vcb button.toggle")
        await expect(page.locator("#saved")).to_have_text("Đã lưu.")
        await expect(page.locator("#app-vcb")).to_have_attribute("data-enabled", "false")

        # Removing asks first (the staff pages' confirmation dialog); "Huỷ" keeps the app.
        question = "Xóa ứng dụng Techcombank Mobile khỏi trang thanh toán? Việc này không hoàn tác được."
        await page.click("#app-tcb button.remove")
        await expect(page.locator("#confirm-dialog")).to_be_visible()
        await expect(page.locator("#confirm-text")).to_have_text(question)
        assert not_in_catalogue([await page.inner_text("#confirm-text")]) == []
        await page.click("#confirm-cancel")
        await expect(page.locator("#confirm-dialog")).to_be_hidden()
        await expect(page.locator("#app-tcb")).to_be_visible()
        await page.click("#app-tcb button.remove")
        await page.click("#confirm-ok")
        await expect(page.locator("#saved")).to_be_visible()
        await expect(page.locator("#app-tcb")).to_have_count(0)

        # A refusal is a Vietnamese sentence beside its field.
        await page.fill("#add-app input[name=app_id]", "acb")
        await page.fill("#add-app input[name=display_name]", "ACB again")
        await page.click("#add-app-submit")
        await expect(page.locator("#err-app_id")).to_have_text("Đã có ứng dụng với mã này.")
        texts = await page.eval_on_selector_all(
            ".field-error, .error, #form-error", "els => els.map(e => e.innerText.trim()).filter(Boolean)"
        )
        assert texts and not_in_catalogue(texts) == [], texts
    finally:
        await context.close()
