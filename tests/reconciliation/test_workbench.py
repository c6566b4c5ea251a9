"""The finance workbench over HTTP: the day's picture per collection account equals what the fixture put in
the reconciliation tables; one payment's page shows its request, bank lines, callbacks (masked) and entries;
search by reference, agency reference and amount; money held and in suspense; CSV exports; refusals."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from core.appkeys import POOL
from tests.reconciliation.workbench_fixtures import (
    ACCOUNT,
    close_account_day,
    counts,
    entry_of,
    exception,
    line,
    new_request,
    pay,
    statement,
    today,
)

pytestmark = pytest.mark.usefixtures("catalogue")


def rows_of(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "CSV for Excel starts with a UTF-8 BOM"
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))


async def test_every_workbench_page_is_for_finance_and_admin_only(
    client, staff_login, db_url, keys, bank_key
):
    pr = await new_request(db_url, keys)
    await pay(client, bank_key, f"{pr['reference']} thanh toan", 200_000)
    finance, admin, attendant = [await staff_login(r) for r in ("finance", "admin", "attendant")]
    paths = [
        "/reconciliation",
        f"/reconciliation?date={today().isoformat()}",
        "/reconciliation/picture.csv",
        "/reconciliation/held.csv",
        "/reconciliation/search?q=CP",
        "/reconciliation/search.csv?q=CP",
        f"/finance/payments/{pr['reference']}",
        f"/finance/payments/{pr['reference']}/lines.csv",
        "/api/v1/reconciliation/workbench",
    ]
    for path in paths:
        for who in (finance, admin):
            assert (await client.get(path, headers=who.headers())).status == 200, path
        denied = await client.get(path, headers=attendant.headers())
        assert denied.status == 403, path
    page = await (await client.get("/reconciliation", headers=finance.headers())).text()
    assert "Đối soát" in page  # Vietnamese first
    english = await client.get(
        "/reconciliation",
        headers={**finance.headers(), "Cookie": f"citypay_session={finance.cookie}; lang=en"},
    )
    assert "Reconciliation" in await english.text()


async def test_the_days_picture_counts_what_is_there(client, staff_login):
    pool = client.app[POOL]
    day = today() - timedelta(days=1)
    stmt = await statement(pool, day, opening=1_000_000, closing=1_650_000)
    for amount in (100_000, 200_000, 300_000):
        await line(pool, stmt, day, amount, state="matched")
    await line(pool, stmt, day, 50_000, state="proposed")
    odd = await line(pool, stmt, day, 7_000, state="exception")
    await exception(pool, "in_bank_not_ledger", day, 7_000, line_id=odd)  # age 0
    await exception(pool, "in_ledger_not_bank", day - timedelta(days=1), -20_000)  # age 1
    await exception(pool, "in_ledger_not_bank", day - timedelta(days=3), -30_000)  # age 3
    await exception(pool, "amount_differs", day - timedelta(days=5), -1_000)  # age 5
    await exception(pool, "in_ledger_not_bank", day - timedelta(days=9), -9_000)  # age 9
    await exception(pool, "duplicate", day, 3_000, state="resolved")  # not open: not counted
    await exception(pool, "reversal", day + timedelta(days=1), 4_000)  # a later day: not counted
    await close_account_day(pool, day, 1_650_000)
    finance = await staff_login("finance")

    api = await (
        await client.get(f"/api/v1/reconciliation/workbench?date={day}", headers=finance.headers())
    ).json()
    (acct,) = [a for a in api["accounts"] if a["code"] == "hanoi-treasury"]
    assert acct == {
        "code": "hanoi-treasury",
        "bin": ACCOUNT.split(":")[0],
        "account": "****4567",
        "bank_name": acct["bank_name"],
        "statement_in": True,
        "lines": 5,
        "matched": 3,
        "proposed": 1,
        "matched_pct": 60.0,
        "open_exceptions": {"0-1": 2, "2-3": 1, "4-7": 1, "8+": 1},
        "closed": True,
        "closed_by": "staff:closer",
        "closed_at": acct["closed_at"],
    }
    html = await (await client.get(f"/reconciliation?date={day}", headers=finance.headers())).text()
    assert '<td class="num lines">5</td>' in html and "60 %" in html and "Đã khóa (staff:closer)" in html
    assert "</strong> ****4567<br>" in html  # the account shows masked

    other = await (
        await client.get(
            f"/api/v1/reconciliation/workbench?date={day - timedelta(days=2)}", headers=finance.headers()
        )
    ).json()
    (acct,) = [a for a in other["accounts"] if a["code"] == "hanoi-treasury"]
    assert (acct["statement_in"], acct["lines"], acct["matched_pct"], acct["closed"]) == (
        False,
        0,
        None,
        False,
    )
    assert acct["open_exceptions"] == {"0-1": 1, "2-3": 1, "4-7": 1, "8+": 0}

    table = rows_of(
        await (await client.get(f"/reconciliation/picture.csv?date={day}", headers=finance.headers())).read()
    )
    assert table[0][0] == "Tài khoản"
    (row,) = [r for r in table[1:] if r[0] == "hanoi-treasury"]
    assert row[2:9] == ["1", "5", "3", "60.0", "2", "1", "1"]


async def test_one_payment_shows_request_bank_lines_callbacks_entries_and_receipt(
    client, staff_login, db_url, keys, bank_key
):
    pool = client.app[POOL]
    pr = await new_request(db_url, keys, payer_reference="HS-2026-0042")
    ref = pr["reference"]
    await pay(client, bank_key, f"{ref} NGUYEN VAN AN 0912345678 chuyen tien", 200_000, txn="FTDETAIL0001")
    entry = await entry_of(pool, ref)
    stmt = await statement(pool, today())
    await line(
        pool, stmt, today(), 200_000, state="matched", narrative="=cmd|' /C calc'!A0", match_entries=[entry]
    )
    await line(pool, stmt, today(), 5_000, narrative=f"{ref} phan con thieu")  # names the reference
    await line(pool, stmt, today(), 9_000, narrative="another payment")  # not this one
    finance = await staff_login("finance")

    resp = await client.get(f"/finance/payments/{ref}", headers=finance.headers())
    html = await resp.text()
    assert resp.status == 200
    assert ref in html and "HS-2026-0042" in html and "200.000 ₫" in html and "Đã thanh toán" in html
    assert "FTDETAIL0001" in html  # the callback …
    callbacks = html[html.index('id="callbacks"') :]
    assert '<td class="credited">****4567</td>' in callbacks  # … with the credited account masked
    assert "0912345678" not in html and "*******678" in html  # the narrative only in its redacted copy
    assert "****6789" not in html  # the payer's account from the raw callback stays encrypted
    assert "=cmd" in html and "phan con thieu" in html and "another payment" not in html
    assert f'id="entry-{entry}"' in html and "Thu phí, lệ phí LLTP" in html  # the entry, accounts named
    receipt = await pool.fetchval("SELECT id FROM receipts WHERE payment_request_id = $1", pr["id"])
    assert f'href="/receipts/{receipt}"' in html

    lines = rows_of(
        await (await client.get(f"/finance/payments/{ref}/lines.csv", headers=finance.headers())).read()
    )
    bank = [r for r in lines[1:] if r[0] == "bank"]
    assert len(bank) == 2 and "'=cmd|' /C calc'!A0" in [r[5] for r in bank]  # formula-safe
    ledger = [r for r in lines[1:] if r[0] == "ledger"]
    assert sorted(int(r[4]) for r in ledger) == [-200_000, 200_000]

    # finance's payment list links here, not to the citizen's pay page
    listing = await (await client.get("/finance/payments", headers=finance.headers())).text()
    assert f'href="/finance/payments/{ref}"' in listing and f'href="/pay/{ref}"' not in listing


@pytest.mark.parametrize("reference", ["CP0000000000", "CPZZZZZZZZZZZ", "X"])
async def test_an_unknown_reference_is_a_404(client, staff_login, reference):
    finance = await staff_login("finance")
    resp = await client.get(
        f"/finance/payments/{reference}", headers={**finance.headers(), "Accept": "application/json"}
    )
    assert resp.status == 404


async def test_search_by_reference_agency_reference_and_amount(client, staff_login, db_url, keys, bank_key):
    pool = client.app[POOL]
    a = await new_request(db_url, keys, payer_reference="HS-ALPHA-7")
    b = await new_request(db_url, keys, "GPLX-DOI", payer_reference="HS-BETA-8")
    await pay(client, bank_key, f"{a['reference']}", 200_000)
    finance = await staff_login("finance")

    async def found(query: str) -> set[str]:
        resp = await client.get(f"/reconciliation/search?{query}", headers=finance.headers())
        assert resp.status == 200
        html = await resp.text()
        return {r for r in (a["reference"], b["reference"]) if f'id="result-{r}"' in html}

    assert await found(f"q={a['reference']}") == {a["reference"]}
    assert await found(f"q={b['reference'][:6].lower()}") >= {b["reference"]}
    assert await found("q=hs-beta") == {b["reference"]}
    assert await found("amount=135.000") == {b["reference"]}
    assert await found("amount=200000&q=ALPHA") == {a["reference"]}
    html = await (await client.get("/reconciliation/search?q=HS-", headers=finance.headers())).text()
    assert 'id="total-received">200.000 ₫' in html and 'id="total-due">335.000 ₫' in html

    before = await counts(pool)
    for evil in ("' OR 1=1; DROP TABLE payment_requests; --", "%", "_", "\\", "'; SELECT pg_sleep(0)--"):
        assert await found(f"q={evil.replace('%', '%25').replace(' ', '+').replace(';', '%3B')}") == set()
    assert await counts(pool) == before
    for bad in ("amount=-5", "amount=1,5", "amount=abc", "q=" + "x" * 101, "q=a%00b", "q=a&q=b"):
        resp = await client.get(
            f"/reconciliation/search?{bad}", headers={**finance.headers(), "Accept": "application/json"}
        )
        assert resp.status == 422, bad
    table = rows_of(
        await (await client.get("/reconciliation/search.csv?q=HS-", headers=finance.headers())).read()
    )
    assert {r[0] for r in table[1:]} == {a["reference"], b["reference"]}


async def test_money_held_and_in_suspense_with_links_to_the_exceptions(
    client, staff_login, db_url, keys, bank_key
):
    pool = client.app[POOL]
    pr = await new_request(db_url, keys, payer_reference="=HS-HELD")
    await pay(client, bank_key, f"{pr['reference']}", 150_000)  # underpaid: held
    await pay(client, bank_key, "CHUYEN TIEN KHONG RO", 70_000)  # unknown reference: suspense
    held_entry = await entry_of(pool, pr["reference"])
    suspense_entry = await pool.fetchval(
        "SELECT entry_id FROM payments_bank_credits WHERE outcome = 'unknown_reference'"
    )
    exc = await exception(pool, "in_ledger_not_bank", today(), -70_000, entry_id=suspense_entry)
    stmt = await statement(pool, today())
    part = await line(pool, stmt, today(), 150_000, state="exception", match_entries=[held_entry])
    differs = await exception(pool, "amount_differs", today(), -50_000, line_id=part)  # through its line
    await exception(pool, "duplicate", today(), 150_000, line_id=part, state="resolved")  # resolved: no link
    finance = await staff_login("finance")

    html = await (await client.get("/reconciliation", headers=finance.headers())).text()
    assert 'id="held-balance">150.000 ₫' in html and 'id="suspense-balance">70.000 ₫' in html
    assert f'href="/finance/payments/{pr["reference"]}"' in html
    assert f'href="/reconciliation/exceptions/{exc}"' in html
    assert f'href="/reconciliation/exceptions/{differs}"' in html
    assert f'href="/reconciliation/exceptions/{differs + 1}"' not in html
    table = rows_of(await (await client.get("/reconciliation/held.csv", headers=finance.headers())).read())
    held = [r for r in table[1:] if r[1] == pr["reference"]]
    assert held and held[0][2] == "'=HS-HELD" and held[0][3] == "150000" and held[0][6] == str(differs)
    suspense = [r for r in table[1:] if r[4] == "unknown_reference"]
    assert suspense[0][3] == "70000" and suspense[0][6] == str(exc)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2026-02-30", "yesterday", "2026-1-1x"])
async def test_impossible_days_are_refused(client, staff_login, day):
    finance = await staff_login("finance")
    for path in ("/api/v1/reconciliation/workbench", "/reconciliation", "/reconciliation/picture.csv"):
        resp = await client.get(
            f"{path}?date={day}", headers={**finance.headers(), "Accept": "application/json"}
        )
        assert resp.status == 422, (path, day)
        if path.startswith("/api/"):
            assert resp.content_type == "application/problem+json"
            assert (await resp.json())["field"] == "date"
