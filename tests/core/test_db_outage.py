"""A database outage is a 503, not a 500 (issue 8, point 21).

A throwaway PostgreSQL of its own (pgserver, in a temporary folder) is stopped for about five seconds under
load and started again: API calls answer 503 problem+json with Retry-After, people get the "try again in a
moment" page in their language, /readyz is not ready, the log has one warning for the whole outage, and the
service recovers without help."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import tempfile
import time
import traceback
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from core.db import connect, database_unavailable, migrate
from core.settings import Settings
from payments.reference import new_reference

OUTAGE_S = 5.0
VI_BUSY = "Hệ thống đang bận, vui lòng thử lại sau giây lát"
EN_BUSY = "The system is busy, please try again in a moment"
PROBLEM = "application/problem+json"


class ThrowawayPostgres:
    """A PostgreSQL server for one test: its own data folder and socket, stopped and started at will."""

    def __init__(self, folder: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            self.server = pgserver.get_server(str(folder.resolve()), cleanup_mode="delete")
        self.pgdata = Path(self.server.pgdata)
        self.socket_dir = self.server.get_postmaster_info().socket_dir

    def dsn(self, database: str) -> str:
        return self.server.get_uri(database)

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user=self.server.system_user, timeout=30)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        # The options pgserver starts it with: no TCP, the same socket folder, the same log.
        self._pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"), "start"
        )

    def close(self) -> None:
        # Stop it here: pgserver only stops the postmaster it started itself, not the restarted one.
        with contextlib.suppress(Exception):
            self._pg_ctl("-w", "-m", "immediate", "stop")
        with contextlib.suppress(Exception):
            self.server._cleanup()  # forgets the handle and deletes the folder (also registered for exit)


@pytest.fixture
def throwaway_pg():
    # Not under pytest's tmp_path: run as root, PostgreSQL runs as another user who must reach the folder, and
    # every pytest session (others may run at the same time) makes /tmp/pytest-of-<user> private again.
    folder = Path(tempfile.mkdtemp(prefix="citypay-outage-"))
    folder.chmod(0o755)
    try:
        pg = ThrowawayPostgres(folder / "pg")
        yield pg
        pg.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _traceback(exc_info: object) -> str:
    if isinstance(exc_info, BaseException):
        return "".join(traceback.format_exception(exc_info))
    return repr(exc_info)


@dataclass
class Answer:
    at: float
    kind: str
    status: int
    content_type: str
    retry_after: str | None
    text: str


def test_classification_of_outage_errors():
    import asyncpg

    assert database_unavailable(asyncpg.exceptions.CannotConnectNowError("starting up"))
    assert database_unavailable(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert database_unavailable(asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-operation"))
    assert database_unavailable(
        asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed")
    )
    assert not database_unavailable(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not database_unavailable(asyncpg.InterfaceError("another operation is in progress"))
    # Socket errors and timeouts count only when they come out of the driver, not out of aiohttp or a handler.
    assert not database_unavailable(ConnectionResetError("client went away"))
    assert not database_unavailable(TimeoutError())


async def test_database_outage_answers_503_and_recovers(throwaway_pg, keys, tmp_path, aiohttp_client, caplog):
    from main import create_app

    throwaway_pg.server.psql('CREATE DATABASE "citypay";')
    dsn = throwaway_pg.dsn("citypay")
    conn = await connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    settings = Settings(
        database_url=dsn, var_dir=tmp_path, log_format="json", db_pool_max=5, db_acquire_timeout_s=2
    )
    client = await aiohttp_client(create_app(settings=settings, keys=keys, database_url=dsn))

    reference = new_reference()  # well-formed, unknown: the page and the image both ask the database
    requests = {
        "api": lambda: client.get(f"/api/v1/payment-requests/{uuid.uuid4()}/qr.png"),
        "page": lambda: client.get(f"/pay/{reference}", headers={"Accept": "text/html"}),
        "page-en": lambda: client.get(
            f"/pay/{reference}", headers={"Accept": "text/html", "Cookie": "lang=en"}
        ),
        "callback": lambda: client.post(
            "/api/v1/bank-callbacks/vcb-sim",
            data=b'{"bank_txn_id": "FT1", "amount": 1000}',
            headers={"Content-Type": "application/json", "X-Citypay-Signature": "v1=00"},
        ),
        "readyz": lambda: client.get("/readyz"),
    }
    answers: list[Answer] = []
    started = time.monotonic()

    async def ask(kind: str) -> Answer:
        resp = await requests[kind]()
        text = await resp.text()
        answer = Answer(
            time.monotonic() - started,
            kind,
            resp.status,
            resp.content_type,
            resp.headers.get("Retry-After"),
            text,
        )
        answers.append(answer)
        return answer

    stop_load = asyncio.Event()

    async def load(kinds: list[str]) -> None:
        while not stop_load.is_set():
            await asyncio.gather(*(ask(k) for k in kinds))
            await asyncio.sleep(0.05)

    async def outage(logs: list) -> tuple:
        await asyncio.sleep(0.3)

        await asyncio.to_thread(throwaway_pg.stop)
        down_at = time.monotonic() - started
        await asyncio.sleep(0.5)
        # During the gap, one of each, explicitly.
        api, page, page_en, ready, callback = [
            await ask(k) for k in ("api", "page", "page-en", "readyz", "callback")
        ]
        await asyncio.sleep(OUTAGE_S - 0.5)
        await asyncio.to_thread(throwaway_pg.start)
        up_at = time.monotonic() - started

        # The service comes back by itself: /readyz turns 200, then the routes answer as before.
        deadline = time.monotonic() + 15
        while (await ask("readyz")).status != 200:
            assert time.monotonic() < deadline, "not ready 15 s after the database came back"
            await asyncio.sleep(0.2)
        recovered_at = time.monotonic() - started
        while not any(e["event"] == "database_recovered" for e in logs):
            assert time.monotonic() < deadline, "no database_recovered line"
            await asyncio.sleep(0.2)
        return api, page, page_en, ready, callback, down_at, up_at, recovered_at

    caplog.set_level(logging.WARNING)
    with structlog.testing.capture_logs() as logs:
        assert (await ask("readyz")).status == 200
        assert (await ask("api")).status == 404
        assert (await ask("page")).status in (200, 404)
        workers = [
            asyncio.create_task(load(["api", "api", "page", "callback"])),
            asyncio.create_task(load(["api", "page-en", "readyz"])),
        ]
        try:
            api, page, page_en, ready, callback, down_at, up_at, recovered_at = await outage(logs)
        finally:
            stop_load.set()
            await asyncio.gather(*workers, return_exceptions=True)
        assert (await ask("api")).status == 404
        assert (await ask("page")).status in (200, 404)

    # No 500 at any point, under load, before, during and after.
    statuses = Counter((a.kind, a.status) for a in answers)
    errors = [(e["event"], _traceback(e["exc_info"])) for e in logs if e.get("exc_info")]
    assert not [a for a in answers if a.status >= 500 and a.status != 503], (statuses, errors)
    assert statuses[("api", 503)] >= 2 and statuses[("page", 503)] >= 1, statuses

    # The API: 503 problem+json with Retry-After, every time.
    for a in answers:
        if a.kind == "api" and a.status == 503:
            assert a.content_type == PROBLEM and a.retry_after, a
            assert json.loads(a.text)["type"] == "/problems/database-unavailable", a
    assert api.status == 503 and api.content_type == PROBLEM and int(api.retry_after) > 0
    # People: the page in Vietnamese, or English when they switched.
    assert page.status == 503 and page.content_type == "text/html" and VI_BUSY in page.text
    assert page.retry_after
    assert page_en.status == 503 and EN_BUSY in page_en.text
    # Readiness: not ready during the gap, ready after.
    assert ready.status == 503 and '"not_ready"' in ready.text
    assert [a.status for a in answers if a.kind == "readyz"][-1] == 200
    # The bank is told to retry. (The signed citypay-bank-v1 "retry" body is the callback module's.)
    assert callback.status == 503 and callback.retry_after, callback
    assert all(a.status != 500 for a in answers if a.kind == "callback")

    # One warning for the whole outage, no tracebacks, and a line when it is over.
    loud = [
        e
        for e in logs
        if e["log_level"] in ("warning", "error", "critical", "exception")
        and e["event"] != "callback_rejected"  # the test's unsigned callbacks, while the database was up
    ]
    assert [e["event"] for e in loud] == ["database_unavailable"], loud
    assert not [e for e in logs if e.get("exc_info")]
    assert [e["event"] for e in logs if e["event"] == "database_recovered"] == ["database_recovered"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.records
    # Kept short: the whole outage and recovery within a bounded time.
    assert down_at < up_at < recovered_at < up_at + 15
