"""The batch page in a real browser (Debian Chromium via Playwright): the progress bar and the counts follow
the batch live over server-sent events without a reload, and the page shows the final state when the batch
completes; no script error, no failed request (the CSP allows only the page's own script file)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from disbursements import batch_pages
from tests.disbursements.test_reports import complete, seed
from tests.e2e.conftest import browser  # noqa: F401  (a fixture; skips without Chromium)
from tests.live_server import live_server


@pytest.fixture
def server(make_app):
    with live_server(make_app(background=False)) as srv:
        yield srv


def _failures(page: Page) -> list[str]:
    failures: list[str] = []
    page.on("pageerror", lambda exc: failures.append(str(exc)))
    page.on("console", lambda m: failures.append(m.text) if m.type == "error" else None)
    page.on(
        "response",
        lambda r: (
            failures.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    return failures


async def _width(page: Page, state: str) -> float:
    return await page.evaluate(
        f"parseFloat(document.querySelector('#bar span[data-state=\"{state}\"]').style.width)"
    )


async def test_progress_follows_the_batch_live(
    server,
    browser: Browser,  # noqa: F811
    conn,
    keys,
    staff_login,
    monkeypatch,
) -> None:
    monkeypatch.setattr(batch_pages, "POLL_S", 0.1)
    batch = await seed(conn, keys)  # executing: 3 paid, 2 refused, 1 unknown, 1 returned, 2 held
    finance = await staff_login("finance")
    context = await browser.new_context(locale="vi-VN")
    try:
        await context.add_cookies(
            [{"name": "citypay_session", "value": finance.cookie, "url": server.base_url}]
        )
        page = await context.new_page()
        failures = _failures(page)
        await page.goto(f"{server.base_url}/disbursements/batches/{batch}")
        await expect(page.locator("#state")).to_have_text("Đang chi trả")
        await expect(page.locator("#count-paid")).to_have_text("3")
        await expect(page.locator("#live")).to_have_text("Cập nhật trực tiếp")
        assert await _width(page, "paid") == pytest.approx(33.33, abs=0.01)
        await page.evaluate("window.__sameDocument = true")

        # The bank answers the unknown one: paid. The page follows without a reload.
        await conn.execute(
            "UPDATE disb_items SET state = 'paid', lease_until = NULL, bank_txn_id = 'LATE' || id "
            "WHERE batch_id = $1 AND state = 'sent_unknown'",
            batch,
        )
        await expect(page.locator("#count-paid")).to_have_text("4")
        await expect(page.locator("#count-sent_unknown")).to_have_text("0")
        assert await _width(page, "paid") == pytest.approx(44.44, abs=0.01)
        assert await page.evaluate("window.__sameDocument === true")
        await expect(page.locator('#failed-reasons tr[data-code="AC04"] td').nth(1)).to_have_text(
            "Tài khoản đã đóng"
        )

        # Completed: the stream ends and the page shows the final state (and stops listening).
        await complete(conn, batch)
        await expect(page.locator("#state")).to_have_text("Hoàn tất")
        await expect(page.locator("#progress")).to_have_attribute("data-done", "true")
        assert failures == []
    finally:
        await context.close()
