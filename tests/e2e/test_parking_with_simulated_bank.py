"""The parking story end to end: an attendant logs in on a phone, checks a car in, the clock moves three
hours, checks it out; the simulated bank pays the QR read off the attendant's screen and calls citypay back
over real HTTP; the console turns paid by itself; and the finance KPI counts one cashless turn."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import aiohttp
import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, expect

from core.appkeys import CLOCK
from core.auth import create_staff_user
from core.db import connect
from core.money import LOCAL_TZ
from tests.e2e.test_attendant_console import LOT, PHONE, _attendant_of, _open_console

# Only QR codes are printed; another format "found" in a QR's modules is a false read.
QR_ONLY = zxingcpp.BarcodeFormat.QRCode

pytestmark = pytest.mark.browser


async def test_attendant_checkout_paid_by_the_simulated_bank_counts_as_cashless(
    browser: Browser, demo, db_url, settings, keys
):
    username, password = await _attendant_of(db_url, settings, keys, LOT)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN")
    try:
        page = await _open_console(context, demo.city_url, username, password)
        await page.fill("#plate", "30A-678.90")
        await page.click("#class-car")
        await page.click("#check-in")
        await expect(page.locator("#message")).to_contain_text("30A-678.90")

        demo.app[CLOCK].advance(timedelta(hours=3, minutes=-1))
        await page.fill("#plate", "30A67890")
        await page.click("#check-out")
        await expect(page.locator("#exit-amount")).to_have_text("85.000 ₫")
        # The image may still be on its way (a cold render): read it once the phone shows it.
        await page.wait_for_function(
            "() => { const q = document.getElementById('exit-qr'); return q.complete && q.naturalWidth > 0; }"
        )
        shot = await page.locator("#exit-qr").screenshot()
        payload = zxingcpp.read_barcodes(Image.open(BytesIO(shot)), formats=QR_ONLY)[0].text

        # The driver's banking app: the simulator pays what the screen shows.
        sim_pay = f"{demo.sim_url}/sim/api/payments"
        async with aiohttp.ClientSession() as http, http.post(sim_pay, json={"payload": payload}) as resp:
            assert resp.status == 201, await resp.text()
            assert (await resp.json())["amount"] == 85_000
        await expect(page.locator("#exit-status")).to_have_attribute("data-status", "paid", timeout=15_000)

        conn = await connect(db_url)
        try:
            await create_staff_user(
                conn,
                username="finance-e2e",
                display_name="Kế toán",
                role="finance",
                password="finance-e2e-pass",
                actor="test",
            )
        finally:
            await conn.close()
        finance = await browser.new_page()
        await finance.goto(f"{demo.city_url}/login")
        await finance.fill("#username", "finance-e2e")
        await finance.fill("#password", "finance-e2e-pass")
        await finance.click("#login-submit")
        day = demo.app[CLOCK].now().astimezone(LOCAL_TZ).date()
        query = f"from={day - timedelta(days=1)}&to={day + timedelta(days=1)}&group=lot"
        report = await (await finance.request.get(f"{demo.city_url}/api/v1/parking/kpis?{query}")).json()
        lot = next(r for r in report["rows"] if r["key"] == LOT and r["vehicle_class"] is None)
        assert (lot["turns"], lot["paid_turns"], lot["cash_turns"], lot["cashless_share"]) == (1, 1, 0, 1.0)
        await finance.goto(f"{demo.city_url}/parking/kpis?{query}")
        await expect(finance.locator("svg")).to_be_visible()
        await finance.close()
    finally:
        await context.close()
