"""A staff member logs in through the form, reads the staff home in Vietnamese, switches to English (which
sticks across a reload), logs out, and is then kept out of /staff. The login page fits a 360-px phone."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.async_api import Browser, expect

from core.auth import create_staff_user
from core.db import connect

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/login-360.png"


async def _new_staff_user(db_url: str, *, role: str, display_name: str) -> tuple[str, str]:
    username = f"{role}-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    conn = await connect(db_url)
    try:
        await create_staff_user(
            conn, username=username, display_name=display_name, role=role, password=password, actor="test"
        )
    finally:
        await conn.close()
    return username, password


async def test_staff_logs_in_switches_language_and_logs_out(server, browser: Browser, db_url):
    username, password = await _new_staff_user(db_url, role="finance", display_name="Nguyễn Thị Lan")
    base = server.base_url
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{base}/login")
        await expect(page.locator("html")).to_have_attribute("lang", "vi")
        await expect(page.locator("h1")).to_have_text("Đăng nhập")

        await page.fill("#username", username)
        await page.fill("#password", password)
        await page.click("#login-submit")
        await expect(page).to_have_url(f"{base}/staff")
        await expect(page.locator("h1")).to_have_text("Xin chào, Nguyễn Thị Lan")
        await expect(page.locator("#role")).to_have_text("Kế toán")
        await expect(page.locator("#logout")).to_have_text("Đăng xuất")

        await page.click("#lang-toggle")
        await expect(page).to_have_url(f"{base}/staff")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("h1")).to_have_text("Hello, Nguyễn Thị Lan")
        await expect(page.locator("#role")).to_have_text("Finance")
        await expect(page.locator("#logout")).to_have_text("Log out")

        await page.reload()
        await expect(page.locator("h1")).to_have_text("Hello, Nguyễn Thị Lan")
        await expect(page.locator("#logout")).to_have_text("Log out")

        await page.click("#logout")
        await expect(page).to_have_url(f"{base}/login")
        await expect(page.locator("h1")).to_have_text("Log in")  # the language outlives the session
        assert not [c for c in await context.cookies() if c["name"] == "citypay_session"]

        response = await page.goto(f"{base}/staff")
        assert response is not None
        denied = response.status in (401, 403) or re.search(r"/login(\?|$)", page.url)
        assert denied, f"/staff after logout answered {response.status} at {page.url}"
        await expect(page.locator("#logout")).to_have_count(0)
    finally:
        await context.close()


async def test_login_page_fits_a_360px_phone(server, browser: Browser):
    context = await browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = await context.new_page()
        await page.goto(f"{server.base_url}/login")
        await expect(page.locator("#login-submit")).to_be_visible()
        await page.screenshot(path=SCREENSHOT, full_page=True)
        scroll_width = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 360, f"the login page is {scroll_width}px wide on a 360px screen"
    finally:
        await context.close()
