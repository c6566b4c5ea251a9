"""Test fixtures: a real PostgreSQL (embedded under var/, or DATABASE_URL), a migrated template database,
and a fresh clone of it per test."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import warnings
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil
import pytest
from argon2 import PasswordHasher

from core.audit import use_audit_key
from core.db import MIGRATIONS_DIR, connect, migrate
from core.embedded import SERVICE_ROLE, login_role_sql, with_user
from core.keys import AppKeys
from core.passwords import use_password_hasher
from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_LOCK = 0x7465_6D70  # "temp"
# One key set per test run; its audit key is loaded now, so fixtures that record audit rows before any app
# exists (staff_login, …) chain with the key the apps and `audit verify` use.
TEST_KEYS = AppKeys.generate()
use_audit_key(TEST_KEYS.audit_key)
# The suite starts an app per test and few of them render a QR PNG: render processes start at the first
# cold render rather than with each app (test_qr_render_pool.py turns the start with the app back on).
os.environ.setdefault("CITYPAY_QR_RENDER_WARM", "0")
# argon2 at the service's parameters (64 MiB, 3 passes) took ≈ 0.35 s of each test that logs a user in, a
# third of the suite; the suite hashes with the same algorithm at its cheapest. What the service uses is
# core/passwords.py's default, which no test changes.
use_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def server_dsn() -> str:
    """DSN of a maintenance database on the server the tests use."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return with_database(url, "postgres")
    from core.embedded import start_embedded_postgres

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return start_embedded_postgres(ROOT / "var", database="postgres")


def _template_name() -> str:
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        digest.update(path.name.encode() + path.read_bytes())
    return "citypay_tpl_" + digest.hexdigest()[:12]


@pytest.fixture(scope="session")
def template_db(server_dsn: str) -> str:
    """A database migrated once per set of migration files, shared by every test run until they change."""
    return asyncio.run(_ensure_template(server_dsn))


async def _ensure_template(server_dsn: str) -> str:
    name = _template_name()
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK)
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            building = name + "_building"
            await admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{building}"')
            conn = await connect(with_database(server_dsn, building))
            try:
                await migrate(conn)
            finally:
                await conn.close()
            await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
            # Templates of older migration sets are dead weight on a long-lived server; the newest few stay,
            # since test runs of neighbouring checkouts (another branch, a colleague) may still clone them.
            for old in await admin.fetch(
                """SELECT datname FROM pg_database WHERE datname LIKE 'citypay\\_tpl\\_%' AND datname <> $1
                    ORDER BY oid DESC OFFSET 4""",
                name,
            ):
                # in use by another test run right now? a later run drops it
                with contextlib.suppress(asyncpg.PostgresError):
                    await admin.execute(f'DROP DATABASE "{old["datname"]}"')
        await _drop_orphaned_clones(admin, server_dsn)
        await admin.execute("SELECT pg_advisory_unlock($1)", TEMPLATE_LOCK)
    finally:
        await admin.close()
    return name


async def _drop_orphaned_clones(admin: asyncpg.Connection, server_dsn: str) -> None:
    """Clones left by a test process that was killed (each process drops its own, a batch at a time). Only on
    the embedded server under ./var/, which only processes of this machine use, so a clone whose process id
    is gone is an orphan; a server named by DATABASE_URL may serve test runs of other machines."""
    if os.environ.get("DATABASE_URL"):
        return
    orphans = [
        row["datname"]
        for row in await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'citypay\\_test\\_%'"
        )
        if not psutil.pid_exists(int(row["datname"].split("_")[2]))
    ]
    await drop_databases(server_dsn, orphans)


async def clone_database(server_dsn: str, template: str) -> str:
    name = f"citypay_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    return name


async def drop_database(server_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def drop_databases(server_dsn: str, names: list[str], *, at_once: int = 4) -> None:
    """Several at once: DROP DATABASE waits for a checkpoint, which drops running together share. A drop
    that fails is left to the next run's orphan sweep (with a warning) and does not stop the others."""
    slots = asyncio.Semaphore(at_once)  # a few connections, whatever the number of xdist workers

    async def drop(name: str) -> None:
        async with slots:
            await drop_database(server_dsn, name)

    for name, outcome in zip(
        names, await asyncio.gather(*(drop(n) for n in names), return_exceptions=True), strict=True
    ):
        if isinstance(outcome, Exception):
            warnings.warn(f"test database {name} not dropped: {outcome!r}", stacklevel=1)


class WorkerDatabases:
    """One xdist worker's test databases. The clone for the next test is made while the current test runs,
    and used clones are dropped eight at a time: DROP DATABASE waits for a checkpoint (≈ 0.1 s), which drops
    running at once share. Each test waited ≈ 0.3 s for its clone and drop before."""

    DROP_BATCH = 8

    def __init__(self, server_dsn: str, template: str) -> None:
        self.server_dsn, self.template = server_dsn, template
        self._used: list[str] = []
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="test-databases")
        self._next: Future[str] = self._thread.submit(self._clone)

    def _clone(self) -> str:
        return asyncio.run(clone_database(self.server_dsn, self.template))

    def _drop(self, names: list[str]) -> None:
        asyncio.run(drop_databases(self.server_dsn, names))

    async def take(self) -> str:
        # The next clone is asked for first, so a clone that failed fails one test, not the rest.
        made, self._next = self._next, self._thread.submit(self._clone)
        return await asyncio.wrap_future(made)

    def give_back(self, name: str) -> None:
        self._used.append(name)
        if len(self._used) >= self.DROP_BATCH:
            self._thread.submit(self._drop, self._used)
            self._used = []

    def close(self) -> None:
        self._thread.submit(self._drop, self._used)
        # after the clone nobody took has been made (if it could be)
        self._thread.submit(lambda: self._drop([self._next.result()]))
        self._thread.shutdown(wait=True)


