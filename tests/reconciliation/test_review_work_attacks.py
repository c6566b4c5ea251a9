"""Attacks on the exception, day-close, approval, workbench and report endpoints: the same decision 20 times
at once is carried out once; unknown ids, year 1 / 9999 dates, 10^13 đồng, invisible and bidi characters are
clear 4xx answers (problem+json, or the page with its message) and change nothing in the database."""

from __future__ import annotations

import asyncio
import re

import pytest

from core.appkeys import POOL
from tests.reconciliation.conftest import BANK_ACCOUNT, BANK_BIN, Line, add_statement, yesterday

pytestmark = pytest.mark.usefixtures("catalogue")
CLOSE = "/api/v1/reconciliation/days/close"
PROBLEM = "application/problem+json"


async def snapshot(pool) -> tuple:
    return tuple(
        [
            await pool.fetchval(f"SELECT count(*) FROM {t}")
            for t in ("journal_entries", "approvals", "recon_account_days", "audit_log")
        ]
        + [await pool.fetchval("SELECT string_agg(state, ',' ORDER BY id) FROM recon_exceptions")]
        + [await pool.fetchval("SELECT string_agg(state, ',' ORDER BY id) FROM approvals")]
    )


async def a_write_off_exception(client, staff_login, keys) -> tuple:
    pool = client.app[POOL]
    day = yesterday()
    async with pool.acquire() as conn:
        await add_statement(conn, keys, day, [Line("U-7", 5_000, "KHONG RO NGUOI GUI")])
    finance = await staff_login("finance")
    body = {"bin": BANK_BIN, "account_number": BANK_ACCOUNT, "from": day.isoformat()}
    assert (
        await client.post("/api/v1/reconciliation/match", json=body, headers=finance.headers(unsafe=True))
    ).status == 200
    exc_id = await pool.fetchval("SELECT id FROM recon_exceptions")
    return finance, exc_id


async def test_the_same_resolve_and_approve_20_times_at_once_is_done_once(client, staff_login, keys):
    pool = client.app[POOL]
    finance, exc_id = await a_write_off_exception(client, staff_login, keys)
    url = f"/api/v1/reconciliation/exceptions/{exc_id}/resolve"
    body = {"action": "write_off", "note": "khoản nhỏ"}
    answers = await asyncio.gather(
        *[client.post(url, json=body, headers=finance.headers(unsafe=True)) for _ in range(20)]
    )
    statuses = sorted(r.status for r in answers)
    assert statuses.count(200) == 1 and set(statuses) <= {200, 409}, statuses
    for r in answers:
        if r.status == 409:
            assert r.content_type == PROBLEM
    assert await pool.fetchval("SELECT count(*) FROM approvals") == 1
    approval_id = await pool.fetchval("SELECT id FROM approvals")

    checker = await staff_login("approver")
    answers = await asyncio.gather(
        *[
            client.post(
                f"/api/v1/approvals/{approval_id}/approve", json={}, headers=checker.headers(unsafe=True)
            )
            for _ in range(20)
        ]
    )
    statuses = sorted(r.status for r in answers)
    assert statuses.count(200) == 1 and set(statuses) <= {200, 409}, statuses
    assert await pool.fetchval("SELECT count(*) FROM journal_entries WHERE kind = 'recon.write_off'") == 1
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'approval.approved'") == 1


