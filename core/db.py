"""Database pool and the migration runner (numbered plain-SQL files, checksummed, under an advisory lock)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import asyncpg
import asyncpg.pool
import orjson
import structlog

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Any constant works; it only has to be the same for every migrator of this schema.
MIGRATION_LOCK_KEY = 0x43495459_50415900  # "CITYPAY\0"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
log = structlog.get_logger("citypay.db")


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


# What the standard library refuses goes to `default` and is refused the same way (orjson would write dates,
# dataclasses and str subclasses itself): the encoder changes speed, not what may be stored.
_JSONB_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _refuse(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON")


def jsonb_text(value: object) -> str:
    """orjson where it can (several times faster: idempotency answers, audit rows and receipts are jsonb), the
    standard library for the rest (integers past 64 bits, which orjson refuses, and what neither takes, which
    raises as before). jsonb keeps its own normal form, so the stored value does not depend on which encoder
    wrote it. Reading stays with the standard library: orjson would turn such integers into floats. One
    difference is left: orjson writes NaN and infinities as null where PostgreSQL refused the standard
    library's NaN; the only floats stored (plate-reading scores) are checked to lie in 0–1 before."""
    try:
        return orjson.dumps(value, default=_refuse, option=_JSONB_OPTIONS).decode()
    except TypeError:
        return json.dumps(value)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=jsonb_text, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    await _init_connection(conn)
    return conn


def own_or_joined_transaction(conn: asyncpg.Connection):
    """A transaction for a service function: its own when called alone, the caller's when called inside one.
    (asyncpg would otherwise nest a SAVEPOINT: two extra round trips, and nothing here rolls back to one.)"""
    return contextlib.nullcontext() if conn.is_in_transaction() else conn.transaction()


def savepoint_if_nested(conn: asyncpg.Connection):
    """For one statement that may fail and is its own transaction when called alone: inside a caller's
    transaction, a SAVEPOINT around it, so that its failure (a refusal the caller may catch) leaves the
    caller's transaction usable; alone, nothing (no BEGIN, no COMMIT)."""
    return conn.transaction() if conn.is_in_transaction() else contextlib.nullcontext()


DEADLOCK_TRIES = 5
DEADLOCK_BACKOFF_S = 0.02  # per attempt, jittered


def retried_on_deadlock(action):
    """Decorate a service function that runs one transaction: when PostgreSQL aborts it in a deadlock
    (everything of it rolled back), run it again, up to DEADLOCK_TRIES times. For actions that lock rows in
    an order another writer cannot share (a class correction's two capacity rows against a settlement that
    closed sessions of both classes)."""

    @functools.wraps(action)
    async def retried(*args, **kwargs):
        for attempt in range(1, DEADLOCK_TRIES + 1):
            try:
                return await action(*args, **kwargs)
            except asyncpg.DeadlockDetectedError:
                if attempt == DEADLOCK_TRIES:
                    raise
                log.info("deadlock_retried", action=action.__qualname__, attempt=attempt)
                # The other side was woken by our abort and must re-take the row we released; a retry
                # sent at once can take it first and deadlock again (seen in CI). A short jittered wait
                # lets it go ahead.
                await asyncio.sleep(random.uniform(0.5, 1.5) * DEADLOCK_BACKOFF_S * attempt)
        raise AssertionError("unreachable")

    return retried


async def _light_reset(conn: asyncpg.Connection) -> None:
    """What a released connection needs here. asyncpg's default reset sends `SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL` on every release (a round trip per request); pooled connections keep
    no session state in this service: locks are transaction-scoped, LISTEN has its own connection, nothing
    SETs."""
    if conn.is_in_transaction():  # never expected: transactions are context-managed; refuse to leak one
        await conn.execute("ROLLBACK")


# Database outages -----------------------------------------------------------------------------------------

# The server is going away or not there yet: admin/crash shutdown, "the database system is starting up",
# too many connections. Class 08 (connection exceptions) is matched by type below.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
_ERROR_CONSUME_STATE = "another operation (2) is in progress"  # asyncpg's PROTOCOL_ERROR_CONSUME
_CLOSED_MESSAGES = ("connection is closed", "connection was closed", "pool is closing", "pool is closed")


