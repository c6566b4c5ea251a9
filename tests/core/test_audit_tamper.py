"""Issue 8, point 14: the audit chain detects deletion and rewriting, not only breaks in the middle.

Staff actions go through real HTTP (the app connected as the service role); then an attacker with SQL rights
deletes the newest rows or rewrites one and recomputes the hashes the old, unkeyed way. `audit verify` (the
real command, in a subprocess) must fail with a clear message. The service role itself may not even try.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from core.audit import (
    ALG_KEYED,
    CHECKPOINT_FILE,
    GENESIS,
    Checkpoint,
    audit_key_id,
    keyed_row_hash,
    row_hash,
    verify_audit_chain,
)
from core.audit_checkpoints import AuditChainBroken, verify_with_checkpoints, write_checkpoint
from core.db import connect, load_migrations, migrate
from core.keys import keys_as_env

ROOT = Path(__file__).resolve().parents[2]


async def _staff_actions_over_http(client, staff_login, n: int = 4) -> None:
    admin = await staff_login("admin")  # one audit row (staff.create)
    for i in range(n):
        body = {
            "username": f"clerk{i}",
            "display_name": f"Clerk {i}",
            "role": "finance",
            "password": "p" * 12,
        }
        resp = await client.post("/api/v1/admin/staff", json=body, headers=admin.headers(unsafe=True))
        assert resp.status == 201, await resp.text()


async def _cli(*args: str, db_url: str, keys, var_dir: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        **keys_as_env(keys),
        "DATABASE_URL": db_url,
        "CITYPAY_VAR_DIR": str(var_dir),
        "CITYPAY_LOG_FORMAT": "json",
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "main.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


async def _as_superuser_attacker(conn, *statements: str) -> None:
    async with conn.transaction():  # the owner/superuser switches the immutability triggers off
        await conn.execute("SET LOCAL session_replication_role = replica")
        for sql in statements:
            await conn.execute(sql)


async def test_rows_written_over_http_are_keyed(client, staff_login, conn, keys):
    await _staff_actions_over_http(client, staff_login, n=2)
    rows = await conn.fetch("SELECT alg, key_id, hash FROM audit_log ORDER BY seq")
    assert len(rows) == 3
    assert {r["alg"] for r in rows} == {ALG_KEYED}
    assert {r["key_id"] for r in rows} == {audit_key_id(keys.audit_key)}
    assert (await verify_audit_chain(conn, key=keys.audit_key)).ok


async def test_deleting_the_newest_rows_fails_verify(client, staff_login, conn, db_url, keys, tmp_path):
    await _staff_actions_over_http(client, staff_login)
    done = await _cli("audit", "checkpoint", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "checkpoint at row 5" in done.stdout

    await _as_superuser_attacker(conn, "DELETE FROM audit_log WHERE seq >= 4")
    # what is left is a perfectly linked chain: only the checkpoint shows rows are gone
    assert (await verify_audit_chain(conn, key=keys.audit_key)).ok

    report, _ = await verify_with_checkpoints(conn, keys=keys, var_dir=tmp_path)
    assert not report.ok and report.first_broken == 4
    proc = await _cli("audit", "verify", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "BROKEN at row 4" in proc.stdout
    assert "the table ends at row 3 but a checkpoint recorded row 5" in proc.stdout
    assert "truncated" in proc.stdout


async def test_truncating_everything_fails_verify(client, staff_login, conn, db_url, keys, tmp_path):
    await _staff_actions_over_http(client, staff_login, n=1)
    assert (await _cli("audit", "checkpoint", db_url=db_url, keys=keys, var_dir=tmp_path)).returncode == 0
    await _as_superuser_attacker(conn, "DELETE FROM audit_log")
    proc = await _cli("audit", "verify", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert proc.returncode == 2 and "BROKEN at row 1" in proc.stdout and "truncated" in proc.stdout


def _recompute_unkeyed(rows, start_prev: str) -> list[tuple[int, str, str]]:
    prev, out = start_prev, []
    for r in rows:
        digest = row_hash(
            prev,
            r["seq"],
            r["at"],
            r["actor"],
            r["action"],
            r["subject"],
            r["before"],
            r["after"],
            r["request_id"],
        )
        out.append((r["seq"], prev, digest))
        prev = digest
    return out


@pytest.mark.parametrize("downgrade", [False, True], ids=["keep-alg", "claim-unkeyed"])
async def test_rewriting_a_middle_row_and_rehashing_fails_verify(
    client, staff_login, conn, db_url, keys, tmp_path, downgrade
):
    await _staff_actions_over_http(client, staff_login)
    # no checkpoint at all: the key alone must catch a rewrite, however carefully the hashes are recomputed
    await _as_superuser_attacker(conn, "UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = 3")
    rows = await conn.fetch("SELECT * FROM audit_log WHERE seq >= 3 ORDER BY seq")
    prev = await conn.fetchval("SELECT hash FROM audit_log WHERE seq = 2")
    statements = [
        f"UPDATE audit_log SET prev_hash = '{p}', hash = '{h}'"
        + (", alg = 'sha256', key_id = NULL" if downgrade else "")
        + f" WHERE seq = {seq}"
        for seq, p, h in _recompute_unkeyed(rows, prev)
    ]
    # hashes are UNIQUE: move the old ones out of the way first
    await _as_superuser_attacker(conn, "UPDATE audit_log SET hash = 'x' || hash WHERE seq >= 3", *statements)

    report = await verify_audit_chain(conn, key=keys.audit_key)
    assert not report.ok and report.first_broken == 3
    proc = await _cli("audit", "verify", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert proc.returncode == 2
    assert "BROKEN at row 3" in proc.stdout
    expected = "downgraded" if downgrade else "does not match its hash"
    assert expected in proc.stdout


async def test_rewriting_with_another_key_fails_verify(client, staff_login, conn, keys):
    await _staff_actions_over_http(client, staff_login, n=1)
    r = await conn.fetchrow("SELECT * FROM audit_log WHERE seq = 2")
    forged = keyed_row_hash(
        b"k" * 32,
        r["prev_hash"],
        2,
        r["at"],
        "staff:mallory",
        r["action"],
        r["subject"],
        r["before"],
        r["after"],
        None,
    )
    await _as_superuser_attacker(
        conn, f"UPDATE audit_log SET actor = 'staff:mallory', hash = '{forged}' WHERE seq = 2"
    )
    report = await verify_audit_chain(conn, key=keys.audit_key)
    assert not report.ok and report.first_broken == 2


async def test_a_rewritten_checkpointed_head_fails_verify(client, staff_login, conn, db_url, keys, tmp_path):
    """Rewrite the checkpointed head itself and re-key nothing: the checkpoint's hash no longer matches."""
    await _staff_actions_over_http(client, staff_login, n=1)
    async with asyncio.timeout(30):
        cp, written = await write_checkpoint(conn, keys=keys, var_dir=tmp_path)
    assert written and cp.seq == 2
    await _as_superuser_attacker(conn, "UPDATE audit_log SET hash = repeat('a', 64) WHERE seq = 2")
    report, _ = await verify_with_checkpoints(conn, keys=keys, var_dir=tmp_path)
    assert not report.ok and report.first_broken == 2


