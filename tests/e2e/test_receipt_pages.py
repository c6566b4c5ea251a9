"""Receipts and "find my payment" on a 360-px phone in Chromium (issue 12 point 12): the receipt shows the
e-receipt's fields and its QR verifies; /receipts/verify checks a typed number, a pasted QR text and a photo
of the QR; the public home finds a payment by a reference typed loosely. Every error a person reads there is
a Vietnamese catalogue sentence."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from io import BytesIO

import aiohttp
import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, Page, expect

from core.db import connect
from core.demo_bank_key import DEMO_BANK_CODE, ensure_demo_bank_key
from payments.banks import sign_v1_headers
from payments.demo import load_payments_demo
from payments.reference import new_reference
from payments.requests import NewRequest, issue_payment_request
from tests.catalogue import not_in_catalogue
from tests.e2e.conftest import PHONE, screenshot
from tests.payments.conftest import BANK_ACCOUNT, BANK_BIN

pytestmark = pytest.mark.browser
QR_ONLY = zxingcpp.BarcodeFormat.QRCode


async def _issue(db_url, settings, keys):
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
        return await issue_payment_request(
            conn,
            keys,
            NewRequest(kind="service_fee", fee_code="LLTP", payer_reference="HS-2026-0042"),
            created_by="test",
            amount_cap=settings.amount_cap,
            default_expiry=timedelta(days=1),
        )
    finally:
        await conn.close()


async def _bank_pays(base_url: str, settings, reference: str) -> None:
    """The simulated bank's signed callback over HTTP, naming the payer as banks do."""
    body = json.dumps(
        {
            "bank_txn_id": "FT26335000777",
            "credited_bin": BANK_BIN,
            "credited_account": BANK_ACCOUNT,
            "amount": 200_000,
            "currency": "VND",
            "booked_at": datetime.now(UTC).isoformat(),
            "narrative": f"MBVCB.8812.{reference}.NGUYEN VAN AN chuyen tien",
            "payer_name": "NGUYỄN VĂN AN",
            "payer_account_masked": "****6789",
        }
    ).encode()
    key_id, key = ensure_demo_bank_key(settings.var_dir)
    headers = sign_v1_headers(key, key_id, body, now=datetime.now(UTC))
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base_url}/api/v1/bank-callbacks/{DEMO_BANK_CODE}",
            data=body,
            headers={**headers, "Content-Type": "application/json"},
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def _receipt_id(db_url, request_id) -> str:
    conn = await connect(db_url)
    try:
        return str(await conn.fetchval("SELECT id FROM receipts WHERE payment_request_id = $1", request_id))
    finally:
        await conn.close()


