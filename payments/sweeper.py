"""Payments' background work, run on the core outbox (core/outbox.py) as two recurring items: expiring overdue
payment requests, and finishing callbacks that were stored but not processed.

Why recurring outbox items rather than a loop in every process: each sweep is one row (kind and key
`payments.expire_overdue`, `payments.reprocess_inbox`) that a worker claims with a lease (SKIP LOCKED), runs
with no transaction open and re-schedules (`again`, every 30 s). So with several server processes only one
runs each sweep at a time (the inbox re-processor reads its rows without locks, and two processes would
otherwise settle the same stored callback side by side); a sweep whose process died mid-way is run again by
any process once the lease runs out; a failing sweep backs off (30 s doubling to 5 min, jittered, never giving
up) and says why in its outbox row (`attempts`, `last_error`), while a `next_attempt_at` long past shows that
no process runs it. The cost is two small row updates per interval. Both sweeps stay safe to run twice (SKIP
LOCKED per request; settlement is idempotent per bank transaction), as the lease's at-least-once needs, and
harmless if none runs for a while (settlement treats overdue requests as late anyway).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import structlog
from aiohttp import web

from core.appkeys import KEYS, POOL, SETTINGS
from core.db import database_unavailable
from core.keys import AppKeys
from core.outbox import (
    Handler,
    Item,
    Kind,
    OutboxWorker,
    Outcome,
    again,
    ensure_recurring,
    retry,
    running_with_recurring,
)
from payments.callbacks import CallbackPolicy, reprocess_inbox
from payments.requests import expire_overdue_requests

log = structlog.get_logger("citypay.sweeper")
EXPIRE_OVERDUE = "payments.expire_overdue"
REPROCESS_INBOX = "payments.reprocess_inbox"
SWEEPS = (EXPIRE_OVERDUE, REPROCESS_INBOX)  # each is its own recurring item, keyed by its kind
SWEEP_EVERY_S = 30.0
# A sweep is cut off at 80 % of the lease (48 s); a process that died holding one delays it by at most 60 s.
LEASE_S = 60.0
POLL_S = 5.0  # how often each process looks for a due sweep
BACKOFF_BASE_S, BACKOFF_CAP_S = 30.0, 300.0
EXPIRE_BATCH = 500
REPROCESS_BATCH = 100


def _sweep(run: Callable[[], Awaitable[bool]], every_s: float) -> Handler:
    """A recurring handler: run once, then again in `every_s` (at once while a full batch says more waits)."""

    async def handler(item: Item) -> Outcome:
        try:
            more = await run()
        except Exception as exc:
            if database_unavailable(exc):  # the pool logs an outage once; the sweep just backs off quietly
                return retry(f"database unavailable: {type(exc).__name__}")
            raise  # the outbox logs it, keeps it as last_error and backs off
        return again(0 if more else every_s)

    return handler


def sweep_kinds(
    pool: asyncpg.Pool, keys: AppKeys, policy: CallbackPolicy, *, every_s: float = SWEEP_EVERY_S
) -> dict[str, Kind]:
    async def expire() -> bool:
        async with pool.acquire() as conn:
            expired = await expire_overdue_requests(conn, limit=EXPIRE_BATCH)
        if expired:
            log.info("expired_payment_requests", count=expired)
        return expired >= EXPIRE_BATCH

    async def reprocess() -> bool:
        finished = await reprocess_inbox(pool, keys, policy=policy, limit=REPROCESS_BATCH)
        if finished:
            log.info("reprocessed_callbacks", count=finished)
        return finished >= REPROCESS_BATCH

    def kind(run: Callable[[], Awaitable[bool]]) -> Kind:
        return Kind(_sweep(run, every_s), max_attempts=None, base_s=BACKOFF_BASE_S, cap_s=BACKOFF_CAP_S)

    return {EXPIRE_OVERDUE: kind(expire), REPROCESS_INBOX: kind(reprocess)}


def sweep_worker(
    pool: asyncpg.Pool,
    keys: AppKeys,
    policy: CallbackPolicy,
    *,
    every_s: float = SWEEP_EVERY_S,
    lease_s: float = LEASE_S,
    poll_interval_s: float = POLL_S,
) -> OutboxWorker:
    """The outbox worker for payments' sweeps (one per process; they share the items)."""
    kinds = sweep_kinds(pool, keys, policy, every_s=every_s)
    return OutboxWorker(
        pool,
        kinds,
        lease_s=lease_s,
        batch=len(kinds),
        poll_interval_s=poll_interval_s,
        name="payments-sweeps",
    )


async def schedule_sweeps(conn: asyncpg.Connection) -> None:
    """Make sure each sweep's recurring item exists (due now if new); existing ones keep their schedule."""
    for kind in SWEEPS:
        await ensure_recurring(conn, kind, kind)


async def expiry_sweeper(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context: payments' sweeps run in this process while the app runs; their items are
    ensured at start (or, if the database is down then, as soon as it is back). Shutdown is bounded."""
    pool = app[POOL]
    worker = sweep_worker(pool, app[KEYS], CallbackPolicy.from_settings(app[SETTINGS]))
    async with running_with_recurring(pool, worker, {kind: kind for kind in SWEEPS}, name="payments-sweeps"):
        yield
