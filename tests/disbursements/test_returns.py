"""The next day's reconciliation of a batch: the bank's statement shows one debit per payout and, later, a
credit for a payout the receiving bank sent back. Matching takes the payouts by the bank's own id recorded in
their entries (`entry_ref`) and gives the return to disbursements (`claimed`): the item is `returned`, the
programme's expense is credited back, the beneficiary stopped (AC04), and the return never reaches payment
settlement (no payments_received row, nothing in suspense)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import disbursements.setup  # noqa: F401  (registers the returns claimant, as the app does)
from core.money import LOCAL_TZ
from ledger import account_balance, trial_balance
from reconciliation.fetch import fetch_statements
from reconciliation.matching import match_account_days
from tests.disbursements.test_batches import add_beneficiary
from tests.disbursements.test_execution import _approved, bank, execute, pool  # noqa: F401  (fixtures)


async def test_payouts_match_by_bank_id_and_a_return_goes_back_to_its_programme(
    bank,  # noqa: F811  (a fixture imported above)
    conn,
    pool,  # noqa: F811
    keys,
    settings,
):
    sim, url, _ = bank
    settings = replace(settings, banksim_url=url)
    an = await add_beneficiary(conn, keys, name="Nguyễn Văn An", account="0011000456789", amount=3_000_000)
    mai = await add_beneficiary(
        conn, keys, name="Đỗ Thị Mai", account="101876543210", bin_="970415", amount=1_000_000
    )
    batch_id = await _approved(conn, "pension", "2026-01")
    await execute(pool, keys, settings, batch_id)
    items = {
        r["beneficiary_id"]: r
        for r in await conn.fetch("SELECT * FROM disb_items WHERE batch_id = $1", batch_id)
    }
    assert {r["state"] for r in items.values()} == {"paid"}
    expense_paid = await account_balance(conn, "expense:benefit:pension")
    assert expense_paid == 4_000_000

    # The receiving bank sends Mai's payout back: her account closed after the payment.
    returned = await sim.post(
        f"/sim/api/payouts/{items[mai]['end_to_end_id']}/return", json={"reason_code": "AC04"}
    )
    assert returned.status == 201, await returned.text()
    before_payments = await conn.fetchval("SELECT count(*) FROM payments_received")

    today = datetime.now(LOCAL_TZ).date()
    report = await fetch_statements(pool, keys, settings, today)
    assert report.imported and not report.failed, report

    matches = await conn.fetch(
        """SELECT l.direction, l.amount, m.rule FROM recon_lines l
             JOIN recon_matches m ON m.line_id = l.id AND m.state = 'accepted'
            WHERE l.end_to_end_id = ANY($1::text[]) ORDER BY l.id""",
        [r["end_to_end_id"] for r in items.values()],
    )
    assert sorted((m["direction"], m["amount"], m["rule"]) for m in matches) == [
        ("credit", 1_000_000, "claimed"),
        ("debit", 1_000_000, "entry_ref"),
        ("debit", 3_000_000, "entry_ref"),
    ]
    item = await conn.fetchrow("SELECT state, reason_code FROM disb_items WHERE id = $1", items[mai]["id"])
    assert (item["state"], item["reason_code"]) == ("returned", "AC04")
    assert (
        await conn.fetchval("SELECT payments_stopped_reason FROM disb_beneficiaries WHERE id = $1", mai)
        == "AC04"
    )
    assert await conn.fetchval("SELECT state FROM disb_items WHERE id = $1", items[an]["id"]) == "paid"
    # The programme is credited back; the bank account in the ledger agrees with the bank's.
    assert await account_balance(conn, "expense:benefit:pension") == expense_paid - 1_000_000
    assert sum(r.balance for r in await trial_balance(conn)) == 0
    # Never a citizen's payment: no credit booked by payments, nothing parked in suspense for it.
    assert await conn.fetchval("SELECT count(*) FROM payments_received") == before_payments
    open_exceptions = await conn.fetch(
        "SELECT kind, amount FROM recon_exceptions WHERE state = 'open' AND abs(amount) IN (1000000, 3000000)"
    )
    assert open_exceptions == []

    # Matching again changes nothing: the return is booked once.
    report = await fetch_statements(pool, keys, settings, today)
    assert await account_balance(conn, "expense:benefit:pension") == expense_paid - 1_000_000
    assert await conn.fetchval("SELECT count(*) FROM journal_entries WHERE kind = 'disb.return'") == 1

    # The same return reported twice (a second line, another bank reference): still one return, and the
    # second line is left for a person, never claimed as another payment.
    copy = await conn.fetchval(
        """INSERT INTO recon_lines (statement_id, bin, account_number, bank_ref, end_to_end_id, booking_date,
               value_date, direction, amount, reversal, narrative, narrative_encrypted)
           SELECT statement_id, bin, account_number, bank_ref || 'B', end_to_end_id, booking_date, value_date,
                  direction, amount, reversal, narrative, narrative_encrypted
             FROM recon_lines WHERE direction = 'credit' AND end_to_end_id = $1 RETURNING id""",
        items[mai]["end_to_end_id"],
    )
    await match_account_days(conn, "970436", "0011001234567", today, keys=keys)
    assert await conn.fetchval("SELECT count(*) FROM journal_entries WHERE kind = 'disb.return'") == 1
    assert await conn.fetchval("SELECT state FROM recon_lines WHERE id = $1", copy) != "matched"
    assert await account_balance(conn, "expense:benefit:pension") == expense_paid - 1_000_000
