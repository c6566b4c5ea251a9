"""Issue 13, point 3: the postings guards run once per INSERT statement (migrations 0022, 0023), and every
refusal the per-row and deferred triggers made is still made, over the real database."""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest

from core.db import connect
from ledger import account_balance, close_day, post_entry

D = date(2026, 11, 23)
BANK = "asset:bank:970436:0011001234567"
FEE = "revenue:fee:LLTP"
CASH = "asset:cash:lot-1"


@pytest.fixture(autouse=True)
async def accounts(db_url):
    c = await connect(db_url)
    try:
        await c.execute(
            """INSERT INTO collection_accounts (code, bin, account_number, holder_name)
               VALUES ('treasury', '970436', '0011001234567', 'KHO BAC')"""
        )
        await c.execute("INSERT INTO ledger_accounts (path) VALUES ($1), ($2), ($3)", BANK, FEE, CASH)
    finally:
        await c.close()


async def _entry(conn, key: str, day: date = D) -> int:
    return await conn.fetchval(
        "INSERT INTO journal_entries (idempotency_key, kind, business_date, content_hash) "
        "VALUES ($1, 'payment', $2, 'x') RETURNING id",
        key,
        day,
    )


async def _lines(conn, entry: int, *amounts: tuple[str, int], day: date | None = D) -> str:
    """All the given lines in one INSERT statement."""
    return await conn.execute(
        """INSERT INTO postings (entry_id, account_id, amount, business_date)
           SELECT $1, a.id, l.amount, $4
             FROM unnest($2::text[], $3::bigint[]) AS l(path, amount)
             JOIN ledger_accounts a ON a.path = l.path""",
        entry,
        [p for p, _ in amounts],
        [n for _, n in amounts],
        day,
    )


async def test_an_unbalanced_entry_is_refused_at_its_statement(conn):
    async with conn.transaction():
        entry = await _entry(conn, "u")
        with pytest.raises(asyncpg.CheckViolationError, match="unbalanced") as refused:
            await _lines(conn, entry, (BANK, 100), (FEE, -99))
    assert refused.value.constraint_name == "journal_entry_balanced"
    assert await conn.fetchval("SELECT count(*) FROM journal_entries") == 0


async def test_a_single_line_entry_is_refused(conn):
    with pytest.raises(asyncpg.CheckViolationError, match="unbalanced"):
        async with conn.transaction():
            await _lines(conn, await _entry(conn, "one"), (BANK, 100))


async def test_an_entry_without_postings_is_refused_at_commit(conn):
    tx = conn.transaction()
    await tx.start()
    await _entry(conn, "bare")  # accepted for now: its lines may follow in a later statement
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="unbalanced"):
        await tx.commit()
    assert await conn.fetchval("SELECT count(*) FROM journal_entries") == 0


async def test_an_entry_and_its_lines_in_separate_statements_commit(conn):
    async with conn.transaction():
        entry = await _entry(conn, "ok")
        assert await _lines(conn, entry, (BANK, 100), (FEE, -60), (CASH, -40)) == "INSERT 0 3"
    assert await account_balance(conn, BANK) == 100


@pytest.mark.parametrize("balanced", [True, False], ids=["balanced", "unbalancing"])
async def test_lines_added_later_to_an_entry_of_the_same_transaction_are_refused(conn, balanced):
    """Before 0022 a balanced pair added by a second statement was accepted; now every line of an entry comes
    in one statement, so any later line is refused at once."""
    async with conn.transaction():
        entry = await _entry(conn, "k")
        await _lines(conn, entry, (BANK, 7), (FEE, -7))
        more = [(BANK, 3), (CASH, -3)] if balanced else [(BANK, 3)]
        with pytest.raises(asyncpg.IntegrityConstraintViolationError) as refused:
            await _lines(conn, entry, *more)
    assert "already has postings" in str(refused.value) or "unbalanced" in str(refused.value)
    assert await conn.fetchval("SELECT count(*) FROM postings") == 0


