"""End to end, as a citizen in the demo: open the pay page, tap "pay with the simulated bank", confirm in the
simulator's banking-app page, come back; the simulator's signed callback reaches citypay over real HTTP and
the page turns paid by itself; the ledger holds the money. Also with a duplicated delivery, a delayed delivery
and an underpayment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import Browser, expect

from core.db import connect
from ledger import account_balance
from payments.requests import NewRequest, issue_payment_request
from tests.payments.conftest import BANK_PATH

pytestmark = pytest.mark.browser


async def _issue(db_url, keys) -> dict:
    conn = await connect(db_url)
    try:
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


async def _pay_in_the_simulator(browser: Browser, city_url: str, reference: str, fault: str):
    page = await browser.new_page(viewport={"width": 360, "height": 740})
    await page.goto(f"{city_url}/pay/{reference}")
    await expect(page.locator("#status")).not_to_contain_text("Đã thanh toán")
    await page.click("#pay-with-simulator")
    await expect(page.locator("#purpose")).to_have_text(reference)  # the simulator read our QR
    if fault:
        await page.click("details summary")  # the fault menu is folded away from ordinary demo users
        await page.select_option("#fault", fault)
    await page.click("#pay")
    await page.click("#return")  # back to the pay page, which now waits for the bank's callback
    return page


async def _balances(db_url) -> tuple[int, int, int]:
    conn = await connect(db_url)
    try:
        return (
            await account_balance(conn, BANK_PATH),
            await account_balance(conn, "revenue:fee:LLTP"),
            await conn.fetchval("SELECT count(*) FROM payments_received"),
        )
    finally:
        await conn.close()


@pytest.mark.parametrize("fault", ["", "duplicate"])
async def test_pay_with_the_simulated_bank(browser, demo, db_url, keys, fault):
    pr = await _issue(db_url, keys)
    page = await _pay_in_the_simulator(browser, demo.city_url, pr["reference"], fault)
    await expect(page.locator("#status")).to_contain_text("Đã thanh toán", timeout=15_000)
    await expect(page.locator("#receipt-link")).to_be_visible()
    assert await _balances(db_url) == (200_000, -200_000, 1)  # a duplicated delivery is booked once
    await page.close()


async def test_a_delayed_delivery_turns_the_open_page_paid_later(browser, demo, db_url, keys):
    pr = await _issue(db_url, keys)
    page = await _pay_in_the_simulator(browser, demo.city_url, pr["reference"], "delay")
    await expect(page.locator("#status")).not_to_contain_text("Đã thanh toán", timeout=2_000)
    assert await _balances(db_url) == (0, 0, 0)
    await expect(page.locator("#status")).to_contain_text("Đã thanh toán", timeout=20_000)
    assert await _balances(db_url) == (200_000, -200_000, 1)
    await page.close()


async def test_an_underpayment_is_held_and_shown(browser, demo, db_url, keys):
    pr = await _issue(db_url, keys)
    page = await _pay_in_the_simulator(browser, demo.city_url, pr["reference"], "wrong_amount")
    await expect(page.locator("#transfer-amount")).to_have_text("50.000 ₫", timeout=15_000)
    conn = await connect(db_url)
    try:
        assert await account_balance(conn, "liability:held") == -150_000
        assert await conn.fetchval("SELECT status FROM payment_requests WHERE id = $1", pr["id"]) == "pending"
    finally:
        await conn.close()
    await page.close()
