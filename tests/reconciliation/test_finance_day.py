"""Issue 10's "done means", over HTTP against a real simulated bank: a citizen pays but the bank's callback
is lost; someone else transfers money with no reference. Finance fetches yesterday's statement, the lost
payment is settled from it, the stray credit is an exception that finance writes off with an approver's
sign-off (not their own), the account's day closes with bank and ledger agreeing — and the ledger then
refuses an entry dated on that day."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from core.db import connect
from core.demo_bank_key import DEMO_BANK_BIN, DEMO_CITY_ACCOUNT, DEMO_CITY_OPENING_BALANCE
from ledger import accounts, post_entry
from reconciliation.demo import load_reconciliation_demo
from tests.banksim.conftest import banksim_db, pay, vietqr  # noqa: F401  (banksim_db is a fixture)
from tests.reconciliation.test_fetch import bank, today  # noqa: F401  (bank is a fixture)

FEE = 200_000  # the demo's LLTP fee
STRAY = 150_000


async def _as_of_yesterday(dsn: str) -> None:
    """The bank booked both transfers yesterday (the simulator books at its clock's now; its book is
    append-only, so the test steps around its triggers as the database owner)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("UPDATE transfers SET booked_at = booked_at - interval '1 day'")
        await conn.execute("UPDATE postings SET booked_at = booked_at - interval '1 day'")
    finally:
        await conn.close()


@pytest.mark.timeout(240)
async def test_a_finance_day_from_lost_callback_to_closed_day(
    bank,  # noqa: F811
    banksim_db,  # noqa: F811
    db_url,
    settings,
    keys,
    make_app,
    aiohttp_client,
    staff_login,
    api_token,
):
    sim, url = bank
    conn = await connect(db_url)
    try:
        await load_reconciliation_demo(conn, settings, keys)  # the bank account's opening balance
    finally:
        await conn.close()
    client = await aiohttp_client(make_app(banksim_url=url, statement_fetch_at="23:59"))
    token = await api_token("payment-requests:write", fee_codes=["LLTP"])
    issued = await client.post(
        "/api/v1/payment-requests",
        json={"kind": "service_fee", "fee_code": "LLTP"},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "finance-day-1"},
    )
    request = await issued.json()
    assert issued.status == 201, request

    # The citizen pays; the bank's callback is lost. Someone else sends money with no reference.
    await pay(sim, vietqr(FEE, request["reference"]), fault="drop")
    await pay(sim, vietqr(STRAY, "UNG HO QUY"), fault="drop")
    await _as_of_yesterday(banksim_db)
    yesterday = today() - timedelta(days=1)
    status = await client.get(
        f"/api/v1/payment-requests/{request['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert (await status.json())["status"] == "pending"  # citypay has heard nothing

    finance = await staff_login("finance")
    fetched = await client.post(
        "/api/v1/reconciliation/statements/fetch",
        json={"business_date": yesterday.isoformat()},
        headers=finance.headers(unsafe=True),
    )
    assert fetched.status == 200 and (await fetched.json())["failed"] == []

    # The lost payment is settled from the statement: paid, with a receipt.
    paid = await (
        await client.get(
            f"/api/v1/payment-requests/{request['id']}", headers={"Authorization": f"Bearer {token}"}
        )
    ).json()
    assert paid["status"] == "paid"
    # The stray credit is in the bank, not in the ledger.
    listing = await (await client.get("/api/v1/reconciliation/exceptions", headers=finance.headers())).json()
    [stray] = [e for e in listing["exceptions"] if e["kind"] == "in_bank_not_ledger"]
    assert stray["amount"] == STRAY and stray["business_date"] == yesterday.isoformat()

    # Closing now is refused: an exception is open.
    close = {
        "bin": DEMO_BANK_BIN,
        "account_number": DEMO_CITY_ACCOUNT,
        "business_date": yesterday.isoformat(),
    }
    early = await client.post(
        "/api/v1/reconciliation/days/close", json=close, headers=finance.headers(unsafe=True)
    )
    assert early.status == 409

    # Finance writes it off; that needs an approver who is not the maker.
    resolved = await client.post(
        f"/api/v1/reconciliation/exceptions/{stray['id']}/resolve",
        json={"action": "write_off", "note": "không xác định được người nộp; xóa sổ theo quy định"},
        headers=finance.headers(unsafe=True),
    )
    body = await resolved.json()
    assert resolved.status in (200, 201, 202) and body["approval_id"], body
    own = await client.post(
        f"/api/v1/approvals/{body['approval_id']}/approve",
        json={"note": "ok"},
        headers=finance.headers(unsafe=True),
    )
    assert own.status == 403
    approver = await staff_login("approver")
    approved = await client.post(
        f"/api/v1/approvals/{body['approval_id']}/approve",
        json={"note": "đồng ý"},
        headers=approver.headers(unsafe=True),
    )
    assert approved.status == 200, await approved.text()
    after = await (
        await client.get(f"/api/v1/reconciliation/exceptions/{stray['id']}", headers=finance.headers())
    ).json()
    assert after["state"] == "resolved" and after["resolution"] == "write_off"
    page = await (
        await client.get(f"/reconciliation/exceptions/{stray['id']}", headers=finance.headers())
    ).text()
    assert "(đã xóa sổ)" in page and "write_off)" not in page  # the resolution in the reader's language

    # Now the day closes: statement in and balanced, nothing open, bank = ledger.
    closed = await client.post(
        "/api/v1/reconciliation/days/close", json=close, headers=finance.headers(unsafe=True)
    )
    out = await closed.json()
    assert closed.status == 201, out
    assert out["ledger_closing"] == out["statement_closing"] == DEMO_CITY_OPENING_BALANCE + FEE + STRAY
    assert out["ledger_day_closed"]

    # The trial balance for that day cannot change.
    before = await (
        await client.get(
            f"/api/v1/ledger/trial-balance?as_of={yesterday.isoformat()}", headers=finance.headers()
        )
    ).json()
    conn = await connect(db_url)
    try:
        with pytest.raises(asyncpg.CheckViolationError) as refused:
            await post_entry(
                conn,
                idempotency_key="late-correction",
                kind="test.correction",
                business_date=yesterday,
                lines=[(accounts.SUSPENSE, 1), (accounts.WRITE_OFFS, -1)],
            )
        assert refused.value.constraint_name == "ledger_day_closed"  # the API maps it to DayClosed (409)
    finally:
        await conn.close()
    again = await (
        await client.get(
            f"/api/v1/ledger/trial-balance?as_of={yesterday.isoformat()}", headers=finance.headers()
        )
    ).json()
    assert again == before