async def test_lines_added_to_a_posted_entry_are_refused(conn):
    entry = await post_entry(
        conn, idempotency_key="p", kind="payment", business_date=D, lines=[(BANK, 7), (FEE, -7)]
    )
    for day in (D, None):  # with the date, and leaving the row trigger to fill it
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="already posted") as refused:
            async with conn.transaction():
                await _lines(conn, entry.id, (BANK, 3), (CASH, -3), day=day)
        assert refused.value.constraint_name == "immutable_rows"
    assert await account_balance(conn, BANK) == 7


async def test_a_posting_dated_otherwise_than_its_entry_is_refused(conn):
    with pytest.raises(asyncpg.CheckViolationError, match="dated") as refused:
        async with conn.transaction():
            await _lines(conn, await _entry(conn, "d"), (BANK, 5), (FEE, -5), day=date(2026, 11, 24))
    assert refused.value.constraint_name == "postings_entry_date"


async def test_a_posting_without_a_date_takes_its_entrys(conn):
    async with conn.transaction():
        entry = await _entry(conn, "nd")
        await _lines(conn, entry, (BANK, 5), (FEE, -5), day=None)
    assert {r["business_date"] for r in await conn.fetch("SELECT business_date FROM postings")} == {D}


async def test_one_statement_for_many_entries_refuses_the_one_that_does_not_balance(conn):
    """A group commit inserts the lines of many entries in one statement: each entry is checked on its own."""

    async def many(amounts_of_last: tuple[int, int]) -> None:
        ids = [await _entry(conn, f"g{i}") for i in range(3)]
        entries, paths, amounts = [], [], []
        for i, entry in enumerate(ids):
            a, b = (10, -10) if i < 2 else amounts_of_last
            entries += [entry, entry]
            paths += [BANK, FEE]
            amounts += [a, b]
        await conn.execute(
            """INSERT INTO postings (entry_id, account_id, amount, business_date)
               SELECT l.e, a.id, l.n, $4 FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS l(e, p, n)
                 JOIN ledger_accounts a ON a.path = l.p""",
            entries,
            paths,
            amounts,
            D,
        )

    with pytest.raises(asyncpg.CheckViolationError, match="unbalanced"):
        async with conn.transaction():
            await many((10, -9))
    assert await conn.fetchval("SELECT count(*) FROM journal_entries") == 0
    async with conn.transaction():
        await many((10, -10))
    assert await account_balance(conn, BANK) == 30


async def test_post_entry_runs_no_row_trigger_function(conn):
    """No per-row PL/pgSQL call is left on post_entry's path: one statement check per insert (the deferred
    per-entry check runs at commit), none for lines or for existing accounts."""
    await conn.execute("SET track_functions = 'pl'")
    async with conn.transaction():
        await post_entry(
            conn,
            idempotency_key="t",
            kind="payment",
            business_date=D,
            lines=[(BANK, 30), (FEE, -10), (CASH, -10), ("revenue:parking:lot-1", -10)],
        )
        calls = dict(
            await conn.fetch(
                "SELECT funcname, calls FROM pg_stat_xact_user_functions WHERE funcname = ANY($1)",
                [
                    "postings_take_entry_date",
                    "postings_check_statement",
                    "ledger_bank_accounts_are_registered",
                    "refuse_entries_on_closed_day",
                ],
            )
        )
    assert calls == {"postings_check_statement": 1, "refuse_entries_on_closed_day": 1}


async def test_a_closed_day_still_refuses_new_entries_and_returns_repeats(conn):
    first = await post_entry(
        conn, idempotency_key="r", kind="payment", business_date=D, lines=[(BANK, 5), (FEE, -5)]
    )
    await close_day(conn, D, actor="staff:kt")
    again = await post_entry(
        conn, idempotency_key="r", kind="payment", business_date=D, lines=[(BANK, 5), (FEE, -5)]
    )
    assert (again.id, again.created) == (first.id, False)
    with pytest.raises(asyncpg.CheckViolationError, match="closed") as refused:
        await post_entry(
            conn, idempotency_key="n", kind="payment", business_date=D, lines=[(BANK, 5), (FEE, -5)]
        )
    assert refused.value.constraint_name == "ledger_day_closed"