async def test_unknown_or_decided_approvals_and_invisible_notes_change_nothing(client, staff_login, keys):
    pool = client.app[POOL]
    finance, exc_id = await a_write_off_exception(client, staff_login, keys)
    checker = await staff_login("approver")
    before = await snapshot(pool)
    for approval_id in ("0", "999999999999999999"):
        for verb in ("approve", "reject"):
            r = await client.post(
                f"/api/v1/approvals/{approval_id}/{verb}", json={}, headers=checker.headers(unsafe=True)
            )
            assert r.status == 404 and r.content_type == PROBLEM, (approval_id, verb, r.status)
    for path in (
        "/api/v1/approvals//approve",
        "/api/v1/approvals/-1/approve",
        "/api/v1/approvals/1e3/approve",
    ):
        r = await client.post(path, json={}, headers=checker.headers(unsafe=True))
        assert 400 <= r.status < 500, (path, r.status)
    for exc in ("0", "999999999999999999"):
        r = await client.post(
            f"/api/v1/reconciliation/exceptions/{exc}/resolve",
            json={"action": "carry", "note": "x"},
            headers=finance.headers(unsafe=True),
        )
        assert r.status == 404 and r.content_type == PROBLEM, (exc, r.status)
    for note in ("\u200b", "chờ\u202esau", "\u2066x\u2069", "x\u200dy"):
        r = await client.post(
            f"/api/v1/reconciliation/exceptions/{exc_id}/resolve",
            json={"action": "carry", "note": note},
            headers=finance.headers(unsafe=True),
        )
        assert r.status == 422 and r.content_type == PROBLEM, (note, r.status)
    assert await snapshot(pool) == before

    # a decided approval, and an invisible decision note
    r = await client.post(
        f"/api/v1/reconciliation/exceptions/{exc_id}/resolve",
        json={"action": "write_off", "note": "nhỏ"},
        headers=finance.headers(unsafe=True),
    )
    approval_id = (await r.json())["approval_id"]
    for note in ("\u202eok", "\u200b"):
        r = await client.post(
            f"/api/v1/approvals/{approval_id}/approve",
            json={"note": note},
            headers=checker.headers(unsafe=True),
        )
        assert r.status == 422 and r.content_type == PROBLEM, (note, r.status)
        form = await client.post(
            f"/approvals/{approval_id}/approve",
            data={"csrf_token": checker.csrf, "note": note},
            headers=checker.headers(),
            allow_redirects=False,
        )
        assert form.status == 422 and "text/html" in form.content_type, (note, form.status)
    assert await pool.fetchval("SELECT state FROM approvals WHERE id = $1", approval_id) == "pending"
    r = await client.post(
        f"/api/v1/approvals/{approval_id}/reject", json={}, headers=checker.headers(unsafe=True)
    )
    assert r.status == 200
    decided = await snapshot(pool)
    for verb in ("approve", "reject"):
        r = await client.post(
            f"/api/v1/approvals/{approval_id}/{verb}", json={}, headers=checker.headers(unsafe=True)
        )
        assert r.status == 409 and r.content_type == PROBLEM
        form = await client.post(
            f"/approvals/{approval_id}/{verb}",
            data={"csrf_token": checker.csrf},
            headers=checker.headers(),
            allow_redirects=False,
        )
        assert form.status == 409 and "text/html" in form.content_type, (verb, form.status)
    assert await snapshot(pool) == decided


async def test_day_close_and_reports_refuse_year_1_and_9999(client, staff_login, keys):
    pool = client.app[POOL]
    finance = await staff_login("finance")
    before = await snapshot(pool)
    for day in ("0001-01-01", "9999-12-31", "2026-02-30", ""):
        body = {"bin": BANK_BIN, "account_number": BANK_ACCOUNT, "business_date": day}
        r = await client.post(CLOSE, json=body, headers=finance.headers(unsafe=True))
        assert r.status == 422 and r.content_type == PROBLEM, (day, r.status)
        for path in ("/api/v1/reconciliation/reports/daily", "/reconciliation/reports/daily.csv"):
            r = await client.get(
                path, params={"account": f"{BANK_BIN}:{BANK_ACCOUNT}", "date": day}, headers=finance.headers()
            )
            assert 400 <= r.status < 500, (path, day, r.status)
        r = await client.get("/reconciliation", params={"date": day}, headers=finance.headers())
        assert r.status in (200, 422), (day, r.status)
    for month in ("0001-01", "9999-12", "2026-13", "2026-00", "99999-01"):
        for path in ("/api/v1/reconciliation/reports/monthly", "/reconciliation/reports/monthly.pdf"):
            r = await client.get(path, params={"month": month}, headers=finance.headers())
            assert 400 <= r.status < 500, (path, month, r.status)
    assert await snapshot(pool) == before


async def test_the_same_day_close_20_times_at_once_closes_once(client, staff_login, keys):
    pool = client.app[POOL]
    day = yesterday()
    async with pool.acquire() as conn:
        await add_statement(conn, keys, day, [], closing=0)
    finance = await staff_login("finance")
    body = {"bin": BANK_BIN, "account_number": BANK_ACCOUNT, "business_date": day.isoformat()}
    answers = await asyncio.gather(
        *[client.post(CLOSE, json=body, headers=finance.headers(unsafe=True)) for _ in range(20)]
    )
    statuses = sorted(r.status for r in answers)
    assert statuses.count(201) == 1 and set(statuses) <= {201, 409}, statuses
    assert await pool.fetchval("SELECT count(*) FROM recon_account_days") == 1
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'recon.day%'") <= 1


