"""Reconciliation reports over HTTP: the daily report of a collection account counts and sums exactly what the
fixture put in each category, the monthly report cross-checks ledger revenue and paid requests against
matched statement credits per fee code and lot; page (with an SVG chart), CSV (BOM, formula-safe), PDF
(Vietnamese extractable), JSON; unknown accounts, impossible days and months are refused, never a 500."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta

import pypdf
import pytest

from core.appkeys import POOL
from tests.reconciliation.workbench_fixtures import (
    ACCOUNT,
    close_account_day,
    entry_of,
    exception,
    line,
    new_request,
    pay,
    statement,
    today,
)

pytestmark = pytest.mark.usefixtures("catalogue")
JSON = {"Accept": "application/json"}


def rows_of(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))


def pdf_text(body: bytes) -> str:
    assert body.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(body))
    return "\n".join(page.extract_text() for page in reader.pages)


async def daily_fixture(pool):
    day = today() - timedelta(days=1)
    stmt = await statement(pool, day, opening=5_000_000, closing=5_393_000)
    await line(pool, stmt, day, 200_000, state="matched")
    await line(pool, stmt, day, 135_000, state="matched")
    await line(pool, stmt, day, 8_000, state="proposed")
    await line(pool, stmt, day, 10_000, state="unmatched", direction="debit")
    odd = await line(pool, stmt, day, 60_000, state="exception", narrative="=cmd|' /C calc'!A0")
    await exception(pool, "in_bank_not_ledger", day, 60_000, line_id=odd)
    await exception(pool, "in_ledger_not_bank", day, -20_000)
    await exception(pool, "in_ledger_not_bank", day, -30_000, state="carried", note="=SUM(A1) chờ ngân hàng")
    await exception(pool, "amount_differs", day - timedelta(days=1), -999)  # another day: not in this report
    await close_account_day(pool, day, 5_393_000, carried=1)
    return day


async def test_the_daily_report_counts_and_sums_each_category(client, staff_login):
    pool = client.app[POOL]
    day = await daily_fixture(pool)
    finance, attendant = await staff_login("finance"), await staff_login("attendant")
    query = f"account={ACCOUNT}&date={day}"

    body = await (
        await client.get(f"/api/v1/reconciliation/reports/daily?{query}", headers=finance.headers())
    ).json()
    cats = {c["key"]: (c["count"], c["amount"]) for c in body["categories"]}
    assert cats == {
        "line.matched": (2, 335_000),
        "line.proposed": (1, 8_000),
        "line.unmatched": (1, -10_000),
        "line.exception": (1, 60_000),
        "exception.in_bank_not_ledger": (1, 60_000),
        "exception.in_ledger_not_bank": (2, -50_000),
        "exception.amount_differs": (0, 0),
        "exception.duplicate": (0, 0),
        "exception.reversal": (0, 0),
        "exception.callback_conflict": (0, 0),
        "carried": (1, -30_000),
    }
    assert (body["lines"], body["credits"], body["debits"], body["matched_pct"]) == (5, 403_000, 10_000, 40.0)
    assert (body["opening_balance"], body["closing_balance"], body["account"]) == (
        5_000_000,
        5_393_000,
        "****4567",
    )
    assert body["closed"] and body["closed_by"] == "staff:closer"
    assert [c["note"] for c in body["carried"]] == ["=SUM(A1) chờ ngân hàng"]
    # the account by its code answers the same report
    by_code = await client.get(
        f"/api/v1/reconciliation/reports/daily?account=hanoi-treasury&date={day}", headers=finance.headers()
    )
    assert (await by_code.json())["categories"] == body["categories"]

    page = await client.get(f"/reconciliation/reports/daily?{query}", headers=finance.headers())
    html = await page.text()
    assert page.status == 200 and "Báo cáo Đối soát ngày" in html and '<svg id="chart"' in html
    assert html.count('<rect class="bar"') == len(cats)
    assert (
        '<tr id="cat-line-matched"><td>Dòng đã khớp</td><td class="num count">2</td>'
        '<td class="num amount">335.000 ₫</td>' in html
    )
    assert "40 %" in html and "40.0" not in html
    assert not re.search(r"<script(?![^>]*\ssrc=\"/static/)", html)  # only the static files the CSP allows

    table = rows_of(
        await (
            await client.get(f"/reconciliation/reports/daily.csv?{query}", headers=finance.headers())
        ).read()
    )
    assert table[0] == ["Hạng mục", "Số lượng", "Số tiền"]
    assert ["Dòng đã khớp", "2", "335000"] in table and ["Chuyển sang ngày sau", "1", "-30000"] in table
    carried = [r for r in table if r[0].startswith("Chuyển sang ngày sau #")]
    assert carried[0][3] == "'=SUM(A1) chờ ngân hàng"  # formula-safe

    resp = await client.get(f"/reconciliation/reports/daily.pdf?{query}", headers=finance.headers())
    assert resp.status == 200 and resp.content_type == "application/pdf"
    assert "attachment" in resp.headers["Content-Disposition"]
    text = pdf_text(await resp.read())
    assert "Đối soát" in text and "335.000 ₫" in text and "****4567" in text and "Dòng đã khớp" in text

    for path in (
        "/reconciliation/reports/daily",
        "/reconciliation/reports/daily.csv",
        "/reconciliation/reports/daily.pdf",
        "/api/v1/reconciliation/reports/daily",
    ):
        assert (await client.get(f"{path}?{query}", headers=attendant.headers())).status == 403, path


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("account=970436:999999999&date={day}", 404, "account"),
        ("account=no-such-account&date={day}", 404, "account"),
        ("account=' OR 1=1 --&date={day}", 422, "account"),
        ("account={account}&date=9999-12-31", 422, "date"),
        ("account={account}&date=0001-01-01", 422, "date"),
        ("account={account}&date=2026-02-30", 422, "date"),
        ("account={account}&date={tomorrow}", 422, "date"),
        ("account={account}", 422, "date"),
        ("date={day}", 422, "account"),
    ],
)
async def test_the_daily_report_refuses_unknown_accounts_and_impossible_days(
    client, staff_login, query, status, field
):
    finance = await staff_login("finance")
    q = query.format(account=ACCOUNT, day=today(), tomorrow=today() + timedelta(days=2))
    for path in ("/api/v1/reconciliation/reports/daily", "/reconciliation/reports/daily.pdf"):
        resp = await client.get(f"{path}?{q}", headers={**finance.headers(), **JSON})
        assert resp.status == status, (path, q)
        problem = await resp.json()
        assert resp.content_type == "application/problem+json" and problem["field"] == field


async def monthly_fixture(client, db_url, keys, bank_key):
    """Two judicial-record fees and a driving-licence fee paid by callback, one parking turn; the statement
    carries the first LLTP, the GPLX and the parking credit (matched), and an unattributed suspense credit."""
    pool = client.app[POOL]
    lot = str(uuid.uuid4())
    l1 = await new_request(db_url, keys, "LLTP")
    l2 = await new_request(db_url, keys, "LLTP")
    g = await new_request(db_url, keys, "GPLX-DOI")
    p = await new_request(db_url, keys, parking_lot=lot)
    for pr, amount in ((l1, 200_000), (l2, 200_000), (g, 135_000), (p, 30_000)):
        await pay(client, bank_key, f"{pr['reference']} thanh toan", amount)
    await pay(client, bank_key, "KHONG RO NOI DUNG", 45_000)
    suspense = await pool.fetchval(
        "SELECT entry_id FROM payments_bank_credits WHERE outcome = 'unknown_reference'"
    )
    stmt = await statement(pool, today())
    for pr, amount in ((l1, 200_000), (g, 135_000), (p, 30_000)):
        await line(
            pool,
            stmt,
            today(),
            amount,
            state="matched",
            match_entries=[await entry_of(pool, pr["reference"])],
        )
    await line(pool, stmt, today(), 45_000, state="matched", match_entries=[suspense])
    await line(
        pool,
        stmt,
        today(),
        200_000,
        state="proposed",
        match_entries=[await entry_of(pool, l2["reference"])],
        match_state="proposed",
    )
    return lot


async def test_the_monthly_report_cross_checks_the_service_against_the_bank(
    client, staff_login, db_url, keys, bank_key
):
    lot = await monthly_fixture(client, db_url, keys, bank_key)
    finance, attendant = await staff_login("finance"), await staff_login("attendant")
    month = today().strftime("%Y-%m")

    body = await (
        await client.get(f"/api/v1/reconciliation/reports/monthly?month={month}", headers=finance.headers())
    ).json()
    rows = {r["revenue_account"]: r for r in body["rows"]}
    lltp, gplx, park = rows["revenue:fee:LLTP"], rows["revenue:fee:GPLX-DOI"], rows[f"revenue:parking:{lot}"]
    assert (lltp["kind"], lltp["key"], lltp["paid"], lltp["ledger_revenue"]) == ("fee", "LLTP", 2, 400_000)
    assert (lltp["expected_in_bank"], lltp["bank_credits"], lltp["bank_amount"], lltp["difference"]) == (
        400_000,
        1,
        200_000,
        -200_000,
    )  # the second one is only proposed: not yet the bank's word
    assert (gplx["paid"], gplx["ledger_revenue"], gplx["bank_amount"], gplx["difference"]) == (
        1,
        135_000,
        135_000,
        0,
    )
    assert (park["kind"], park["key"], park["paid"], park["ledger_revenue"], park["bank_amount"]) == (
        "parking",
        lot,
        1,
        30_000,
        30_000,
    )
    assert body["totals"]["difference"] == -200_000 and body["totals"]["paid"] == 4
    assert (body["unattributed_credits"], body["unattributed_amount"]) == (1, 45_000)

    page = await client.get(f"/reconciliation/reports/monthly?month={month}", headers=finance.headers())
    html = await page.text()
    assert page.status == 200 and "Báo cáo Đối soát tháng" in html and '<svg id="chart"' in html
    assert 'id="row-revenue-fee-LLTP"' in html and "-200.000 ₫" in html

    table = rows_of(
        await (
            await client.get(f"/reconciliation/reports/monthly.csv?month={month}", headers=finance.headers())
        ).read()
    )
    assert table[0][0] == "Khoản thu" and table[-1][0] == "Tổng cộng"
    (csv_lltp,) = [r for r in table if r[0] == "Thu phí, lệ phí LLTP"]
    assert csv_lltp[1:] == ["2", "400000", "0", "400000", "1", "200000", "-200000"]

    text = pdf_text(
        await (
            await client.get(f"/reconciliation/reports/monthly.pdf?month={month}", headers=finance.headers())
        ).read()
    )
    assert "Đối soát" in text and "Thu phí, lệ phí LLTP" in text and "-200.000 ₫" in text

    for path in (
        "/reconciliation/reports/monthly",
        "/reconciliation/reports/monthly.csv",
        "/reconciliation/reports/monthly.pdf",
        "/api/v1/reconciliation/reports/monthly",
    ):
        assert (await client.get(f"{path}?month={month}", headers=attendant.headers())).status == 403, path
    english = await client.get(
        f"/reconciliation/reports/monthly?month={month}",
        headers={"Cookie": f"citypay_session={finance.cookie}; lang=en"},
    )
    assert "Fee revenue LLTP" in await english.text()


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-00", "0001-01", "9999-12", "26-11", "2026-1", "november", "{future}"]
)
async def test_impossible_months_are_refused(client, staff_login, month):
    finance = await staff_login("finance")
    future = (today().replace(day=1) + timedelta(days=62)).strftime("%Y-%m")
    for path in ("/api/v1/reconciliation/reports/monthly", "/reconciliation/reports/monthly.csv"):
        resp = await client.get(
            f"{path}?month={month.format(future=future)}", headers={**finance.headers(), **JSON}
        )
        assert resp.status == 422, (path, month)
        assert (await resp.json())["field"] == "month"


async def test_an_empty_month_is_an_empty_report(client, staff_login):
    finance = await staff_login("finance")
    body = await (
        await client.get("/api/v1/reconciliation/reports/monthly?month=2026-01", headers=finance.headers())
    ).json()
    assert body["rows"] == [] and body["totals"]["difference"] == 0
    pdf = await client.get("/reconciliation/reports/monthly.pdf?month=2026-01", headers=finance.headers())
    assert pdf.status == 200 and "Đối soát" in pdf_text(await pdf.read())
