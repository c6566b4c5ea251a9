"""Payments' sweeps on the core outbox, on a real PostgreSQL: an overdue request is expired through the
recurring item the app's cleanup context keeps; two processes never run the same sweep at once; a sweep killed
after its claim is resumed when the lease runs out; a failing sweep records its error and backs off."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp import web

from core.appkeys import KEYS, POOL, SETTINGS
from core.db import connect, create_pool
from core.outbox import Item, OutboxWorker
from payments.callbacks import DEFAULT_POLICY
from payments.requests import NewRequest, issue_payment_request
from payments.sweeper import (
    EXPIRE_OVERDUE,
    REPROCESS_INBOX,
    expiry_sweeper,
    schedule_sweeps,
    sweep_kinds,
    sweep_worker,
)

pytestmark = pytest.mark.usefixtures("catalogue")
DAY = timedelta(days=1)


@pytest.fixture
async def pools(db_url: str) -> AsyncIterator[list[asyncpg.Pool]]:
    """Two connection pools: two server processes sharing one database."""
    pools = [await create_pool(db_url, min_size=1, max_size=5) for _ in range(2)]
    yield pools
    for pool in pools:
        await pool.close()


async def overdue_request(db_url: str, keys) -> str:
    conn = await connect(db_url)
    try:
        pr = await issue_payment_request(
            conn,
            keys,
            NewRequest(kind="service_fee", fee_code="LLTP"),
            created_by="test",
            amount_cap=500_000_000,
            default_expiry=DAY,
            now=datetime.now(UTC) - 2 * DAY,
        )
    finally:
        await conn.close()
    return pr["id"]


async def status(pool: asyncpg.Pool, request_id: str) -> str:
    return await pool.fetchval("SELECT status FROM payment_requests WHERE id = $1", request_id)


async def sweep_item(pool: asyncpg.Pool, kind: str) -> asyncpg.Record:
    return await pool.fetchrow(
        """SELECT *, extract(epoch FROM next_attempt_at - now()) AS due_in FROM outbox
            WHERE idempotency_key = $1""",
        kind,
    )


async def schedule_only_expiry(pool: asyncpg.Pool) -> None:
    """Both sweeps' items, with the inbox sweep pushed an hour away: these tests watch the expiry one."""
    async with pool.acquire() as conn:
        await schedule_sweeps(conn)
    await pool.execute(
        "UPDATE outbox SET next_attempt_at = now() + interval '1 hour' WHERE idempotency_key = $1",
        REPROCESS_INBOX,
    )


async def make_due(pool: asyncpg.Pool, kind: str) -> None:
    await pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE idempotency_key = $1", kind)


async def until(condition, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.02)


async def _is(value, expected) -> bool:
    return await value == expected


async def _state(pool: asyncpg.Pool, kind: str) -> str:
    return (await sweep_item(pool, kind))["state"]


async def _lease_over(pool: asyncpg.Pool) -> bool:
    return await pool.fetchval(
        "SELECT lease_until <= now() FROM outbox WHERE idempotency_key = $1", EXPIRE_OVERDUE
    )


async def _rescheduled(pool: asyncpg.Pool) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE state = 'pending' AND next_attempt_at > now() + interval '20 s'"
    )


async def test_an_overdue_request_is_expired_through_the_outbox(pools, db_url, keys, settings):
    request_id = await overdue_request(db_url, keys)
    apps = []
    for pool in pools:  # two server processes start, each with the cleanup context main.py wires
        app = web.Application()
        app[POOL], app[KEYS], app[SETTINGS] = pool, keys, settings
        apps.append(app)
    sweepers = [expiry_sweeper(app) for app in apps]
    async with asyncio.timeout(10):
        await anext(sweepers[0])
        await until(lambda: _is(_rescheduled(pools[0]), 2))  # both sweeps ran once and are re-scheduled
        assert await status(pools[0], request_id) == "expired"
        await anext(sweepers[1])

        items = await pools[0].fetch(
            """SELECT kind, idempotency_key, state, attempts, last_error,
                      extract(epoch FROM next_attempt_at - now()) AS due_in
                 FROM outbox ORDER BY kind"""
        )
        # One recurring item per sweep, however many processes ensured it; each ran and is due in 30 s.
        assert [(r["kind"], r["idempotency_key"]) for r in items] == [
            (EXPIRE_OVERDUE, EXPIRE_OVERDUE),
            (REPROCESS_INBOX, REPROCESS_INBOX),
        ]
        for r in items:
            assert (r["state"], r["attempts"], r["last_error"]) == ("pending", 0, None)
            assert 25 <= r["due_in"] <= 30

        for sweeper in sweepers:  # shutdown is bounded
            with pytest.raises(StopAsyncIteration):
                await anext(sweeper)


