"""The migration runner: order, checksums, idempotence, concurrency, and serve refusing a stale database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.db import Migration, MigrationError, connect, load_migrations, migrate, pending_migrations

ROOT = Path(__file__).resolve().parents[2]


async def test_migrate_applies_all_then_nothing(empty_db_url):
    conn = await connect(empty_db_url)
    try:
        applied = await migrate(conn)
        assert applied == [m.name for m in load_migrations()]
        assert await migrate(conn) == []
        assert await pending_migrations(conn) == []
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["checksum"]) for r in rows] == [
            (m.version, m.checksum) for m in load_migrations()
        ]
    finally:
        await conn.close()


async def test_changed_applied_file_is_refused(empty_db_url):
    files = load_migrations()
    conn = await connect(empty_db_url)
    try:
        await migrate(conn, files)
        edited = [Migration(files[0].version, files[0].name, files[0].sql + "\n-- edited\n"), *files[1:]]
        with pytest.raises(MigrationError, match="already applied but its file has changed"):
            await migrate(conn, edited)
        with pytest.raises(MigrationError, match=files[0].name):
            await pending_migrations_for(conn, edited)
    finally:
        await conn.close()


async def pending_migrations_for(conn, files):
    from core.db import _check_applied, applied_migrations

    return _check_applied(await applied_migrations(conn), files)


async def test_failed_migration_rolls_back_alone(empty_db_url):
    files = load_migrations()
    broken = [
        *files,
        Migration(
            len(files) + 1, f"{len(files) + 1:04d}_broken", "CREATE TABLE half_done (id int); SELECT 1/0;"
        ),
    ]
    conn = await connect(empty_db_url)
    try:
        with pytest.raises(Exception, match="division by zero"):
            await migrate(conn, broken)
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == len(files)
    finally:
        await conn.close()


async def test_two_migrators_at_once_do_not_collide(empty_db_url):
    conns = [await connect(empty_db_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, len(load_migrations())]
        assert await conns[0].fetchval("SELECT count(*) FROM schema_migrations") == len(load_migrations())
    finally:
        await asyncio.gather(*(c.close() for c in conns))


def test_serve_refuses_a_database_that_is_behind(empty_db_url):
    env = {**os.environ, "DATABASE_URL": empty_db_url, "CITYPAY_PORT": "0"}
    proc = subprocess.run(
        [sys.executable, "main.py", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert "python main.py migrate" in proc.stderr
    assert "0001_init" in proc.stderr


def test_migrate_command_is_idempotent(empty_db_url):
    env = {**os.environ, "DATABASE_URL": empty_db_url}
    first = subprocess.run(
        [sys.executable, "main.py", "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    second = subprocess.run(
        [sys.executable, "main.py", "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0 and "0001_init" in first.stdout
    assert second.returncode == 0 and "nothing" in second.stdout
