"""The two upload pages (statements, beneficiary import) share core/static/upload.js. A refused file is told
in a catalogue sentence (the problem's `message`), never the English `detail` written for API callers."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.catalogue import not_in_catalogue
from tests.e2e.conftest import PHONE, browser  # noqa: F401  (a fixture; skips without Chromium)
from tests.live_server import live_server


@pytest.fixture
def server(make_app):
    with live_server(make_app(background=False)) as srv:
        yield srv


@pytest.mark.parametrize(
    ("path", "role", "form"),
    [
        ("/reconciliation/statements", "finance", "#statement-upload"),
        ("/disbursements/beneficiaries/import", "admin", "#beneficiary-upload"),
    ],
)
async def test_a_refused_upload_says_a_catalogue_sentence(
    server,
    browser: Browser,  # noqa: F811
    staff_login,
    tmp_path: Path,
    path: str,
    role: str,
    form: str,
) -> None:
    login = await staff_login(role)
    junk = tmp_path / "not-a-statement.csv"
    junk.write_bytes(b"\x00\x01\x02 this is not a statement nor a beneficiary list\n")
    context = await browser.new_context(locale="vi-VN", viewport=PHONE)
    try:
        await context.add_cookies(
            [
                {"name": "citypay_session", "value": login.cookie, "url": server.base_url},
                {"name": "lang", "value": "vi", "url": server.base_url},
            ]
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(server.base_url + path)
        await page.set_input_files(f"{form} input[type=file]", str(junk))
        async with page.expect_response(lambda r: r.request.method == "POST") as answer:
            await page.click(f"{form} button[type=submit]")
        refused = await answer.value
        assert refused.status >= 400, refused.status
        body = await refused.json()
        status = page.locator("#upload-status")
        await status.wait_for()
        await page.wait_for_function("document.getElementById('upload-status').textContent.includes(':')")
        text = (await status.text_content() or "").strip()
        failed, _, reason = text.partition(": ")
        assert reason and not_in_catalogue([failed, reason]) == [], text
        assert body.get("detail") is None or body["detail"] not in text
        assert errors == []
    finally:
        await context.close()
