"""Pending → post / void: a reserve holds money before it moves, resolves once, never overdraws a guard."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest

from core.db import connect
from ledger import (
    InsufficientFunds,
    PendingResolved,
    ReserveConflict,
    account_balance,
    guard_account,
    post_entry,
    post_pending,
    reserve,
    void_pending,
)

D = date(2026, 11, 23)
FUND = "liability:programme:flood-relief"  # a disbursement programme's funds (test-only path)
BUDGET = "equity:budget:2026"
PAYOUTS = "liability:payouts:in-transit"


@pytest.fixture
async def funded(conn):
    await guard_account(conn, FUND, "debits_must_not_exceed_credits")
    await post_entry(
        conn, idempotency_key="fund", kind="funding", business_date=D, lines=[(BUDGET, 1000), (FUND, -1000)]
    )
    return conn


async def _reserve(conn, key: str, amount: int):
    return await reserve(
        conn, idempotency_key=key, kind="payout", business_date=D, debit=FUND, credit=PAYOUTS, amount=amount
    )


async def test_reserve_then_post_in_part(funded):
    conn = funded
    held = await _reserve(conn, "r1", 600)
    assert held.state == "pending" and await account_balance(conn, FUND) == -1000  # not in balances yet
    assert (await _reserve(conn, "r1", 600)).id == held.id  # idempotent
    with pytest.raises(ReserveConflict):
        await _reserve(conn, "r1", 601)
    with pytest.raises(InsufficientFunds):
        await _reserve(conn, "r2", 401)  # 1000 − 600 held leaves 400
    entry = await post_pending(conn, held.id, business_date=D, amount=550)
    assert await account_balance(conn, FUND) == -450 and await account_balance(conn, PAYOUTS) == -550
    assert entry.refs["pending"] == str(held.id)
    with pytest.raises(PendingResolved):
        await post_pending(conn, held.id, business_date=D)
    with pytest.raises(PendingResolved):
        await void_pending(conn, held.id)
    # the 50 not posted is released: 450 is available again
    assert (await _reserve(conn, "r3", 450)).state == "pending"


async def test_void_releases_and_happens_once(funded):
    conn = funded
    held = await _reserve(conn, "r1", 1000)
    voided = await void_pending(conn, held.id)
    assert voided.state == "voided" and await account_balance(conn, FUND) == -1000
    with pytest.raises(PendingResolved):
        await post_pending(conn, held.id, business_date=D)
    assert (await _reserve(conn, "r2", 1000)).state == "pending"


async def test_database_refuses_a_second_resolution_and_changes(funded):
    conn = funded
    held = await _reserve(conn, "r1", 100)
    await void_pending(conn, held.id)
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="already voided"):
        await conn.execute(
            "UPDATE ledger_pending SET state = 'pending', resolved_at = NULL WHERE id = $1", held.id
        )
    other = await _reserve(conn, "r2", 100)
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="already"):
        await conn.execute("UPDATE ledger_pending SET amount = 5 WHERE id = $1", other.id)
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="immutable"):
        await conn.execute("DELETE FROM ledger_pending")


async def test_concurrent_reserves_never_overdraw_a_guarded_account(db_url, funded):
    conns = [await connect(db_url) for _ in range(10)]
    try:

        async def attempt(i: int, c) -> bool:
            try:
                await _reserve(c, f"c{i}", 300)
                return True
            except InsufficientFunds:
                return False

        results = await asyncio.gather(*(attempt(i, c) for i, c in enumerate(conns)))
        assert sum(results) == 3  # 3 × 300 ≤ 1000 < 4 × 300
    finally:
        await asyncio.gather(*(c.close() for c in conns))
