"""`serve --workers N`: N processes answer on one port, the supervisor stops them all on SIGTERM and exits 1
when one dies on its own; `elected` runs a job in one process and hands it over when that process goes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from core.appkeys import DATABASE_URL
from core.keys import keys_as_env
from core.workers import ELECTIONS, elected, election_key

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def start_server(env: dict[str, str], workers: int, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "main.py", "serve", "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


async def answering_pids(base: str, want: int, *, tries: int = 200) -> set[int]:
    """Worker pids seen on /healthz over fresh connections (the kernel spreads connections, not requests)."""
    seen: set[int] = set()
    deadline = time.monotonic() + START_TIMEOUT_S
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        while len(seen) < want and tries > 0 and time.monotonic() < deadline:
            try:
                async with http.get(f"{base}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    seen.add((await resp.json())["worker"])
                    tries -= 1
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)  # not listening yet
    return seen


def frozen_objects(log: Path) -> dict[int, int]:
    """Per serving process, how many objects it froze at the end of its startup (main.py
    freeze_startup_objects): many thousands, or the freeze ran before the app was built."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    frozen = {line["pid"]: line["objects"] for line in lines if line.get("event") == "startup_objects_frozen"}
    assert all(n > 10_000 for n in frozen.values()), frozen
    return frozen


async def wait_exit(proc: subprocess.Popen, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"the supervisor did not exit within {timeout_s} s")
        await asyncio.sleep(0.1)
    return proc.returncode


@pytest.fixture
def server_env(keys, service_db_url, tmp_path):
    def make(port: int) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CITYPAY_", "DATABASE_URL"))},
            **keys_as_env(keys),
            "DATABASE_URL": service_db_url,
            "CITYPAY_PORT": str(port),
            "CITYPAY_VAR_DIR": str(tmp_path),
            "CITYPAY_LOG_FORMAT": "json",
            "CITYPAY_DB_POOL_MAX": "3",
        }

    return make


async def test_two_workers_answer_on_one_port_and_sigterm_stops_all(server_env, tmp_path, db_url):
    port = free_port()
    proc = start_server(server_env(port), 2, tmp_path / "serve.log")
    try:
        pids = await answering_pids(f"http://127.0.0.1:{port}", 2)
        assert len(pids) == 2, (pids, (tmp_path / "serve.log").read_text()[-3000:])
        assert {parent_of(pid) for pid in pids} == {proc.pid}  # forked by the supervisor
        # Each worker froze what it built at startup: the garbage collector's full passes skip it.
        assert frozen_objects(tmp_path / "serve.log").keys() == pids
        # Both workers run the audit checkpointer's election; exactly one of them holds its lock.
        conn = await asyncpg.connect(db_url)
        try:
            campaigners = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = $1 AND datname = current_database()",
                "citypay-elected:audit-checkpoints",
            )
            scope = f"{socket.gethostname()}:{tmp_path.resolve()}"  # one checkpoint writer per var/
            held = not await conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", election_key("audit-checkpoints", scope)
            )
        finally:
            await conn.close()
        assert campaigners == 2 and held

        proc.send_signal(signal.SIGTERM)
        assert await wait_exit(proc, 90) == 0
        assert all(parent_of(pid) is None for pid in pids)  # the workers are gone too
        with socket.socket() as s:  # and nothing listens on the port (REUSEADDR: the clients' TIME_WAITs)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen()
    finally:
        stop(proc)


async def test_a_worker_that_dies_stops_the_rest_and_the_supervisor_exits_1(server_env, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    proc = start_server(server_env(port), 2, log)
    try:
        pids = await answering_pids(f"http://127.0.0.1:{port}", 2)
        assert len(pids) == 2, log.read_text()[-3000:]
        victim, survivor = sorted(pids)
        os.kill(victim, signal.SIGKILL)
        assert await wait_exit(proc, 90) == 1  # not restarted silently: the whole set stops, non-zero
        assert parent_of(survivor) is None
        assert '"worker_died"' in log.read_text()
    finally:
        stop(proc)


async def test_one_worker_is_the_plain_server(server_env, tmp_path):
    port = free_port()
    proc = start_server(server_env(port), 1, tmp_path / "serve.log")
    try:
        pids = await answering_pids(f"http://127.0.0.1:{port}", 1, tries=1)
        assert pids == {proc.pid}  # no supervisor: the process itself serves
        assert frozen_objects(tmp_path / "serve.log").keys() == pids
        proc.send_signal(signal.SIGTERM)
        assert await wait_exit(proc, 90) == 0
    finally:
        stop(proc)


# Elections -------------------------------------------------------------------------------------------------


async def test_an_elected_job_runs_in_one_process_and_moves_when_it_goes(db_url):
    running: list[str] = []

    def job(label: str):
        async def ctx(app: web.Application):
            running.append(label)
            yield
            running.remove(label)

        return ctx

    apps = {}
    contexts = {}
    for label in ("a", "b"):
        app = web.Application()
        app[DATABASE_URL] = db_url
        apps[label] = app
        contexts[label] = elected("test-job", job(label), retry_s=0.2)(app)
    await contexts["a"].__anext__()  # a starts first and wins at once: its job runs before it serves
    await contexts["b"].__anext__()
    try:
        assert running == ["a"]
        assert apps["a"][ELECTIONS]["test-job"].leading.is_set()
        assert not apps["b"][ELECTIONS]["test-job"].leading.is_set()
        await asyncio.sleep(0.5)
        assert running == ["a"]  # b keeps asking and keeps losing

        with pytest.raises(StopAsyncIteration):  # a stops: its job ends and its lock goes with it
            await contexts["a"].__anext__()
        async with asyncio.timeout(10):
            await apps["b"][ELECTIONS]["test-job"].leading.wait()
        assert running == ["b"]
    finally:
        with pytest.raises(StopAsyncIteration):
            await contexts["b"].__anext__()
    assert running == []


async def test_a_leader_whose_connection_dies_steps_down(db_url):
    running: list[int] = []

    async def job(app: web.Application):
        running.append(1)
        yield
        running.pop()

    app = web.Application()
    app[DATABASE_URL] = db_url
    ctx = elected("test-conn-job", job, retry_s=0.2)(app)
    await ctx.__anext__()
    try:
        state = app[ELECTIONS]["test-conn-job"]
        assert running == [1]
        conn = await asyncpg.connect(db_url)
        try:  # the database ends the leader's session (a restart, a failover, an admin)
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1 AND datname = current_database()",
                "citypay-elected:test-conn-job",
            )
        finally:
            await conn.close()
        for _ in range(200):  # it notices, stops the job, and is elected again on a new session
            if state.terms >= 2:
                break
            await asyncio.sleep(0.05)
        assert state.terms == 2
        assert running == [1] and state.leading.is_set()
    finally:
        with pytest.raises(StopAsyncIteration):
            await ctx.__anext__()