def _through_asyncpg(exc: BaseException) -> bool:
    """Did this exception (or the one it interrupted) unwind through asyncpg? Tells a socket error or timeout
    of the database driver from one of the HTTP layer or of a handler's own deadline."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename.replace("\\", "/")
            if "/asyncpg/" in filename or filename.startswith("asyncpg/"):
                return True
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    return False


def _unavailable_itself(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.PostgresConnectionError):  # 08xxx, ConnectionDoesNotExistError
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return getattr(exc, "sqlstate", None) in _UNAVAILABLE_SQLSTATES
    if isinstance(exc, asyncpg.InterfaceError):
        return any(m in str(exc).lower() for m in _CLOSED_MESSAGES)
    if isinstance(exc, asyncpg.InternalClientError):
        # An idle pooled connection got the server's FATAL "terminating connection" (57P01) and sits in
        # asyncpg's error-consuming state (2), waiting for a ReadyForQuery that never comes; the next query
        # on it fails like this. Only a server going away leaves an idle connection in that state.
        return _ERROR_CONSUME_STATE in str(exc)
    # Refused/reset/missing socket while (re)connecting, or a bounded acquire that ran out: only when it came
    # out of the driver (aiohttp's own ConnectionResetError, a handler's own deadline are not outages).
    return isinstance(exc, OSError | TimeoutError) and _through_asyncpg(exc)


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` means "the database cannot be reached right now" (retry later), not a bug or bad input:
    a lost or refused connection, a server starting up or shutting down (57P01/57P02/57P03), too many
    connections, or a pool acquire that timed out. The one classification the problem middleware, the bank
    callbacks and the background tasks share."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unavailable_itself(current):
            return True
        current = current.__cause__  # "raise Problem(...) from exc" keeps the cause
    return False


class OutageLog:
    """One warning when the database becomes unavailable, one info line when it answers again; nothing per
    request in between (every failing request already answers 503)."""

    # Successes this soon after a failure do not end the outage: a saturated pool alternates timeouts and
    # successes and must not log a line per flip.
    QUIET_S = 1.0

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.last_failure = 0.0
        self.failures = 0
        self.outages = 0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self.last_failure = now
        self.failures += 1
        if self.down_since is None:
            self.down_since = now
            self.outages += 1
            log.warning("database_unavailable", error=type(exc).__name__, detail=str(exc)[:200])

    def succeeded(self) -> None:
        if self.down_since is None:
            return
        now = time.monotonic()
        if now - self.last_failure < self.QUIET_S:
            return
        log.info(
            "database_recovered", outage_s=round(now - self.down_since, 1), failed_operations=self.failures
        )
        self.down_since = None
        self.failures = 0


class _OutageRetries(logging.Filter):
    """asyncpg logs a warning with a traceback each time it fails to reopen the pool's minimum connections;
    during an outage that is one traceback a second. The OutageLog has already said it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or not database_unavailable(exc)


logging.getLogger("asyncpg.pool").addFilter(_OutageRetries())


class _TrackedAcquire(asyncpg.pool.PoolAcquireContext):
    """`async with pool.acquire()`: a block that ends normally proves the database answers; one that fails
    with an outage error (or cannot get a connection) starts an outage."""

    __slots__ = ()

    async def __aenter__(self):
        try:
            return await super().__aenter__()
        except BaseException as exc:
            if database_unavailable(exc):
                self.pool.outage.failed(exc)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> None:
        if exc_val is not None and database_unavailable(exc_val):
            self.pool.outage.failed(exc_val)
            # Never hand a broken connection to the next request. (asyncpg may have detached it already.)
            with contextlib.suppress(asyncpg.InterfaceError):
                if self.connection is not None and not self.connection.is_closed():
                    self.connection.terminate()
            # The other idle connections died with the server too: end them now (reconnected at their next
            # use), and expire the busy ones so they are replaced when released. Left to expire alone, asyncpg
            # closes each idle one at its next acquire in a task nobody awaits, which logs "Task exception was
            # never retrieved" (BrokenPipeError) when its socket is already broken.
            self.pool.drop_idle_connections()
            await self.pool.expire_connections()
        await super().__aexit__(exc_type, exc_val, exc_tb)
        if exc_val is None:
            self.pool.outage.succeeded()


class Pool(asyncpg.Pool):
    """asyncpg's pool with a bounded acquire (requests do not queue forever while the database is away) and
    an outage log. `pool.fetch()` & co. acquire through `acquire()`, so they are bounded and tracked too."""

    def drop_idle_connections(self) -> None:
        for holder in self._holders:  # asyncpg has no public way to reach the idle connections
            if holder.is_idle() and holder.is_connected():
                assert holder._con is not None
                holder._con.terminate()  # an idle holder is not checked out: nothing to release

    def __init__(self, *args, acquire_timeout_s: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout_s = acquire_timeout_s
        self.outage = OutageLog()

    def acquire(self, *, timeout: float | None = None) -> _TrackedAcquire:
        return _TrackedAcquire(self, self.acquire_timeout_s if timeout is None else timeout)


def note_unavailable(pool: asyncpg.Pool | None, exc: BaseException) -> None:
    """Record an outage seen outside `pool.acquire()` (a dedicated connection, a caught error)."""
    outage = getattr(pool, "outage", None)
    if outage is not None:
        outage.failed(exc)


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, acquire_timeout_s: float = 5.0
) -> Pool:
    """The service's pool. `acquire_timeout_s` bounds waiting for a connection, including opening one (so a
    database that is down or unreachable answers within it, as a 503, instead of holding the request)."""
    pool = Pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        init=_init_connection,
        reset=_light_reset,
        acquire_timeout_s=acquire_timeout_s,
        timeout=acquire_timeout_s,  # connect timeout of each new connection
        server_settings={"timezone": "UTC", "application_name": "citypay"},
    )
    await pool
    return pool


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
