"""What finance and approvers do over HTTP: accept a proposed match; a write-off made by one person and
approved by another (the maker refused, nothing posted); the day closed per account only when clean —
refused with open exceptions or a balance difference (named) — and then the ledger refuses that day."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from core.appkeys import POOL
from ledger import post_entry
from ledger.accounts import SUSPENSE, WRITE_OFFS
from tests.reconciliation.conftest import (
    BANK_ACCOUNT,
    BANK_BIN,
    BANK_PATH,
    Line,
    add_statement,
    book_credit,
    new_request,
    yesterday,
)

MATCH = "/api/v1/reconciliation/match"
CLOSE = "/api/v1/reconciliation/days/close"


async def match(client, finance, day):
    body = {"bin": BANK_BIN, "account_number": BANK_ACCOUNT, "from": day.isoformat()}
    resp = await client.post(MATCH, json=body, headers=finance.headers(unsafe=True))
    assert resp.status == 200
    return await resp.json()


async def open_exceptions(client, finance, **query):
    resp = await client.get("/api/v1/reconciliation/exceptions", params=query, headers=finance.headers())
    assert resp.status == 200
    return (await resp.json())["exceptions"]


async def test_a_person_accepts_a_proposed_match(client, staff_login, keys, catalogue):
    pool = client.app[POOL]
    day = yesterday()
    async with pool.acquire() as conn:
        entry = await post_entry(
            conn,
            idempotency_key="deposit-9",
            kind="cash.deposit",
            business_date=day,
            lines=[(BANK_PATH, 300_000), (SUSPENSE, -300_000)],
        )
        await add_statement(conn, keys, day, [Line("X-9", 300_000, "NOP TIEN")])
    finance = await staff_login("finance")
    out = await match(client, finance, day)
    assert out["proposed"]["amount_date"] == 1
    [exc] = await open_exceptions(client, finance)
    match_id = await pool.fetchval("SELECT id FROM recon_matches WHERE state = 'proposed'")
    url = f"/api/v1/reconciliation/exceptions/{exc['id']}/resolve"
    no_note = await client.post(
        url,
        json={"action": "accept_match", "match_id": match_id, "note": ""},
        headers=finance.headers(unsafe=True),
    )
    assert no_note.status == 422 and await pool.fetchval("SELECT state FROM recon_matches") == "proposed"
    done = await client.post(
        url,
        json={"action": "accept_match", "match_id": match_id, "note": "tiền mặt nộp tại quầy"},
        headers=finance.headers(unsafe=True),
    )
    body = await done.json()
    assert done.status == 200 and body["exception"]["state"] == "resolved"
    assert await pool.fetchval("SELECT state FROM recon_matches") == "accepted"
    assert await pool.fetchval("SELECT entry_ids FROM recon_matches") == [entry.id]
    assert await pool.fetchval("SELECT state FROM recon_lines") == "matched"
    again = await client.post(
        url, json={"action": "carry", "note": "x"}, headers=finance.headers(unsafe=True)
    )
    assert again.status == 409


async def test_write_off_needs_an_approver_who_is_not_the_maker(client, staff_login, keys, catalogue):
    pool = client.app[POOL]
    day = yesterday()
    async with pool.acquire() as conn:
        await add_statement(conn, keys, day, [Line("U-1", 5_000, "KHONG RO NGUOI GUI")])
    finance = await staff_login("finance")
    await match(client, finance, day)
    [exc] = await open_exceptions(client, finance)
    assert exc["kind"] == "in_bank_not_ledger" and exc["amount"] == 5_000
    proposed = await client.post(
        f"/api/v1/reconciliation/exceptions/{exc['id']}/resolve",
        json={"action": "write_off", "note": "khoản nhỏ, không xác định"},
        headers=finance.headers(unsafe=True),
    )
    approval_id = (await proposed.json())["approval_id"]
    assert proposed.status == 200 and approval_id and (await proposed.json())["exception"]["state"] == "open"
    entries = await pool.fetchval("SELECT count(*) FROM journal_entries")

    # The maker, even holding the approver role, may not decide it.
    maker_approver = await staff_login("approver")
    own = await pool.fetchrow("SELECT maker FROM approvals WHERE id = $1", approval_id)
    assert own["maker"] == f"staff:{finance.username}"
    denied = await client.post(
        f"/api/v1/approvals/{approval_id}/approve", json={}, headers=finance.headers(unsafe=True)
    )
    assert denied.status == 403  # finance has no approver role
    # an approval made by the approver themself is refused for them (four eyes), nothing posted
    async with pool.acquire() as conn:
        from core.approvals import propose

        self_made = await propose(
            conn,
            "recon.correction",
            "test:self",
            {"exception_id": exc["id"], "action": "write_off", "amount": 5_000, "note": "x"},
            5_000,
            f"staff:{maker_approver.username}",
            "x",
        )
    refused = await client.post(
        f"/api/v1/approvals/{self_made.id}/approve", json={}, headers=maker_approver.headers(unsafe=True)
    )
    problem = await refused.json()
    assert refused.status == 409 and problem["type"] == "/problems/approval-four-eyes"
    assert await pool.fetchval("SELECT count(*) FROM journal_entries") == entries
    assert await pool.fetchval("SELECT state FROM approvals WHERE id = $1", self_made.id) == "pending"

    listed = await client.get("/api/v1/approvals", headers=maker_approver.headers())
    assert {a["id"] for a in (await listed.json())["approvals"]} >= {approval_id}
    page = await client.get("/approvals", headers=maker_approver.headers())
    assert page.status == 200 and "Duyệt" in await page.text()

    # Another approver approves on the page: posted, exception resolved, audited.
    checker = await staff_login("approver")
    resp = await client.post(
        f"/approvals/{approval_id}/approve",
        data={"csrf_token": checker.csrf, "note": "đồng ý"},
        headers=checker.headers(),
        allow_redirects=False,
    )
    assert resp.status == 303
    entry = await pool.fetchrow("SELECT * FROM journal_entries WHERE kind = 'recon.write_off'")
    assert entry is not None
    lines = {
        r["path"]: r["amount"]
        for r in await pool.fetch(
            """SELECT a.path, p.amount FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
                WHERE p.entry_id = $1""",
            entry["id"],
        )
    }
    assert lines == {BANK_PATH: 5_000, WRITE_OFFS: -5_000}
    after = await pool.fetchrow("SELECT * FROM recon_exceptions WHERE id = $1", exc["id"])
    assert after["state"] == "resolved" and after["resolution"] == "write_off"
    assert after["resolved_by"] == f"staff:{checker.username}"
    actions = {r["action"] for r in await pool.fetch("SELECT action FROM audit_log")}
    assert {"approval.proposed", "approval.approved", "recon.exception_resolved"} <= actions
    twice = await client.post(
        f"/api/v1/approvals/{approval_id}/approve", json={}, headers=checker.headers(unsafe=True)
    )
    assert twice.status == 409
    assert await pool.fetchval("SELECT count(*) FROM journal_entries WHERE kind = 'recon.write_off'") == 1


async def test_day_close_refused_until_clean_then_the_ledger_day_is_closed(
    client, staff_login, keys, catalogue
):
    pool = client.app[POOL]
    day = yesterday()
    finance = await staff_login("finance")
    body = {"bin": BANK_BIN, "account_number": BANK_ACCOUNT, "business_date": day.isoformat()}
    nothing = await client.post(CLOSE, json=body, headers=finance.headers(unsafe=True))
    assert nothing.status == 422  # no statement yet

    async with pool.acquire() as conn:
        pr = await new_request(conn, keys)
        await book_credit(conn, keys, pr["reference"], 200_000, "FT-C1", day)
        # the bank says 1.000 ₫ more closing than its lines explain: a balance difference
        await add_statement(conn, keys, day, [Line("FT-C1", 200_000, pr["reference"])], closing=201_000)
        other = await new_request(conn, keys)
        await book_credit(conn, keys, other["reference"], 200_000, "FT-C2", day)  # the bank never booked it
    await match(client, finance, day)
    refused = await client.post(CLOSE, json=body, headers=finance.headers(unsafe=True))
    problem = await refused.json()
    assert refused.status == 409 and problem["open_exceptions"] == 1
    assert "{" not in problem["message"] and "1" in problem["message"]  # its figures filled in
    assert await pool.fetchval("SELECT count(*) FROM recon_account_days") == 0

    [exc] = await open_exceptions(client, finance)
    assert exc["kind"] == "in_ledger_not_bank"
    carried = await client.post(
        f"/api/v1/reconciliation/exceptions/{exc['id']}/resolve",
        json={"action": "carry", "note": "chờ sao kê ngày sau"},
        headers=finance.headers(unsafe=True),
    )
    assert carried.status == 200 and (await carried.json())["exception"]["state"] == "carried"
    differs = await client.post(CLOSE, json=body, headers=finance.headers(unsafe=True))
    problem = await differs.json()
    # ledger 400.000 (two credits) vs statement 201.000
    assert differs.status == 409 and problem["difference"] == 199_000
    assert "199.000" in problem["message"] and "{" not in problem["message"]
    assert "199.000" in problem["detail"]
    page = await client.post(
        "/reconciliation/days/close",
        data={"csrf_token": finance.csrf, **body},
        headers=finance.headers(),
        allow_redirects=False,
    )
    assert page.status == 409 and "199.000" in await page.text()
    assert await pool.fetchval("SELECT count(*) FROM recon_account_days") == 0


async def test_clean_day_closes_and_a_back_dated_entry_is_refused(client, staff_login, keys, catalogue):
    pool = client.app[POOL]
    day = yesterday()
    finance = await staff_login("finance")
    async with pool.acquire() as conn:
        pr = await new_request(conn, keys)
        await book_credit(conn, keys, pr["reference"], 200_000, "FT-OK", day)
        await add_statement(conn, keys, day, [Line("FT-OK", 200_000, pr["reference"])])
    await match(client, finance, day)
    body = {"bin": BANK_BIN, "account_number": BANK_ACCOUNT, "business_date": day.isoformat()}
    done = await client.post(CLOSE, json=body, headers=finance.headers(unsafe=True))
    out = await done.json()
    assert done.status == 201 and out["ledger_day_closed"] and out["ledger_closing"] == 200_000
    assert await pool.fetchval("SELECT max(business_date) FROM ledger_closed_days") == day
    again = await client.post(CLOSE, json=body, headers=finance.headers(unsafe=True))
    assert again.status == 409
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError) as refused:
            await post_entry(
                conn,
                idempotency_key="late",
                kind="adjustment",
                business_date=day,
                lines=[(BANK_PATH, 1), (SUSPENSE, -1)],
            )
    assert refused.value.constraint_name == "ledger_day_closed"
    listed = await (await client.get("/api/v1/reconciliation/days", headers=finance.headers())).json()
    assert listed["days"][0]["business_date"] == day.isoformat()
    page = await client.get("/reconciliation/exceptions", headers=finance.headers())
    assert page.status == 200 and "Ngoại lệ" in await page.text()


async def test_the_day_named_in_the_path_closes_as_spec_md_fixes_it(client, staff_login, keys, catalogue):
    """`POST /api/v1/reconciliation/days/{bin}/{account}/{date}/close` (SPEC.md's fixed path): the same
    close as the body form; a malformed day or account in the path is a 422 naming it, and nothing closes."""
    pool = client.app[POOL]
    day = yesterday()
    finance = await staff_login("finance")
    headers = finance.headers(unsafe=True)
    base = "/api/v1/reconciliation/days"
    for bad, field in (
        (f"{base}/{BANK_BIN}/{BANK_ACCOUNT}/9999-12-31/close", "business_date"),
        (f"{base}/{BANK_BIN}/{BANK_ACCOUNT}/2026-02-30/close", "business_date"),
        (f"{base}/{BANK_BIN}/{BANK_ACCOUNT}/20261201/close", "business_date"),  # ISO, but not YYYY-MM-DD
        (f"{base}/{BANK_BIN}/{BANK_ACCOUNT}/2026-W49-1/close", "business_date"),
        (f"{base}/97043/{BANK_ACCOUNT}/{day.isoformat()}/close", "bin"),
        (f"{base}/%E2%80%8B{BANK_BIN}/{BANK_ACCOUNT}/{day.isoformat()}/close", "bin"),  # a zero-width space
        (f"{base}/{BANK_BIN}/{'1' * 35}/{day.isoformat()}/close", "account_number"),
    ):
        refused = await client.post(bad, headers=headers)
        assert refused.status == 422 and (await refused.json())["field"] == field, bad
    path = f"{base}/{BANK_BIN}/{BANK_ACCOUNT}/{day.isoformat()}/close"
    assert (await client.post(path, headers=headers)).status == 422  # no statement yet
    async with pool.acquire() as conn:
        pr = await new_request(conn, keys)
        await book_credit(conn, keys, pr["reference"], 200_000, "FT-P", day)
        await add_statement(conn, keys, day, [Line("FT-P", 200_000, pr["reference"])])
    await match(client, finance, day)
    answers = await asyncio.gather(*(client.post(path, headers=headers) for _ in range(20)))
    assert sorted(a.status for a in answers) == [201] + [409] * 19  # the same close 20 times at once
    [done] = [a for a in answers if a.status == 201]
    out = await done.json()
    assert out["business_date"] == day.isoformat() and out["ledger_day_closed"]
    assert (await client.post(path, headers=headers)).status == 409
    assert await pool.fetchval("SELECT count(*) FROM recon_account_days") == 1
    spec = await (await client.get("/openapi.json")).json()
    assert "/api/v1/reconciliation/days/{bin}/{account}/{date}/close" in spec["paths"]


async def _a_credit_the_bank_never_booked(client, finance, keys, day, bank_txn_id: str) -> None:
    """A booked credit and an empty statement for `day`, matched: one "in ledger, not in bank" exception."""
    async with client.app[POOL].acquire() as conn:
        pr = await new_request(conn, keys)
        await book_credit(conn, keys, pr["reference"], 200_000, bank_txn_id, day)
        await add_statement(conn, keys, day, [], closing=0)
    await match(client, finance, day)


async def test_a_carry_sent_five_times_at_once_is_recorded_once(client, staff_login, keys, catalogue):
    pool = client.app[POOL]
    day = yesterday()
    finance = await staff_login("finance")
    await _a_credit_the_bank_never_booked(client, finance, keys, day, "FT-K")
    [exc] = await open_exceptions(client, finance)
    url = f"/api/v1/reconciliation/exceptions/{exc['id']}/resolve"
    body = {"action": "carry", "note": "chờ sao kê ngày sau"}
    answers = await asyncio.gather(
        *(client.post(url, json=body, headers=finance.headers(unsafe=True)) for _ in range(5))
    )
    assert [a.status for a in answers] == [200] * 5
    audited = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'recon.exception_resolved' AND subject = $1",
        f"recon_exception:{exc['id']}",
    )
    assert audited == 1
    again = await client.post(
        url, json={**body, "note": "vẫn chờ, đã gọi ngân hàng"}, headers=finance.headers(unsafe=True)
    )
    assert again.status == 200  # a new note is a new action
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'recon.exception_resolved' AND subject = $1",
            f"recon_exception:{exc['id']}",
        )
        == 2
    )


async def test_exceptions_are_filtered_by_spec_md_s_names_and_by_the_answer_s(
    client, staff_login, keys, catalogue
):
    """SPEC.md: `account`, `date`, `kind`, `state`; the answer's own field names work too."""
    day = yesterday()
    finance = await staff_login("finance")
    await _a_credit_the_bank_never_booked(client, finance, keys, day, "FT-F")
    spec_names = {
        "account": BANK_ACCOUNT,
        "date": day.isoformat(),
        "kind": "in_ledger_not_bank",
        "state": "open",
    }
    own_names = {"account_number": BANK_ACCOUNT, "business_date": day.isoformat()}
    found = await open_exceptions(client, finance, **spec_names)
    assert len(found) == 1 and found == await open_exceptions(client, finance, **own_names)
    assert await open_exceptions(client, finance, date=(day - timedelta(days=1)).isoformat()) == []
    assert await open_exceptions(client, finance, account="9999999999") == []
    refused = await client.get(
        "/api/v1/reconciliation/exceptions", params={"date": "9999-12-31"}, headers=finance.headers()
    )
    assert refused.status == 422
    spec = await (await client.get("/openapi.json")).json()
    names = {p["name"] for p in spec["paths"]["/api/v1/reconciliation/exceptions"]["get"]["parameters"]}
    assert {"account", "date", "kind", "state"} <= names, names
