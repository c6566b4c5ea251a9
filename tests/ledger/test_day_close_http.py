"""Day close as finance uses it: the API, the page's form and the CLI all close through ledger.days.close_day;
a day that has not ended, a day already closed, and the wrong role are refused with nothing changed. (A bank
credit booked on a day closed since: tests/payments/test_closed_day_credit.py.)"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.appkeys import POOL
from core.keys import keys_as_env
from core.money import LOCAL_TZ

ROOT = Path(__file__).resolve().parents[2]


def today():
    return datetime.now(LOCAL_TZ).date()


async def closed_days(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM ledger_closed_days")


async def test_finance_closes_a_past_day_by_api(client, staff_login):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    yesterday = (today() - timedelta(days=1)).isoformat()

    for day in (today().isoformat(), (today() + timedelta(days=1)).isoformat()):
        early = await client.post(
            "/api/v1/ledger/days/close", json={"business_date": day}, headers=finance.headers(unsafe=True)
        )
        problem = await early.json()
        assert early.status == 422 and problem["field"] == "business_date"
    assert await closed_days(pool) == 0

    attendant = await staff_login("attendant")
    denied = await client.post(
        "/api/v1/ledger/days/close", json={"business_date": yesterday}, headers=attendant.headers(unsafe=True)
    )
    assert denied.status == 403 and await closed_days(pool) == 0

    done = await client.post(
        "/api/v1/ledger/days/close", json={"business_date": yesterday}, headers=finance.headers(unsafe=True)
    )
    body = await done.json()
    assert done.status == 201 and body["business_date"] == yesterday
    assert body["closed_by"] == f"staff:{finance.username}"
    again = await client.post(
        "/api/v1/ledger/days/close", json={"business_date": yesterday}, headers=finance.headers(unsafe=True)
    )
    assert again.status == 409 and await closed_days(pool) == 1
    audit = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'ledger.day_closed'")
    assert audit == 1
    listing = await (await client.get("/api/v1/ledger/days", headers=finance.headers())).json()
    assert listing["closed_through"] == yesterday and len(listing["recent"]) == 1


@pytest.mark.parametrize("typed", ["9999-12-31", "0001-01-01", "31/02/2026", "yesterday"])
async def test_the_page_refuses_impossible_days_beside_the_field(client, staff_login, typed):
    finance = await staff_login("finance")
    resp = await client.post(
        "/ledger/days/close",
        data={"csrf_token": finance.csrf, "business_date": typed},
        headers=finance.headers(),
        allow_redirects=False,
    )
    html = await resp.text()
    assert resp.status == 422 and 'id="err-business_date"' in html
    assert await closed_days(client.app[POOL]) == 0


async def test_the_page_closes_and_refuses_today_in_vietnamese(client, staff_login):
    finance = await staff_login("finance")
    page = await client.get("/ledger/days", headers=finance.headers())
    assert page.status == 200 and "Khóa sổ" in await page.text()
    refused = await client.post(
        "/ledger/days/close",
        data={"csrf_token": finance.csrf, "business_date": today().strftime("%d/%m/%Y")},
        headers=finance.headers(),
        allow_redirects=False,
    )
    html = await refused.text()
    assert (
        refused.status == 422 and "chưa kết thúc theo giờ Hà Nội" in html and 'id="err-business_date"' in html
    )
    yesterday = today() - timedelta(days=1)
    done = await client.post(
        "/ledger/days/close",
        data={"csrf_token": finance.csrf, "business_date": yesterday.isoformat()},
        headers=finance.headers(),
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"] == "/ledger/days?saved=1"
    listed = await (await client.get("/ledger/days?saved=1", headers=finance.headers())).text()
    assert yesterday.strftime("%d/%m/%Y") in listed


def test_close_day_from_the_command_line(db_url, keys, tmp_path):
    """As finance would from a shell: refused for today (exit 1, a reason), done for yesterday (exit 0)."""
    env = {
        "DATABASE_URL": db_url,
        "CITYPAY_VAR_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        **keys_as_env(keys),
    }
    refused = subprocess.run(
        [sys.executable, "main.py", "close-day", today().isoformat()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "has not ended" in refused.stderr
    yesterday = (today() - timedelta(days=1)).isoformat()
    done = subprocess.run(
        [sys.executable, "main.py", "close-day", yesterday],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"closed through {yesterday}" in done.stdout