async def test_two_processes_do_not_run_the_same_sweep_at_once(pools, db_url, keys):
    request_id = await overdue_request(db_url, keys)
    await schedule_only_expiry(pools[0])
    first, second = (sweep_worker(pool, keys, DEFAULT_POLICY) for pool in pools)

    # The first process's sweep is held up inside its transaction (someone holds the table) ...
    async with pools[0].acquire() as holder, holder.transaction():
        await holder.execute("LOCK TABLE payment_requests IN EXCLUSIVE MODE")
        sweeping = asyncio.create_task(first.run_due())
        await until(lambda: _is(_state(pools[0], EXPIRE_OVERDUE), "sending"))
        # ... and the second process does not start the same sweep beside it.
        assert await second.run_due() == 0
        assert await status(pools[0], request_id) == "pending"
    assert await asyncio.wait_for(sweeping, 5) == 1
    assert await status(pools[0], request_id) == "expired"
    assert await second.run_due() == 0  # the next sweep is 30 s away, whoever runs it
    row = await sweep_item(pools[0], EXPIRE_OVERDUE)
    assert (row["state"], row["attempts"]) == ("pending", 0) and 25 <= row["due_in"] <= 30


async def test_over_many_sweeps_two_running_workers_never_overlap(pools, keys):
    """Both processes' workers run for a while with a sweep every 50 ms: each sweep runs, one at a time."""
    running: Counter[str] = Counter()
    most: Counter[str] = Counter()
    runs: Counter[tuple[int, str]] = Counter()

    def watched(worker_no: int, kinds):
        def wrap(handler):
            async def handler_watched(item: Item):
                running[item.kind] += 1
                most[item.kind] = max(most[item.kind], running[item.kind])
                runs[worker_no, item.kind] += 1
                try:
                    await asyncio.sleep(0.02)  # widen the window an overlap would need
                    return await handler(item)
                finally:
                    running[item.kind] -= 1

            return handler_watched

        return {name: dataclasses.replace(kind, handler=wrap(kind.handler)) for name, kind in kinds.items()}

    async with pools[0].acquire() as conn:
        await schedule_sweeps(conn)
    workers = [
        OutboxWorker(
            pool, watched(n, sweep_kinds(pool, keys, DEFAULT_POLICY, every_s=0.05)), poll_interval_s=0.01
        )
        for n, pool in enumerate(pools)
    ]
    async with asyncio.timeout(10):
        async with workers[0].running(), workers[1].running():
            await asyncio.sleep(1.5)
    assert most == {EXPIRE_OVERDUE: 1, REPROCESS_INBOX: 1}
    for kind in (EXPIRE_OVERDUE, REPROCESS_INBOX):
        assert runs[0, kind] + runs[1, kind] >= 5  # it kept running every ~70 ms, not once


async def test_a_sweep_killed_after_its_claim_is_resumed_when_the_lease_runs_out(pools, db_url, keys):
    request_id = await overdue_request(db_url, keys)
    await schedule_only_expiry(pools[0])
    dying = sweep_worker(pools[0], keys, DEFAULT_POLICY, lease_s=0.8)
    async with pools[0].acquire() as holder, holder.transaction():
        await holder.execute("LOCK TABLE payment_requests IN EXCLUSIVE MODE")
        sweeping = asyncio.create_task(dying.run_due())
        await until(lambda: _is(_state(pools[0], EXPIRE_OVERDUE), "sending"))
        sweeping.cancel()  # the process dies mid-sweep: its transaction is rolled back, no outcome recorded
        with pytest.raises(asyncio.CancelledError):
            await sweeping
    row = await sweep_item(pools[0], EXPIRE_OVERDUE)
    assert (row["state"], row["attempts"]) == ("sending", 1)
    assert await status(pools[0], request_id) == "pending"

    other = sweep_worker(pools[1], keys, DEFAULT_POLICY, lease_s=0.8)
    assert await other.run_due() == 0  # the lease still holds: nobody starts a second copy meanwhile
    await until(lambda: _lease_over(pools[1]))
    assert await other.run_due() == 1  # the lease ran out: another process resumes the sweep
    assert await status(pools[0], request_id) == "expired"
    row = await sweep_item(pools[0], EXPIRE_OVERDUE)
    assert (row["state"], row["attempts"], row["last_error"]) == ("pending", 0, None)
    assert 25 <= row["due_in"] <= 30


async def test_a_failing_sweep_records_its_error_and_backs_off(pools, db_url, keys):
    request_id = await overdue_request(db_url, keys)
    await schedule_only_expiry(pools[0])
    await pools[0].execute(
        """CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'payment_requests is read-only (test)'; END $$;
           CREATE TRIGGER test_refuse BEFORE UPDATE ON payment_requests
             FOR EACH ROW EXECUTE FUNCTION test_refuse();"""
    )
    worker = sweep_worker(pools[0], keys, DEFAULT_POLICY)
    for attempt, wait in ((1, 30), (2, 60)):
        assert await worker.run_due() == 1
        row = await sweep_item(pools[0], EXPIRE_OVERDUE)
        assert (row["state"], row["attempts"]) == ("pending", attempt)
        assert "payment_requests is read-only (test)" in row["last_error"]
        assert 0.8 * wait - 1 <= row["due_in"] <= 1.2 * wait  # 30 s doubling, jittered
        assert await worker.run_due() == 0  # not before its time
        await make_due(pools[0], EXPIRE_OVERDUE)
    assert await status(pools[0], request_id) == "pending"

    await pools[0].execute("DROP TRIGGER test_refuse ON payment_requests")  # the cause is fixed
    assert await worker.run_due() == 1
    assert await status(pools[0], request_id) == "expired"
    row = await sweep_item(pools[0], EXPIRE_OVERDUE)
    assert (row["state"], row["attempts"], row["last_error"]) == ("pending", 0, None)
    assert 25 <= row["due_in"] <= 30