async def test_checkpoint_file_is_signed_and_logged(client, staff_login, conn, db_url, keys, tmp_path):
    await _staff_actions_over_http(client, staff_login, n=2)
    proc = await _cli("audit", "checkpoint", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / CHECKPOINT_FILE
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    at_start, line = path.read_text().splitlines()  # the server's at start (no rows yet), then this one
    assert json.loads(at_start)["seq"] == 0 and json.loads(at_start)["legacy_until"] == 0
    cp = Checkpoint(**json.loads(line))
    head = await conn.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    assert (cp.seq, cp.hash) == (head["seq"], head["hash"])
    assert cp.database == await conn.fetchval("SELECT current_database()")
    keys.signing_public_key.verify(base64.b64decode(cp.signature), cp.payload())  # raises if not signed by us
    logged = [json.loads(x) for x in proc.stderr.splitlines() if x.startswith("{")]
    assert any(e.get("event") == "audit_checkpoint" and e.get("seq") == cp.seq for e in logged), proc.stderr

    # an unchanged head is not written again; a verify passes and says how many checkpoints it reached
    again = await _cli("audit", "checkpoint", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert again.returncode == 0 and "unchanged" in again.stdout
    assert len(path.read_text().splitlines()) == 2
    ok = await _cli("audit", "verify", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert ok.returncode == 0 and "chain intact" in ok.stdout and "1 checkpoint(s)" in ok.stdout

    # a checkpoint line edited to agree with a shortened table no longer verifies
    forged = {
        **json.loads(line),
        "seq": 1,
        "hash": await conn.fetchval("SELECT hash FROM audit_log WHERE seq = 1"),
    }
    path.write_text(at_start + "\n" + json.dumps(forged) + "\n")
    bad = await _cli("audit", "verify", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert bad.returncode == 2 and "signature does not verify" in bad.stdout
    refused = await _cli("audit", "checkpoint", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert refused.returncode == 2 and "not signed" in refused.stdout


async def test_the_server_writes_checkpoints_in_the_background(
    make_app, aiohttp_client, staff_login, tmp_path
):
    client = await aiohttp_client(make_app(audit_checkpoint_minutes=0.003))  # every 0.18 s
    await _staff_actions_over_http(client, staff_login, n=1)
    path = tmp_path / CHECKPOINT_FILE
    for _ in range(200):  # up to 20 s
        if path.exists() and '"seq":2' in path.read_text():
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("no checkpoint of row 2 written by the server within 20 s")


async def test_checkpoint_refuses_to_sign_a_broken_chain(client, staff_login, conn, db_url, keys, tmp_path):
    await _staff_actions_over_http(client, staff_login, n=1)
    await _as_superuser_attacker(conn, "UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = 1")
    path = tmp_path / CHECKPOINT_FILE
    before = path.read_text()  # the server's checkpoint at start, of the empty table
    proc = await _cli("audit", "checkpoint", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert proc.returncode == 2 and "not signed" in proc.stdout
    assert path.read_text() == before


# The service's role ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_immutable",
        "SET session_replication_role = replica",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET actor = 'x'",
        "TRUNCATE audit_log",
        "DROP TABLE audit_log",
        "DELETE FROM journal_entries",
        "UPDATE postings SET amount = 1",
        "TRUNCATE postings CASCADE",
        "DELETE FROM payments_received",
        "DELETE FROM receipts",
        "DELETE FROM payment_requests",
        "ALTER TABLE journal_entries DISABLE TRIGGER ALL",
        "INSERT INTO demo_installation DEFAULT VALUES",
        "DELETE FROM schema_migrations",
        "ALTER ROLE citypay_app SUPERUSER",
    ],
)
async def test_the_service_role_is_refused(conn, service_db_url, sql):
    await conn.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject, prev_hash, hash, alg, key_id) "
        "VALUES (1, now(), 'a', 'b', 'c', 'p', 'h', 'hmac-sha256', 'k')"
    )
    app = await connect(service_db_url)
    try:
        assert not await app.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute(sql)
    finally:
        await app.close()
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1


async def test_owner_rights_are_named_for_the_owner_only(conn, service_db_url):
    from core.audit import owner_rights

    assert await owner_rights(conn) == await conn.fetchval("SELECT current_user")  # what `serve` warns about
    app = await connect(service_db_url)
    try:
        assert await owner_rights(app) is None
    finally:
        await app.close()


async def test_the_service_role_covers_tables_of_later_migrations(conn, service_db_url):
    """Default privileges: a table an owner's migration adds after 0007 is usable by the service at once."""
    await conn.execute("CREATE TABLE later_table (id bigserial PRIMARY KEY, note text)")
    app = await connect(service_db_url)
    try:
        await app.execute("INSERT INTO later_table (note) VALUES ('x')")
        assert await app.fetchval("SELECT count(*) FROM later_table") == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("ALTER TABLE later_table ADD COLUMN y int")
    finally:
        await app.close()


async def test_unkeyed_rows_from_before_the_migration_still_verify(empty_db_url, keys):
    """A database written before 0007: its unkeyed rows verify the old way, keyed rows chain onto them, and a
    rewrite of an old row is still found (the first keyed row covers its hash)."""
    from core.audit import GENESIS, record_audit

    files = load_migrations()
    before = [m for m in files if m.version < 7]
    conn = await connect(empty_db_url)
    try:
        await migrate(conn, before)
        prev = GENESIS
        for seq in (1, 2):
            at = await conn.fetchval("SELECT now()")
            digest = row_hash(prev, seq, at, "cli:ops", "staff.create", f"staff:{seq}", None, None, None)
            await conn.execute(
                "INSERT INTO audit_log (seq, at, actor, action, subject, prev_hash, hash) "
                "VALUES ($1, $2, 'cli:ops', 'staff.create', $3, $4, $5)",
                seq,
                at,
                f"staff:{seq}",
                prev,
                digest,
            )
            prev = digest
        await migrate(conn)
        async with conn.transaction():
            await record_audit(conn, actor="staff:lan", action="fee.update", subject="fee:LLTP")
        algs = [r["alg"] for r in await conn.fetch("SELECT alg FROM audit_log ORDER BY seq")]
        assert algs == ["sha256", "sha256", ALG_KEYED]
        assert (await verify_audit_chain(conn, key=keys.audit_key)).ok

        # new unkeyed rows are refused by the database itself
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO audit_log (seq, at, actor, action, subject, prev_hash, hash, alg) "
                "VALUES (4, now(), 'a', 'b', 'c', 'p', 'h', 'sha256')"
            )
        # an old row rewritten with recomputed unkeyed hashes breaks the keyed row after it
        r = await conn.fetchrow("SELECT * FROM audit_log WHERE seq = 2")
        forged = row_hash(
            r["prev_hash"], 2, r["at"], "staff:mallory", r["action"], r["subject"], None, None, None
        )
        await _as_superuser_attacker(
            conn, f"UPDATE audit_log SET actor = 'staff:mallory', hash = '{forged}' WHERE seq = 2"
        )
        report = await verify_audit_chain(conn, key=keys.audit_key)
        assert not report.ok and report.first_broken == 3
    finally:
        await conn.close()


# Issue 8, point 14, second round: raise the legacy boundary, then re-chain the tail unkeyed -------------


async def _downgrade_attack(conn, first: int, *, raise_boundary: bool = True) -> None:
    """What the attacker did on a running server, as the postgres superuser: move audit_chain_meta's legacy
    boundary past the head, rewrite row `first` and re-chain it and every later row with the plain unkeyed
    hash (alg 'sha256', key_id NULL)."""
    rows = await conn.fetch("SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq", first)
    prev = await conn.fetchval("SELECT hash FROM audit_log WHERE seq = $1", first - 1)
    forged = [dict(r) for r in rows]
    forged[0]["actor"] = "staff:mallory"
    statements = [f"UPDATE audit_log SET hash = 'x' || hash WHERE seq >= {first}"]
    for seq, p, h in _recompute_unkeyed(forged, prev):
        statements.append(
            f"UPDATE audit_log SET prev_hash = '{p}', hash = '{h}', alg = 'sha256', key_id = NULL"
            + (", actor = 'staff:mallory'" if seq == first else "")
            + f" WHERE seq = {seq}"
        )
    if raise_boundary:
        statements.insert(0, "UPDATE audit_chain_meta SET legacy_until = 1000000000")
    await _as_superuser_attacker(conn, *statements)


async def test_raising_the_legacy_boundary_and_rechaining_unkeyed_fails_verify(
    client, staff_login, conn, db_url, keys, tmp_path
):
    await _staff_actions_over_http(client, staff_login, n=1)  # rows 1-2
    assert (await _cli("audit", "checkpoint", db_url=db_url, keys=keys, var_dir=tmp_path)).returncode == 0
    await _staff_actions_over_http_more(client, staff_login)  # rows 3-5, after the last checkpoint
    assert await conn.fetchval("SELECT max(seq) FROM audit_log") == 5
    await _downgrade_attack(conn, 3)
    # the forged rows are a valid unkeyed chain inside the (moved) legacy range
    assert await conn.fetchval("SELECT legacy_until FROM audit_chain_meta") == 1000000000

    proc = await _cli("audit", "verify", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "chain intact" not in proc.stdout
    assert "legacy_until says row 1000000000 but the signed checkpoints record none" in proc.stdout

    # without the checkpoints, the chain itself still refuses an unkeyed row after keyed ones
    report = await verify_audit_chain(conn, key=keys.audit_key)
    assert not report.ok and report.first_broken == 1 and "legacy boundary was moved" in report.reason
    other = tmp_path / "elsewhere"
    bare = await _cli("audit", "verify", "--allow-no-checkpoint", db_url=db_url, keys=keys, var_dir=other)
    assert bare.returncode == 2 and "BROKEN at row 1" in bare.stdout, bare.stdout


async def test_rechaining_the_tail_unkeyed_without_moving_the_boundary_fails_verify(
    client, staff_login, conn, db_url, keys, tmp_path
):
    await _staff_actions_over_http(client, staff_login, n=3)
    await _downgrade_attack(conn, 3, raise_boundary=False)
    report = await verify_audit_chain(conn, key=keys.audit_key)
    assert not report.ok and report.first_broken == 3 and "downgraded" in report.reason
    proc = await _cli("audit", "verify", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert proc.returncode == 2 and "BROKEN at row 3" in proc.stdout and "downgraded" in proc.stdout


async def test_the_checkpointer_refuses_to_sign_a_downgraded_chain(
    make_app, aiohttp_client, staff_login, conn, db_url, keys, tmp_path
):
    client = await aiohttp_client(make_app(audit_checkpoint_minutes=0.003))  # every 0.18 s
    await _staff_actions_over_http(client, staff_login, n=1)
    path = tmp_path / CHECKPOINT_FILE
    for _ in range(200):
        if path.exists() and '"seq":2' in path.read_text():
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("no checkpoint of row 2 written by the server within 20 s")
    await _staff_actions_over_http_more(client, staff_login)  # rows 3-5
    honest = {(0, GENESIS)} | {
        (r["seq"], r["hash"]) for r in await conn.fetch("SELECT seq, hash FROM audit_log")
    }
    await _downgrade_attack(conn, 3)
    await asyncio.sleep(1.5)  # several rounds of the server's checkpointer
    signed = [json.loads(x) for x in path.read_text().splitlines()]
    # it may have signed the honest rows 3-5 before the attack, never a forged one
    assert {(c["seq"], c["hash"]) for c in signed} <= honest, signed
    signed = [c["seq"] for c in signed]

    with pytest.raises(AuditChainBroken, match="legacy"):
        await write_checkpoint(conn, keys=keys, var_dir=tmp_path)
    refused = await _cli("audit", "checkpoint", db_url=db_url, keys=keys, var_dir=tmp_path)
    assert refused.returncode == 2 and "not signed" in refused.stdout
    assert [json.loads(x)["seq"] for x in path.read_text().splitlines()] == signed


async def test_a_first_checkpoint_cannot_be_signed_over_a_downgraded_chain(
    client, staff_login, conn, keys, tmp_path
):
    """Even with no checkpoint to compare the boundary with, the walk from the genesis refuses it."""
    await _staff_actions_over_http(client, staff_login, n=3)
    await _downgrade_attack(conn, 3)
    fresh = tmp_path / "fresh"
    with pytest.raises(AuditChainBroken):
        await write_checkpoint(conn, keys=keys, var_dir=fresh)
    assert not (fresh / CHECKPOINT_FILE).exists()


async def test_a_checkpoint_exists_right_after_the_app_starts(client, tmp_path, conn):
    """A fresh database's first checkpoint is written at start and records that it has no legacy rows."""
    [line] = (tmp_path / CHECKPOINT_FILE).read_text().splitlines()
    cp = Checkpoint(**json.loads(line))
    assert (cp.seq, cp.legacy_until) == (0, 0)
    assert cp.database == await conn.fetchval("SELECT current_database()")
    assert await conn.fetchval("SELECT legacy_until FROM audit_chain_meta") == 0


async def test_verify_without_a_checkpoint_fails_unless_allowed(client, staff_login, db_url, keys, tmp_path):
    await _staff_actions_over_http(client, staff_login, n=1)
    elsewhere = tmp_path / "no-checkpoints"
    proc = await _cli("audit", "verify", db_url=db_url, keys=keys, var_dir=elsewhere)
    assert proc.returncode == 2 and "no checkpoint of database" in proc.stdout, proc.stdout
    allowed = await _cli(
        "audit", "verify", "--allow-no-checkpoint", db_url=db_url, keys=keys, var_dir=elsewhere
    )
    assert allowed.returncode == 0 and "chain intact" in allowed.stdout
    assert "no checkpoint of database" in allowed.stderr


async def _staff_actions_over_http_more(client, staff_login) -> None:
    admin = await staff_login("admin")  # one row (a new admin), then one per new clerk
    for i in range(2):
        body = {"username": f"late{i}", "display_name": f"Late {i}", "role": "finance", "password": "p" * 12}
        resp = await client.post("/api/v1/admin/staff", json=body, headers=admin.headers(unsafe=True))
        assert resp.status == 201, await resp.text()
