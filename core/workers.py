"""Serving on every core: `python main.py serve --workers N` forks N server processes that each bind the same
port with SO_REUSEPORT (the kernel spreads new connections over them), and stays as their supervisor; and
`elected`, for the few background jobs that must run in one process only.

The supervisor forwards SIGINT and SIGTERM to its workers (as SIGTERM: each shuts down gracefully), restarts
none: a worker that exits on its own is an error that must be seen, so the others are stopped and the
supervisor exits 1 (a service manager restarts the whole set). A worker dies with its supervisor (Linux's
parent-death signal), so killing the supervisor with SIGKILL leaves no orphan holding the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import asyncpg
import structlog
from aiohttp import web

from core.appkeys import DATABASE_URL, SETTINGS
from core.db import database_unavailable
from core.tasks import cancel_and_wait

log = structlog.get_logger("citypay.workers")

STOP_GRACE_S = (
    75.0  # after SIGTERM a worker has this long (aiohttp's shutdown takes up to 60 s) before SIGKILL
)
_PR_SET_PDEATHSIG = 1


def default_workers() -> int:
    """One server process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (it then shuts down as on a stop)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status)


def run_workers(count: int, serve: Callable[[int], int]) -> int:
    """Fork `count` processes, each running `serve(index)` (which must bind with reuse_port), and supervise
    them. Returns 0 when they all ended after a SIGINT/SIGTERM sent to this process, else 1."""
    if count < 1:
        raise ValueError("at least one worker")
    parent = os.getpid()
    stopping = False
    failed = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            log.info("workers_stopping", signal=signal.Signals(signum).name, workers=len(children))
        stopping = True
        _signal_all(signal.SIGTERM)

    children: dict[int, int] = {}  # pid → index

    def _signal_all(signum: int) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for index in range(count):
            pid = os.fork()
            if pid == 0:  # the worker
                code = 1
                try:
                    for sig, handler in previous.items():
                        signal.signal(sig, handler)
                    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the supervisor, which forwards it once
                    _die_with_parent(parent)
                    code = serve(index)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
                except BaseException:
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            children[pid] = index
            if stopping:
                _signal_all(signal.SIGTERM)
        log.info("workers_started", workers=count, pids=sorted(children))
        deadline: float | None = None
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                if stopping and deadline is None:
                    deadline = time.monotonic() + STOP_GRACE_S
                if deadline is not None and time.monotonic() > deadline:
                    log.error("workers_killed", pids=sorted(children), after_s=STOP_GRACE_S)
                    _signal_all(signal.SIGKILL)
                    deadline = time.monotonic() + 10
                    failed = True
                time.sleep(0.05)
                continue
            if pid not in children:
                continue
            index = children.pop(pid)
            code = _exit_code(status)
            if not stopping:
                log.error("worker_died", worker=index, pid=pid, exit_code=code, workers_left=len(children))
                failed = True
                stopping = True
                _signal_all(signal.SIGTERM)
            elif code != 0:
                log.error("worker_failed_to_stop", worker=index, pid=pid, exit_code=code)
                failed = True
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("workers_stopped", ok=not failed)
    return 1 if failed else 0


# Elected jobs -----------------------------------------------------------------------------------------------

ELECTION_RETRY_S = 10.0  # how often a process that is not the leader asks again (and the leader checks in)
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def election_key(name: str, scope: str = "") -> int:
    """The PostgreSQL advisory-lock key (bigint) a job is elected under (within `scope`, if given)."""
    digest = hashlib.sha256(f"citypay.elected:{name}\0{scope}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass
class _Leadership:
    conn: asyncpg.Connection | None = None
    running: AsyncIterator[None] | None = None  # the job's cleanup context, entered while we lead
    terms: int = 0  # how many times this process became the leader
    leading: asyncio.Event = field(default_factory=asyncio.Event)


def elected(
    name: str,
    job: CleanupContext,
    *,
    retry_s: float = ELECTION_RETRY_S,
    scope: Callable[[web.Application], str] | None = None,
) -> CleanupContext:
    """A cleanup context that runs `job` (itself a cleanup context) in one process of all those serving the
    database: the one holding a PostgreSQL session advisory lock on a connection of its own. The others ask
    again every `retry_s`; when the leader's process or connection dies the server releases the lock and
    another process takes over. If this process wins at start, the job starts before the app serves (as an
    un-elected job would); otherwise it starts whenever this process is elected later. `scope(app)` narrows
    the election to the processes that share something (one leader per host, say)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        key = election_key(name, scope(app) if scope is not None else "")
        dsn = app[DATABASE_URL]
        state = _Leadership()
        app.setdefault(ELECTIONS, {})[name] = state

        async def try_lead() -> bool:
            try:
                if state.conn is None or state.conn.is_closed():
                    state.conn = await asyncpg.connect(
                        dsn, server_settings={"application_name": f"citypay-elected:{name}"}
                    )
                async with asyncio.timeout(5):
                    won = bool(await state.conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
            except Exception as exc:
                if not database_unavailable(exc):
                    log.warning("election_failed", job=name, exc_info=True)
                await drop_connection()
                return False
            if won:
                state.terms += 1
                log.info("elected", job=name, pid=os.getpid(), term=state.terms)
                gen = job(app)
                await gen.__anext__()
                state.running = gen
                state.leading.set()
            return won

        async def step_down() -> None:
            gen, state.running = state.running, None
            state.leading.clear()
            if gen is not None:
                with contextlib.suppress(StopAsyncIteration):
                    await gen.__anext__()
                    log.error("elected_job_yielded_twice", job=name)

        async def drop_connection() -> None:
            conn, state.conn = state.conn, None
            if conn is not None and not conn.is_closed():
                conn.terminate()  # the server releases the session's advisory lock with it

        async def campaign() -> None:
            while True:
                await asyncio.sleep(retry_s)
                if state.running is None:
                    await try_lead()
                    continue
                try:  # still connected, hence still holding the lock? A half-open connection says nothing
                    assert state.conn is not None
                    async with asyncio.timeout(5):
                        await state.conn.fetchval("SELECT 1")
                except Exception:
                    log.warning("leadership_lost", job=name, pid=os.getpid())
                    await drop_connection()
                    await step_down()

        await try_lead()
        task = asyncio.create_task(campaign(), name=f"election:{name}")
        try:
            yield
        finally:
            await cancel_and_wait([task])
            await step_down()
            if state.conn is not None and not state.conn.is_closed():
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        await state.conn.close()
            await drop_connection()

    ctx.__name__ = f"elected_{name}"
    return ctx


ELECTIONS = web.AppKey("elections", dict)  # name → _Leadership: tests and /metrics can see who leads


def checkpoint_file_scope(app: web.Application) -> str:
    """The audit checkpoint file this process writes: var/ on this host."""
    return f"{socket.gethostname()}:{app[SETTINGS].var_dir.resolve()}"
