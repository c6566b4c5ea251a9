"""Staff pages on a 360-px phone (issue 12 point 13): the parking administration is one page per concern with
a sub-navigation and tariffs written as sentences; removing an attendant, retiring a bank key, revoking an API
token and disabling a staff account ask first (the first tap changes nothing, "Huỷ" keeps, "Đồng ý" does
it); wide tables scroll sideways inside the page instead of widening it; citizen pages carry no staff login
link and keep their header on one line."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from core.auth import create_staff_user
from core.db import connect
from core.tokens import create_api_token
from parking.demo import load_parking_demo
from payments.demo import load_payments_demo
from payments.requests import NewRequest, issue_payment_request
from tests.e2e.conftest import PHONE, SCREENSHOTS, screenshot

pytestmark = pytest.mark.browser

LOT = "hk-hang-dau"
SECTIONS = ("lots", "tariffs", "passes", "attendants")


@pytest.fixture
async def seeded(db_url, settings, keys) -> dict:
    """Demo fees, lots and tariffs; one payment request; an attendant at LOT; a second, spare attendant; an
    API token with a long name; a finance account to disable."""
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
        await load_parking_demo(conn, settings, keys)
        request = await issue_payment_request(
            conn,
            keys,
            NewRequest(kind="service_fee", fee_code="LLTP"),
            created_by="test",
            amount_cap=settings.amount_cap,
            default_expiry=timedelta(days=1),
        )
        attendant = f"attendant-{secrets.token_hex(3)}"
        user_id = await create_staff_user(
            conn,
            username=attendant,
            display_name="Trần Văn Bảo",
            role="attendant",
            password="x" * 12,
            actor="t",
        )
        await conn.execute("INSERT INTO lot_attendants (lot_id, staff_user_id) VALUES ($1, $2)", LOT, user_id)
        finance = f"finance-{secrets.token_hex(3)}"
        await create_staff_user(
            conn, username=finance, display_name="Lê Thị Hoa", role="finance", password="x" * 12, actor="t"
        )
        token_id, _ = await create_api_token(
            conn,
            name="Cổng dịch vụ công quốc gia — môi trường thử nghiệm",
            scopes=["payment-requests:read", "payment-requests:write"],
            actor="test",
            fee_codes=["LLTP"],
        )
        key = await conn.fetchrow("SELECT bank_code, key_id FROM bank_keys WHERE retired_at IS NULL LIMIT 1")
    finally:
        await conn.close()
    return {
        "reference": request["reference"],
        "attendant": attendant,
        "finance": finance,
        "token_id": token_id,
        "bank_code": key["bank_code"],
        "key_id": key["key_id"],
    }


async def _admin_context(browser: Browser, server, staff_login) -> BrowserContext:
    admin = await staff_login("admin")
    context = await browser.new_context(viewport=PHONE)
    await context.add_cookies([{"name": "citypay_session", "value": admin.cookie, "url": server.base_url}])
    return context


async def _fetch(db_url: str, sql: str, *args):
    conn = await connect(db_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _fits(page: Page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


# 13a, 13b: one concern per page, tariffs as sentences ----------------------------------------------------


async def test_parking_admin_is_one_page_per_concern(server, browser: Browser, staff_login, seeded):
    base = server.base_url
    context = await _admin_context(browser, server, staff_login)
    try:
        page = await context.new_page()
        await page.goto(f"{base}/admin/parking")
        await expect(page).to_have_url(f"{base}/admin/parking/lots")
        heights = {}
        for section in SECTIONS:
            await page.click(f"#subnav-{section}")
            await expect(page).to_have_url(f"{base}/admin/parking/{section}")
            await expect(page.locator(f"#subnav-{section}")).to_have_attribute("aria-current", "page")
            await expect(page.locator(".subnav a")).to_have_count(4)
            assert await _fits(page), f"{section} is wider than the phone"
            heights[section] = await page.evaluate("document.documentElement.scrollHeight")
        # each page holds its own concern only
        await page.goto(f"{base}/admin/parking/lots")
        await expect(page.locator(f"#lot-{LOT}")).to_be_visible()
        await expect(page.locator("#tariffs, #passes, #create-pass, #add-tariff")).to_have_count(0)
        await screenshot(page, "admin-parking-lots")

        await page.goto(f"{base}/admin/parking/tariffs")
        await expect(page.locator("[id^='lot-'], #create-lot, #create-pass")).to_have_count(0)
        sentences = await page.locator("#zone-hn-noi-do li.tariff-sentence").all_inner_texts()
        assert any(s.startswith("Xe máy: ") and "₫ / lượt ban ngày" in s for s in sentences), sentences
        assert all("₫" in s for s in sentences)
        await screenshot(page, "admin-parking-tariffs")

        await page.goto(f"{base}/admin/parking/attendants")
        await expect(page.locator(f"#attendants-{LOT} li.attendant")).to_have_text(
            seeded["attendant"] + " Bỏ phân công"
        )
        # Each page, on a phone, is far shorter than the old one with everything on it (5,000 px and more).
        assert max(heights.values()) < 3500, heights
    finally:
        await context.close()


async def test_a_refused_form_is_painted_on_its_own_page(server, browser: Browser, staff_login, seeded):
    base = server.base_url
    context = await _admin_context(browser, server, staff_login)
    try:
        page = await context.new_page()
        await page.goto(f"{base}/admin/parking/attendants")
        card = page.locator(f"#attendants-{LOT}")
        await card.locator("input[name=username]").fill(seeded["finance"])
        await card.locator("form.inline button[type=submit]").click()
        await expect(card.locator(".field-error")).to_have_text(
            "Tài khoản này không phải nhân viên trông xe."
        )
        await expect(page).to_have_url(f"{base}/admin/parking/lots/{LOT}/attendants")
        await expect(page.locator("#subnav-attendants")).to_have_attribute("aria-current", "page")
        await expect(page.locator("#form-error")).to_be_visible()
        await expect(page.locator("#tariffs")).to_have_count(0)
    finally:
        await context.close()


# 13c: asking before removing ------------------------------------------------------------------------------


async def _ask_cancel_then_confirm(page: Page, button, still_there, gone, shot: str | None = None) -> None:
    """First tap: the dialog, nothing changed. Huỷ: nothing changed. Again and Đồng ý: done."""
    dialog = page.locator("#confirm-dialog")
    await button().click()
    await expect(dialog).to_be_visible()
    await expect(page.locator("#confirm-text")).not_to_be_empty()
    await expect(page.locator("#confirm-ok")).to_have_text(await button().inner_text())  # says what it does
    if shot:  # the phone's screen as the admin sees it: a modal dialog belongs to the viewport, not the page
        SCREENSHOTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"))
    assert await still_there()
    await page.click("#confirm-cancel")
    await expect(dialog).to_be_hidden()
    await page.wait_for_timeout(300)  # a post would have left by now
    assert await still_there()
    await button().click()
    await expect(dialog).to_be_visible()
    async with page.expect_navigation():
        await page.click("#confirm-ok")
    await expect(page.locator("#saved")).to_be_visible()
    assert await gone()


async def test_removing_asks_first(server, browser: Browser, staff_login, seeded, db_url):
    base = server.base_url
    context = await _admin_context(browser, server, staff_login)
    try:
        page = await context.new_page()

        async def assigned() -> bool:
            return bool(
                await _fetch(
                    db_url,
                    "SELECT 1 FROM lot_attendants a JOIN staff_users u ON u.id = a.staff_user_id "
                    "WHERE a.lot_id = $1 AND u.username = $2",
                    LOT,
                    seeded["attendant"],
                )
            )

        async def unassigned() -> bool:
            return not await assigned()

        await page.goto(f"{base}/admin/parking/attendants")
        await _ask_cancel_then_confirm(
            page,
            lambda: page.locator(f"#attendants-{LOT} li.attendant button"),
            assigned,
            unassigned,
            shot="admin-confirm-remove",
        )
        await expect(page).to_have_url(f"{base}/admin/parking/attendants?saved=1#attendants-{LOT}")
        await expect(page.locator(f"#attendants-{LOT} li.attendant")).to_have_count(0)

        async def token_live() -> bool:
            sql = "SELECT revoked_at IS NULL FROM api_tokens WHERE id = $1"
            return bool(await _fetch(db_url, sql, seeded["token_id"]))

        async def token_revoked() -> bool:
            return not await token_live()

        await page.goto(f"{base}/admin/tokens")
        await _ask_cancel_then_confirm(
            page,
            lambda: page.locator(f"#token-{seeded['token_id']} button"),
            token_live,
            token_revoked,
        )

        async def key_live() -> bool:
            sql = "SELECT retired_at IS NULL FROM bank_keys WHERE bank_code = $1 AND key_id = $2"
            return bool(await _fetch(db_url, sql, seeded["bank_code"], seeded["key_id"]))

        async def key_retired() -> bool:
            return not await key_live()

        await page.goto(f"{base}/admin/banks")
        await _ask_cancel_then_confirm(
            page,
            lambda: page.locator(f"form[action$='/keys/{seeded['key_id']}/retire'] button"),
            key_live,
            key_retired,
        )

        async def staff_active() -> bool:
            sql = "SELECT active FROM staff_users WHERE username = $1"
            return bool(await _fetch(db_url, sql, seeded["finance"]))

        async def staff_disabled() -> bool:
            return not await staff_active()

        await page.goto(f"{base}/admin/staff")

        async def open_details() -> None:
            details = page.locator(f"#staff-{seeded['finance']} + tr details")
            if not await details.evaluate("d => d.open"):
                await details.locator("summary").click()

        await open_details()

        def deactivate():
            return page.locator(f"form[action='/admin/staff/{seeded['finance']}/deactivate'] button")

        dialog = page.locator("#confirm-dialog")
        await deactivate().click()
        await expect(dialog).to_be_visible()
        assert await staff_active()
        await page.click("#confirm-cancel")
        await expect(dialog).to_be_hidden()
        assert await staff_active()
        await deactivate().click()
        async with page.expect_navigation():
            await page.click("#confirm-ok")
        assert await staff_disabled()
    finally:
        await context.close()


async def test_without_script_the_form_still_posts(server, browser: Browser, staff_login, seeded, db_url):
    """The no-JS fallback: the same button removes at once (the confirmation is the script's)."""
    admin = await staff_login("admin")
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False)
    await context.add_cookies([{"name": "citypay_session", "value": admin.cookie, "url": server.base_url}])
    try:
        page = await context.new_page()
        await page.goto(f"{server.base_url}/admin/parking/attendants")
        async with page.expect_navigation():
            await page.locator(f"#attendants-{LOT} li.attendant button").click()
        await expect(page.locator("#saved")).to_be_visible()
        assert not await _fetch(db_url, "SELECT count(*) FROM lot_attendants WHERE lot_id = $1", LOT)
    finally:
        await context.close()


