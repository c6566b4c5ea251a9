"""The audit log: every staff write recorded, the chain verifies, and tampering is found."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from core.audit import record_audit, verify_audit_chain
from core.auth import create_staff_user
from core.keys import keys_as_env
from core.tokens import create_api_token

ROOT = Path(__file__).resolve().parents[2]


async def _three_rows(conn):
    await create_staff_user(
        conn, username="lan", display_name="Lan", role="finance", password="x" * 12, actor="test"
    )
    await create_api_token(
        conn, name="agency", scopes=["payment-requests:write"], fee_codes=["LLTP"], actor="staff:lan"
    )
    async with conn.transaction():
        await record_audit(
            conn,
            actor="staff:lan",
            action="fee.update",
            subject="fee:LLTP",
            before={"amount": 200000},
            after={"amount": 100000},
        )


async def test_chain_verifies(conn):
    await _three_rows(conn)
    report = await verify_audit_chain(conn)
    assert report.ok and report.rows == 3
    rows = await conn.fetch("SELECT seq, actor, action, prev_hash, hash FROM audit_log ORDER BY seq")
    assert [r["action"] for r in rows] == ["staff.create", "token.create", "fee.update"]
    assert rows[1]["prev_hash"] == rows[0]["hash"] and rows[2]["prev_hash"] == rows[1]["hash"]


async def test_audit_rows_cannot_be_changed_through_sql(conn):
    await _three_rows(conn)
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="immutable"):
        await conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2")
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="immutable"):
        await conn.execute("DELETE FROM audit_log WHERE seq = 3")


@pytest.mark.parametrize(
    ("tamper", "broken_at"),
    [
        ("UPDATE audit_log SET after = '{\"amount\": 1}' WHERE seq = 3", 3),
        ("UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = 2", 2),
        ("DELETE FROM audit_log WHERE seq = 2", 2),
    ],
)
async def test_verify_finds_a_row_altered_in_sql(conn, db_url, keys, tmp_path, tamper, broken_at):
    await _three_rows(conn)
    async with conn.transaction():  # an attacker with superuser rights switches the guard off
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(tamper)
    report = await verify_audit_chain(conn)
    assert not report.ok and report.first_broken == broken_at

    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "main.py", "audit", "verify"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        # the audit key comes from the environment, as on a real server
        env={**os.environ, **keys_as_env(keys), "DATABASE_URL": db_url, "CITYPAY_VAR_DIR": str(tmp_path)},
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"BROKEN at row {broken_at}" in proc.stdout


async def test_record_audit_needs_the_callers_transaction(conn):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        await record_audit(conn, actor="x", action="y", subject="z")
