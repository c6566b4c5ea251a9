"""Matching, strict to loose, on statements stored as the importer stores them: each pass, the lost callback
settled from the statement, and the exceptions the classification finds. Re-running adds nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger import post_entry
from ledger.accounts import SUSPENSE
from payments.banks.event import BankCredit
from payments.settlement import settle_credit
from reconciliation.matching import match_account_days
from tests.reconciliation.conftest import (
    BANK_ACCOUNT,
    BANK_BIN,
    BANK_PATH,
    Line,
    add_statement,
    at_noon,
    book_credit,
    new_request,
    yesterday,
)


async def run(conn, keys, day=None):
    day = day or yesterday()
    return await match_account_days(conn, BANK_BIN, BANK_ACCOUNT, day, day, keys=keys)


async def exceptions(conn) -> dict[str, list]:
    found: dict[str, list] = {}
    for r in await conn.fetch("SELECT * FROM recon_exceptions ORDER BY id"):
        found.setdefault(r["kind"], []).append(r)
    return found


async def test_bank_txn_id_match_is_accepted_and_a_rerun_adds_nothing(rconn, keys):
    day = yesterday()
    pr = await new_request(rconn, keys)
    settled = await book_credit(rconn, keys, f"{pr['reference']} NGUYEN VAN AN", 200_000, "FT1001", day)
    await add_statement(rconn, keys, day, [Line("FT1001", 200_000, f"{pr['reference']} NGUYEN VAN AN")])
    report = await run(rconn, keys)
    assert report.matched["bank_txn_id"] == 1 and not +report.exceptions
    match = await rconn.fetchrow("SELECT * FROM recon_matches")
    assert match["state"] == "accepted" and match["rule"] == "bank_txn_id"
    assert list(match["entry_ids"]) == [settled.entry_id]
    assert await rconn.fetchval("SELECT state FROM recon_lines") == "matched"
    again = await run(rconn, keys)
    assert not +again.matched and not +again.exceptions
    assert await rconn.fetchval("SELECT count(*) FROM recon_matches") == 1
    assert await rconn.fetchval("SELECT count(*) FROM recon_exceptions") == 0


async def test_a_lost_callback_is_settled_from_the_statement(rconn, keys):
    day = yesterday()
    pr = await new_request(rconn, keys)
    narrative = f"{pr['reference']} NGUYEN VAN AN 0912 345 678"
    await add_statement(rconn, keys, day, [Line("FT2001", 200_000, narrative)])
    report = await run(rconn, keys)
    assert report.settled == 1 and report.matched["reference"] == 1 and not +report.exceptions
    status = await rconn.fetchval("SELECT status FROM payment_requests WHERE id = $1", pr["id"])
    assert status == "paid"
    assert await rconn.fetchval("SELECT count(*) FROM receipts WHERE payment_request_id = $1", pr["id"]) == 1
    credit = await rconn.fetchrow("SELECT * FROM payments_received")
    assert credit["bank_code"] == "vcb-sim" and credit["bank_txn_id"] == "FT2001"
    assert "0912" not in credit["narrative"]  # the stored copy is redacted
    match = await rconn.fetchrow("SELECT * FROM recon_matches")
    assert match["rule"] == "reference" and list(match["entry_ids"]) == [credit["entry_id"]]
    # The callback arrives after all: a duplicate, nothing booked twice.
    entries = await rconn.fetchval("SELECT count(*) FROM journal_entries")
    late = await book_credit(rconn, keys, narrative, 200_000, "FT2001", day)
    assert late.duplicate and late.entry_id == credit["entry_id"]
    assert await rconn.fetchval("SELECT count(*) FROM journal_entries") == entries
    assert not +(await run(rconn, keys)).exceptions


async def test_a_callback_the_bank_never_booked_is_in_ledger_not_in_bank(rconn, keys):
    day = yesterday()
    pr = await new_request(rconn, keys)
    booked = await book_credit(rconn, keys, f"{pr['reference']}", 200_000, "FT3001", day)
    await add_statement(rconn, keys, day, [], opening=0)
    report = await run(rconn, keys)
    assert report.exceptions["in_ledger_not_bank"] == 1
    [exc] = (await exceptions(rconn))["in_ledger_not_bank"]
    assert exc["entry_id"] == booked.entry_id and exc["amount"] == -200_000 and exc["state"] == "open"


async def test_fee_netted_credit_is_matched_with_an_amount_difference(rconn, keys):
    day = yesterday()
    pr = await new_request(rconn, keys)
    booked = await book_credit(rconn, keys, pr["reference"], 200_000, "FT4001", day)
    await add_statement(rconn, keys, day, [Line("FT4001", 198_900, pr["reference"])])
    report = await run(rconn, keys)
    assert report.exceptions["amount_differs"] == 1
    found = await exceptions(rconn)
    assert set(found) == {"amount_differs"}
    [exc] = found["amount_differs"]
    assert exc["amount"] == -1_100 and exc["entry_id"] == booked.entry_id
    assert await rconn.fetchval("SELECT state FROM recon_lines") == "exception"


async def test_reference_found_under_another_bank_ref_is_not_settled_twice(rconn, keys):
    """The callback and the statement name the same payment under different bank references: matched by the
    reference (amount differs here), never settled a second time."""
    day = yesterday()
    pr = await new_request(rconn, keys)
    await book_credit(rconn, keys, pr["reference"], 200_000, "CB-77", day)
    await add_statement(rconn, keys, day, [Line("ST-77", 199_000, f"TT {pr['reference']}")])
    report = await run(rconn, keys)
    assert report.settled == 0 and report.exceptions["amount_differs"] == 1
    assert await rconn.fetchval("SELECT count(*) FROM payments_received") == 1


async def test_reversal_pair_and_duplicate_line(rconn, keys):
    day = yesterday()
    await add_statement(
        rconn,
        keys,
        day,
        [
            Line("R-1", 50_000, "KHONG RO", end_to_end_id="E1"),
            Line("R-1", 50_000, "HOAN TRA", direction="debit", reversal=True, end_to_end_id="E1"),
            Line("D-1", 70_000, "CHUYEN TIEN", end_to_end_id="E2"),
            Line("D-2", 70_000, "CHUYEN TIEN", end_to_end_id="E2"),
        ],
    )
    report = await run(rconn, keys)
    found = await exceptions(rconn)
    assert sorted(e["amount"] for e in found["reversal"]) == [-50_000, 50_000]
    [dup] = found["duplicate"]
    assert dup["line_id"] == await rconn.fetchval("SELECT id FROM recon_lines WHERE bank_ref = 'D-2'")
    # the first of the two is simply not in the ledger
    [first] = found["in_bank_not_ledger"]
    assert first["line_id"] == await rconn.fetchval("SELECT id FROM recon_lines WHERE bank_ref = 'D-1'")
    assert report.exceptions["reversal"] == 2 and report.exceptions["duplicate"] == 1


async def test_amount_and_date_window_is_only_proposed(rconn, keys):
    day = yesterday()
    entry = await post_entry(
        rconn,
        idempotency_key="cash-deposit-1",
        kind="cash.deposit",
        business_date=day,
        lines=[(BANK_PATH, 1_234_000), (SUSPENSE, -1_234_000)],
    )
    await add_statement(rconn, keys, day, [Line("X-1", 1_234_000, "NOP TIEN MAT")])
    report = await run(rconn, keys)
    assert report.proposed["amount_date"] == 1
    match = await rconn.fetchrow("SELECT * FROM recon_matches")
    assert match["state"] == "proposed" and list(match["entry_ids"]) == [entry.id]
    assert await rconn.fetchval("SELECT state FROM recon_lines") == "proposed"
    # waiting for a person: the line is an open exception, the entry is not listed again
    found = await exceptions(rconn)
    assert set(found) == {"in_bank_not_ledger"}


async def test_one_to_many_payout_batch_is_proposed(rconn, keys):
    day = yesterday()
    await post_entry(
        rconn,
        idempotency_key="fund",
        kind="funding",
        business_date=day,
        lines=[(BANK_PATH, 1_000_000), (SUSPENSE, -1_000_000)],
    )
    ids = []
    for i, amount in enumerate((100_000, 250_000, 50_000)):
        entry = await post_entry(
            rconn,
            idempotency_key=f"payout-{i}",
            kind="payout",
            business_date=day,
            lines=[(BANK_PATH, -amount), (SUSPENSE, amount)],
            refs={"batch_id": "B-7"},
        )
        ids.append(entry.id)
    await add_statement(
        rconn,
        keys,
        day,
        [Line("F-1", 1_000_000, "FUNDING"), Line("P-1", 400_000, "BATCH B-7", direction="debit")],
    )
    report = await run(rconn, keys)
    assert report.proposed["one_to_many"] == 1
    match = await rconn.fetchrow("SELECT * FROM recon_matches WHERE rule = 'one_to_many'")
    assert match["state"] == "proposed" and sorted(match["entry_ids"]) == sorted(ids)


async def test_match_over_http_needs_finance_and_reports(client, staff_login, keys, catalogue):
    from core.appkeys import POOL

    pool = client.app[POOL]
    day = yesterday()
    async with pool.acquire() as conn:
        pr = await new_request(conn, keys)
        await add_statement(conn, keys, day, [Line("H-1", 200_000, pr["reference"])])
    body = {"bin": BANK_BIN, "account_number": BANK_ACCOUNT, "from": day.isoformat()}
    attendant = await staff_login("attendant")
    denied = await client.post(
        "/api/v1/reconciliation/match", json=body, headers=attendant.headers(unsafe=True)
    )
    assert denied.status == 403 and await pool.fetchval("SELECT count(*) FROM recon_matches") == 0
    finance = await staff_login("finance")
    bad = await client.post(
        "/api/v1/reconciliation/match", json={**body, "bin": "x"}, headers=finance.headers(unsafe=True)
    )
    assert bad.status == 422 and bad.content_type == "application/problem+json"
    resp = await client.post("/api/v1/reconciliation/match", json=body, headers=finance.headers(unsafe=True))
    out = await resp.json()
    assert resp.status == 200 and out["settled"] == 1 and out["matched"]["reference"] == 1


_unused = (UTC, datetime, BankCredit, settle_credit, at_noon)