async def _fits_the_phone(page: Page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _watch(page: Page) -> list[str]:
    failures: list[str] = []  # scripts that threw, and server errors (4xx pages are answers here)
    page.on("pageerror", lambda exc: failures.append(str(exc)))
    page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    return failures


async def test_receipt_page_and_its_verification(server, browser: Browser, db_url, settings, keys, tmp_path):
    pr = await _issue(db_url, settings, keys)
    await _bank_pays(server.base_url, settings, pr["reference"])
    receipt_id = await _receipt_id(db_url, pr["id"])
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN")
    try:
        page = await context.new_page()
        failures = _watch(page)

        # The receipt: the e-receipt's fields, Vietnamese money and times, nothing wider than the phone.
        await page.goto(f"{server.base_url}/receipts/{receipt_id}")
        await expect(page.locator("html")).to_have_attribute("lang", "vi")
        await expect(page.locator("h1")).to_have_text("Biên lai điện tử thu phí, lệ phí")
        await expect(page.locator("#template-code")).to_have_text("01BLP0-001")
        await expect(page.locator("#series")).to_have_text("HN-26E")
        await expect(page.locator("#receipt-number")).to_have_text("0000001")
        await expect(page.locator("#payer-name")).to_have_text("NGUYỄN V** A**")
        await expect(page.locator("#fee-name")).to_have_text("Phí cấp Phiếu lý lịch tư pháp")
        await expect(page.locator("#amount-paid")).to_have_text("200.000 ₫")
        await expect(page.locator("#legal-basis")).to_have_text("Luật Phí và lệ phí số 97/2015/QH13")
        await expect(page.locator("#agency")).to_have_text("Sở Tư pháp Hà Nội")
        assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", await page.locator("#issued-at").inner_text())
        assert "VĂN AN" not in await page.content()
        assert await _fits_the_phone(page)
        await screenshot(page, "receipt")

        # Its QR, as the phone shows it, opens the verification: valid.
        qr_png = await page.locator("#verify-qr svg").screenshot()
        [link] = [r.text for r in zxingcpp.read_barcodes(Image.open(BytesIO(qr_png)), formats=QR_ONLY)]
        # (the link names the configured public address; this server listens elsewhere)
        path = link.split("/", 3)[3]
        assert path.startswith(f"receipts/verify?id={receipt_id}&sig=")
        await page.goto(f"{server.base_url}/{path}")
        await expect(page.locator("#verdict")).to_have_attribute("data-result", "valid")

        # The form: a number typed loosely.
        await page.goto(f"{server.base_url}/receipts/verify")
        await expect(page.locator("#verdict")).to_have_count(0)
        await page.fill("#verify-q", "hn-26e 1")
        await page.click("#verify-submit")
        await expect(page.locator("#verdict")).to_have_text("✓ Biên lai HỢP LỆ")
        await expect(page.locator("#verdict-number")).to_have_text("01BLP0-001 · HN-26E · 0000001")
        await expect(page.locator("#verdict-payer")).to_have_text("NGUYỄN V** A**")
        await expect(page.locator("#verdict-amount")).to_have_text("200.000 ₫")
        assert await _fits_the_phone(page)
        await screenshot(page, "receipt-verify")

        # The QR's text pasted, and a photo of the QR sent: both valid.
        await page.fill("#verify-q", link)
        await page.click("#verify-submit")
        await expect(page.locator("#verdict")).to_have_attribute("data-result", "valid")
        photo = tmp_path / "qr-photo.png"
        image = Image.open(BytesIO(qr_png)).convert("RGB")
        canvas = Image.new("RGB", (image.width + 240, image.height + 400), (236, 232, 224))  # a desk
        canvas.paste(image.rotate(4, expand=True, fillcolor=(236, 232, 224)), (120, 200))
        canvas.save(photo)
        await expect(page.locator("#verify-photo-submit")).to_be_hidden()  # choosing the photo sends it
        await expect(page.locator("#verify-photo-pick")).to_be_visible()
        await page.set_input_files("#verify-photo", str(photo))
        await expect(page.locator("#verdict")).to_have_attribute("data-result", "valid")
        await expect(page.locator("#verdict-number")).to_have_text("01BLP0-001 · HN-26E · 0000001")

        # Refusals: each a catalogue sentence, in Vietnamese, and the form stays.
        texts = []
        for typed in ("HN-26E 0000999", "số biên lai của tôi", f"{server.base_url}/receipts/verify?id=x"):
            await page.fill("#verify-q", typed)
            await page.click("#verify-submit")
            await expect(page.locator("#verify-error")).to_be_visible()
            await expect(page.locator("#verdict")).to_have_count(0)
            texts.append(await page.locator("#verify-error").inner_text())
        not_a_photo = tmp_path / "not-a-qr.png"
        Image.new("RGB", (400, 300), "white").save(not_a_photo)
        await page.set_input_files("#verify-photo", str(not_a_photo))
        await expect(page.locator("#verify-error")).to_be_visible()
        texts.append(await page.locator("#verify-error").inner_text())
        assert texts[0].startswith("Không có biên lai nào mang số này")
        assert not_in_catalogue(texts) == []
        assert failures == []
    finally:
        await context.close()


async def test_home_finds_my_payment(server, browser: Browser, db_url, settings, keys):
    pr = await _issue(db_url, settings, keys)
    ref = pr["reference"]
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN")
    try:
        page = await context.new_page()
        failures = _watch(page)
        await page.goto(f"{server.base_url}/")
        await expect(page.locator("#find-payment h2")).to_have_text("Tìm khoản thanh toán của tôi")
        await expect(page.locator("#find-reference")).to_be_visible()
        assert await _fits_the_phone(page)
        await screenshot(page, "home-find-payment")

        # Typed as people do: lower case, spaces, O for 0 where the reference has a 0.
        typed = f"{ref[:5].lower()} {ref[5:9]} {ref[9:]}".replace("0", "O")
        await page.fill("#find-reference", typed)
        await page.click("#find-payment-submit")
        await expect(page).to_have_url(f"{server.base_url}/pay/{ref}")
        await expect(page.locator("#amount")).to_have_text("200.000 ₫")

        # Unknown and malformed references: the form again, with a catalogue sentence.
        texts = []
        unknown = new_reference()
        for bad in (unknown, unknown[:-1] + ("0" if unknown[-1] != "0" else "1"), "abc"):
            await page.goto(f"{server.base_url}/")
            await page.fill("#find-reference", bad)
            await page.click("#find-payment-submit")
            await expect(page.locator("#find-payment-error")).to_be_visible()
            await expect(page.locator("#find-reference")).to_have_value(bad)
            texts.append(await page.locator("#find-payment-error").inner_text())
        assert texts[0].startswith("Không tìm thấy khoản thanh toán")
        assert not_in_catalogue(texts) == []
        assert await _fits_the_phone(page)
        assert failures == []
    finally:
        await context.close()
