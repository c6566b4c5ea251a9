"""A citizen opens the pay page on a 360-px phone: the QR on screen decodes to the request's payload, nothing
scrolls sideways, and when the bank's money is booked the page turns paid by itself (server-sent events fed
by PostgreSQL NOTIFY) and offers the receipt, which verifies."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from io import BytesIO

import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, Page, expect

from core.db import connect
from payments.demo import load_payments_demo
from payments.live_status import STATUS_HUB
from payments.requests import NewRequest, issue_payment_request
from payments.settlement import settle_credit
from tests.payments.conftest import credit

# Only QR codes are printed; another format "found" in a QR's modules is a false read.
QR_ONLY = zxingcpp.BarcodeFormat.QRCode

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
SCREENSHOT_PENDING = "/tmp/pay-pending-360.png"
SCREENSHOT_PAID = "/tmp/pay-paid-360.png"
SCREENSHOT_RECEIPT = "/tmp/receipt-360.png"


async def _issue(db_url, settings, keys):
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
        return await issue_payment_request(
            conn,
            keys,
            NewRequest(kind="service_fee", fee_code="LLTP"),
            created_by="test",
            amount_cap=settings.amount_cap,
            default_expiry=timedelta(days=1),
        )
    finally:
        await conn.close()


async def _settle(db_url, keys, reference: str, amount: int) -> None:
    conn = await connect(db_url)
    try:
        async with conn.transaction():
            await settle_credit(
                conn, keys, credit(f"MBVCB.8812.{reference}.NGUYEN VAN A chuyen tien", amount)
            )
    finally:
        await conn.close()


async def _fits_the_phone(page: Page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def _until(predicate, within_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_pay_page_turns_paid_without_reload(server, browser: Browser, db_url, settings, keys):
    pr = await _issue(db_url, settings, keys)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN")
    try:
        page = await context.new_page()
        failures: list[str] = []  # scripts that threw, and any failed request but the browser's favicon probe
        page.on("pageerror", lambda exc: failures.append(str(exc)))
        page.on(
            "response",
            lambda r: (
                failures.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        await page.goto(f"{server.base_url}/pay/{pr['reference']}")
        await expect(page.locator("html")).to_have_attribute("lang", "vi")
        await expect(page.locator("#amount")).to_have_text("200.000 ₫")
        await expect(page.locator("#status")).to_have_text("Đang chờ thanh toán")
        await expect(page.locator("#receipt-link")).to_be_hidden()

        # The QR as the phone shows it decodes to exactly the request's payload.
        await page.wait_for_function(
            "() => { const q = document.getElementById('qr'); return q.complete && q.naturalWidth > 0; }"
        )
        shot = await page.locator("#qr").screenshot()
        assert [r.text for r in zxingcpp.read_barcodes(Image.open(BytesIO(shot)), formats=QR_ONLY)] == [
            pr["qr_payload"]
        ]

        first = await page.locator("#countdown").text_content()
        assert re.fullmatch(r"(23:59:[0-5]\d|23:58:[0-5]\d)", first), first
        await expect(page.locator("#countdown")).not_to_have_text(first, timeout=3000)  # it ticks
        assert await _fits_the_phone(page)
        await page.screenshot(path=SCREENSHOT_PENDING, full_page=True)

        # The bank's money is booked (in the database, as a callback would): the page follows on its own.
        await page.evaluate("window.__sameDocument = true")
        await _until(lambda: server.app[STATUS_HUB].watched >= 1)  # the page's event stream is open
        await _settle(db_url, keys, pr["reference"], 200_000)
        await expect(page.locator("#status")).to_have_attribute("data-status", "paid", timeout=5000)
        await expect(page.locator("#status")).to_have_text("Đã thanh toán")
        await expect(page.locator("#receipt-link")).to_be_visible()
        await expect(page.locator("#qr")).to_be_hidden()
        assert await page.evaluate("window.__sameDocument === true"), "the page reloaded"
        assert await _fits_the_phone(page)
        await page.screenshot(path=SCREENSHOT_PAID, full_page=True)

        href = await page.locator("#receipt-link").get_attribute("href")
        assert re.fullmatch(r"/receipts/[0-9a-f-]{36}", href)
        await page.click("#receipt-link")
        await expect(page.locator("#amount-paid")).to_have_text("200.000 ₫")
        await expect(page.locator("#reference")).to_have_text(pr["reference"])
        assert await _fits_the_phone(page)
        await page.screenshot(path=SCREENSHOT_RECEIPT, full_page=True)
        shot = await page.locator("#verify-qr svg").screenshot()
        [link] = [r.text for r in zxingcpp.read_barcodes(Image.open(BytesIO(shot)), formats=QR_ONLY)]
        assert f"/receipts/verify?id={href.rsplit('/', 1)[1]}&sig=" in link

        # English is one click away and the paid state stays.
        await page.goto(f"{server.base_url}/pay/{pr['reference']}")
        await page.click("#lang-toggle")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("#status")).to_have_text("Paid")
        await expect(page.locator("#receipt-link")).to_have_text("View the e-receipt")
        assert failures == []
    finally:
        await context.close()
