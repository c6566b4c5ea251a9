"""Pages: Vietnamese by default, an English toggle that sticks, money and times formatted for Việt Nam."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.money import format_local_time, format_vnd


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0, "0 ₫"), (500, "500 ₫"), (1234567, "1.234.567 ₫"), (200_000, "200.000 ₫"), (-25_000, "-25.000 ₫")],
)
def test_money_format(amount, text):
    assert format_vnd(amount) == text


def test_money_refuses_floats():
    with pytest.raises(TypeError):
        format_vnd(1.5)


def test_local_time_is_hanoi():
    assert format_local_time(datetime(2026, 11, 23, 17, 30, tzinfo=UTC)) == "24/11/2026 00:30"


async def test_language_toggle_sticks(client):
    page = await client.get("/login")
    assert "Đăng nhập" in await page.text() and 'lang="vi"' in await page.text()
    toggle = await client.get("/lang/en?next=/login", allow_redirects=False)
    assert toggle.status == 303 and toggle.headers["Location"] == "/login"
    assert toggle.cookies["lang"].value == "en"
    page = await client.get("/login")
    assert 'lang="en"' in await page.text() and "Log in" in await page.text()
    page = await client.get("/")
    assert (
        "The city&#39;s payment service" in await page.text()
        or "The city's payment service" in await page.text()
    )


async def test_language_toggle_refuses_open_redirects(client):
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        resp = await client.get(f"/lang/en?next={target}", allow_redirects=False)
        assert resp.headers["Location"] == "/"


async def test_staff_home_links_follow_the_role(client, staff_login):
    finance = await staff_login("finance")
    text = await (await client.get("/staff", headers=finance.headers())).text()
    assert "/ledger/trial-balance" in text and "/metrics" not in text
    attendant = await staff_login("attendant")
    text = await (await client.get("/staff", headers=attendant.headers())).text()
    assert "/ledger/trial-balance" not in text


async def test_trial_balance_page_shows_money(client, staff_login):
    from datetime import date

    from core.appkeys import POOL
    from ledger import post_entry

    async with client.app[POOL].acquire() as conn:
        await conn.execute(
            """INSERT INTO collection_accounts (code, bin, account_number, holder_name)
               VALUES ('treasury', '970436', '0011', 'KHO BAC')"""
        )
        await post_entry(
            conn,
            idempotency_key="p",
            kind="payment",
            business_date=date(2026, 11, 23),
            lines=[("asset:bank:970436:0011", 1_234_567), ("revenue:fee:LLTP", -1_234_567)],
        )
    finance = await staff_login("finance")
    text = await (await client.get("/ledger/trial-balance", headers=finance.headers())).text()
    assert text.count("1.234.567 ₫") >= 2


async def test_citizen_pages_carry_no_staff_login_link_staff_pages_their_nav(client, staff_login):
    """The page frame (base.html): a page shown to no signed-in staff member is a citizen page — no login link
    in its header (the public home alone has one at its foot); a staff page has its nav and the confirmation
    dialog that core/static/confirm.js opens for a form with data-confirm."""
    for path in ("/", "/login", "/parking"):
        html = await (await client.get(path)).text()
        header = html[html.index("<header>") : html.index("</header>")]
        assert 'href="/login"' not in header and '<body class="citizen">' in html, path
        assert ('id="staff-login"' in html) == (path == "/"), path
        assert '<dialog id="confirm-dialog"' not in html and "/static/core/confirm.js" not in html
    admin = await staff_login("admin")
    html = await (await client.get("/admin/tokens", headers=admin.headers())).text()
    assert '<body class="staff">' in html and 'id="logout"' in html and 'id="staff-login"' not in html
    assert '<dialog id="confirm-dialog"' in html and '<script src="/static/core/confirm.js?v=' in html
    script = await client.get("/static/core/confirm.js")
    assert script.status == 200 and "data-confirm" in await script.text()