async def test_workbench_search_amount_attacks(client, staff_login):
    finance = await staff_login("finance")
    for amount in ("10000000000000", "1.234.567", "\u200b200000", "200\u202e000", "-1", "1e9", "٣٣"):
        for path in ("/reconciliation/search", "/reconciliation/search.csv"):
            r = await client.get(path, params={"amount": amount}, headers=finance.headers())
            assert r.status in (200, 422), (path, amount, r.status)
    for q in ("\u200b", "x\u202ey", "%", "_" * 101):
        r = await client.get("/reconciliation/search", params={"q": q}, headers=finance.headers())
        assert r.status in (200, 422), (q, r.status)


VIETNAMESE_ONLY = re.compile(r"[ăâđêôơưĂÂĐÊÔƠƯạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")


async def test_english_pages_have_no_vietnamese_leftovers(client, staff_login, keys):
    pool = client.app[POOL]
    finance, exc_id = await a_write_off_exception(client, staff_login, keys)
    approver = await staff_login("approver")
    day = yesterday().isoformat()
    client.session.cookie_jar.update_cookies({"lang": "en"})
    pages = [
        (finance, "/reconciliation"),
        (finance, f"/reconciliation?date={day}"),
        (finance, "/reconciliation/exceptions"),
        (finance, f"/reconciliation/exceptions/{exc_id}"),
        (finance, "/reconciliation/days"),
        (finance, "/reconciliation/search?amount=5000"),
        (finance, f"/reconciliation/reports/daily?account={BANK_BIN}:{BANK_ACCOUNT}&date={day}"),
        (finance, f"/reconciliation/reports/monthly?month={day[:7]}"),
        (approver, "/approvals"),
    ]
    assert await pool.fetchval("SELECT count(*) FROM recon_exceptions") == 1
    found = {}
    for who, path in pages:
        r = await client.get(path, headers=who.headers())
        assert r.status == 200, (path, r.status)
        text = await r.text()
        body = re.sub(r"<script.*?</script>|<style.*?</style>", "", text, flags=re.S)
        body = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))
        for kept in ("Tiếng Việt", "(Đối soát)", "Hà Nội", "đồng"):  # the toggle; deliberate glossary terms
            body = body.replace(kept, "")
        hits = [m.start() for m in VIETNAMESE_ONLY.finditer(body)]
        if hits:
            found[path] = [body[max(0, i - 40) : i + 40].strip() for i in hits[:5]]
    assert not found, found


async def test_the_close_form_counts_open_exceptions_without_a_currency(client, staff_login, keys):
    pool = client.app[POOL]
    finance, _ = await a_write_off_exception(client, staff_login, keys)
    before = await snapshot(pool)
    page = await client.post(
        "/reconciliation/days/close",
        data={
            "csrf_token": finance.csrf,
            "bin": BANK_BIN,
            "account_number": BANK_ACCOUNT,
            "business_date": yesterday().isoformat(),
        },
        headers=finance.headers(),
        allow_redirects=False,
    )
    text = await page.text()
    assert page.status == 409 and "Còn 1 ngoại lệ mở và 1 dòng chưa đối soát." in text  # counts, not ₫
    assert await snapshot(pool) == before


async def test_decided_approvals_show_behind_many_pending_in_the_readers_language(client, staff_login):
    from core.approvals import propose

    pool = client.app[POOL]
    async with pool.acquire() as conn:
        made = [
            await propose(conn, "recon.correction", f"test:{n}", {}, 1_000, "staff:someone", "x")
            for n in range(60)
        ]
    checker = await staff_login("approver")
    oldest = f"/api/v1/approvals/{made[0].id}/reject"  # behind 59 newer pending ones
    r = await client.post(oldest, json={}, headers=checker.headers(unsafe=True))
    assert r.status == 200
    page = await (await client.get("/approvals", headers=checker.headers())).text()
    assert "Đã quyết định gần đây" in page and "Đã từ chối" in page and ">rejected<" not in page


async def test_the_exception_page_names_direction_and_pending_action_in_the_readers_language(
    client, staff_login, keys
):
    finance, exc_id = await a_write_off_exception(client, staff_login, keys)
    r = await client.post(
        f"/api/v1/reconciliation/exceptions/{exc_id}/resolve",
        json={"action": "write_off", "note": "nhỏ"},
        headers=finance.headers(unsafe=True),
    )
    assert r.status == 200
    page = await (await client.get(f"/reconciliation/exceptions/{exc_id}", headers=finance.headers())).text()
    assert "Có 5.000" in page and "credit" not in page
    assert "Đang chờ người duyệt: Xóa sổ (cần duyệt)" in page