@pytest.fixture(scope="session")
def test_databases(server_dsn: str, template_db: str) -> Iterator[WorkerDatabases]:
    databases = WorkerDatabases(server_dsn, template_db)
    yield databases
    databases.close()


@pytest.fixture
async def db_url(server_dsn: str, test_databases: WorkerDatabases) -> AsyncIterator[str]:
    name = await test_databases.take()
    yield with_database(server_dsn, name)
    test_databases.give_back(name)


@pytest.fixture
async def empty_db_url(server_dsn: str) -> AsyncIterator[str]:
    """An empty database, for migration tests."""
    name = f"citypay_empty_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(server_dsn, name)
    await drop_database(server_dsn, name)


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await connect(db_url)
    yield c
    await c.close()


@pytest.fixture(scope="session")
def keys() -> AppKeys:
    return TEST_KEYS


@pytest.fixture(scope="session")
def service_role(server_dsn: str) -> str:
    """The role the service connects as (migration 0007 grants it row rights only), able to log in here. The
    test server must let it in the way it lets the superuser in (embedded: trust; a server: trust, peer or a
    ~/.pgpass line)."""

    async def ensure() -> None:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(login_role_sql(SERVICE_ROLE))
        finally:
            await admin.close()

    asyncio.run(ensure())
    return SERVICE_ROLE


@pytest.fixture
def service_db_url(db_url: str, service_role: str) -> str:
    """db_url as the service's role: what the app under test connects with (as `make run` does)."""
    return with_user(db_url, service_role)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, var_dir=tmp_path, log_format="json", db_pool_max=5)


@pytest.fixture
def make_app(settings: Settings, keys: AppKeys, service_db_url: str):
    from main import create_app

    def factory(*, background: bool = True, **overrides):
        """`background=False`: no sweeps, fetches or checkpoints (for a test that runs a sweep itself)."""
        return create_app(
            settings=replace(settings, **overrides),
            keys=keys,
            database_url=service_db_url,
            background=background,
        )

    return factory


@pytest.fixture
async def client(make_app, aiohttp_client):
    # aiohttp_client last: fixtures tear down in reverse, so the app stops before its database is dropped.
    return await aiohttp_client(make_app())


@dataclass
class StaffLogin:
    username: str
    password: str
    role: str
    cookie: str
    csrf: str

    def headers(self, *, unsafe: bool = False) -> dict[str, str]:
        h = {"Cookie": f"citypay_session={self.cookie}"}
        if unsafe:
            h["X-CSRF-Token"] = self.csrf
        return h


@pytest.fixture
async def staff_login(db_url: str):
    """staff_login(role) → a StaffLogin with a live session for a new user of that role."""
    from core.auth import create_staff_user, login

    async def make(role: str, username: str | None = None) -> StaffLogin:
        username = username or f"{role}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12)
        conn = await connect(db_url)
        try:
            await create_staff_user(
                conn,
                username=username,
                display_name=username.title(),
                role=role,
                password=password,
                actor="test",
            )
        finally:
            await conn.close()
        pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
        try:
            cookie, principal = await login(
                pool,
                username=username,
                password=password,
                address="test",
                session_hours=1,
                max_per_account=5,
                max_per_address=100,
                window_minutes=15,
            )
        finally:
            await pool.close()
        return StaffLogin(username, password, role, cookie, principal.csrf_token or "")

    return make


@pytest.fixture
async def api_token(db_url: str):
    """api_token(*scopes, fee_codes=…, channels=…) → a bearer token string. A payment-requests:write token is
    bound by default to every fee code in the database (the demo codes when it has none yet) and to every
    channel a subsidy programme names."""
    from core.tokens import PAYMENT_WRITE_SCOPE, create_api_token
    from payments.demo import DEMO_FEES

    async def make(
        *scopes: str, fee_codes: list[str] | None = None, channels: list[str] | None = None
    ) -> str:
        conn = await connect(db_url)
        try:
            if PAYMENT_WRITE_SCOPE in scopes:
                if fee_codes is None:
                    fee_codes = [r["code"] for r in await conn.fetch("SELECT code FROM fee_catalogue")]
                    fee_codes = fee_codes or [f[0] for f in DEMO_FEES]
                if channels is None:
                    channels = [
                        r["channel"]
                        for r in await conn.fetch(
                            "SELECT DISTINCT channel FROM subsidy_programmes WHERE channel IS NOT NULL"
                        )
                    ]
            _, secret = await create_api_token(
                conn,
                name="test client",
                scopes=list(scopes),
                fee_codes=fee_codes,
                channels=channels,
                actor="test",
            )
        finally:
            await conn.close()
        return secret

    return make
