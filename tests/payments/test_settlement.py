"""Settlement of bank credits: every anomaly checked on the request and in the ledger."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from core.db import connect
from core.money import LOCAL_TZ
from ledger import account_balance, entry_lines, trial_balance
from payments.receipts import verify_receipt_signature
from payments.requests import (
    NewRequest,
    cancel_payment_request,
    expire_overdue_requests,
    issue_payment_request,
)
from payments.settlement import settle_credit
from tests.payments.conftest import BANK_PATH, credit

pytestmark = pytest.mark.usefixtures("catalogue")
DAY = timedelta(days=1)


async def issue(conn, keys, fee="LLTP", **kw):
    return await issue_payment_request(
        conn,
        keys,
        NewRequest(kind="service_fee", fee_code=fee, **kw),
        created_by="test",
        amount_cap=500_000_000,
        default_expiry=DAY,
    )


async def settle(conn, keys, c, **kw):
    async with conn.transaction():
        return await settle_credit(conn, keys, c, **kw)


async def status_of(conn, pr):
    return await conn.fetchrow("SELECT status, amount_received FROM payment_requests WHERE id = $1", pr["id"])


async def assert_books_balance(conn):
    assert sum(r.balance for r in await trial_balance(conn)) == 0


async def test_exact_payment_settles_with_receipt(conn, keys):
    pr = await issue(conn, keys)
    s = await settle(conn, keys, credit(f"CK {pr['reference']} phi LLTP", 200_000))
    assert s.outcome == "settled" and not s.duplicate
    assert tuple(await status_of(conn, pr)) == ("paid", 200_000)
    assert await account_balance(conn, BANK_PATH) == 200_000
    assert await account_balance(conn, "revenue:fee:LLTP") == -200_000
    receipt = await conn.fetchrow("SELECT * FROM receipts WHERE payment_request_id = $1", pr["id"])
    assert verify_receipt_signature(keys.signing_public_key, receipt["body"], receipt["signature"])
    await assert_books_balance(conn)


async def test_reference_survives_bank_narrative_damage(conn, keys):
    pr = await issue(conn, keys)
    ref = pr["reference"]
    damaged = f"MBVCB.123.{ref[:5].lower()} {ref[5:9]}-{ref[9:]}.NGUYEN VAN A chuyen tien"
    assert (await settle(conn, keys, credit(damaged, 200_000))).outcome == "settled"


async def test_underpaid_is_held_then_completed(conn, keys):
    pr = await issue(conn, keys)
    first = await settle(conn, keys, credit(pr["reference"], 150_000))
    assert first.outcome == "underpaid"
    assert tuple(await status_of(conn, pr)) == ("pending", 150_000)
    assert await account_balance(conn, "liability:held") == -150_000
    assert await account_balance(conn, "revenue:fee:LLTP") == 0
    second = await settle(conn, keys, credit(pr["reference"], 50_000))
    assert second.outcome == "settled"
    assert tuple(await status_of(conn, pr)) == ("paid", 200_000)
    assert await account_balance(conn, "liability:held") == 0
    assert await account_balance(conn, "revenue:fee:LLTP") == -200_000
    await assert_books_balance(conn)


async def test_receipt_lists_exactly_the_credits_that_paid(conn, keys):
    """Settlement signs the receipt from what it holds; it must say what the stored payments say."""
    one = await issue(conn, keys)
    local_time = datetime(2026, 11, 23, 9, 30, tzinfo=LOCAL_TZ)  # banks report local time
    await settle(conn, keys, credit(f"CK {one['reference']}", 200_000, txn="FT-A", booked_at=local_time))
    two = await issue(conn, keys)
    await settle(conn, keys, credit(f"CK {two['reference']}", 50_000, txn="FT-B"))
    await settle(conn, keys, credit(f"CK {two['reference']}", 150_000, txn="FT-C"))
    for pr, txns in ((one, ["FT-A"]), (two, ["FT-B", "FT-C"])):
        receipt = await conn.fetchrow("SELECT body FROM receipts WHERE payment_request_id = $1", pr["id"])
        body = json.loads(receipt["body"])
        stored = await conn.fetch(
            "SELECT bank_txn_id, amount, booked_at FROM payments_received WHERE payment_request_id = $1 "
            "ORDER BY id",
            pr["id"],
        )
        assert [t["id"] for t in body["bank_transactions"]] == txns == [r["bank_txn_id"] for r in stored]
        assert [t["booked_at"] for t in body["bank_transactions"]] == [
            r["booked_at"].isoformat() for r in stored
        ]
        assert body["amount_paid"] == 200_000 and body["payee"]["bank"] == "Vietcombank"


async def test_overpaid_settles_and_excess_goes_to_refunds(conn, keys):
    pr = await issue(conn, keys)
    s = await settle(conn, keys, credit(pr["reference"], 250_000))
    assert s.outcome == "overpaid"
    assert (await status_of(conn, pr))["status"] == "paid"
    assert await account_balance(conn, "revenue:fee:LLTP") == -200_000
    assert await account_balance(conn, "liability:refunds") == -50_000
    assert {(line.account, line.amount) for line in await entry_lines(conn, s.entry_id)} == {
        (BANK_PATH, 250_000),
        ("revenue:fee:LLTP", -200_000),
        ("liability:refunds", -50_000),
    }


async def test_paid_after_expiry_goes_to_suspense(conn, keys):
    pr = await issue(conn, keys, expires_in=timedelta(minutes=5))
    later = datetime.now(UTC) + timedelta(minutes=11)  # past expiry and the 5-minute tolerance
    s = await settle(conn, keys, credit(pr["reference"], 200_000, booked_at=later), now=later)
    assert s.outcome == "late"
    assert (await status_of(conn, pr))["status"] == "pending"  # the sweeper expires it
    assert await expire_overdue_requests(conn, now=later) == 1
    assert (await status_of(conn, pr))["status"] == "expired"
    assert await account_balance(conn, "liability:suspense") == -200_000
    assert await account_balance(conn, "revenue:fee:LLTP") == 0
    s2 = await settle(conn, keys, credit(pr["reference"], 200_000, booked_at=later), now=later)
    assert s2.outcome == "late"


async def test_paid_after_cancel_goes_to_suspense(conn, keys):
    pr = await issue(conn, keys)
    await cancel_payment_request(conn, pr["id"], actor="test", reason="test cancels")
    s = await settle(conn, keys, credit(pr["reference"], 200_000))
    assert s.outcome == "cancelled"
    assert (await status_of(conn, pr))["status"] == "cancelled"
    assert await account_balance(conn, "liability:suspense") == -200_000


async def test_second_payment_of_a_paid_request_goes_to_suspense(conn, keys):
    pr = await issue(conn, keys)
    await settle(conn, keys, credit(pr["reference"], 200_000))
    s = await settle(conn, keys, credit(pr["reference"], 200_000))
    assert s.outcome == "already_paid"
    assert await account_balance(conn, "liability:suspense") == -200_000
    assert await account_balance(conn, "revenue:fee:LLTP") == -200_000


async def test_unknown_reference_goes_to_suspense(conn, keys):
    s = await settle(conn, keys, credit("tien dien thang 11", 99_000))
    assert s.outcome == "unknown_reference" and s.payment_request_id is None
    assert await account_balance(conn, "liability:suspense") == -99_000
    assert await account_balance(conn, BANK_PATH) == 99_000


async def test_repeated_bank_transaction_returns_first_outcome(conn, keys):
    pr = await issue(conn, keys)
    c = credit(pr["reference"], 200_000, txn="FT-DUP-1")
    first = await settle(conn, keys, c)
    again = await settle(conn, keys, c)
    assert again.duplicate and again.outcome == first.outcome and again.entry_id == first.entry_id
    assert await account_balance(conn, BANK_PATH) == 200_000
    assert await conn.fetchval("SELECT count(*) FROM payments_received") == 1


async def test_concurrent_duplicates_post_once(db_url, keys):
    setup = await connect(db_url)
    pr = await issue(setup, keys)
    c = credit(pr["reference"], 200_000, txn="FT-RACE")
    conns = [await connect(db_url) for _ in range(10)]
    try:
        results = await asyncio.gather(*(settle(x, keys, c) for x in conns))
        assert sum(not r.duplicate for r in results) == 1
        assert {r.entry_id for r in results} == {results[0].entry_id}
        assert await account_balance(setup, BANK_PATH) == 200_000
    finally:
        await asyncio.gather(*(x.close() for x in conns))
        await setup.close()


async def test_expired_underpayment_moves_held_money_to_suspense_and_returns_subsidy(conn, keys):
    await conn.execute("UPDATE subsidy_programmes SET per_request = 50000 WHERE code = 'vneid-lltp-demo'")
    pr = await issue(conn, keys, channel="vneid", expires_in=timedelta(minutes=5))
    assert pr["amount_due"] == 150_000 and pr["subsidy_amount"] == 50_000
    await settle(conn, keys, credit(pr["reference"], 100_000))
    assert await expire_overdue_requests(conn, now=datetime.now(UTC) + timedelta(minutes=6)) == 1
    assert await account_balance(conn, "liability:held") == 0
    assert await account_balance(conn, "liability:suspense") == -100_000
    assert (
        await conn.fetchval("SELECT budget_used FROM subsidy_programmes WHERE code = 'vneid-lltp-demo'") == 0
    )


async def test_partially_subsidised_payment_books_the_subsidy(conn, keys):
    await conn.execute("UPDATE subsidy_programmes SET per_request = 50000 WHERE code = 'vneid-lltp-demo'")
    pr = await issue(conn, keys, channel="vneid")
    await settle(conn, keys, credit(pr["reference"], 150_000))
    assert await account_balance(conn, "expense:subsidy:vneid-lltp-demo") == 50_000
    assert await account_balance(conn, "revenue:fee:LLTP") == -200_000
    await assert_books_balance(conn)


async def test_settle_needs_a_transaction(conn, keys):
    with pytest.raises(RuntimeError):
        await settle_credit(conn, keys, credit("x", 1))