# 13d: wide tables scroll inside the page ------------------------------------------------------------------

WIDE_PAGES = (
    "/admin/staff",
    "/admin/tokens",
    "/admin/banks",
    "/admin/parking/lots",
    "/admin/parking/tariffs",
    "/admin/parking/passes",
    "/admin/parking/attendants",
    "/finance/payments",
    "/disbursements/batches",
)

TABLES = """() => [...document.querySelectorAll('main table')].map(t => ({
    id: t.id, overflow: getComputedStyle(t).overflowX, scroll: t.scrollWidth, client: t.clientWidth,
    right: t.getBoundingClientRect().right}))"""


async def test_wide_tables_scroll_sideways_on_a_phone(server, browser: Browser, staff_login, seeded):
    base = server.base_url
    context = await _admin_context(browser, server, staff_login)
    try:
        page = await context.new_page()
        scrollable = []
        for path in WIDE_PAGES:
            response = await page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, path
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width} px wide"
            for table in await page.evaluate(TABLES):
                assert table["overflow"] == "auto", (path, table)
                assert table["right"] <= PHONE["width"], (path, table)
                if table["scroll"] > table["client"]:
                    scrollable.append((path, table["id"]))
        assert ("/admin/tokens", "tokens") in scrollable, scrollable
        # the table itself scrolls: its content moves, the page does not
        await page.goto(f"{base}/admin/tokens")
        moved = await page.evaluate(
            "() => { const t = document.getElementById('tokens'); t.scrollLeft = 200; return t.scrollLeft; }"
        )
        assert moved > 0
        assert await page.evaluate("window.scrollX") == 0
        await screenshot(page, "admin-tokens-table-scrolled")
    finally:
        await context.close()


