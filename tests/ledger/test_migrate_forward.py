"""Issue 13: a database with data from before migrations 0022–0025 migrates forward, and what it holds keeps
verifying: old entries and their balances, closed days, the audit chain written the old way (one chain, no
streams) continued by the new per-stream appends."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest

from core.audit import (
    GENESIS,
    audit_key_id,
    current_audit_key,
    keyed_row_hash,
    record_audit,
    verify_audit_chain,
)
from core.db import connect, load_migrations, migrate
from ledger import account_balance, post_entry

D = date(2026, 11, 20)


async def test_a_database_from_before_0022_migrates_forward_and_keeps_verifying(empty_db_url):
    files = load_migrations()
    conn = await connect(empty_db_url)
    try:
        await migrate(conn, [m for m in files if m.version <= 21])
        # an entry posted the old way: postings without a date (the row trigger of 0001 filled it)
        await conn.execute(
            "INSERT INTO ledger_accounts (path) VALUES ('asset:cash:lot-1'), ('revenue:fee:X')"
        )
        async with conn.transaction():
            entry = await conn.fetchval(
                "INSERT INTO journal_entries (idempotency_key, kind, business_date, content_hash) "
                "VALUES ('old', 'payment', $1, 'h') RETURNING id",
                D,
            )
            await conn.execute(
                "INSERT INTO postings (entry_id, account_id, amount) "
                "SELECT $1, id, CASE path WHEN 'asset:cash:lot-1' THEN 500 ELSE -500 END "
                "FROM ledger_accounts",
                entry,
            )
        # three audit rows of the one keyed chain, as record_audit wrote them before 0025
        key, prev = current_audit_key(), GENESIS
        for seq in (1, 2, 3, 4):
            at = datetime.now(UTC)
            digest = keyed_row_hash(
                key, prev, seq, at, "staff:a", "staff.create", f"staff:{seq}", None, None, None
            )
            await conn.execute(
                "INSERT INTO audit_log (seq, at, actor, action, subject, prev_hash, hash, alg, key_id) "
                "VALUES ($1, $2, 'staff:a', 'staff.create', $3, $4, $5, 'hmac-sha256', $6)",
                seq,
                at,
                f"staff:{seq}",
                prev,
                digest,
                audit_key_id(key),
            )
            prev = digest
        async with conn.transaction():  # the day closed, as close_day does it
            await conn.execute(
                "INSERT INTO ledger_closed_days (business_date, closed_by) VALUES ($1, 'x')", D
            )
            await conn.execute(
                "INSERT INTO ledger_balance_snapshots (business_date, account_id, balance) "
                "SELECT $1, account_id, sum(amount) FROM postings GROUP BY account_id",
                D,
            )
        assert await conn.fetchval("SELECT max(seq) FROM audit_log") == 4

        applied = await migrate(conn)
        assert applied == [m.name for m in files if m.version > 21]

        assert await account_balance(conn, "asset:cash:lot-1") == 500
        assert (await verify_audit_chain(conn)).ok
        async with conn.transaction():
            main = await record_audit(conn, actor="staff:a", action="fee.update", subject="fee:X")
            field = await record_audit(
                conn, actor="staff:att", action="parking.check_in", subject="session:1"
            )
        rows = {
            r["seq"]: r
            for r in await conn.fetch(
                "SELECT seq, stream, stream_seq, prev_hash FROM audit_log WHERE seq > 4"
            )
        }
        assert (main, field) == (5, 6)
        assert (rows[5]["stream"], rows[5]["stream_seq"]) == ("main", 5)  # continues the old chain
        assert rows[5]["prev_hash"] == await conn.fetchval("SELECT hash FROM audit_log WHERE seq = 4")
        assert (rows[6]["stream_seq"], rows[6]["prev_hash"]) == (1, GENESIS)
        report = await verify_audit_chain(conn)
        assert report.ok and report.rows == 6 and report.head_seq == 6

        # the ledger after the migration: new entries post, the closed day still refuses, a line added to the
        # old entry is refused
        await post_entry(
            conn,
            idempotency_key="new",
            kind="payment",
            business_date=date(2026, 11, 21),
            lines=[("asset:cash:lot-1", 7), ("revenue:fee:X", -7)],
        )
        with pytest.raises(asyncpg.CheckViolationError, match="closed"):
            await post_entry(
                conn,
                idempotency_key="late",
                kind="payment",
                business_date=D,
                lines=[("asset:cash:lot-1", 7), ("revenue:fee:X", -7)],
            )
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="already posted"):
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO postings (entry_id, account_id, amount, business_date) "
                    "SELECT $1, id, CASE path WHEN 'asset:cash:lot-1' THEN 1 ELSE -1 END, $2 "
                    "FROM ledger_accounts",
                    entry,
                    D,
                )
        assert await account_balance(conn, "asset:cash:lot-1") == 507
    finally:
        await conn.close()
