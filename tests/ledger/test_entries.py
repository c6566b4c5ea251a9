"""The ledger: post_entry, the database's guards, balances and the trial balance."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db import connect
from core.errors import ValidationFailed
from ledger import (
    EntryConflict,
    UnbalancedEntry,
    account_balance,
    entry_lines,
    post_entry,
    trial_balance,
)

D = date(2026, 11, 23)
BANK = "asset:bank:970436:0011001234567"
FEE = "revenue:fee:LLTP"


@pytest.fixture(autouse=True)
async def registered_bank_accounts(db_url):
    """Bank accounts exist in the ledger only as registered collection accounts (migration 0005)."""
    c = await connect(db_url)
    try:
        await c.execute(
            """INSERT INTO collection_accounts (code, bin, account_number, holder_name)
               VALUES ('treasury', '970436', '0011001234567', 'KHO BAC'),
                      ('other', '970415', '112233445566', 'KHO BAC 2')"""
        )
    finally:
        await c.close()


async def test_post_entry_books_balanced_lines(conn):
    entry = await post_entry(
        conn,
        idempotency_key="e1",
        kind="payment",
        business_date=D,
        lines=[(BANK, 200_000), (FEE, -200_000)],
        refs={"reference": "CPX"},
    )
    assert entry.created
    assert await account_balance(conn, BANK) == 200_000
    assert await account_balance(conn, FEE) == -200_000
    assert [(line.account, line.amount) for line in await entry_lines(conn, entry.id)] == [
        (BANK, 200_000),
        (FEE, -200_000),
    ]


async def test_same_key_same_content_returns_original(conn):
    first = await post_entry(
        conn, idempotency_key="k", kind="payment", business_date=D, lines=[(BANK, 5), (FEE, -5)]
    )
    again = await post_entry(
        conn, idempotency_key="k", kind="payment", business_date=D, lines=[(FEE, -5), (BANK, 5)]
    )
    assert again.id == first.id and not again.created
    assert await conn.fetchval("SELECT count(*) FROM journal_entries") == 1
    assert await account_balance(conn, BANK) == 5


async def test_same_key_other_content_is_refused(conn):
    await post_entry(conn, idempotency_key="k", kind="payment", business_date=D, lines=[(BANK, 5), (FEE, -5)])
    with pytest.raises(EntryConflict):
        await post_entry(
            conn, idempotency_key="k", kind="payment", business_date=D, lines=[(BANK, 6), (FEE, -6)]
        )
    assert await account_balance(conn, BANK) == 5


@pytest.mark.parametrize(
    "lines",
    [
        [(BANK, 100), (FEE, -99)],
        [(BANK, 100)],
        [(BANK, 0), (FEE, 0)],
        [(BANK, 1.5), (FEE, -1.5)],
        [("cash", 100), (FEE, -100)],
        [("asset:", 100), (FEE, -100)],
    ],
)
async def test_post_entry_refuses_bad_lines(conn, lines):
    with pytest.raises((UnbalancedEntry, ValidationFailed)):
        await post_entry(conn, idempotency_key="bad", kind="payment", business_date=D, lines=lines)
    assert await conn.fetchval("SELECT count(*) FROM journal_entries") == 0


async def test_database_refuses_unbalanced_entry_written_directly(conn):
    await conn.execute("INSERT INTO ledger_accounts (path) VALUES ($1), ($2)", BANK, FEE)
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="unbalanced"):
        async with conn.transaction():
            entry = await conn.fetchval(
                "INSERT INTO journal_entries (idempotency_key, kind, business_date, content_hash) "
                "VALUES ('raw', 'payment', $1, 'x') RETURNING id",
                D,
            )
            await conn.execute(
                "INSERT INTO postings (entry_id, account_id, amount) "
                "SELECT $1, id, 100 FROM ledger_accounts WHERE path = $2",
                entry,
                BANK,
            )
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="unbalanced"):
        async with conn.transaction():  # an entry with no postings at all
            await conn.execute(
                "INSERT INTO journal_entries (idempotency_key, kind, business_date, content_hash) "
                "VALUES ('raw2', 'payment', $1, 'x')",
                D,
            )
    assert await conn.fetchval("SELECT count(*) FROM journal_entries") == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE postings SET amount = amount * 2",
        "DELETE FROM postings",
        "UPDATE journal_entries SET business_date = business_date + 1",
        "DELETE FROM journal_entries",
        "TRUNCATE postings",
    ],
)
async def test_database_refuses_changes_to_posted_rows(conn, statement):
    await post_entry(conn, idempotency_key="k", kind="payment", business_date=D, lines=[(BANK, 7), (FEE, -7)])
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="immutable"):
        await conn.execute(statement)
    assert await account_balance(conn, BANK) == 7


async def test_database_refuses_lines_added_to_a_posted_entry(conn):
    entry = await post_entry(
        conn, idempotency_key="k", kind="payment", business_date=D, lines=[(BANK, 7), (FEE, -7)]
    )
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="already posted"):
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO postings (entry_id, account_id, amount) "
                "SELECT $1, id, CASE path WHEN $2 THEN 3 ELSE -3 END FROM ledger_accounts",
                entry.id,
                BANK,
            )
    assert await account_balance(conn, BANK) == 7


async def test_trial_balance_as_of_a_date(conn):
    await post_entry(
        conn,
        idempotency_key="a",
        kind="payment",
        business_date=date(2026, 11, 1),
        lines=[(BANK, 100), (FEE, -100)],
    )
    await post_entry(
        conn,
        idempotency_key="b",
        kind="payment",
        business_date=date(2026, 11, 2),
        lines=[(BANK, 50), ("revenue:parking:lot-1", -50)],
    )
    early = {r.account: r.balance for r in await trial_balance(conn, as_of=date(2026, 11, 1))}
    assert early == {BANK: 100, FEE: -100}
    late = await trial_balance(conn, as_of=date(2026, 11, 2))
    assert sum(r.debit for r in late) == sum(r.credit for r in late) == 150
    assert await account_balance(conn, BANK, as_of=date(2026, 10, 31)) == 0


ACCOUNTS = [
    BANK,
    FEE,
    "revenue:parking:lot-1",
    "liability:suspense",
    "liability:refunds",
    "expense:subsidy:vneid",
    "asset:bank:970415:112233445566",
]


@st.composite
def entries(draw):
    n_lines = draw(st.integers(2, 5))
    accounts = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=n_lines, max_size=n_lines))
    amounts = draw(
        st.lists(st.integers(-(10**12), 10**12).filter(bool), min_size=n_lines - 1, max_size=n_lines - 1)
    )
    last = -sum(amounts)
    if last == 0:
        amounts[0] += 1
        last -= 1
    day = draw(st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)))
    return list(zip(accounts, [*amounts, last], strict=True)), day


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(entries(), min_size=1, max_size=8))
async def test_property_trial_balance_is_zero_and_balances_are_sums(conn, batch):
    expected = {path: await account_balance(conn, path) for path in ACCOUNTS}
    for lines, day in batch:
        key = f"h-{await conn.fetchval('SELECT count(*) FROM journal_entries')}"
        await post_entry(conn, idempotency_key=key, kind="test", business_date=day, lines=lines)
        for path, amount in lines:
            expected[path] += amount
    rows = await trial_balance(conn)
    assert sum(r.balance for r in rows) == 0
    assert sum(r.debit for r in rows) == sum(r.credit for r in rows)
    for path in ACCOUNTS:
        assert await account_balance(conn, path) == expected[path]
        direct = await conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
            "WHERE a.path = $1",
            path,
        )
        assert direct == expected[path]


async def test_fifty_concurrent_postings_on_the_same_accounts(db_url):
    conns = [await connect(db_url) for _ in range(50)]
    try:

        async def post(i: int, c) -> None:
            await post_entry(
                c,
                idempotency_key=f"c-{i}",
                kind="payment",
                business_date=D,
                lines=[(BANK, 1000 + i), (FEE, -(1000 + i))],
            )

        await asyncio.gather(*(post(i, c) for i, c in enumerate(conns)))
        # The same fifty again, concurrently: idempotent, nothing doubles.
        await asyncio.gather(*(post(i, c) for i, c in enumerate(conns)))
        total = sum(1000 + i for i in range(50))
        assert await account_balance(conns[0], BANK) == total
        assert await account_balance(conns[0], FEE) == -total
        assert await conns[0].fetchval("SELECT count(*) FROM journal_entries") == 50
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def test_a_ten_thousand_line_entry_runs_its_checks_once_not_once_per_posting(conn):
    """The postings are checked once per INSERT statement (a transition table) and the entry's balance once at
    commit: counted by PostgreSQL's own function statistics, not timed."""
    await conn.execute("SET track_functions = 'pl'")
    calls = """SELECT coalesce(pg_stat_get_xact_function_calls(oid), 0) FROM pg_proc WHERE proname = $1"""
    lines = [(FEE, -1) for _ in range(9_999)] + [(BANK, 9_999)]
    async with conn.transaction():
        entry = await post_entry(conn, idempotency_key="big", kind="payment", business_date=D, lines=lines)
        assert await conn.fetchval(calls, "postings_check_statement") == 1
        assert await conn.fetchval(calls, "postings_take_entry_date") == 0  # the insert carries the date
    assert entry.created and await account_balance(conn, BANK) == 9_999
    assert await conn.fetchval("SELECT count(*) FROM postings WHERE entry_id = $1", entry.id) == 10_000


async def test_database_still_refuses_an_unbalancing_line_added_in_the_same_transaction(conn):
    """With the check once per entry, a line added to an entry of the same transaction is still caught."""
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="unbalanced"):
        async with conn.transaction():
            entry = await post_entry(
                conn, idempotency_key="k", kind="payment", business_date=D, lines=[(BANK, 7), (FEE, -7)]
            )
            await conn.execute(
                "INSERT INTO postings (entry_id, account_id, amount) "
                "SELECT $1, id, 3 FROM ledger_accounts WHERE path = $2",
                entry.id,
                BANK,
            )
    assert await conn.fetchval("SELECT count(*) FROM journal_entries") == 0
