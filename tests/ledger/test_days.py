"""Business days and day close: a closed day refuses entries, closing is audited, balances read snapshots."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest

from core.db import connect
from ledger import (
    DayAlreadyClosed,
    account_balance,
    accounts,
    close_day,
    last_closed_day,
    period_balances,
    post_entry,
    trial_balance,
)

BANK = accounts.bank_account("970436", "0011001234567")
FEE = accounts.fee_revenue("LLTP")
NOV = [date(2026, 11, d) for d in range(1, 31)]


@pytest.fixture(autouse=True)
async def registered_bank_account(db_url):
    c = await connect(db_url)
    try:
        await c.execute(
            """INSERT INTO collection_accounts (code, bin, account_number, holder_name)
               VALUES ('treasury', '970436', '0011001234567', 'KHO BAC')"""
        )
    finally:
        await c.close()


async def book(conn, key: str, day: date, amount: int, *, account: str = FEE):
    return await post_entry(
        conn,
        idempotency_key=key,
        kind="payment",
        business_date=day,
        lines=[(BANK, amount), (account, -amount)],
    )


async def test_a_closed_day_refuses_a_back_dated_entry(conn):
    first = await book(conn, "a", NOV[1], 100)
    await close_day(conn, NOV[2], actor="staff:finance")
    for day in (NOV[2], NOV[0]):  # the closed day itself, and any day before it
        with pytest.raises(asyncpg.CheckViolationError, match="closed") as refused:
            await book(conn, f"late-{day}", day, 7)
        assert refused.value.constraint_name == "ledger_day_closed"
    assert await conn.fetchval("SELECT count(*) FROM journal_entries") == 1
    # A repeat of an entry booked before the close still answers with the original (idempotency holds).
    again = await book(conn, "a", NOV[1], 100)
    assert again.id == first.id and not again.created
    # The correction goes into an open day.
    await post_entry(
        conn,
        idempotency_key="a-reversal",
        kind="correction",
        business_date=NOV[3],
        lines=[(BANK, -100), (FEE, 100)],
        refs={"reverses": str(first.id)},
    )
    assert await account_balance(conn, BANK) == 0
    assert await account_balance(conn, BANK, as_of=NOV[2]) == 100


async def test_closing_is_audited_and_happens_once(conn):
    await book(conn, "a", NOV[0], 100)
    closed = await close_day(conn, NOV[0], actor="staff:kt-lan")
    assert closed.accounts == 2 and closed.closed_by == "staff:kt-lan"
    audit = await conn.fetchrow(
        "SELECT actor, action, subject, before, after FROM audit_log ORDER BY seq DESC LIMIT 1"
    )
    assert (audit["actor"], audit["action"], audit["subject"]) == (
        "staff:kt-lan",
        "ledger.day_closed",
        "ledger:day:2026-11-01",
    )
    assert audit["after"] == {"closed_through": "2026-11-01", "accounts": 2}
    for day in (NOV[0], date(2026, 10, 31)):
        with pytest.raises(DayAlreadyClosed):
            await close_day(conn, day, actor="staff:kt-lan")
    assert await last_closed_day(conn) == NOV[0]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_closed_days SET business_date = business_date - 1",
        "DELETE FROM ledger_closed_days",
        "UPDATE ledger_balance_snapshots SET balance = 0",
        "DELETE FROM ledger_balance_snapshots",
        "TRUNCATE ledger_balance_snapshots",
    ],
)
async def test_closes_and_snapshots_are_immutable(conn, statement):
    await book(conn, "a", NOV[0], 100)
    await close_day(conn, NOV[0], actor="staff:finance")
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="immutable"):
        await conn.execute(statement)


async def test_balances_read_the_snapshot_plus_open_days_and_agree_with_history(conn):
    expected: dict[str, int] = {}
    for i, day in enumerate(NOV[:10]):
        account = FEE if i % 2 else accounts.parking_revenue(i % 3)
        await book(conn, f"e{i}", day, 1000 + i, account=account)
        expected[day] = await conn.fetchval("SELECT coalesce(sum(amount), 0) FROM postings WHERE amount > 0")
        if i in (2, 3, 7):
            await close_day(conn, day, actor="staff:finance")
    direct = {
        r["path"]: r["balance"]
        for r in await conn.fetch(
            "SELECT a.path, sum(p.amount)::bigint AS balance FROM postings p "
            "JOIN ledger_accounts a ON a.id = p.account_id GROUP BY a.path"
        )
    }
    assert {r.account: r.balance for r in await trial_balance(conn)} == direct
    for day in NOV[:12]:
        assert await account_balance(conn, BANK, as_of=day) == expected.get(day, expected[NOV[9]])
    # Without `from`, the period starts after the last close: opening is its snapshot, then the open days.
    period = await period_balances(conn)
    assert period.start == NOV[8]
    bank = next(r for r in period.rows if r.account == BANK)
    assert (bank.opening, bank.debits, bank.credits) == (expected[NOV[7]], 1008 + 1009, 0)
    # A period across a close: opening from the snapshot before it plus the open days up to its start.
    period = await period_balances(conn, start=NOV[5], end=NOV[8])
    bank = next(r for r in period.rows if r.account == BANK)
    assert (bank.opening, bank.debits, bank.closing) == (
        expected[NOV[4]],
        1005 + 1006 + 1007 + 1008,
        expected[NOV[8]],
    )


async def test_a_close_waits_for_an_entry_in_flight_and_counts_it(db_url):
    poster, closer = await connect(db_url), await connect(db_url)
    try:
        tx = poster.transaction()
        await tx.start()
        await book(poster, "in-flight", NOV[4], 250)
        closing = asyncio.create_task(close_day(closer, NOV[4], actor="staff:finance"))
        await asyncio.sleep(0.3)
        assert not closing.done()  # the close waits for the posting transaction
        await tx.commit()
        await asyncio.wait_for(closing, 10)
        assert (
            await closer.fetchval(
                "SELECT s.balance FROM ledger_balance_snapshots s "
                "JOIN ledger_accounts a ON a.id = s.account_id WHERE a.path = $1",
                BANK,
            )
            == 250
        )
        with pytest.raises(asyncpg.CheckViolationError):
            await book(poster, "after", NOV[4], 1)
    finally:
        await poster.close()
        await closer.close()