# 13e: citizen pages without the staff login link, on one line ---------------------------------------------


HEADER = """() => {
    const h = document.querySelector('body > header');
    const tops = [...h.querySelectorAll('a, button, span')].filter(e => e.offsetParent)
        .map(e => Math.round(e.getBoundingClientRect().top));
    return {height: h.getBoundingClientRect().height, tops: tops,
            login: h.querySelectorAll('a[href^="/login"]').length, body: document.body.className};
}"""


async def test_citizen_pages_have_no_staff_login_and_one_header_line(
    server, browser: Browser, seeded, staff_login
):
    base = server.base_url
    context = await browser.new_context(viewport=PHONE)
    try:
        page = await context.new_page()
        for path in ("/", f"/pay/{seeded['reference']}", "/parking", "/receipts/verify", "/login"):
            response = await page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, path
            header = await page.evaluate(HEADER)
            assert header["login"] == 0, path
            assert header["body"] == "citizen", path
            assert max(header["tops"]) - min(header["tops"]) <= 8, (path, header)  # one line
            assert header["height"] < 64, (path, header)
            assert await _fits(page), path
        # the login page stays reachable: a small link at the foot of the public home only
        await page.goto(f"{base}/parking")
        await expect(page.locator("#staff-login")).to_have_count(0)
        await page.goto(f"{base}/")
        await page.click("#staff-login")
        await expect(page).to_have_url(f"{base}/login")
    finally:
        await context.close()
    staff = await _admin_context(browser, server, staff_login)
    try:
        page = await staff.new_page()
        await page.goto(f"{base}/admin/staff")
        await expect(page.locator("body")).to_have_class("staff")
        await expect(page.locator("header a[href='/staff']")).to_be_visible()
        await expect(page.locator("#logout")).to_be_visible()
    finally:
        await staff.close()
