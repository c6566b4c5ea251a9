"""Database pool and the migration runner (numbered plain-SQL files, checksummed, under an advisory lock)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Any constant works; it only has to be the same for every migrator of this schema.
MIGRATION_LOCK_KEY = 0x43495459_50415900  # "CITYPAY\0"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _FILE_RE.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNNN_snake_case.sql")
        found.append(Migration(int(m.group(1)), path.stem, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration numbers must run 1, 2, 3 … without gaps; found {versions}")
    return found


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    await _init_connection(conn)
    return conn


def own_or_joined_transaction(conn: asyncpg.Connection):
    """A transaction for a service function: its own when called alone, the caller's when called inside one.
    (asyncpg would otherwise nest a SAVEPOINT: two extra round trips, and nothing here rolls back to one.)"""
    return contextlib.nullcontext() if conn.is_in_transaction() else conn.transaction()


async def _light_reset(conn: asyncpg.Connection) -> None:
    """What a released connection needs here. asyncpg's default reset sends `SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL` on every release (a round trip per request); pooled connections keep
    no session state in this service: locks are transaction-scoped, LISTEN has its own connection, nothing
    SETs."""
    if conn.is_in_transaction():  # never expected: transactions are context-managed; refuse to leak one
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_light_reset,
        server_settings={"timezone": "UTC", "application_name": "citypay"},
    )


_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


async def applied_migrations(conn: asyncpg.Connection) -> dict[int, tuple[str, str]]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    return {r["version"]: (r["name"], r["checksum"]) for r in rows}


def _check_applied(applied: dict[int, tuple[str, str]], files: list[Migration]) -> list[Migration]:
    """Return the files still to apply; refuse a changed or vanished file that was already applied."""
    by_version = {m.version: m for m in files}
    for version, (name, checksum) in applied.items():
        m = by_version.get(version)
        if m is None:
            raise MigrationError(f"the database has migration {name} which is not in {MIGRATIONS_DIR}")
        if m.checksum != checksum:
            raise MigrationError(
                f"migration {m.name} was already applied but its file has changed "
                f"(recorded checksum {checksum[:12]}…, file {m.checksum[:12]}…). "
                "Applied migrations are never edited: restore the file and add a new migration."
            )
    return [m for m in files if m.version not in applied]


async def migrate(conn: asyncpg.Connection, files: list[Migration] | None = None) -> list[str]:
    """Apply pending migrations, each in its own transaction. Returns the names applied."""
    files = load_migrations() if files is None else files
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(_MIGRATIONS_TABLE)
        pending = _check_applied(await applied_migrations(conn), files)
        done = []
        for m in pending:
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    m.version,
                    m.name,
                    m.checksum,
                )
            done.append(m.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def pending_migrations(conn: asyncpg.Connection) -> list[str]:
    """Names of migrations not yet applied; raises MigrationError when applied files changed."""
    return [m.name for m in _check_applied(await applied_migrations(conn), load_migrations())]
