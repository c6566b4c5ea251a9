"""A reserve resolved in parts: each paid share posts a journal entry, each failed one releases; the reserve
stays open until posted + released = amount, and neither code nor the database lets more than remains out."""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest

from ledger import (
    InsufficientFunds,
    Part,
    PartConflict,
    PendingResolved,
    ReserveExceeded,
    account_balance,
    guard_account,
    pending_by_id,
    post_entry,
    post_part,
    post_pending,
    release_part,
    reserve,
    resolve_parts,
    trial_balance,
    void_pending,
)

D = date(2026, 11, 23)
FUND = "asset:cash:programme-fund"  # test-only path: the account payouts leave from
EXPENSE = "expense:benefit:test"
EQUITY = "equity:budget:2026"


@pytest.fixture
async def funded(conn):
    await guard_account(conn, FUND, "credits_must_not_exceed_debits")
    await post_entry(
        conn, idempotency_key="fund", kind="funding", business_date=D, lines=[(FUND, 1000), (EQUITY, -1000)]
    )
    return conn


async def _reserve(conn, key: str, amount: int):
    return await reserve(
        conn,
        idempotency_key=key,
        kind="disbursement",
        business_date=D,
        debit=EXPENSE,
        credit=FUND,
        amount=amount,
        refs={"batch": "7"},
    )


async def test_parts_post_and_release_until_settled(funded):
    conn = funded
    held = await _reserve(conn, "batch:7", 900)
    entry = await post_part(
        conn, held.id, amount=300, business_date=D, idempotency_key="item:1", refs={"end_to_end_id": "E1"}
    )
    assert entry.created and entry.refs == {"batch": "7", "pending": str(held.id), "end_to_end_id": "E1"}
    again = await post_part(
        conn, held.id, amount=300, business_date=D, idempotency_key="item:1", refs={"end_to_end_id": "E1"}
    )
    assert again.id == entry.id and not again.created  # a repeat books nothing
    with pytest.raises(PartConflict):
        await post_part(conn, held.id, amount=301, business_date=D, idempotency_key="item:1")
    with pytest.raises(PartConflict):
        await release_part(conn, held.id, amount=300, idempotency_key="item:1")
    assert await account_balance(conn, FUND) == 700 and await account_balance(conn, EXPENSE) == 300

    state = await release_part(conn, held.id, amount=200, idempotency_key="item:2")
    assert (state.state, state.posted_total, state.released_total, state.remaining) == (
        "pending",
        300,
        200,
        400,
    )
    # "available" counts only the unresolved remainder: 1000 − 300 posted − 400 still reserved = 300
    with pytest.raises(InsufficientFunds):
        await _reserve(conn, "other", 301)
    with pytest.raises(ReserveExceeded):
        await post_part(conn, held.id, amount=401, business_date=D, idempotency_key="item:3")
    with pytest.raises(PendingResolved):  # a one-shot resolution of a reserve already resolved in part
        await post_pending(conn, held.id, business_date=D)
    with pytest.raises(PendingResolved):
        await void_pending(conn, held.id)

    result = await resolve_parts(
        conn,
        held.id,
        business_date=D,
        posts=[Part("item:3", 150, {"end_to_end_id": "E3"}), Part("item:4", 50, {"end_to_end_id": "E4"})],
        releases=[Part("rest", 200)],
    )
    assert result.new_parts == 3 and set(result.entry_ids) == {"item:3", "item:4"}
    done = await pending_by_id(conn, held.id)
    assert (done.state, done.posted_total, done.released_total, done.remaining) == ("settled", 500, 400, 0)
    assert await account_balance(conn, FUND) == 500 and await account_balance(conn, EXPENSE) == 500
    assert sum(r.balance for r in await trial_balance(conn)) == 0
    with pytest.raises(PendingResolved):
        await release_part(conn, held.id, amount=1, idempotency_key="late")
    # the repeat of a whole call after settling still answers (idempotent), and changes nothing
    repeat = await resolve_parts(conn, held.id, business_date=D, releases=[Part("rest", 200)])
    assert repeat.new_parts == 0 and repeat.pending.state == "settled"
    assert await _reserve(conn, "other", 500)  # everything resolved: the rest is available again


async def test_the_database_refuses_more_than_remains_and_direct_total_changes(funded):
    conn = funded
    held = await _reserve(conn, "batch:8", 100)
    await release_part(conn, held.id, amount=60, idempotency_key="p1")
    with pytest.raises(asyncpg.CheckViolationError) as exc:
        await conn.execute(
            "INSERT INTO ledger_pending_parts (pending_id, idempotency_key, action, amount) "
            "VALUES ($1, 'p2', 'release', 41)",
            held.id,
        )
    assert exc.value.constraint_name == "ledger_pending_over_resolved"
    with pytest.raises(asyncpg.IntegrityConstraintViolationError) as exc:
        await conn.execute("UPDATE ledger_pending SET released_total = 0 WHERE id = $1", held.id)
    assert exc.value.constraint_name == "ledger_pending_resolved"
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        await conn.execute("DELETE FROM ledger_pending_parts")
    assert (await pending_by_id(conn, held.id)).released_total == 60


async def test_whole_post_and_void_keep_working(funded):
    conn = funded
    a = await _reserve(conn, "a", 100)
    await post_pending(conn, a.id, business_date=D, amount=40)
    b = await _reserve(conn, "b", 100)
    await void_pending(conn, b.id)
    with pytest.raises(PendingResolved):
        await post_part(conn, b.id, amount=1, business_date=D, idempotency_key="b:1")
    assert await account_balance(conn, FUND) == 960
